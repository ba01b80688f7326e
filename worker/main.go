// Command worker runs Portico's Temporal workers: the invoice and PO-sync workflows, their database
// activities and, in the same or a separate process, the browser activities.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"portico/internal/config"
	"portico/internal/service"
)

func main() {
	role := flag.String("role", "all", "task queues to serve: all, workflows or browser")
	flag.Parse()
	cfg, err := config.FromEnv()
	if err != nil {
		slog.Error("configuration", "error", err)
		os.Exit(2)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := service.RunWorker(ctx, cfg, service.Role(*role), service.Deps{Logger: log}); err != nil {
		log.Error("worker failed", "error", err)
		os.Exit(1)
	}
}
