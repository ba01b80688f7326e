package metrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// The SDK's metrics reach Prometheus through this adapter rather than go.temporal.io/sdk/contrib/tally and
// tally's Prometheus reporter (which compile with SDK v1.50) because:
//   - the SDK emits some metrics with different tag sets in different places (sdk-go#1450:
//     temporal_workflow_task_execution_failed with and without failure_reason); tally's reporter registers
//     one label set per name and drops the others with an error, while this collector exports each series
//     with its own labels, which Prometheus accepts;
//   - tally hands values to the reporter on a flush interval, so a scrape right after a run can miss the
//     last second of it; here a value is in the next scrape;
//   - tally's reporter makes timers summaries unless told otherwise, which cannot be aggregated across
//     workers; here they are histograms.

// sdkBuckets span the SDK's timers: task processing in milliseconds up to schedule-to-start latencies and
// browser activities of minutes.
var sdkBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// sdkHelp documents the metrics Portico's own code counts through the SDK's handler; the SDK's own get a
// generic line naming them.
var sdkHelp = map[string]string{
	Rejections: "Invoices a buyer's portal rejected, by the portal's reason code, counted by the invoice workflow " +
		"(with the SDK's workflow tags: namespace, task_queue, workflow_type, ...).",
}

type sdkKind int

const (
	sdkCounter sdkKind = iota
	sdkGauge
	sdkTimer
)

func (k sdkKind) String() string {
	return [...]string{"counter", "gauge", "timer"}[k]
}

// sdkCollector holds every series the SDK handler made, each a prometheus metric with its tags as constant
// labels. It is an unchecked collector (Describe sends nothing): the names and label sets are only known
// when the SDK first uses them.
type sdkCollector struct {
	mu     sync.RWMutex
	series map[string]prometheus.Collector // name and sorted tags → series
	kinds  map[string]sdkKind              // exported name → the kind it was first made as
	// reserved are the names Portico's own collectors export: an SDK series with one of them would
	// collide with them and fail the scrape.
	reserved map[string]bool
}

func newSDKCollector(reserved []string) *sdkCollector {
	c := &sdkCollector{series: map[string]prometheus.Collector{}, kinds: map[string]sdkKind{}, reserved: map[string]bool{}}
	for _, n := range reserved {
		c.reserved[n] = true
	}
	return c
}

// Describe sends nothing, which makes the collector unchecked.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	all := make([]prometheus.Collector, 0, len(c.series))
	for _, s := range c.series {
		all = append(all, s)
	}
	c.mu.RUnlock()
	for _, s := range all {
		s.Collect(ch)
	}
}

// get returns the series of the exported name and tags, making it on first use; nil when the name is
// reserved or was made as another kind (the SDK never does that; the value is dropped rather than fail
// the scrape).
func (c *sdkCollector) get(sdkName string, kind sdkKind, tags map[string]string) prometheus.Collector {
	name := promName(sdkName, kind)
	key := seriesKey(name, tags)
	c.mu.RLock()
	s, ok := c.series[key]
	c.mu.RUnlock()
	if ok {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[key]; ok {
		return s
	}
	if c.reserved[name] {
		return nil
	}
	if k, ok := c.kinds[name]; ok && k != kind {
		return nil
	}
	help := sdkHelp[name]
	if help == "" {
		help = "Temporal SDK " + kind.String() + " " + sdkName + "."
	}
	labels := prometheus.Labels{}
	for k, v := range tags {
		labels[labelName(k)] = strings.ToValidUTF8(v, "\uFFFD")
	}
	switch kind {
	case sdkCounter:
		s = prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	case sdkGauge:
		s = prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
	default:
		s = prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels, Buckets: sdkBuckets})
	}
	c.kinds[name] = kind
	c.series[key] = s
	return s
}

// promName is the exported name of an SDK metric: sanitised, and suffixed as contrib/tally's Prometheus
// naming scope does.
func promName(name string, kind sdkKind) string {
	name = sanitize(name, true)
	switch kind {
	case sdkCounter:
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case sdkTimer:
		if !strings.HasSuffix(name, "_seconds") {
			name += "_seconds"
		}
	}
	return name
}

// labelName makes a tag key a valid label name; keys starting with __ are Prometheus's own.
func labelName(k string) string {
	k = sanitize(k, false)
	if strings.HasPrefix(k, "__") {
		k = "x" + k
	}
	return k
}

// sanitize replaces what a metric (colon allowed) or label name may not hold with underscores.
func sanitize(s string, colon bool) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && r >= '0' && r <= '9') || colon && r == ':'
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func seriesKey(name string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	n := len(name)
	for k, v := range tags {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	b.WriteString(name)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(tags[k])
	}
	return b.String()
}

// sdkHandler is a client.MetricsHandler with its tags; WithTags copies them, as the SDK expects handlers
// to be immutable.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

// WithTags returns a handler with tags added to (or replacing) this one's.
func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{c: h.c, tags: merged}
}

// Counter returns the counter name_total with the handler's tags.
func (h sdkHandler) Counter(name string) client.MetricsCounter {
	if s, ok := h.c.get(name, sdkCounter, h.tags).(prometheus.Counter); ok {
		return counter{s}
	}
	return client.MetricsNopHandler.Counter(name)
}

// Gauge returns the gauge name with the handler's tags.
func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	if s, ok := h.c.get(name, sdkGauge, h.tags).(prometheus.Gauge); ok {
		return gauge{s}
	}
	return client.MetricsNopHandler.Gauge(name)
}

// Timer returns the histogram name_seconds with the handler's tags.
func (h sdkHandler) Timer(name string) client.MetricsTimer {
	if s, ok := h.c.get(name, sdkTimer, h.tags).(prometheus.Histogram); ok {
		return timer{s}
	}
	return client.MetricsNopHandler.Timer(name)
}

type counter struct{ c prometheus.Counter }

// Inc adds d; a Prometheus counter only goes up, so a negative d (which the SDK never sends) is dropped
// instead of panicking.
func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ h prometheus.Histogram }

func (t timer) Record(d time.Duration) { t.h.Observe(d.Seconds()) }
