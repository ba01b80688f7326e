package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark's reported metrics; several result lines of the same benchmark (go test -count)
// are merged, each metric taking the median of its values.
type Result struct {
	Pkg     string
	Name    string // e.g. BenchmarkIdleWorkflows/waiting, without the -GOMAXPROCS suffix
	Lines   int    // result lines merged
	Metrics []Metric
}

// Metric is one reported value: its unit (the name given to b.ReportMetric, or ns/op, B/op, allocs/op,
// MB/s) and its value.
type Metric struct {
	Unit   string
	Value  float64
	values []float64
}

// Get returns the metric with unit, if the benchmark reported it.
func (r *Result) Get(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// Problem is a benchmark that did not report (skipped, failed) or a package that failed (build, panic).
type Problem struct {
	Pkg    string
	Name   string // the benchmark; empty for a package failure
	Kind   string // SKIP or FAIL
	Reason string // the first line the test logged, or what go test said
}

// Output is what one `go test -bench` run printed.
type Output struct {
	CPU      string // go test's "cpu:" line
	Results  []*Result
	Problems []Problem
}

var (
	// resultFields is the part of a result line after the name: iterations, then value-unit pairs.
	resultFields = regexp.MustCompile(`^\s*(\d+)((?:\s+[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s+\S+)+)\s*$`)
	pairs        = regexp.MustCompile(`([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+(\S+)`)
	procsSuffix  = regexp.MustCompile(`-(\d+)$`)
	logLine      = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)
)

// Parse reads `go test -bench` output. It copes with what packages print while their benchmarks run: a
// result line split from its benchmark's name by logging, compiler errors, panics and FAIL lines.
func Parse(r io.Reader) (*Output, error) {
	out := &Output{}
	byKey := map[string]*Result{}
	var pkg, pending string
	// reasonFor is the problem whose reason the next indented log line gives (without -v, go test prints
	// a benchmark's log after its --- SKIP or --- FAIL line); logs are the lines logged since the last
	// benchmark name (with -v, before it).
	reasonFor := -1
	var logs []string
	benchLog := false
	// unowned are the problems since the last package's ok or FAIL line, which names their package: a
	// failure can come before the package's pkg: header.
	var unowned []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		// --- SKIP: and --- FAIL: come at the start of a line, indented under a parent benchmark, or
		// right after the name go test printed before running the benchmark.
		if i := max(strings.Index(line, "--- SKIP: "), strings.Index(line, "--- FAIL: ")); i >= 0 {
			if f := strings.Fields(line[i+10:]); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") {
				p := Problem{Pkg: pkg, Name: f[0], Kind: line[i+4 : i+8]}
				if len(logs) > 0 {
					p.Reason, logs = logs[0], nil
				}
				out.Problems = append(out.Problems, p)
				reasonFor = len(out.Problems) - 1
				unowned = append(unowned, reasonFor)
				pending = ""
				continue
			}
		}
		if reasonFor >= 0 {
			if m := logLine.FindStringSubmatch(line); m != nil {
				if out.Problems[reasonFor].Reason == "" {
					out.Problems[reasonFor].Reason = strings.TrimSpace(m[1])
				}
				continue
			}
			if strings.HasPrefix(line, "    ") {
				continue
			}
			reasonFor = -1
		}
		if m := logLine.FindStringSubmatch(line); m != nil {
			if !benchLog {
				logs = append(logs, strings.TrimSpace(m[1]))
			}
			continue
		}
		// What a benchmark that reported logged comes under --- BENCH: (without -v): not a reason.
		benchLog = strings.HasPrefix(strings.TrimSpace(line), "--- BENCH: ")
		if benchLog {
			logs = nil
			continue
		}
		switch {
		case strings.HasPrefix(line, "ok  \t"):
			if f := strings.Fields(line[4:]); len(f) > 0 {
				for _, i := range unowned {
					out.Problems[i].Pkg = f[0]
				}
			}
			unowned, logs, pending = nil, nil, ""
			continue
		case strings.HasPrefix(line, "pkg: "):
			pkg, pending = strings.TrimSpace(strings.TrimPrefix(line, "pkg: ")), ""
			continue
		case strings.HasPrefix(line, "cpu: "):
			if out.CPU == "" {
				out.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			}
			continue
		case strings.HasPrefix(line, "FAIL\t"):
			// FAIL	portico/x	12.3s, or FAIL	portico/x [build failed]
			f := strings.Fields(line[5:])
			if len(f) > 0 {
				reason := "failed"
				if strings.Contains(line, "[build failed]") {
					reason = "build failed"
				} else if strings.Contains(line, "[setup failed]") {
					reason = "setup failed"
				}
				for _, i := range unowned {
					out.Problems[i].Pkg = f[0]
				}
				out.Problems = append(out.Problems, Problem{Pkg: f[0], Kind: "FAIL", Reason: reason})
			}
			unowned, logs, pending = nil, nil, ""
			continue
		case strings.HasPrefix(line, "panic: "):
			out.Problems = append(out.Problems, Problem{Pkg: pkg, Name: pending, Kind: "FAIL", Reason: strings.TrimSpace(line)})
			unowned = append(unowned, len(out.Problems)-1)
			pending = ""
			continue
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "Benchmark") && !strings.HasSuffix(f[0], ":") {
			// (A name ending in ':' is a message the benchmark printed, e.g. "BenchmarkX: 10 of 20 done".)
			name := f[0]
			logs = nil
			rest := strings.TrimPrefix(line, name)
			if m := resultFields.FindStringSubmatch(rest); m != nil {
				add(out, byKey, pkg, name, m[2])
				pending = ""
			} else {
				// The name, then whatever the benchmark printed: its results come on a later line.
				pending = name
			}
			continue
		}
		if pending != "" {
			if m := resultFields.FindStringSubmatch(line); m != nil {
				add(out, byKey, pkg, pending, m[2])
				pending = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	stripProcs(out)
	for _, r := range out.Results {
		for i := range r.Metrics {
			r.Metrics[i].Value = median(r.Metrics[i].values)
		}
	}
	return out, nil
}

func add(out *Output, byKey map[string]*Result, pkg, name, fields string) {
	key := pkg + "\x00" + name
	r := byKey[key]
	if r == nil {
		r = &Result{Pkg: pkg, Name: name}
		byKey[key] = r
		out.Results = append(out.Results, r)
	}
	r.Lines++
	for _, p := range pairs.FindAllStringSubmatch(fields, -1) {
		v, err := strconv.ParseFloat(p[1], 64)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(r.Metrics, func(m Metric) bool { return m.Unit == p[2] })
		if i < 0 {
			r.Metrics = append(r.Metrics, Metric{Unit: p[2]})
			i = len(r.Metrics) - 1
		}
		r.Metrics[i].values = append(r.Metrics[i].values, v)
	}
}

// stripProcs drops the -GOMAXPROCS suffix go test appends to benchmark names when GOMAXPROCS > 1. It is
// only recognised when every result's name ends in the same -N (a run with GOMAXPROCS=1 has none, and
// then a sub-benchmark named e.g. "slots-4" keeps its number); names of problems (a parent benchmark's
// FAIL line has none) lose it where they have it.
func stripProcs(out *Output) {
	suffix := ""
	for i, r := range out.Results {
		m := procsSuffix.FindString(r.Name)
		if m == "" || (i > 0 && m != suffix) {
			return
		}
		suffix = m
	}
	if len(out.Results) == 0 {
		// Nothing reported: take the suffix every named problem agrees on, if any.
		for _, p := range out.Problems {
			if p.Name == "" {
				continue
			}
			m := procsSuffix.FindString(p.Name)
			if m == "" || (suffix != "" && m != suffix) {
				return
			}
			suffix = m
		}
	}
	if suffix == "" {
		return
	}
	for _, r := range out.Results {
		r.Name = strings.TrimSuffix(r.Name, suffix)
	}
	for i := range out.Problems {
		out.Problems[i].Name = strings.TrimSuffix(out.Problems[i].Name, suffix)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
