package main

import (
	"os"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) *Output {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func result(t *testing.T, out *Output, name string) *Result {
	t.Helper()
	for _, r := range out.Results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result for %s", name)
	return nil
}

func TestParse(t *testing.T) {
	out := parseFile(t, "testdata/run1.txt")
	if out.CPU != "Intel(R) Xeon(R) Processor @ 2.50GHz" {
		t.Errorf("cpu %q", out.CPU)
	}
	var names []string
	for _, r := range out.Results {
		names = append(names, r.Pkg+" "+r.Name)
	}
	want := []string{
		"portico/activities BenchmarkResyncPageLoads",
		"portico/activities BenchmarkDraftWaste",
		"portico/activities BenchmarkBrowserSlots/drafts_per_min/slots=1",
		"portico/activities BenchmarkBrowserSlots/drafts_per_min/slots=2",
		"portico/activities BenchmarkBrowserSlots/pss_per_slot/slots=2",
		"portico/activities BenchmarkStatusSweep/coupa",
		"portico/internal/matching BenchmarkMatchBatch",
		"portico/internal/matching BenchmarkMatchOne",
		"portico/internal/service BenchmarkIdleWorkflows/waiting",
		"portico/internal/store BenchmarkIngestPOs",
		"portico/workflows BenchmarkInvoiceHistory",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}

	// A result line split from its name by a logger's output is still found.
	if v, ok := result(t, out, "BenchmarkResyncPageLoads").Get("full_unchanged_loads/list_page"); !ok || v != 1 {
		t.Errorf("resync: %v %v", v, ok)
	}
	// -count 3: the median of each metric.
	mb := result(t, out, "BenchmarkMatchBatch")
	if mb.Lines != 3 {
		t.Errorf("MatchBatch lines %d", mb.Lines)
	}
	if v, _ := mb.Get("s/10k-invoices"); v != 0.9 {
		t.Errorf("MatchBatch s/10k-invoices median %v, want 0.9", v)
	}
	if v, _ := mb.Get("ns/op"); v != 831000000 {
		t.Errorf("MatchBatch ns/op median %v", v)
	}
	if v, _ := result(t, out, "BenchmarkIdleWorkflows/waiting").Get("heap_B"); v != 14729216 {
		t.Errorf("heap_B %v", v)
	}

	var problems []string
	for _, p := range out.Problems {
		problems = append(problems, p.Kind+" "+p.Pkg+" "+p.Name+": "+p.Reason)
	}
	wantProblems := []string{
		"FAIL portico/internal/driver : build failed",
		"SKIP portico/activities BenchmarkLoginsPerInvoice: chromium not found",
		"FAIL portico/internal/service BenchmarkIdleWorkflows: ",
		"FAIL portico/internal/service BenchmarkIdleWorkflows/polling: 3 invoices failed, e.g.: failed while checking",
		"FAIL portico/internal/service : failed",
	}
	if strings.Join(problems, "\n") != strings.Join(wantProblems, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(wantProblems, "\n"))
	}
}

func TestProcsSuffixKeptWhenNamesDisagree(t *testing.T) {
	// GOMAXPROCS=1: no suffix; a sub-benchmark's own "-4" stays.
	out, err := Parse(strings.NewReader("pkg: p\nBenchmarkA/slots-4 \t 1\t 10 ns/op\t 3 drafts/min\nBenchmarkB \t 1\t 10 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].Name != "BenchmarkA/slots-4" || out.Results[1].Name != "BenchmarkB" {
		t.Errorf("names %q %q", out.Results[0].Name, out.Results[1].Name)
	}
}

func TestRows(t *testing.T) {
	out := parseFile(t, "testdata/run1.txt")
	rows := Rows(out, targets)
	byFigure := map[string]Row{}
	for _, r := range rows {
		if _, dup := byFigure[r.Figure]; dup {
			t.Errorf("figure %q twice", r.Figure)
		}
		byFigure[r.Figure] = r
	}
	check := func(fig string, want Row) {
		t.Helper()
		got, ok := byFigure[fig]
		if !ok {
			var figs []string
			for _, r := range rows {
				figs = append(figs, r.Figure)
			}
			t.Fatalf("no row %q among:\n%s", fig, strings.Join(figs, "\n"))
		}
		got.spec, got.isRatio = 0, false
		want.Figure = fig
		if got != want {
			t.Errorf("row %q:\n got %+v\nwant %+v", fig, got, want)
		}
	}
	// A ratio from the targets table, with the absolute values it names.
	check("IngestPOs · PO ingest rows/s / raw COPY rows/s", Row{Value: "25,800", Baseline: "38,400", Ratio: "0.67", Target: "≥ 0.5", Met: "✓"})
	check("IngestPOs · staged sync run rows/s / raw COPY rows/s", Row{Value: "17,000", Baseline: "38,400", Ratio: "0.44", Target: "≥ 0.5", Met: "✗"})
	// A ratio "A/B" of two reported metrics, found without the table; bytes humanised.
	check("IdleWorkflows/waiting · worker heap in use after GC: N parked / none", Row{Value: "14 MiB", Baseline: "7.9 MiB", Ratio: "1.777"})
	check("IdleWorkflows/waiting · worker heap per parked workflow", Row{Value: "125.8 KiB"})
	check("InvoiceHistory · history: longest run of a year of polling / continue-as-new threshold", Row{Value: "2,011", Baseline: "2,000", Ratio: "1.006", Target: "≤ 1.01", Met: "✓"})
	check("ResyncPageLoads · full re-sync, nothing changed: page loads / list pages", Row{Value: "100", Baseline: "100", Ratio: "1", Target: "≤ 1", Met: "✓"})
	// measured_/baseline_/ratio/target: the benchmark's target is at most, unless the table says otherwise.
	check("DraftWaste · SaveDraft time / the portal's round trips (floor)", Row{Value: "1.95 s", Baseline: "1.5 s", Ratio: "1.3", Target: "≤ 1.5", Met: "✓"})
	check("StatusSweep/coupa · status sweep page loads / list pages", Row{Value: "101 page_loads", Baseline: "100 list_pages", Ratio: "1.01", Target: "≤ 1.2", Met: "✓"})
	check("BrowserSlots/drafts_per_min/slots=2 · drafts/min at N slots / at 1 slot (scaling; N is linear)", Row{Value: "19 drafts/min", Baseline: "10 drafts/min", Ratio: "1.9"})
	check("BrowserSlots/drafts_per_min/slots=1 · drafts/min at N slots / at 1 slot (scaling; N is linear)", Row{Value: "10 drafts/min", Baseline: "10 drafts/min", Ratio: "1"})
	check("BrowserSlots/pss_per_slot/slots=2 · Chromium PSS per slot at N slots / at 1 slot", Row{Value: "160 MB/slot", Baseline: "210 MB/slot", Ratio: "0.762"})
	// Beside a measured_/baseline_/ratio figure, the other metrics are details for the log.
	for _, fig := range []string{"DraftWaste · page_loads/draft", "BrowserSlots/pss_per_slot/slots=2 · peak_MB", "StatusSweep/coupa · invoices"} {
		if _, ok := byFigure[fig]; ok {
			t.Errorf("detail %q has a row", fig)
		}
	}
	// Metrics nobody described are printed as they are.
	check("ResyncPageLoads · changed_k_changed_loads", Row{Value: "110"})
	check("MatchBatch · seconds to match 10k invoices (index included)", Row{Value: "0.9", Target: "< 2", Met: "✓"})
	check("MatchBatch · %matched", Row{Value: "84"})
	// go test's own metrics only for a benchmark that reports nothing else.
	check("MatchOne · ns/op", Row{Value: "5.123 µs"})
	check("MatchOne · B/op", Row{Value: "640 B"})
	if _, ok := byFigure["MatchBatch · ns/op"]; ok {
		t.Error("ns/op printed for a benchmark with metrics of its own")
	}
	// Metrics printed beside their ratio have no row of their own.
	for _, fig := range []string{"IdleWorkflows/waiting · heap_B", "IdleWorkflows/waiting · heap0_B", "IngestPOs · raw_rows/s", "InvoiceHistory · threshold",
		"DraftWaste · measured_s", "DraftWaste · baseline_s", "DraftWaste · target", "BrowserSlots/drafts_per_min/slots=2 · target"} {
		if _, ok := byFigure[fig]; ok {
			t.Errorf("%q has a row of its own", fig)
		}
	}
	// Skipped and failed benchmarks and packages; a parent failing with its sub-benchmark that reported is
	// left out.
	check("LoginsPerInvoice", Row{Value: "—", Met: "skipped: chromium not found"})
	check("IdleWorkflows/polling", Row{Value: "—", Met: "fail: 3 invoices failed, e.g.: failed while checking"})
	check("package portico/internal/driver", Row{Value: "—", Met: "fail: build failed"})
	if _, ok := byFigure["IdleWorkflows"]; ok {
		t.Error("the parent of a sub-benchmark that reported has a FAIL row")
	}
	// Within a benchmark, figures come in the targets table's order (those with a target first there).
	var resync []string
	for _, r := range rows {
		if strings.HasPrefix(r.Figure, "ResyncPageLoads") {
			resync = append(resync, r.Figure+" "+r.Target)
		}
	}
	if len(resync) < 4 || !strings.HasSuffix(resync[0], "≤ 1") || !strings.HasSuffix(resync[2], "≤ 1") || strings.HasSuffix(resync[3], "≤ 1") {
		t.Errorf("resync rows not targets first: %q", resync)
	}

	notRun := NotRun(out, targets)
	if strings.Join(notRun, ",") != "BenchmarkBrowserSlots/rss_per_slot/*,BenchmarkChromiumProcessesLeft" {
		t.Errorf("not run: %v", notRun)
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"Chromium*", "ChromiumStart/cold", true},
		{"Chromium*", "DriverChromium", false},
		{"IdleWorkflows/*", "IdleWorkflows/waiting", true},
		{"*", "anything", true},
		{"a*c*e", "abcde", true},
		{"a*c*e", "abcd", false},
		{"ratio", "ratio", true},
	} {
		if got := glob(c.pattern, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pattern, c.s, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		unit string
		v    float64
		want string
	}{
		{"heap_B", 14729216, "14 MiB"},
		{"rss_B/workflow", 184648, "180.3 KiB"},
		{"B/op", 3 << 30, "3 GiB"},
		{"ns/op", 1314699808, "1.315 s"},
		{"events/poll", 11.2, "11.2"},
		{"year_events", 8252, "8,252"},
		{"start_s", 0.5066, "0.507"},
		{"x", -1234567, "-1,234,567"},
		{"x", 1234.6, "1,235"},
		{"x", 123.45, "123.5"},
	} {
		if got := formatValue(c.unit, c.v); got != c.want {
			t.Errorf("formatValue(%q, %v) = %q, want %q", c.unit, c.v, got, c.want)
		}
	}
}

// TestParseGoTestFormats reads what go test 1.26 prints for skipped, failed and logging benchmarks, with
// and without -v (testdata/plain.txt, verbose.txt: the same benchmarks). Without -v a skip is not printed
// at all and the logs come after --- FAIL; with -v they come before it.
func TestParseGoTestFormats(t *testing.T) {
	for _, c := range []struct {
		file     string
		problems []string
	}{
		{"testdata/plain.txt", []string{
			"FAIL skipbench BenchmarkFail: boom",
			"FAIL skipbench BenchmarkParent/bad: child failed",
			"FAIL skipbench BenchmarkParent: ",
			"FAIL skipbench : failed",
		}},
		{"testdata/verbose.txt", []string{
			"SKIP skipbench BenchmarkSkip: no chromium here",
			"FAIL skipbench BenchmarkFail: boom",
			"FAIL skipbench BenchmarkParent/bad: child failed",
			"FAIL skipbench BenchmarkParent: ",
			"FAIL skipbench : failed",
		}},
	} {
		out := parseFile(t, c.file)
		var got []string
		for _, p := range out.Problems {
			got = append(got, p.Kind+" "+p.Pkg+" "+p.Name+": "+p.Reason)
		}
		if strings.Join(got, "\n") != strings.Join(c.problems, "\n") {
			t.Errorf("%s problems:\n%s\nwant:\n%s", c.file, strings.Join(got, "\n"), strings.Join(c.problems, "\n"))
		}
		if len(out.Results) != 2 || out.Results[0].Name != "BenchmarkParent/ok" || out.Results[1].Name != "BenchmarkPlain" {
			t.Errorf("%s results: %+v", c.file, out.Results)
		}
		if v, _ := out.Results[0].Get("ratio"); v != 1.5 {
			t.Errorf("%s: ratio %v", c.file, v)
		}
	}
}
