package service

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/codec"
	"portico/internal/config"
)

// Dial connects to Temporal with Portico's payload encryption: every payload a client or worker made from
// it sends is sealed with the payload key (codec.FromEnv), and every one it reads is opened. A process
// without the key cannot start, signal or read workflows, rather than send a secret in the clear.
func Dial(ctx context.Context, cfg config.Config, log *slog.Logger) (client.Client, error) {
	return DialWithMetrics(ctx, cfg, log, nil)
}

// DialWithMetrics is Dial with the SDK's metrics sent to mh; nil sends them nowhere.
func DialWithMetrics(ctx context.Context, cfg config.Config, log *slog.Logger, mh client.MetricsHandler) (client.Client, error) {
	cd, err := codec.FromEnv()
	if err != nil {
		return nil, err
	}
	opts := codec.ClientOptions(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: tlog.NewStructuredLogger(log), MetricsHandler: mh}, cd)
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}
