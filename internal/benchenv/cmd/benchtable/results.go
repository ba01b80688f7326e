package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Info describes the run: where, when, on what, and how it was made.
type Info struct {
	Date     time.Time
	CPU      string
	CPUs     int
	Memory   string // e.g. "23.5 GiB"
	OS       string
	Go       string
	Chromium string // empty when not found
	Commit   string // short hash, with " (uncommitted changes)" when the tree differs
	Command  string
	Sizes    []string // the PORTICO_BENCH_* variables set, NAME=value
}

// The markers in results.md. Each run is a block between runOpen and runClose, the newest first, under
// "Latest run" and then "History"; another tool (the chaos run) owns what is between chaosOpen and
// chaosClose.
const (
	runOpen    = "<!-- run -->"
	runClose   = "<!-- /run -->"
	chaosOpen  = "<!-- chaos -->"
	chaosClose = "<!-- /chaos -->"
)

const header = `# Portico benchmarks

Written by ` + "`make bench`" + ` (` + "`go run ./internal/benchenv/cmd/benchtable`" + ` reads the ` + "`go test -bench`" + ` output): one table
per run, every figure the benchmarks report beside its target. Where a figure is a ratio, its baseline was
measured in the same run, on the same machine, and both absolute values are printed beside it: these machines are
shared and noisy, so compare ratios across runs rather than absolute values. The latest run comes first;
earlier ones are kept under History, newest first.
`

const noChaos = "_No chaos run recorded yet (the chaos run writes bench/chaos.md)._"

// RunBlock is one run's section: what it ran on, then its table.
func RunBlock(info Info, table string, notRun []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s · %s\n\n", info.Date.UTC().Format("2006-01-02 15:04 MST"), orNone(info.Commit, "no git commit"))
	machine := orNone(info.CPU, "unknown CPU")
	if info.CPUs > 0 {
		machine += fmt.Sprintf(", %d CPUs", info.CPUs)
	}
	if info.Memory != "" {
		machine += ", " + info.Memory + " memory"
	}
	fmt.Fprintf(&b, "- Machine: %s\n", machine)
	fmt.Fprintf(&b, "- OS: %s\n", orNone(info.OS, "unknown"))
	fmt.Fprintf(&b, "- Go: %s\n", orNone(info.Go, "unknown"))
	fmt.Fprintf(&b, "- Chromium: %s\n", orNone(info.Chromium, "not found"))
	fmt.Fprintf(&b, "- Date: %s\n", info.Date.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Commit: %s\n", orNone(info.Commit, "unknown"))
	fmt.Fprintf(&b, "- Command: `%s`\n", strings.ReplaceAll(info.Command, "`", "'"))
	if len(info.Sizes) > 0 {
		fmt.Fprintf(&b, "- Sizes: %s (the other benchmark sizes at their defaults)\n", strings.Join(info.Sizes, " "))
	} else {
		b.WriteString("- Sizes: every benchmark at its default size\n")
	}
	b.WriteString("\n")
	b.WriteString(table)
	if len(notRun) > 0 {
		fmt.Fprintf(&b, "\nNot in this run: %s.\n", strings.Join(notRun, ", "))
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func orNone(s, none string) string {
	if strings.TrimSpace(s) == "" {
		return none
	}
	return s
}

var (
	runBlocks = regexp.MustCompile(`(?s)` + regexp.QuoteMeta(runOpen) + `\n(.*?)` + regexp.QuoteMeta(runClose))
	chaosPart = regexp.MustCompile(`(?s)` + regexp.QuoteMeta(chaosOpen) + `\n?(.*?)` + regexp.QuoteMeta(chaosClose))
)

// Update returns results.md with block as the latest run and the runs old held moved under History
// (at most keep of them; 0 keeps all). chaos, when not nil, is the chaos section's new content; otherwise
// the section old has is kept.
func Update(old, block string, chaos *string, keep int) string {
	var history []string
	// Runs are looked for outside the chaos section, which another tool writes.
	for _, m := range runBlocks.FindAllStringSubmatch(chaosPart.ReplaceAllString(old, ""), -1) {
		history = append(history, strings.TrimRight(m[1], "\n")+"\n")
	}
	if keep > 0 && len(history) > keep {
		history = history[:keep]
	}
	section := noChaos
	if m := chaosPart.FindStringSubmatch(old); m != nil && strings.TrimSpace(m[1]) != "" {
		section = strings.TrimSpace(m[1])
	}
	if chaos != nil && strings.TrimSpace(*chaos) != "" {
		section = strings.TrimSpace(*chaos)
	}
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\n## Latest run\n\n")
	b.WriteString(runOpen + "\n" + strings.TrimRight(block, "\n") + "\n" + runClose + "\n")
	b.WriteString("\n## Chaos\n\n")
	b.WriteString(chaosOpen + "\n" + section + "\n" + chaosClose + "\n")
	b.WriteString("\n## History\n")
	if len(history) == 0 {
		b.WriteString("\n_No earlier runs._\n")
	}
	for _, h := range history {
		b.WriteString("\n" + runOpen + "\n" + h + runClose + "\n")
	}
	return b.String()
}

// WithChaos returns results.md with chaos as its chaos section and everything else as old has it. A file
// without a chaos section (or no file) gets the layout Update writes, with no run yet.
func WithChaos(old, chaos string) string {
	section := strings.TrimSpace(chaos)
	if section == "" {
		section = noChaos
	}
	if chaosPart.MatchString(old) {
		return chaosPart.ReplaceAllLiteralString(old, chaosOpen+"\n"+section+"\n"+chaosClose)
	}
	return header + "\n## Latest run\n\n_No benchmark run yet: `make bench` writes one._\n" +
		"\n## Chaos\n\n" + chaosOpen + "\n" + section + "\n" + chaosClose + "\n" +
		"\n## History\n\n_No earlier runs._\n"
}

// NotRun lists the benchmarks the targets name that neither reported nor were skipped or failed.
func NotRun(out *Output, tt []Target) []string {
	var missing []string
	for _, t := range tt {
		pattern := strings.TrimPrefix(t.Bench, "Benchmark")
		if slices.Contains(missing, "Benchmark"+pattern) {
			continue
		}
		ran := false
		for _, r := range out.Results {
			ran = ran || ranAs(pattern, r.Name)
		}
		for _, p := range out.Problems {
			ran = ran || (p.Name != "" && ranAs(pattern, p.Name))
		}
		if !ran {
			missing = append(missing, "Benchmark"+pattern)
		}
	}
	return missing
}

// ranAs reports whether a benchmark name (or, for a parent, one of its sub-benchmarks) matches pattern.
func ranAs(pattern, name string) bool {
	name = strings.TrimPrefix(name, "Benchmark")
	return glob(pattern, name) || glob(pattern, name+"/")
}
