package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
	"portico/internal/browser"
	"portico/internal/driver"
	"portico/internal/metrics"
	"portico/internal/metrics/metricstest"
	"portico/internal/testenv"
)

// Metrics is what the worker hands the driver and the browser activities.
var (
	_ driver.Observer     = (*metrics.Metrics)(nil)
	_ activities.Recorder = (*metrics.Metrics)(nil)
)

func TestRegistryServesTheNamedMetrics(t *testing.T) {
	m := metrics.New()
	m.Login("coupa-sim", driver.LoginOK)
	m.Login("coupa-sim", driver.LoginTOTPRefused)
	m.Step("coupa-sim", driver.StepCreateDraft, 1500*time.Millisecond)
	m.DraftSaved("coupa-sim")
	m.Submitted("coupa-sim")
	m.TemporalHandler().WithTags(map[string]string{"reason": "DUPLICATE_NUMBER"}).Counter(metrics.RejectionsCounter).Inc(1)

	p := metricstest.Scrape(t, m.Handler())
	want := []struct {
		name   string
		typ    dto.MetricType
		labels []string
		value  float64
	}{
		{metrics.DraftsSaved, dto.MetricType_COUNTER, []string{"portal", "coupa-sim"}, 1},
		{metrics.Submissions, dto.MetricType_COUNTER, []string{"portal", "coupa-sim"}, 1},
		{metrics.Rejections, dto.MetricType_COUNTER, []string{"reason", "DUPLICATE_NUMBER"}, 1},
		{metrics.Logins, dto.MetricType_COUNTER, []string{"portal", "coupa-sim", "outcome", "ok"}, 1},
		{metrics.Logins, dto.MetricType_COUNTER, []string{"portal", "coupa-sim", "outcome", "totp_refused"}, 1},
		{metrics.StepSeconds, dto.MetricType_HISTOGRAM, nil, 0},
	}
	for _, w := range want {
		fam := p.Families[w.name]
		if fam == nil {
			t.Errorf("%s not served:\n%s", w.name, p.Text)
			continue
		}
		if fam.GetType() != w.typ {
			t.Errorf("%s is a %s, want %s", w.name, fam.GetType(), w.typ)
		}
		if fam.GetHelp() == "" || strings.HasPrefix(fam.GetHelp(), "Temporal SDK") {
			t.Errorf("%s has no help of its own: %q", w.name, fam.GetHelp())
		}
		if w.labels == nil {
			continue
		}
		if v, ok := p.Value(w.name, w.labels...); !ok || v != w.value {
			t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, v, ok, w.value)
		}
	}
	if n, _ := p.Value(metrics.StepSeconds+"_count", "portal", "coupa-sim", "step", "create_draft"); n != 1 {
		t.Errorf("create_draft steps: %v", n)
	}
	if s, _ := p.Value(metrics.StepSeconds+"_sum", "step", "create_draft"); s != 1.5 {
		t.Errorf("create_draft seconds: %v", s)
	}
	// The runtime and process collectors, and the handler's own request counter.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total", "promhttp_metric_handler_requests_total"} {
		if p.Families[name] == nil {
			t.Errorf("%s not served", name)
		}
	}
	if strings.Contains(p.Text, "Temporal SDK counter portico_rejections") {
		t.Error("portico_rejections_total has the SDK's generic help, not its own")
	}
}

func TestSDKHandlerNaming(t *testing.T) {
	m := metrics.New()
	root := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "portico"})
	h := root.WithTags(map[string]string{"workflow_type": "InvoiceWorkflow"})
	h.Counter("temporal_workflow_completed").Inc(2)
	h.Counter("temporal_workflow_completed").Inc(1)
	h.Counter("temporal_request_total").Inc(1) // already suffixed: not doubled
	h.Timer("temporal_workflow_endtoend_latency").Record(250 * time.Millisecond)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Counter("temporal_request").Inc(-5) // a counter never goes down; dropped, not a panic
	// The same metric with another tag set (sdk-go#1450: failure_reason on some call sites only) is its
	// own series, not a scrape error.
	h.Counter("temporal_workflow_task_execution_failed").Inc(1)
	h.WithTags(map[string]string{"failure_reason": "NonDeterminismError"}).Counter("temporal_workflow_task_execution_failed").Inc(1)
	// Names and keys Prometheus does not allow are made valid; values are kept as they are.
	h.WithTags(map[string]string{"activity-type": "Save Draft/ü"}).Counter("portico.odd-name").Inc(1)
	// A name Portico's own collectors export is not taken over by the SDK handler.
	h.Counter("portico_drafts_saved").Inc(1)
	// Tags of a derived handler do not leak into its parent.
	root.Counter("temporal_long_request").Inc(1)

	p := metricstest.Scrape(t, m.Handler())
	check := func(name string, want float64, labels ...string) {
		t.Helper()
		if v, ok := p.Value(name, labels...); !ok || v != want {
			t.Errorf("%s%v = %v (found %v), want %v\n%s", name, labels, v, ok, want, p.Text)
		}
	}
	check("temporal_workflow_completed_total", 3, "namespace", "default", "task_queue", "portico", "workflow_type", "InvoiceWorkflow")
	check("temporal_request_total", 1)
	check("temporal_workflow_endtoend_latency_seconds_count", 1, "workflow_type", "InvoiceWorkflow")
	check("temporal_workflow_endtoend_latency_seconds_sum", 0.25)
	check("temporal_worker_task_slots_available", 7, "task_queue", "portico")
	check("temporal_workflow_task_execution_failed_total", 2)
	check("temporal_workflow_task_execution_failed_total", 1, "failure_reason", "NonDeterminismError")
	check("portico_odd_name_total", 1, "activity_type", "Save Draft/ü")
	if v, ok := p.Value(metrics.DraftsSaved); ok {
		t.Errorf("the SDK handler took over Portico's %s: %v", metrics.DraftsSaved, v)
	}
	if fam := p.Families["temporal_workflow_completed_total"]; fam.GetType() != dto.MetricType_COUNTER || fam.GetHelp() != "Temporal SDK counter temporal_workflow_completed." {
		t.Errorf("temporal_workflow_completed_total: %s %q", fam.GetType(), fam.GetHelp())
	}
	if p.Families["temporal_workflow_endtoend_latency_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Error("timers must be histograms")
	}
	for _, mt := range p.Families["temporal_long_request_total"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "workflow_type" {
				t.Errorf("a child handler's tag leaked into its parent: %v", mt)
			}
		}
	}
}

func rejectingWorkflow(ctx workflow.Context, reason string) error {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": reason}).Counter(metrics.RejectionsCounter).Inc(1)
	return nil
}

// A rejection counted from workflow code through the SDK's handler (which wraps it to skip replays) is
// exported as portico_rejections_total with its reason. The test environment adds no tags of its own; a
// real worker's are checked in TestTemporalSDKMetricsFromARealWorker.
func TestRejectionsCountedFromAWorkflow(t *testing.T) {
	m := metrics.New()
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.TemporalHandler())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(rejectingWorkflow)
	env.ExecuteWorkflow(rejectingWorkflow, "PRICE_MISMATCH")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	p := metricstest.Scrape(t, m.Handler())
	if v, ok := p.Value(metrics.Rejections, "reason", "PRICE_MISMATCH"); !ok || v != 1 {
		t.Fatalf("%s{reason=PRICE_MISMATCH} = %v (%v)\n%s", metrics.Rejections, v, ok, p.Text)
	}
}

// The Chromium collector reads the real browser's process tree: a worker's Chromium is several processes
// (browser, zygotes, GPU, utilities, a renderer per tab).
func TestChromiumCollectorMeasuresTheRealBrowser(t *testing.T) {
	br := testenv.Browser(t)
	m := metrics.New()
	if err := m.WatchChromium(br); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchChromium(br); err == nil {
		t.Error("a second WatchChromium must fail, not export the same series twice")
	}
	before := metricstest.Scrape(t, m.Handler())
	procs, _ := before.Value(metrics.ChromiumProcs)
	mem, _ := before.Value(metrics.ChromiumMemory)
	pss, _ := before.Value(metrics.ChromiumPSS)
	if procs < 2 || mem <= 0 || pss <= 0 || pss > mem {
		t.Fatalf("Chromium: %v processes, RSS %v bytes, PSS %v bytes\n%s", procs, mem, pss, before.Text)
	}
	t.Logf("Chromium: %v processes, RSS %.0f MiB, PSS %.0f MiB", procs, mem/(1<<20), pss/(1<<20))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tab, closeTab, err := br.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = tab
	during := metricstest.Scrape(t, m.Handler())
	if busy, _ := during.Value(metrics.SlotsBusy); busy < 1 {
		t.Errorf("a tab is open, %s = %v", metrics.SlotsBusy, busy)
	}
	closeTab()
	// The count drops when the tab's context has ended, which Chromium confirms asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy, _ := metricstest.Scrape(t, m.Handler()).Value(metrics.SlotsBusy)
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tab closed, %s still %v", metrics.SlotsBusy, busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A browser that is closed has no processes: the collector reports 0 rather than the last tree it saw.
func TestChromiumCollectorAfterClose(t *testing.T) {
	br, err := browser.Start(context.Background(), browser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	if err := m.WatchChromium(br); err != nil {
		t.Fatal(err)
	}
	if procs, _ := metricstest.Scrape(t, m.Handler()).Value(metrics.ChromiumProcs); procs < 1 {
		br.Close()
		t.Fatalf("running browser: %v processes", procs)
	}
	br.Close()
	p := metricstest.Scrape(t, m.Handler())
	procs, _ := p.Value(metrics.ChromiumProcs)
	mem, _ := p.Value(metrics.ChromiumMemory)
	if procs != 0 || mem != 0 || br.PID() != 0 {
		t.Fatalf("closed browser: %v processes, %v bytes, PID %d", procs, mem, br.PID())
	}
}
