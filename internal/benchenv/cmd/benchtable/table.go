package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Row is one line of the table.
type Row struct {
	Figure                 string
	Value, Baseline, Ratio string
	Target, Met            string
	// sort keys: figures the targets table describes first, in its order, then other ratios, then the
	// rest, each in the order reported
	spec    int // index in the targets table; -1 none
	isRatio bool
}

// showDetails prints every metric of a benchmark following the measured_/baseline_/ratio convention,
// not only its headline ratio (-details).
var showDetails bool

// standard are the units go test itself reports; they are printed only for a benchmark that reports
// nothing else.
var standard = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": true}

// Rows turns the run's results into the table's rows, in the order the benchmarks ran, and lists the
// benchmarks the targets name exactly that did not run.
func Rows(out *Output, tt []Target) []Row {
	var rows []Row
	for _, r := range out.Results {
		rows = append(rows, resultRows(r, tt)...)
	}
	for _, p := range out.Problems {
		fig := strings.TrimPrefix(p.Name, "Benchmark")
		if p.Name == "" {
			fig = "package " + p.Pkg
		} else if reported(out, p.Pkg, p.Name) {
			continue // a parent benchmark failing because a sub-benchmark did, or a count that failed once
		}
		reason := p.Reason
		if r := []rune(reason); len(r) > 120 {
			reason = string(r[:119]) + "…"
		}
		met := strings.ToLower(p.Kind)
		if p.Kind == "SKIP" {
			met = "skipped"
		}
		if reason != "" {
			met += ": " + reason
		}
		rows = append(rows, Row{Figure: fig, Value: "—", Met: met, spec: -1})
	}
	return rows
}

func reported(out *Output, pkg, name string) bool {
	for _, r := range out.Results {
		if r.Pkg == pkg && (r.Name == name || strings.HasPrefix(r.Name, name+"/")) {
			return true
		}
	}
	return false
}

func resultRows(r *Result, tt []Target) []Row {
	name := strings.TrimPrefix(r.Name, "Benchmark")
	custom := slices.ContainsFunc(r.Metrics, func(m Metric) bool { return !standard[m.Unit] })
	// The measured_<unit> / baseline_<unit> / ratio / target convention: one figure per benchmark.
	measured, baseline := only(r, "measured_"), only(r, "baseline_")
	benchTarget, hasBenchTarget := r.Get("target")
	_, hasRatio := r.Get("ratio")
	// Under that convention the other metrics are details for the log (unless -details).
	headlineOnly := measured != "" && baseline != "" && hasRatio && !showDetails

	used := map[string]bool{} // metrics printed beside a ratio, or as its target
	type figure struct {
		m         Metric
		t         *Target
		spec      int
		a, b      string // the absolute values beside a ratio
		isRatio   bool
		op        string
		want      float64
		hasTarget bool
	}
	var fs []figure
	for _, m := range r.Metrics {
		if custom && standard[m.Unit] {
			continue
		}
		f := figure{m: m, spec: lookup(tt, name, m.Unit)}
		if f.spec >= 0 {
			f.t = &tt[f.spec]
		}
		switch {
		case f.t != nil && (f.t.Value != "" || f.t.Baseline != ""):
			f.a, f.b = f.t.Value, f.t.Baseline
		case m.Unit == "ratio":
			f.a, f.b = measured, baseline
		default:
			if a, b, ok := strings.Cut(m.Unit, "/"); ok {
				_, okA := r.Get(a)
				_, okB := r.Get(b)
				if okA && okB {
					f.a, f.b = a, b
				}
			}
		}
		f.isRatio = f.a != "" || f.b != "" || strings.HasPrefix(m.Unit, "ratio")
		switch {
		case f.t != nil && f.t.Op != "":
			f.op, f.want, f.hasTarget = f.t.Op, f.t.Want, true
		case m.Unit == "ratio" && hasBenchTarget:
			// The benchmark's own target for its ratio: at most this.
			f.op, f.want, f.hasTarget = "<=", benchTarget, true
			used["target"] = true
		}
		used[f.a], used[f.b] = used[f.a] || f.a != "", used[f.b] || f.b != ""
		fs = append(fs, f)
	}
	var rows []Row
	for _, f := range fs {
		m, t := f.m, f.t
		if used[m.Unit] && !f.isRatio && !f.hasTarget {
			continue // printed beside its ratio, or as one's target
		}
		if headlineOnly && m.Unit != "ratio" && f.t == nil {
			continue
		}
		row := Row{Figure: name + " · " + m.Unit, isRatio: f.isRatio, spec: f.spec}
		if t != nil && t.Label != "" {
			row.Figure = name + " · " + t.Label
		}
		if f.isRatio {
			row.Ratio = formatRatio(m.Value)
			if v, ok := r.Get(f.a); ok {
				row.Value = formatValue(f.a, v)
			}
			if v, ok := r.Get(f.b); ok {
				row.Baseline = formatValue(f.b, v)
			}
		} else {
			row.Value = formatValue(m.Unit, m.Value)
		}
		if f.hasTarget {
			row.Target = strings.NewReplacer("<=", "≤", ">=", "≥", "==", "=").Replace(f.op) + " " + formatNumber(f.want)
			if meets(m.Value, f.op, f.want) {
				row.Met = "✓"
			} else {
				row.Met = "✗"
			}
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(x, y Row) int {
		rank := func(r Row) int {
			switch {
			case r.spec >= 0:
				return r.spec
			case r.isRatio:
				return len(tt)
			}
			return len(tt) + 1
		}
		return rank(x) - rank(y)
	})
	return rows
}

// only returns the one metric whose unit starts with prefix, or "" when there is none or more than one.
func only(r *Result, prefix string) string {
	found := ""
	for _, m := range r.Metrics {
		if strings.HasPrefix(m.Unit, prefix) {
			if found != "" {
				return ""
			}
			found = m.Unit
		}
	}
	return found
}

// lookup finds the first target for a benchmark (name without "Benchmark") and metric: its index, or -1.
func lookup(tt []Target, name, unit string) int {
	for i := range tt {
		if glob(strings.TrimPrefix(tt[i].Bench, "Benchmark"), name) && glob(tt[i].Metric, unit) {
			return i
		}
	}
	return -1
}

// glob matches s against a pattern where '*' stands for any text.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func meets(v float64, op string, want float64) bool {
	switch op {
	case "<=":
		return v <= want
	case "<":
		return v < want
	case ">=":
		return v >= want
	case ">":
		return v > want
	case "==":
		return v == want
	}
	return false
}

// formatValue prints a metric's value: bytes (units ending in _B or B, or _B/… per something) in KiB, MiB,
// GiB; ns/op as a duration; measured_<unit> and baseline_<unit> with their unit; the rest as numbers.
func formatValue(unit string, v float64) string {
	for _, prefix := range []string{"measured_", "baseline_"} {
		if u, ok := strings.CutPrefix(unit, prefix); ok {
			if isBytes(u) {
				return formatBytes(v)
			}
			return formatNumber(v) + " " + u
		}
	}
	switch {
	case unit == "ns/op":
		return formatSeconds(v / 1e9)
	case isBytes(unit):
		return formatBytes(v)
	}
	return formatNumber(v)
}

func isBytes(unit string) bool {
	first, _, _ := strings.Cut(unit, "/")
	return first == "B" || strings.HasSuffix(first, "_B")
}

func formatBytes(v float64) string {
	abs := math.Abs(v)
	switch {
	case abs >= 1<<30:
		return trim(strconv.FormatFloat(v/(1<<30), 'f', 2, 64)) + " GiB"
	case abs >= 1<<20:
		return trim(strconv.FormatFloat(v/(1<<20), 'f', 1, 64)) + " MiB"
	case abs >= 1<<10:
		return trim(strconv.FormatFloat(v/(1<<10), 'f', 1, 64)) + " KiB"
	}
	return formatNumber(v) + " B"
}

func formatSeconds(s float64) string {
	switch {
	case s >= 1:
		return formatNumber(s) + " s"
	case s >= 1e-3:
		return formatNumber(s*1e3) + " ms"
	case s >= 1e-6:
		return formatNumber(s*1e6) + " µs"
	}
	return formatNumber(s*1e9) + " ns"
}

// formatNumber prints whole numbers with thousands separators and others with 3–4 significant digits.
func formatNumber(v float64) string {
	abs := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case v == math.Trunc(v) && abs < 1e15:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case abs >= 1000:
		return group(strconv.FormatFloat(v, 'f', 0, 64))
	case abs >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case abs >= 1:
		return trim(strconv.FormatFloat(v, 'f', 3, 64))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func formatRatio(v float64) string {
	if math.Abs(v) >= 1000 {
		return formatNumber(v)
	}
	if math.Abs(v) < 0.01 && v != 0 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return trim(strconv.FormatFloat(v, 'f', 3, 64))
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Markdown prints the rows as one Markdown table with aligned columns, readable as text too.
func Markdown(rows []Row) string {
	head := []string{"figure", "value", "baseline", "ratio", "target", "met?"}
	cells := [][]string{head}
	for _, r := range rows {
		cells = append(cells, []string{esc(r.Figure), r.Value, r.Baseline, r.Ratio, r.Target, esc(r.Met)})
	}
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(row []string, right func(int) bool) {
		b.WriteString("|")
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if right(i) {
				fmt.Fprintf(&b, " %s%s |", pad, c)
			} else {
				fmt.Fprintf(&b, " %s%s |", c, pad)
			}
		}
		b.WriteString("\n")
	}
	numeric := func(i int) bool { return i >= 1 && i <= 3 }
	line(head, func(int) bool { return false })
	b.WriteString("|")
	for i, w := range width {
		if numeric(i) {
			fmt.Fprintf(&b, " %s: |", strings.Repeat("-", max(w-1, 2)))
		} else {
			fmt.Fprintf(&b, " %s |", strings.Repeat("-", max(w, 3)))
		}
	}
	b.WriteString("\n")
	for _, row := range cells[1:] {
		line(row, numeric)
	}
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
