package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/codec"
	"portico/internal/devstack"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/vault"
	"portico/workflows"
)

// stack is everything a chaos run drives: PostgreSQL and the Temporal dev server, each restartable on
// the same port with its data kept; the portal simulator in this process (its state survives every kill
// of the worker); the worker binary in a process of its own; and the clients the test plays the ERP, the
// approver and the buyer with.
type stack struct {
	dir string // the run's temporary directory

	pgMu     sync.Mutex
	pg       *devstack.Postgres
	pgPort   int
	pgDir    string
	services io.Writer // PostgreSQL's and Temporal's progress lines

	tmpMu        sync.Mutex
	temporal     *devstack.Temporal
	temporalPort int
	temporalDB   string

	sim     *simulator.Server
	simURL  string
	simPath string // the simulator's state file, read back for the account's lockout state

	store  *store.Store
	client client.Client
	dc     converter.DataConverter

	worker *workerProc
}

// startStack starts PostgreSQL, Temporal and the simulator, opens the store and the Temporal client, and
// builds the worker binary (started later, by the run). Everything is stopped in t.Cleanup.
func startStack(t *testing.T, ctx context.Context, slots int) *stack {
	t.Helper()
	s := &stack{dir: t.TempDir()}
	servicesLog, err := os.Create(filepath.Join(s.dir, "services.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { servicesLog.Close() })
	s.services = servicesLog

	// The worker binary builds while the services start.
	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	go func() {
		bin, err := buildWorker(ctx, filepath.Join(s.dir, "bin"))
		buildDone <- built{bin, err}
	}()

	// PostgreSQL keeps its data in a directory of the run (not a throw-away cluster, which Stop would
	// delete), so that it can be stopped and started again on the same port.
	s.pgDir = filepath.Join(s.dir, "pg")
	s.pg, err = devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: s.pgDir, Log: s.services})
	if err != nil {
		t.Fatal(err)
	}
	s.pgPort = s.pg.Port()
	t.Cleanup(func() {
		s.pgMu.Lock()
		defer s.pgMu.Unlock()
		if s.pg != nil {
			_ = s.pg.Stop()
		}
	})

	// Temporal's state is in a SQLite file, so a restarted server goes on with every workflow.
	s.temporalDB = filepath.Join(s.dir, "temporal.db")
	s.temporal, err = devstack.StartTemporal(ctx, s.temporalOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	s.temporalPort = temporalPort(s.temporal)
	t.Cleanup(func() {
		s.tmpMu.Lock()
		defer s.tmpMu.Unlock()
		if s.temporal != nil {
			_ = s.temporal.Stop()
		}
	})

	s.simPath = filepath.Join(s.dir, "simulator.json")
	s.sim, err = simulator.New(simulator.Config{StatePath: s.simPath})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.simURL = "http://" + ln.Addr().String()

	vaultKey, err := vault.NewKeyEntry("chaos-vault-1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.NewKeyring(vaultKey)
	if err != nil {
		t.Fatal(err)
	}
	s.store, err = store.Open(ctx, s.pg.DSN(), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.store.Close)
	if err := s.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	payloadKey, err := vault.NewKeyEntry("chaos-payload-1")
	if err != nil {
		t.Fatal(err)
	}
	payloadKeys, err := vault.NewKeyring(payloadKey)
	if err != nil {
		t.Fatal(err)
	}
	cd := codec.New(payloadKeys)
	s.dc = codec.DataConverter(cd)
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.client, err = client.DialContext(ctx, codec.ClientOptions(client.Options{HostPort: s.temporal.HostPort(), Logger: quiet}, cd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.client.Close)

	b := <-buildDone
	if b.err != nil {
		t.Fatal(b.err)
	}
	evidence := filepath.Join(s.dir, "evidence")
	tmp := filepath.Join(s.dir, "worker-tmp") // Chromium's profiles, which a killed worker cannot remove
	for _, d := range []string{evidence, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{}
	for _, kv := range os.Environ() {
		// Nothing of the caller's Portico or Temporal settings may reach the worker.
		if !strings.HasPrefix(kv, "PORTICO_") && !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"PORTICO_DATABASE_URL="+s.pg.DSN(),
		"TEMPORAL_ADDRESS="+s.temporal.HostPort(),
		"PORTICO_VAULT_KEY="+vaultKey,
		"PORTICO_PAYLOAD_KEY="+payloadKey,
		fmt.Sprintf("PORTICO_BROWSER_SLOTS=%d", slots),
		"PORTICO_EVIDENCE_DIR="+evidence,
		"PORTICO_LOG_LEVEL=info",
		"TMPDIR="+tmp,
		// The race detector's report goes to the log, and a race does not stop the worker: the test
		// counts them at the end.
		"GORACE=halt_on_error=0",
	)
	s.worker = &workerProc{bin: b.bin, env: env, logPath: filepath.Join(s.dir, "worker.log")}
	stop := make(chan struct{})
	go s.worker.supervise(stop)
	t.Cleanup(func() {
		close(stop)
		rep, err := s.worker.stop()
		if err != nil {
			t.Errorf("stopping the worker: %v (%+v)", err, rep)
		}
	})
	return s
}

func (s *stack) temporalOptions(port int) devstack.TemporalOptions {
	return devstack.TemporalOptions{Headless: true, DBFile: s.temporalDB, Port: port, SearchAttributes: workflows.SearchAttributes, Log: s.services}
}

// temporalPort is the port of a started server's frontend.
func temporalPort(t *devstack.Temporal) int {
	_, port, _ := net.SplitHostPort(t.HostPort())
	var p int
	fmt.Sscan(port, &p)
	return p
}

// restartPostgres stops PostgreSQL (a fast shutdown: every session is cut) and starts it again on the
// same port and data after pause, while the worker runs on. It returns how long the database was down.
func (s *stack) restartPostgres(ctx context.Context, pause time.Duration) (time.Duration, error) {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	began := time.Now()
	if err := s.pg.Stop(); err != nil {
		return 0, fmt.Errorf("stop PostgreSQL: %w", err)
	}
	s.pg = nil
	time.Sleep(pause)
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: s.pgDir, Port: s.pgPort, Log: s.services})
	if err != nil {
		return 0, fmt.Errorf("start PostgreSQL again: %w", err)
	}
	s.pg = pg
	return time.Since(began), nil
}

// restartTemporal stops the Temporal server (SIGTERM, so SQLite is flushed) and starts it again on the
// same port and DB file after pause. Workers and clients reconnect by themselves.
func (s *stack) restartTemporal(ctx context.Context, pause time.Duration) (time.Duration, error) {
	s.tmpMu.Lock()
	defer s.tmpMu.Unlock()
	began := time.Now()
	if err := s.temporal.Stop(); err != nil {
		return 0, fmt.Errorf("stop Temporal: %w", err)
	}
	s.temporal = nil
	time.Sleep(pause)
	var err error
	// The port was just freed; a start that loses a race for one of start-dev's own ports is tried again.
	for attempt := 1; attempt <= 3; attempt++ {
		var tmp *devstack.Temporal
		if tmp, err = devstack.StartTemporal(ctx, s.temporalOptions(s.temporalPort)); err == nil {
			s.temporal = tmp
			return time.Since(began), nil
		}
		time.Sleep(time.Second)
	}
	return 0, fmt.Errorf("start Temporal again: %w", err)
}

// buildWorker builds ./worker into dir, with the race detector when this test has it.
func buildWorker(ctx context.Context, dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "worker")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, gobin, append(args, "./worker")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./worker: %w\n%s", err, out)
	}
	return bin, nil
}
