package main

// Target says what one figure is and what it should be. Bench and Metric pick the figure: Bench is a
// benchmark name with or without its "Benchmark" prefix, Metric a unit given to b.ReportMetric; both may
// hold '*' (any text, '/' included). The first matching entry applies.
//
// A figure that is a ratio against a baseline measured in the same run names the two absolute values
// (Value, Baseline: the metrics that hold them) so they are printed beside the ratio. Without them, the
// table finds them by two conventions:
//
//   - a metric named "A/B" where the benchmark also reports "A" and "B" (heap_B/heap0_B beside heap_B and
//     heap0_B): several figures per benchmark;
//   - a metric named "ratio" beside one "measured_<unit>" and one "baseline_<unit>", and optionally
//     "target", the ratio to meet, at most (activities/draft_bench_test.go): one figure per benchmark.
//
// Any other metric named "ratio…" is printed in the ratio column, and every other metric in the value column.
//
// Op and Want are the target (Op one of <=, <, >=, >, ==). Without an Op the figure has no target, unless
// it is a "ratio" and the benchmark reports a "target" (then ≤ target).
type Target struct {
	Bench, Metric   string
	Label           string // what the figure is, for the table; empty: "<benchmark> · <metric>"
	Value, Baseline string
	Op              string
	Want            float64
}

// targets are Portico's benchmark figures and their targets (README "Benchmarks", issue 8). Add a line
// for a new figure; a metric without one is still printed, without a target.
var targets = []Target{
	// workflows: history length (BenchmarkInvoiceHistory)
	// The threshold is checked between status reads, so a run may pass it by one read's events (about 11).
	{Bench: "InvoiceHistory", Metric: "max_events/threshold", Label: "history: longest run of a year of polling / continue-as-new threshold", Value: "max_events", Baseline: "threshold", Op: "<=", Want: 1.01},
	{Bench: "InvoiceHistory", Metric: "happy_events", Label: "history: events of the happy path (recorded)"},
	{Bench: "InvoiceHistory", Metric: "year_events", Label: "history: events of a year of polling, all runs"},
	{Bench: "InvoiceHistory", Metric: "year_runs", Label: "history: runs in a year of polling"},
	{Bench: "InvoiceHistory", Metric: "events/poll", Label: "history: events per status read"},
	{Bench: "InvoiceHistory", Metric: "year_polls", Label: "history: status reads in a year"},

	// internal/service: idle cost of parked workflows (BenchmarkIdleWorkflows/waiting, /polling)
	{Bench: "IdleWorkflows/*", Metric: "workflows", Label: "N, the invoice workflows parked"},
	{Bench: "IdleWorkflows/*", Metric: "heap_B/heap0_B", Label: "worker heap in use after GC: N parked / none"},
	{Bench: "IdleWorkflows/*", Metric: "rss_B/rss0_B", Label: "worker RSS after GC: N parked / none"},
	{Bench: "IdleWorkflows/*", Metric: "heap_B/workflow", Label: "worker heap per parked workflow"},
	{Bench: "IdleWorkflows/*", Metric: "rss_B/workflow", Label: "worker RSS per parked workflow"},
	{Bench: "IdleWorkflows/*", Metric: "goroutines/goroutines0", Label: "worker goroutines: N parked / none"},
	{Bench: "IdleWorkflows/*", Metric: "sticky_cached", Label: "workflows in the SDK's sticky cache"},
	{Bench: "IdleWorkflows/*", Metric: "server_rss_B/server_rss0_B", Label: "dev server RSS: N parked / none"},
	{Bench: "IdleWorkflows/*", Metric: "server_rss_B/workflow", Label: "dev server RSS per parked workflow"},
	{Bench: "IdleWorkflows/*", Metric: "start_s", Label: "seconds until the N starts were answered (paced by parking)"},
	{Bench: "IdleWorkflows/*", Metric: "signal_s", Label: "seconds until the N approval signals were answered (paced)"},
	{Bench: "IdleWorkflows/*", Metric: "park_s", Label: "seconds until all N are parked"},
	{Bench: "IdleWorkflows/*", Metric: "parked/s", Label: "workflows parked per second"},

	// internal/store
	{Bench: "IngestPOs", Metric: "ingest/raw", Label: "PO ingest rows/s / raw COPY rows/s", Value: "ingest_rows/s", Baseline: "raw_rows/s", Op: ">=", Want: 0.5},
	{Bench: "IngestPOs", Metric: "staged/raw", Label: "staged sync run rows/s / raw COPY rows/s", Value: "staged_rows/s", Baseline: "raw_rows/s", Op: ">=", Want: 0.5},

	// internal/matching
	{Bench: "MatchBatch", Metric: "s/10k-invoices", Label: "seconds to match 10k invoices (index included)", Op: "<", Want: 2},

	// activities: re-sync page loads (Chromium against the simulator)
	{Bench: "ResyncPageLoads", Metric: "full_unchanged_loads/list_page", Label: "full re-sync, nothing changed: page loads / list pages", Value: "full_unchanged_loads", Baseline: "list_pages", Op: "<=", Want: 1},
	{Bench: "ResyncPageLoads", Metric: "changed_unchanged_loads", Label: "changed-only re-sync, nothing changed: page loads", Op: "<=", Want: 1},
	{Bench: "ResyncPageLoads", Metric: "full_extra_loads/changed_po", Label: "full re-sync: extra page loads per changed PO", Op: "<=", Want: 1},

	// Browser benchmarks (activities/draft_bench_test.go, sweep_bench_test.go): measured_/baseline_/ratio/
	// target, the target (at most) reported by the benchmark unless an Op here says otherwise.
	{Bench: "DraftWaste", Metric: "ratio", Label: "SaveDraft time / the portal's round trips (floor)"},
	{Bench: "LoginsPerInvoice", Metric: "ratio", Label: "portal logins per invoice drafted"},
	// No target for scaling: on 2 shared cores, N slots overlap the portal's waits but share the CPU.
	{Bench: "BrowserSlots/drafts_per_min/*", Metric: "ratio", Label: "drafts/min at N slots / at 1 slot (scaling; N is linear)"},
	{Bench: "BrowserSlots/pss_per_slot/*", Metric: "ratio", Label: "Chromium PSS per slot at N slots / at 1 slot"},
	{Bench: "BrowserSlots/rss_per_slot/*", Metric: "ratio", Label: "Chromium RSS per slot at N slots / at 1 slot"},
	{Bench: "ChromiumProcessesLeft", Metric: "ratio", Label: "Chromium processes after the activities / before"},
	{Bench: "ChromiumProcessesLeft", Metric: "procs_left", Label: "Chromium processes left after the activities", Op: "<=", Want: 0},
	{Bench: "ChromiumProcessesLeft", Metric: "activities", Label: "browser activities run (each its own tab)"},
	{Bench: "StatusSweep/*", Metric: "ratio", Label: "status sweep page loads / list pages"},
}
