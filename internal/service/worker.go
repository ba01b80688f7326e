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
	"portico/internal/erp"
	"portico/internal/evidence"
	"portico/internal/metrics"
	"portico/internal/outbox"
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
	// Metrics is the process's registry; nil makes one. A Client given in Deps reports the SDK's metrics
	// only if it was dialled with Metrics.TemporalHandler().
	Metrics *metrics.Metrics
}

// RunWorker runs the workers of the role until ctx ends.
func RunWorker(ctx context.Context, cfg config.Config, role Role, deps Deps) error {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	if role != RoleAll && role != RoleWorkflows && role != RoleBrowser {
		return fmt.Errorf("unknown worker role %q: use all, workflows or browser", role)
	}
	met := deps.Metrics
	if met == nil {
		met = metrics.New()
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
		if c, err = DialWithMetrics(ctx, cfg, log, met.TemporalHandler()); err != nil {
			return err
		}
		defer c.Close()
	}

	// The browser starts first, so that /readyz can ask after it.
	var br *browser.Browser
	if role == RoleAll || role == RoleBrowser {
		var err error
		if br, err = browser.Start(ctx, browser.Options{ExecPath: cfg.ChromiumPath}); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
		defer br.Close()
		if err := met.WatchChromium(br); err != nil {
			return err
		}
	}

	if cfg.HTTPAddr != "" {
		hd := HTTPDeps{Logger: log}
		if deps.HTTP != nil {
			hd = *deps.HTTP
		}
		hd.Client, hd.Store, hd.Codec, hd.Metrics = c, st, deps.Codec, met.Handler()
		hd.OpsOnly = role == RoleBrowser
		if br != nil {
			hd.Ready = func(context.Context) error {
				if br.PID() == 0 {
					return errors.New("chromium: not running")
				}
				return nil
			}
		}
		if hd.Logger == nil {
			hd.Logger = log
		}
		if hd.Codec == nil && !hd.OpsOnly {
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
		// Every workflow worker drains the ERP outbox; rows are claimed with SKIP LOCKED, so they share it.
		limits, err := erp.LimitsFromEnv()
		if err != nil {
			return err
		}
		dispatcher := outbox.New(st, c, log)
		dispatcher.Limits = limits
		octx, stopOutbox := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := dispatcher.Run(octx); err != nil {
				log.Error("ERP outbox dispatcher stopped", "error", err)
			}
		}()
		defer func() { stopOutbox(); <-done }()
		w := worker.New(c, workflows.TaskQueue, worker.Options{})
		w.RegisterWorkflow(workflows.InvoiceWorkflow)
		w.RegisterWorkflow(workflows.POSyncWorkflow)
		w.RegisterActivity(&activities.Activities{Store: st})
		workers = append(workers, w)
	}
	if br != nil {
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
		drv := driver.New(br, driver.Config{Claims: st, Guard: st, Sessions: st, Evidence: ev, Observer: met})
		w.RegisterActivity(&activities.Browser{Store: st, Driver: drv, Portals: portals, Metrics: met})
		workers = append(workers, w)
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
