// Command simulator serves the portal simulator (Coupa-like pages or, with -flavor ariba, an Ariba-like single-page app) over HTTP.
// Accounts and purchase orders are seeded through its control API.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"portico/internal/simulator"
)

func main() {
	if err := run(); err != nil {
		slog.Error("simulator", "err", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	state := flag.String("state", "", "JSON file to load state from and save it to (empty: memory only)")
	buyer := flag.String("buyer", "Acme Manufacturing", "buyer name shown in the portal header")
	idle := flag.Duration("session-idle", 15*time.Minute, "idle timeout of a supplier session")
	token := flag.String("control-token", "", "if set, /control and /buyer require this token (X-Control-Token header or ?token=)")
	maxFailed := flag.Int("max-failed-logins", 5, "wrong passwords or codes in a row before an account is locked")
	flavor := flag.String("flavor", simulator.FlavorCoupa, "portal flavor: coupa (server-rendered pages) or ariba (single-page app under /app)")
	rulesPath := flag.String("rules", "", "JSON file with the buyer's portal rules (docs/simulator.md); "+
		"its max_failed_logins and session_idle win over the flags; PUT /control/rules changes them at run time")
	generate := flag.String("generate", "", "seed made-up suppliers and POs: accounts=N,pos=M[,seed=S] (M POs per account, deterministic from the seed; "+
		"1–5 lines each, every PO status, several buyer entities and currencies)")
	flag.Parse()

	var rules simulator.Rules
	if *rulesPath != "" {
		var err error
		if rules, err = readRules(*rulesPath); err != nil {
			return err
		}
	}
	srv, err := simulator.New(simulator.Config{
		Flavor: *flavor, Buyer: *buyer, SessionIdle: *idle, MaxFailedLogins: *maxFailed,
		ControlToken: *token, StatePath: *state, Rules: rules,
	})
	if err != nil {
		return err
	}
	if *generate != "" {
		spec, err := simulator.ParseGenerateSpec(*generate)
		if err != nil {
			return err
		}
		g := simulator.Generate(spec)
		if err := g.Seed(srv); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		slog.Info("generated suppliers and purchase orders", "accounts", spec.Accounts, "pos_per_account", spec.POs, "seed", spec.Seed)
		for i, a := range g.Accounts {
			if i == 10 {
				slog.Info("more generated accounts", "count", len(g.Accounts)-i, "usernames", "supplier-NNN")
				break
			}
			slog.Info("generated account", "username", a.Username, "password", a.Password, "totp_secret", a.TOTPSecret, "supplier", a.Supplier)
		}
	}
	// Listen before logging so the logged URL is the real one (e.g. with :0).
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	slog.Info("portal simulator listening", "url", fmt.Sprintf("http://%s/", ln.Addr()))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// A hung-request fault would otherwise hold its request, and the shutdown, until the client gives up.
	srv.ClearFaults()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readRules reads a rules file strictly: an unknown field is an error, so a
// misspelt rule does not silently stay off.
func readRules(path string) (simulator.Rules, error) {
	var r simulator.Rules
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read rules: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("rules %s: %w", path, err)
	}
	if dec.More() {
		return r, fmt.Errorf("rules %s: data after the JSON object", path)
	}
	return r, nil
}
