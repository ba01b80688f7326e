package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Chromium is the browser whose processes WatchChromium measures; *browser.Browser is one.
type Chromium interface {
	// PID is the browser process's ID; 0 while none runs.
	PID() int
	// OpenTabs is the number of tabs open: each running browser activity holds one.
	OpenTabs() int
}

// WatchChromium exports the size of c at every scrape: its processes (the browser and every process under
// it: zygotes, renderers, GPU and utility processes) and their resident memory, read from /proc. A worker
// process watches its one browser; a second call is an error, as the two would export the same series.
func (m *Metrics) WatchChromium(c Chromium) error {
	return m.reg.Register(&chromiumCollector{c: c, proc: "/proc"})
}

var (
	chromiumProcsDesc = prometheus.NewDesc(ChromiumProcs,
		"Processes of the worker's Chromium: the browser process and all its descendants (renderers, zygotes, GPU, utilities); 0 while it is not running.", nil, nil)
	chromiumMemoryDesc = prometheus.NewDesc(ChromiumMemory,
		"Resident memory (RSS) of the worker's Chromium, summed over the browser process and all its descendants. "+
			"Pages shared between them are counted in each, so this is an upper bound (often twice "+ChromiumPSS+").", nil, nil)
	chromiumPSSDesc = prometheus.NewDesc(ChromiumPSS,
		"Proportional memory (PSS) of the worker's Chromium, summed over the browser process and all its descendants: "+
			"each shared page is divided among the processes sharing it, so this is what the browser holds.", nil, nil)
	slotsBusyDesc = prometheus.NewDesc(SlotsBusy,
		"Browser activities running in this worker, each in its own Chromium tab (compare with the worker's BrowserSlots).", nil, nil)
)

// chromiumCollector reads /proc at scrape time rather than sampling in the background: nothing is spent
// when nobody scrapes, and a scrape sees the browser as it is.
type chromiumCollector struct {
	c    Chromium
	proc string // /proc; a test may point it elsewhere
}

// Describe sends the three descriptions.
func (cc *chromiumCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- chromiumProcsDesc
	ch <- chromiumMemoryDesc
	ch <- chromiumPSSDesc
	ch <- slotsBusyDesc
}

// Collect reads the process tree under the browser process.
func (cc *chromiumCollector) Collect(ch chan<- prometheus.Metric) {
	var t tree
	if pid := cc.c.PID(); pid > 0 {
		t = processTree(cc.proc, pid)
	}
	ch <- prometheus.MustNewConstMetric(chromiumProcsDesc, prometheus.GaugeValue, float64(t.procs))
	ch <- prometheus.MustNewConstMetric(chromiumMemoryDesc, prometheus.GaugeValue, float64(t.rss))
	// PSS needs smaps_rollup (Linux 4.14); without it the gauge is left out rather than reported as 0.
	if t.pssKnown || t.procs == 0 {
		ch <- prometheus.MustNewConstMetric(chromiumPSSDesc, prometheus.GaugeValue, float64(t.pss))
	}
	ch <- prometheus.MustNewConstMetric(slotsBusyDesc, prometheus.GaugeValue, float64(cc.c.OpenTabs()))
}

// tree is what processTree found: the processes, their summed RSS and PSS in bytes, and whether every
// process's PSS could be read.
type tree struct {
	procs    int
	rss, pss int64
	pssKnown bool
}

// processTree counts root and its descendants and sums their memory. Processes that exit while it reads
// are left out; a root that is gone counts as nothing.
func processTree(proc string, root int) tree {
	var t tree
	entries, err := os.ReadDir(proc)
	if err != nil {
		return t
	}
	children := map[int][]int{}
	rootAlive := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := parentPID(proc, pid)
		if err != nil {
			continue
		}
		if pid == root {
			rootAlive = true
		}
		children[ppid] = append(children[ppid], pid)
	}
	if !rootAlive {
		return t
	}
	page := int64(os.Getpagesize())
	queue := []int{root}
	seen := map[int]bool{root: true}
	t.pssKnown = true
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		pages, err := residentPages(proc, pid)
		if err != nil {
			continue // exited meanwhile
		}
		t.procs++
		t.rss += pages * page
		if pss, err := proportionalBytes(proc, pid); err == nil {
			t.pss += pss
		} else {
			t.pssKnown = false
		}
		for _, c := range children[pid] {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return t
}

// parentPID reads the parent's PID from /proc/PID/stat: "pid (comm) state ppid ...", where comm may hold
// spaces and parentheses, so the fields are counted from the last ')'.
func parentPID(proc string, pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("stat: no command")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, errors.New("stat: too short")
	}
	return strconv.Atoi(f[1])
}

// proportionalBytes reads the proportional set size from /proc/PID/smaps_rollup ("Pss: N kB").
func proportionalBytes(proc string, pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("smaps_rollup: no Pss line")
}

// residentPages reads the resident set size, in pages, from /proc/PID/statm's second field.
func residentPages(proc string, pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "statm"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New("statm: too short")
	}
	return strconv.ParseInt(f[1], 10, 64)
}
