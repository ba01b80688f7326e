// Command simulator serves the Coupa-like portal simulator over HTTP.
// Accounts and purchase orders are seeded through its control API.
package main

import (
	"context"
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
	flag.Parse()

	srv, err := simulator.New(simulator.Config{
		Buyer: *buyer, SessionIdle: *idle, MaxFailedLogins: *maxFailed,
		ControlToken: *token, StatePath: *state,
	})
	if err != nil {
		return err
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
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
