package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/results.golden.md")

func cannedInfo(at time.Time, commit string) Info {
	return Info{Date: at, CPU: "Intel(R) Xeon(R) Processor @ 2.50GHz", CPUs: 2, Memory: "23.5 GiB",
		OS: "Debian GNU/Linux 12 (bookworm), Linux 6.1.0 (amd64)", Go: "go1.26.8", Chromium: "Chromium 156.0.8078.79",
		Commit: commit, Command: "go test -run '^$' -bench . -benchtime 1x ./...", Sizes: []string{"PORTICO_BENCH_WORKFLOWS=1000"}}
}

func TestResultsFileKeepsHistoryAndChaos(t *testing.T) {
	out := parseFile(t, "testdata/run1.txt")
	table := Markdown(Rows(out, targets))
	day1 := time.Date(2026, 5, 11, 9, 30, 0, 0, time.UTC)
	first := Update("", RunBlock(cannedInfo(day1, "aaaa111"), table, NotRun(out, targets)), nil, 0)
	if !strings.Contains(first, "## Latest run") || !strings.Contains(first, "### 2026-05-11 09:30 UTC · aaaa111") ||
		!strings.Contains(first, noChaos) || !strings.Contains(first, "_No earlier runs._") {
		t.Fatalf("first file:\n%s", first)
	}

	// The chaos tool writes between the markers; the next run keeps what it wrote.
	chaosByHand := strings.Replace(first, noChaos, "chaos: 3 of 3 faults recovered", 1)
	second := Update(chaosByHand, RunBlock(cannedInfo(day1.Add(24*time.Hour), "bbbb222"), "| figure |\n", nil), nil, 0)
	latest, history, ok := strings.Cut(second, "## History")
	if !ok {
		t.Fatal("no History")
	}
	if !strings.Contains(latest, "bbbb222") || strings.Contains(latest, "aaaa111") {
		t.Errorf("latest run section:\n%s", latest)
	}
	if !strings.Contains(history, "### 2026-05-11 09:30 UTC · aaaa111") || strings.Contains(history, "_No earlier runs._") {
		t.Errorf("history:\n%s", history)
	}
	if !strings.Contains(second, chaosOpen+"\nchaos: 3 of 3 faults recovered\n"+chaosClose) {
		t.Errorf("chaos section lost:\n%s", second)
	}

	// bench/chaos.md, when there is one, fills the section.
	chaos := "## Chaos run 2026-05-12\n\n| fault | recovered |\n|---|---|\n| kill worker | ✓ |\n"
	third := Update(second, RunBlock(cannedInfo(day1.Add(48*time.Hour), "cccc333"), "| figure |\n", nil), &chaos, 0)
	if !strings.Contains(third, chaosOpen+"\n"+strings.TrimSpace(chaos)+"\n"+chaosClose) || strings.Contains(third, "3 of 3 faults") {
		t.Errorf("chaos section not from chaos.md:\n%s", third)
	}
	// Newest first in History.
	_, hist, _ := strings.Cut(third, "## History")
	if i, j := strings.Index(hist, "bbbb222"), strings.Index(hist, "aaaa111"); i < 0 || j < 0 || i > j {
		t.Errorf("history order:\n%s", hist)
	}
	if n := strings.Count(third, runOpen); n != 3 {
		t.Errorf("%d runs in the file, want 3", n)
	}
	// Markers inside the chaos section belong to the chaos tool, not to the runs.
	odd := "chaos quoting " + runOpen + "\nnot a run\n" + runClose
	fifth := Update(Update(third, RunBlock(cannedInfo(day1, "eeee555"), "| figure |\n", nil), &odd, 0), RunBlock(cannedInfo(day1, "ffff666"), "| figure |\n", nil), nil, 0)
	if strings.Count(fifth, "not a run") != 1 || strings.Count(fifth, runOpen) != 6 {
		t.Errorf("a run marker in the chaos section was taken for a run:\n%s", fifth)
	}
	// keep bounds the history.
	fourth := Update(third, RunBlock(cannedInfo(day1.Add(72*time.Hour), "dddd444"), "| figure |\n", nil), nil, 2)
	if strings.Count(fourth, runOpen) != 3 || strings.Contains(fourth, "aaaa111") {
		t.Errorf("keep 2:\n%s", fourth)
	}
}

func TestResultsGolden(t *testing.T) {
	out := parseFile(t, "testdata/run1.txt")
	table := Markdown(Rows(out, targets))
	old := Update("", RunBlock(cannedInfo(time.Date(2026, 5, 11, 9, 30, 0, 0, time.UTC), "aaaa111"), "| figure | value |\n|---|---:|\n| earlier | 1 |\n", nil), nil, 0)
	got := Update(old, RunBlock(cannedInfo(time.Date(2026, 5, 12, 9, 30, 0, 0, time.UTC), "bbbb222 (uncommitted changes)"), table, NotRun(out, targets)), nil, 0)
	golden := filepath.Join("testdata", "results.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("results.md differs from %s (go test -run TestResultsGolden -update to accept):\n%s", golden, got)
	}
}

func TestRunWritesTheFile(t *testing.T) {
	dir := t.TempDir()
	in, err := os.ReadFile("testdata/run1.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chaos.md"), []byte("chaos table here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "results.md")
	var stdout bytes.Buffer
	now := time.Date(2026, 5, 12, 9, 30, 0, 0, time.UTC)
	if err := run([]string{"-o", path, "-cmd", "make bench"}, bytes.NewReader(in), &stdout, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "| figure") || !strings.Contains(stdout.String(), "written to "+path) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- Command: `make bench`", "- Date: 2026-05-12T09:30:00Z", "- Go: go", chaosOpen + "\nchaos table here\n" + chaosClose, "| IngestPOs"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("results.md lacks %q:\n%s", want, doc)
		}
	}
	// -strict fails on a missed target.
	if err := run([]string{"-strict"}, bytes.NewReader(in), &bytes.Buffer{}, now); err == nil {
		t.Error("-strict passed a run with missed targets")
	}
	// Input without any benchmark is an error, not an empty table.
	if err := run(nil, strings.NewReader("PASS\nok  \tportico/x\t0.1s\n"), &bytes.Buffer{}, now); err == nil {
		t.Error("no error for input without benchmarks")
	}
}

// TestWithChaos: the chaos section is replaced and the runs are kept; a missing file gets the layout, and
// the next run keeps the chaos section and has no history made of the placeholder.
func TestWithChaos(t *testing.T) {
	old := Update("", "### run A\n", nil, 0)
	got := WithChaos(old, "# Chaos runs\nfull: ok\n")
	if !strings.Contains(got, "### run A") || !strings.Contains(got, chaosOpen+"\n# Chaos runs\nfull: ok\n"+chaosClose) {
		t.Fatalf("chaos not replaced or run lost:\n%s", got)
	}
	if again := WithChaos(got, "# Chaos runs\nfull: ok\n"); again != got {
		t.Fatalf("a second copy changed the file:\n%s", again)
	}
	fresh := WithChaos("", "chaos X\n")
	next := Update(fresh, "### run B\n", nil, 0)
	if !strings.Contains(next, "chaos X") || !strings.Contains(next, "### run B") || !strings.Contains(next, "_No earlier runs._") {
		t.Fatalf("a run after a chaos-only file:\n%s", next)
	}
}
