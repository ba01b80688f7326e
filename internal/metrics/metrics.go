// Package metrics is the worker's Prometheus endpoint: one registry per process holding the Go runtime and
// process metrics, the Temporal SDK's temporal_* metrics (through TemporalHandler, given to
// client.Options.MetricsHandler), Portico's own portico_* metrics (fed by the portal driver as its
// driver.Observer and by the browser activities as their activities.Recorder) and, for a browser worker,
// the size of its Chromium read from /proc at scrape time.
//
// Every label Portico sets comes from a closed set (portal definitions, the driver's step names and login
// outcomes, the portals' rejection codes): never an invoice or PO number, an account or a URL, so the
// number of series stays bounded however many invoices run.
package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Names of Portico's own metrics, as exported; dashboards and alerts use these.
const (
	// DraftsSaved counts drafts saved in a portal, by portal.
	DraftsSaved = "portico_drafts_saved_total"
	// Submissions counts drafts submitted in a portal, by portal.
	Submissions = "portico_submissions_total"
	// Rejections counts portal rejections, by reason; workflow code counts it as RejectionsCounter.
	Rejections = "portico_rejections_total"
	// Logins counts portal sign-ins, by portal and outcome.
	Logins = "portico_portal_logins_total"
	// StepSeconds is the histogram of portal step times, by portal and step.
	StepSeconds = "portico_portal_step_seconds"
	// ChromiumProcs is the number of the worker's Chromium processes.
	ChromiumProcs = "portico_chromium_processes"
	// ChromiumMemory is the resident memory (RSS) of the worker's Chromium processes, summed, in bytes.
	ChromiumMemory = "portico_chromium_memory_bytes"
	// ChromiumPSS is the proportional memory (PSS) of the worker's Chromium processes, summed, in bytes.
	ChromiumPSS = "portico_chromium_pss_bytes"
	// SlotsBusy is the number of browser activities running, each in a tab.
	SlotsBusy = "portico_browser_slots_busy"
)

// RejectionsCounter is the name workflow code gives the SDK's metrics handler to count a rejection:
// workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": code}).Counter(RejectionsCounter)
// is exported as Rejections (the handler appends _total to counters), with the reason and the tags the
// SDK puts on every workflow metric.
const RejectionsCounter = "portico_rejections"

// stepBuckets span a portal step from a quick table read to a slow SPA save near the driver's 20 s
// step timeout, and past it for steps that include a sign-in.
var stepBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60}

// Metrics is the process's registry with Portico's metrics. Make one per process with New: a second
// would export a second copy of the runtime metrics and split the counters between them.
type Metrics struct {
	reg     *prometheus.Registry
	sdk     *sdkCollector
	handler http.Handler

	drafts      *prometheus.CounterVec
	submissions *prometheus.CounterVec
	logins      *prometheus.CounterVec
	steps       *prometheus.HistogramVec
}

// New makes the registry with the Go runtime, process, SDK and Portico collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		drafts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: DraftsSaved,
			Help: "Invoice drafts Portico saved in a portal. A retry that finds its draft already there is not counted.",
		}, []string{"portal"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Submissions,
			Help: "Drafts Portico submitted to the buyer in a portal. A retry that finds the invoice already submitted is not counted.",
		}, []string{"portal"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Logins,
			Help: "Portal sign-ins by outcome: ok, refused (password), totp_refused, locked, password_expired, " +
				"unavailable, drift, error; blocked counts sign-ins not tried because the portal refused the same credentials before.",
		}, []string{"portal", "outcome"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: StepSeconds,
			Help: "Time a portal step took, failed ones included (step: page_load, login, list_pos, read_po, find_po, " +
				"find_invoice, read_status, create_draft, submit, delete_draft, capture_invoice). A step's time includes " +
				"the page loads and any sign-in the portal asked for during it.",
			Buckets: stepBuckets,
		}, []string{"portal", "step"}),
	}
	m.sdk = newSDKCollector([]string{DraftsSaved, Submissions, Logins, StepSeconds, ChromiumProcs, ChromiumMemory, ChromiumPSS, SlotsBusy})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.drafts, m.submissions, m.logins, m.steps, m.sdk,
	)
	// One metric the SDK handler failed to export must not cost the scrape every other one.
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}))
	return m
}

// Registry returns the registry, for collectors of other packages and for tests that gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or OpenMetrics, when the scraper asks), for
// GET /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// TemporalHandler is the handler for client.Options.MetricsHandler: the SDK's metrics, and what workflow
// and activity code count through workflow.GetMetricsHandler and activity.GetMetricsHandler, end up in
// this registry. Counters are exported with _total appended, timers as histograms in seconds with
// _seconds appended, gauges as named (the naming of go.temporal.io/sdk/contrib/tally's Prometheus scope,
// which Temporal's SDK dashboards expect).
func (m *Metrics) TemporalHandler() client.MetricsHandler { return sdkHandler{c: m.sdk} }

// Login counts a portal sign-in; it makes Metrics a driver.Observer.
func (m *Metrics) Login(portal, outcome string) { m.logins.WithLabelValues(portal, outcome).Inc() }

// Step records how long a portal step took; it makes Metrics a driver.Observer.
func (m *Metrics) Step(portal, step string, took time.Duration) {
	m.steps.WithLabelValues(portal, step).Observe(took.Seconds())
}

// DraftSaved counts a draft saved in a portal; it makes Metrics an activities.Recorder.
func (m *Metrics) DraftSaved(portal string) { m.drafts.WithLabelValues(portal).Inc() }

// Submitted counts a draft submitted in a portal; it makes Metrics an activities.Recorder.
func (m *Metrics) Submitted(portal string) { m.submissions.WithLabelValues(portal).Inc() }
