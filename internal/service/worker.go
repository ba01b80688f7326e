// Package service wires Portico's worker process: PostgreSQL, the vault, Chromium and the Temporal workers.
// worker/main.go and the end-to-end tests both run it.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"portico/activities"
	"portico/internal/browser"
	"portico/internal/codec"
	"portico/internal/config"
	"portico/internal/driver"
	"portico/internal/evidence"
	"portico/internal/portaldef"
	"portico/internal/store"
	"portico/internal/vault"
	"portico/workflows"
)

// Role says which task queues a worker process serves. Browser activities can run in processes of their
// own, sized for Chromium, apart from workflows.
type Role string

// The worker roles.
const (
	RoleAll       Role = "all"
	RoleWorkflows Role = "workflows"
	RoleBrowser   Role = "browser"
)

// Deps are what a worker needs from outside; fields left nil are made from the configuration.
type Deps struct {
	Store  *store.Store
	Client client.Client
	Logger *slog.Logger
	// Codec is the payload codec Client was made with, for the codec server; nil reads the key again.
	Codec *codec.Codec
	// HTTP overrides what the HTTP endpoints read from the environment (tests).
	HTTP *HTTPDeps
}

// RunWorker runs the workers of the role until ctx ends.
func RunWorker(ctx context.Context, cfg config.Config, role Role, deps Deps) error {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	st := deps.Store
	if st == nil {
		// Only browser activities open portal credentials: a workflows-only worker may run without the key.
		keys, err := vault.FromEnv()
		if errors.Is(err, vault.ErrNoKey) && role == RoleWorkflows {
			keys, err = nil, nil
		}
		if err != nil {
			return err
		}
		if st, err = store.Open(ctx, cfg.DatabaseURL, keys); err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	c := deps.Client
	if c == nil {
		var err error
		if c, err = Dial(ctx, cfg, log); err != nil {
			return err
		}
		defer c.Close()
	}

	if cfg.HTTPAddr != "" && role != RoleBrowser {
		hd := HTTPDeps{Logger: log}
		if deps.HTTP != nil {
			hd = *deps.HTTP
		}
		hd.Client, hd.Store, hd.Codec = c, st, deps.Codec
		if hd.Logger == nil {
			hd.Logger = log
		}
		if hd.Codec == nil {
			var err error
			if hd.Codec, err = codec.FromEnv(); err != nil {
				return err
			}
		}
		h, err := HTTPHandler(hd)
		if err != nil {
			return err
		}
		if err := serveHTTP(ctx, cfg.HTTPAddr, h, log); err != nil {
			return err
		}
	}

	var workers []worker.Worker
	if role == RoleAll || role == RoleWorkflows {
		w := worker.New(c, workflows.TaskQueue, worker.Options{})
		w.RegisterWorkflow(workflows.InvoiceWorkflow)
		w.RegisterWorkflow(workflows.POSyncWorkflow)
		w.RegisterActivity(&activities.Activities{Store: st})
		workers = append(workers, w)
	}
	if role == RoleAll || role == RoleBrowser {
		br, err := browser.Start(ctx, browser.Options{ExecPath: cfg.ChromiumPath})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
		defer br.Close()
		w := worker.New(c, workflows.BrowserTaskQueue, worker.Options{
			// Each slot is a Chromium tab; more than the machine's cores only queues work in the browser.
			MaxConcurrentActivityExecutionSize: cfg.BrowserSlots,
		})
		portals, err := portaldef.NewRegistry(cfg.PortalsDir)
		if err != nil {
			return err
		}
		var ev evidence.Store
		if cfg.EvidenceDir != "" {
			ev = &evidence.FileStore{Dir: cfg.EvidenceDir}
		}
		drv := driver.New(br, driver.Config{Claims: st, Guard: st, Sessions: st, Evidence: ev})
		w.RegisterActivity(&activities.Browser{Store: st, Driver: drv, Portals: portals})
		workers = append(workers, w)
	}
	if len(workers) == 0 {
		return fmt.Errorf("unknown worker role %q: use all, workflows or browser", role)
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return err
		}
		defer w.Stop()
	}
	log.Info("worker running", "role", string(role), "temporal", cfg.TemporalAddress, "browser_slots", cfg.BrowserSlots)
	<-ctx.Done()
	log.Info("worker stopping")
	return nil
}
