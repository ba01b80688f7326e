package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"portico/internal/api"
	"portico/internal/codec"
	"portico/internal/erp"
	"portico/internal/store"
)

// HTTPDeps are what the worker's HTTP endpoints serve from.
type HTTPDeps struct {
	Client client.Client
	Store  *store.Store
	Codec  *codec.Codec
	Logger *slog.Logger
	// Auth authenticates the ERP API; nil reads it from the environment (api.AuthFromEnv).
	Auth *api.Authenticator
	// CodecTokens may decrypt through the codec server; nil reads them from the environment, and none
	// leaves the codec server off.
	CodecTokens []string
	// Metrics serves /metrics; nil serves none.
	Metrics http.Handler
	// OpsOnly serves only /metrics, /healthz and /readyz: a browser worker has no ERP API or codec server.
	OpsOnly bool
	// Ready reports extra readiness checks (the browser of a browser worker); nil means none.
	Ready func(context.Context) error
}

// HTTPHandler serves the ERP API under /v1/, the codec server for the Temporal UI and CLI under /codec/,
// /metrics for Prometheus, /healthz (the process answers) and /readyz (PostgreSQL and Temporal answer).
func HTTPHandler(d HTTPDeps) (http.Handler, error) {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := d.Store.Ping(ctx); err != nil {
			http.Error(w, "database: unavailable", http.StatusServiceUnavailable)
			return
		}
		if _, err := d.Client.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			http.Error(w, "temporal: unavailable", http.StatusServiceUnavailable)
			return
		}
		if d.Ready != nil {
			if err := d.Ready(ctx); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if d.OpsOnly {
		return mux, nil
	}
	auth := d.Auth
	if auth == nil {
		var err error
		if auth, err = api.AuthFromEnv(); err != nil {
			return nil, err
		}
	}
	if len(auth.Clients()) == 0 {
		log.Warn("ERP API: no clients configured (PORTICO_API_KEYS or PORTICO_API_KEYS_FILE); every request will be refused")
	}
	limits, err := erp.LimitsFromEnv()
	if err != nil {
		return nil, err
	}
	mux.Handle("/v1/", &api.Server{Client: d.Client, Store: d.Store, Auth: auth, Logger: log, Limits: limits})
	tokens := d.CodecTokens
	if tokens == nil {
		var err error
		tokens, err = codec.TokensFromEnv()
		if err != nil && !errors.Is(err, codec.ErrNoTokens) {
			return nil, err
		}
	}
	if len(tokens) == 0 {
		log.Warn("codec server off: no tokens configured (PORTICO_CODEC_TOKENS or PORTICO_CODEC_TOKEN_FILE); the Temporal UI will show payloads encrypted")
	} else {
		origins := splitList(os.Getenv("PORTICO_CODEC_ORIGINS"))
		mux.Handle("/codec/", http.StripPrefix("/codec", codec.NewHandler(d.Codec, codec.HandlerOptions{Tokens: tokens, AllowedOrigins: origins, Logger: log})))
	}
	return mux, nil
}

// serveHTTP serves h on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("PORTICO_HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("HTTP endpoints listening", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "error", err)
		}
	}()
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
