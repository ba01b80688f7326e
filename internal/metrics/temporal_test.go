package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"portico/internal/devstack"
	"portico/internal/metrics"
	"portico/internal/metrics/metricstest"
)

var flakyCalls atomic.Int64

// flakyActivity fails its first attempt, so the worker reports a failed activity execution.
func flakyActivity(context.Context) error {
	if flakyCalls.Add(1) == 1 {
		return errors.New("first attempt fails")
	}
	return nil
}

func metricsWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaximumAttempts: 3},
	})
	if err := workflow.ExecuteActivity(ctx, flakyActivity).Get(ctx, nil); err != nil {
		return err
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": "DUPLICATE_NUMBER"}).Counter(metrics.RejectionsCounter).Inc(1)
	return nil
}

// The handler given to client.Options.MetricsHandler gets the SDK's own metrics from a real client and
// worker against the Temporal dev server, and what workflow code counts, with the SDK's tags.
func TestTemporalSDKMetricsFromARealWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Headless: true, Log: io.Discard})
	if err != nil {
		t.Fatalf("start Temporal: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	m := metrics.New()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Logger: quiet, MetricsHandler: m.TemporalHandler()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "metrics-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(metricsWorkflow)
	w.RegisterActivity(flakyActivity)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "metrics-test", TaskQueue: queue}, metricsWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}

	wf := []string{"workflow_type", "metricsWorkflow", "task_queue", queue, "namespace", "default"}
	want := []struct {
		name   string
		min    float64
		labels []string
	}{
		{"temporal_request_total", 1, []string{"operation", "StartWorkflowExecution"}},
		{"temporal_request_latency_seconds_count", 1, nil},
		{"temporal_workflow_completed_total", 1, wf},
		{"temporal_workflow_endtoend_latency_seconds_count", 1, wf},
		{"temporal_workflow_task_execution_latency_seconds_count", 1, wf},
		{"temporal_workflow_task_schedule_to_start_latency_seconds_count", 1, nil},
		{"temporal_activity_execution_latency_seconds_count", 2, []string{"activity_type", "flakyActivity"}},
		{"temporal_activity_execution_failed_total", 1, []string{"activity_type", "flakyActivity", "workflow_type", "metricsWorkflow"}},
		{"temporal_worker_task_slots_available", 1, []string{"worker_type", "ActivityWorker"}},
		{metrics.Rejections, 1, append([]string{"reason", "DUPLICATE_NUMBER"}, wf...)},
	}
	// The worker counts a completed workflow after it reported the completion, which the client may see
	// first: scrape until everything is there.
	var p metricstest.Page
	var missing []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p, missing = metricstest.Scrape(t, m.Handler()), nil
		for _, w := range want {
			if v, ok := p.Value(w.name, w.labels...); !ok || v < w.min {
				missing = append(missing, fmt.Sprintf("%s%v = %v (found %v), want at least %v", w.name, w.labels, v, ok, w.min))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range missing {
		t.Error(m)
	}
	if v, _ := p.Value(metrics.Rejections, "reason", "DUPLICATE_NUMBER"); v != 1 {
		t.Errorf("%s = %v, want 1", metrics.Rejections, v)
	}
	for _, line := range strings.Split(p.Text, "\n") {
		if strings.HasPrefix(line, metrics.Rejections) {
			t.Log(line)
		}
	}
	// Every series gathered without error: the handler counts gathering errors it served past.
	again := metricstest.Scrape(t, m.Handler())
	if n, _ := again.Value("promhttp_metric_handler_errors_total", "cause", "gathering"); n != 0 {
		t.Errorf("%v gathering errors", n)
	}
	if t.Failed() {
		t.Log(p.Text)
	}
}
