package chaos

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// markdown is the run's figures as a fragment of bench/chaos.md.
func (r *run) markdown(checks []check) string {
	r.mu.Lock()
	kills := slices.Clone(r.kills)
	events := slices.Clone(r.events)
	r.mu.Unlock()
	var b strings.Builder
	p := r.plan
	fmt.Fprintf(&b, "### %s run: %d invoices, %s\n\n", p.name, len(r.batch), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	race := "off"
	if raceEnabled {
		race = "on (test and worker)"
	}
	fmt.Fprintf(&b, "- Machine: %s; load average at start %s\n", machine(), r.load)
	fmt.Fprintf(&b, "- Command: `%s`; race detector %s; seed %d\n", command(p.name), race, r.seed)
	fmt.Fprintf(&b, "- Invoices: %d, %d browser slots, status read every %s to %s; all paid after %s, wall time %s (from the worker's first start; services and build not counted)\n",
		len(r.batch), p.slots, p.poll.First, p.poll.Max, r.paidAfter.Round(time.Second), r.wall.Round(time.Second))

	landed := map[string]int{}
	chromium := 0
	for _, k := range kills {
		chromium += k.report.Chromium
		if len(k.landed) == 0 {
			landed["nothing started (between activities)"]++
		}
		for _, l := range k.landed {
			landed[l.kind()]++
		}
	}
	var landedList []string
	for _, kv := range sortedCounts(landed) {
		landedList = append(landedList, fmt.Sprintf("%s %d", kv.k, kv.n))
	}
	r.s.worker.mu.Lock()
	starts, selfExits := r.s.worker.starts, r.s.worker.selfExits
	r.s.worker.mu.Unlock()
	fmt.Fprintf(&b, "- Kills: %d SIGKILLs of the worker's process group (%d Chromium processes with it); in flight at the kills: %s; worker starts %d, exits on its own %d\n",
		len(kills), chromium, strings.Join(landedList, ", "), starts, selfExits)
	var restarts, faults []string
	for _, e := range events {
		switch {
		case e.err != nil:
			restarts = append(restarts, fmt.Sprintf("%s at %s FAILED: %v", e.what, e.at, e.err))
		case e.kind == "fault":
			faults = append(faults, fmt.Sprintf("%s at %s", e.what, e.at))
		default:
			restarts = append(restarts, fmt.Sprintf("%s at %s (down %s)", e.what, e.at, e.took.Round(100*time.Millisecond)))
		}
	}
	fmt.Fprintf(&b, "- Restarts: %s\n", orNone(restarts))
	var applied []string
	for _, k := range []string{"error", "latency", "kill_session", "maintenance"} {
		if n := r.s.sim.CountEvents("fault_"+k, ""); n > 0 {
			applied = append(applied, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(&b, "- Faults: %s (requests or sessions hit: %s)\n", orNone(faults), orNone(applied))
	attempts := 0
	for _, o := range r.outcomes {
		attempts += o.approvalAttempts
	}
	fmt.Fprintf(&b, "- Approvals: %d Updates sent for %d invoices (retried through restarts)\n\n", attempts, len(r.batch))

	b.WriteString("| Assertion | Result |\n|---|---|\n")
	for _, c := range checks {
		fmt.Fprintf(&b, "| %s | %s %s |\n", c.name, mark(c.ok), strings.ReplaceAll(c.detail, "|", "\\|"))
	}
	b.WriteString("\n<details><summary>Kills</summary>\n\n| # | at | trigger | worker uptime | in flight (activity, invoice, last heartbeat) |\n|---|---|---|---|---|\n")
	for i, k := range kills {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", i+1, k.at, k.trigger, k.report.Uptime.Round(100*time.Millisecond),
			strings.ReplaceAll(k.landedText(), "|", "\\|"))
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

type countKV struct {
	k string
	n int
}

func sortedCounts(m map[string]int) []countKV {
	var out []countKV
	for k, n := range m {
		out = append(out, countKV{k, n})
	}
	slices.SortFunc(out, func(a, b countKV) int { return cmp.Or(b.n-a.n, strings.Compare(a.k, b.k)) })
	return out
}

// command is how the run was started, as `make` says it.
func command(mode string) string {
	if mode == "full" {
		return "make chaos"
	}
	return "go test -count=1 -run TestChaos ./internal/chaos/ (in make test)"
}

// machine names the CPU count and model and the memory.
func machine() string {
	model := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					mem = fmt.Sprintf(", %.1f GiB memory", kb/(1<<20))
				}
			}
		}
	}
	if model != "" {
		model = " (" + model + ")"
	}
	return fmt.Sprintf("%d cores%s%s", runtime.NumCPU(), model, mem)
}

// loadAverage is the 1, 5 and 15 minute load: the machine may be shared with other test runs.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// record puts the run's fragment into bench/chaos.md, replacing the previous run of the same mode and
// keeping the other mode's.
func record(mode, fragment string) error {
	dir := filepath.Join("..", "..", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "chaos.md")
	sections := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, m := range []string{"full", "short"} {
			if sec, ok := section(string(b), m); ok {
				sections[m] = sec
			}
		}
	}
	sections[mode] = strings.TrimSpace(fragment)
	var b strings.Builder
	b.WriteString(`# Chaos runs

Written by TestChaos (internal/chaos) when PORTICO_CHAOS=full (` + "`make chaos`" + `) or PORTICO_CHAOS_RECORD=1.
The worker runs as its own process and is killed with SIGKILL (its process group, Chromium included) at
random points of drafting and submitting, biased to the moments the portal's request log shows a draft
or a submission under way; PostgreSQL and the Temporal dev server are each restarted once mid-run and
simulator faults are injected. The assertions read the simulator's audit log and state file and the ERP
tables. Each mode's latest run replaces its previous one.
`)
	for _, m := range []string{"full", "short"} {
		if sec, ok := sections[m]; ok {
			fmt.Fprintf(&b, "\n<!-- chaos:%s -->\n%s\n<!-- /chaos:%s -->\n", m, sec, m)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// section returns the text between a mode's markers.
func section(doc, mode string) (string, bool) {
	open, closing := "<!-- chaos:"+mode+" -->", "<!-- /chaos:"+mode+" -->"
	i := strings.Index(doc, open)
	j := strings.Index(doc, closing)
	if i < 0 || j < i {
		return "", false
	}
	return strings.TrimSpace(doc[i+len(open) : j]), true
}
