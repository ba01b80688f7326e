// Command portico-dev is `make run`: it starts PostgreSQL, the Temporal dev server with its UI, the portal
// simulator and the worker, seeds a demo ERP, starts the PO-sync schedule and the demo invoices, and
// leaves them awaiting approval. Ctrl-C stops everything it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/api"
	"portico/internal/codec"
	"portico/internal/demo"
	"portico/internal/devstack"
	"portico/internal/erp"
	"portico/internal/schedules"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/vault"
	"portico/workflows"
)

const (
	pgPort    = 54329
	simAddr   = "127.0.0.1:8090"
	temporalP = 7233
	uiPort    = 8233
	// httpAddr serves the ERP API, the codec server and /healthz from the worker. The UI is reached as
	// 127.0.0.1 too, so the codec login cookie is same-site for it.
	httpAddr = "127.0.0.1:8095"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "make run failed:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(ctx context.Context) error {
	state, err := filepath.Abs(envOr("PORTICO_STATE", ".state"))
	if err != nil {
		return err
	}
	for _, dir := range []string{state, filepath.Join(state, "portals"), filepath.Join(state, "evidence")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(state, "services.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()

	keys, keyFile, err := vaultKeys(state)
	if err != nil {
		return err
	}
	sec, err := demoSecrets(state)
	if err != nil {
		return err
	}
	cd, err := codec.FromEnv()
	if err != nil {
		return err
	}

	say("starting PostgreSQL 15 on 127.0.0.1:%d (data in %s)", pgPort, filepath.Join(state, "pg"))
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: filepath.Join(state, "pg"), Port: pgPort, Log: logf})
	if err != nil {
		return err
	}
	defer func() { say("stopping PostgreSQL"); _ = pg.Stop() }()

	say("starting the Temporal dev server on :%d, UI on :%d (history in %s)", temporalP, uiPort, filepath.Join(state, "temporal.db"))
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{DBFile: filepath.Join(state, "temporal.db"), Port: temporalP, UIPort: uiPort,
		SearchAttributes: workflows.SearchAttributes, UICodecEndpoint: "http://" + httpAddr + "/codec", Log: logf})
	if err != nil {
		return err
	}
	defer func() { say("stopping Temporal"); _ = tmp.Stop() }()

	sim, err := simulator.New(simulator.Config{StatePath: filepath.Join(state, "simulator.json")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", simAddr)
	if err != nil {
		return fmt.Errorf("portal simulator: %w (is another `make run` still running?)", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { say("stopping the portal simulator"); _ = srv.Close() }()
	simURL := "http://" + simAddr
	say("portal simulator at %s", simURL)

	st, err := store.Open(ctx, pg.DSN(), keys)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	data, err := demo.Seed(ctx, st, sim, simURL, "")
	if err != nil {
		return err
	}
	say("seeded the demo ERP: customer %s, portal account %s, %d invoices with PDFs", demo.CustomerID, data.AccountID, len(data.InvoiceIDs))

	worker, err := startWorker(ctx, state, pg.DSN(), tmp.HostPort(), keyFile, sec)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the worker")
		_ = worker.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = worker.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = worker.Process.Kill()
		}
	}()

	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	c, err := client.DialContext(ctx, codec.ClientOptions(client.Options{HostPort: tmp.HostPort(), Logger: quiet}, cd))
	if err != nil {
		return err
	}
	defer c.Close()
	accts, err := st.PortalAccounts(ctx)
	if err != nil {
		return err
	}
	if _, err := schedules.Ensure(ctx, c, accts); err != nil {
		return err
	}
	say("PO-sync schedule %s is set (4 times a day); running it now", workflows.POSyncScheduleID(data.AccountID))
	if err := schedules.Trigger(ctx, c, data.AccountID); err != nil {
		return err
	}
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		n, err := st.CountPurchaseOrders(ctx, data.AccountID)
		return n >= 4, err
	}); err != nil {
		return fmt.Errorf("PO sync did not finish (see %s): %w", filepath.Join(state, "worker.log"), err)
	}
	say("POs synced from the portal into PostgreSQL")

	for _, id := range data.InvoiceIDs {
		// The demo reads status every 10 s to 1 min so the buyer's actions show quickly; production backs off to hours.
		s, err := erp.StartInvoice(ctx, c, st, id, workflows.PollPolicy{First: 10 * time.Second, Max: time.Minute})
		if err != nil {
			return err
		}
		verb := "started"
		if s.Existing {
			verb = "already running or done"
		}
		say("%s: %s", s.WorkflowID, verb)
	}
	_ = waitFor(ctx, 3*time.Minute, func() (bool, error) {
		for _, id := range data.InvoiceIDs {
			s, err := erp.State(ctx, c, id)
			if err != nil || s.Stage == workflows.StageMatching || s.Stage == workflows.StageDrafting {
				return false, nil
			}
		}
		return true, nil
	})
	temporalBin, _ := devstack.TemporalBinary()
	fmt.Printf(`
Portico is running.

  Temporal UI       %s/namespaces/default/workflows?query=InvoiceStage%%3D%%22awaiting_approval%%22
  Portal simulator  %s   (supplier login %s; buyer side: %s/buyer)
  Logs              %s/worker.log, %s/services.log
  Portals           built-in coupa-sim, ariba-sim; add <name>.yaml to %s/portals (docs/portals.md)

Invoices awaiting approval: %v

Approve one with Portico's CLI:
  go run ./starter approve %s -approver you@example.com
or with the stock Temporal CLI (its input is encrypted on the way in through the codec server):
  %s workflow signal --workflow-id %s --name approval \
      --codec-endpoint http://%s/codec --codec-auth "Bearer $(cat %s)" \
      --input '{"decision":"approve","approver":"you@example.com","note":"checked"}'

Payloads are encrypted (key %s). To read them in the UI: open http://%s/codec/login, paste the
token from %s, then in the UI click the codec (glasses) icon, choose "Use my browser setting", enter
http://%s/codec, switch on "Include cross-origin credentials" and Apply.

The ERP API (%s/v1/) takes signed requests from client erp-demo (secret in %s), or:
  curl -X POST http://%s/v1/invoices/<erp-invoice-id>/start -H "Authorization: Bearer $(cat %s)" \
      -H "Portico-Timestamp: $(date +%%s)" -H "Portico-Nonce: $(openssl rand -hex 16)"

Then play the buyer at %s/buyer (approve, pay) and watch the workflow follow it to Paid.
Press Ctrl-C to stop everything.
`, tmp.UIURL(), simURL, demo.Supplier, simURL, state, state, state, data.InvoiceIDs,
		data.InvoiceIDs[0], temporalBin, workflows.InvoiceWorkflowID(data.InvoiceIDs[0]), httpAddr, sec.codecTokenFile,
		sec.payloadKeyFile, httpAddr, sec.codecTokenFile, httpAddr,
		"http://"+httpAddr, sec.apiKeysFile, httpAddr, sec.apiTokenFile, simURL)
	<-ctx.Done()
	fmt.Println()
	return nil
}

// vaultKeys makes the demo's encryption key once and keeps it in the state directory.
func vaultKeys(state string) (*vault.Keyring, string, error) {
	keyFile := filepath.Join(state, "vault.key")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		entry, err := vault.NewKeyEntry("demo-1")
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(keyFile, []byte(entry+"\n"), 0o600); err != nil {
			return nil, "", err
		}
	}
	os.Setenv("PORTICO_VAULT_KEY_FILE", keyFile)
	os.Unsetenv("PORTICO_VAULT_KEY")
	k, err := vault.FromEnv()
	return k, keyFile, err
}

// secrets are the files of the demo's keys and tokens, made once and kept in the state directory.
type secrets struct {
	payloadKeyFile, codecTokenFile, apiKeysFile, apiTokenFile string
}

// demoSecrets makes the payload key, the codec server token and the ERP API's client credentials once,
// and points this process's environment at them (the starter finds them in .state by itself).
func demoSecrets(state string) (secrets, error) {
	s := secrets{
		payloadKeyFile: filepath.Join(state, "payload.key"), codecTokenFile: filepath.Join(state, "codec.token"),
		apiKeysFile: filepath.Join(state, "api.keys"), apiTokenFile: filepath.Join(state, "api.token"),
	}
	if err := writeOnce(s.payloadKeyFile, func() (string, error) { return vault.NewKeyEntry("payload-1") }); err != nil {
		return s, err
	}
	if err := writeOnce(s.codecTokenFile, func() (string, error) { return api.NewToken(), nil }); err != nil {
		return s, err
	}
	if err := writeOnce(s.apiTokenFile, func() (string, error) { return api.NewToken(), nil }); err != nil {
		return s, err
	}
	token, err := os.ReadFile(s.apiTokenFile)
	if err != nil {
		return s, err
	}
	if err := writeOnce(s.apiKeysFile, func() (string, error) {
		return "# ERP API clients: <id>:hmac:<base64 secret> or <id>:bearer-sha256:<hex digest of the token>\n" +
			api.HMACEntry("erp-demo", api.NewClientSecret()) + "\n" +
			api.BearerEntry("erp-demo-token", strings.TrimSpace(string(token))), nil
	}); err != nil {
		return s, err
	}
	os.Setenv("PORTICO_PAYLOAD_KEY_FILE", s.payloadKeyFile)
	os.Unsetenv("PORTICO_PAYLOAD_KEY")
	return s, nil
}

// writeOnce writes a secret file readable only by its owner, unless it exists already.
func writeOnce(path string, make func() (string, error)) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	v, err := make()
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// startWorker builds and starts the worker binary, as production runs it: a process of its own.
func startWorker(ctx context.Context, state, dsn, temporal, keyFile string, sec secrets) (*exec.Cmd, error) {
	bin := filepath.Join(state, "bin", "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build worker: %w", err)
	}
	logw, err := os.OpenFile(filepath.Join(state, "worker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORTICO_DATABASE_URL="+dsn, "TEMPORAL_ADDRESS="+temporal, "PORTICO_VAULT_KEY_FILE="+keyFile,
		"PORTICO_EVIDENCE_DIR="+filepath.Join(state, "evidence"), "PORTICO_PORTALS_DIR="+filepath.Join(state, "portals"),
		"PORTICO_PAYLOAD_KEY_FILE="+sec.payloadKeyFile, "PORTICO_CODEC_TOKEN_FILE="+sec.codecTokenFile,
		"PORTICO_API_KEYS_FILE="+sec.apiKeysFile, "PORTICO_HTTP_ADDR="+httpAddr)
	cmd.Stdout, cmd.Stderr = logw, logw
	// The worker must not outlive `make run`, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	say("worker running (pid %d), logging to %s", cmd.Process.Pid, filepath.Join(state, "worker.log"))
	return cmd, nil
}

func waitFor(ctx context.Context, limit time.Duration, ok func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
