package testenv

import (
	"context"
	"io"
	"sync"
	"testing"

	"portico/internal/devstack"
	"portico/workflows"
)

// One Temporal dev server per test package, started on first use: it takes seconds to start, and tests that
// share it keep apart by their workflow IDs.
var (
	temporalOnce sync.Once
	temporalSrv  *devstack.Temporal
	temporalErr  error
)

// Temporal returns the address (host:port) of a headless Temporal dev server with Portico's search
// attributes, shared by the test package's tests and started by the first to ask. RunWithPostgres stops
// it when the package's tests end.
func Temporal(t testing.TB) string {
	t.Helper()
	temporalOnce.Do(func() {
		temporalSrv, temporalErr = devstack.StartTemporal(context.Background(), devstack.TemporalOptions{
			Headless: true, SearchAttributes: workflows.SearchAttributes, Log: io.Discard,
		})
	})
	if temporalErr != nil {
		t.Fatalf("start Temporal: %v", temporalErr)
	}
	return temporalSrv.HostPort()
}

// stopTemporal stops the package's dev server, if a test started it.
func stopTemporal() {
	if temporalSrv != nil {
		_ = temporalSrv.Stop()
	}
}
