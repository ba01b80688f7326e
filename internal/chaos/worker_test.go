package chaos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process as /proc shows it. start (the start time in clock ticks since boot) tells a process
// from a later one that got its PID recycled.
type proc struct {
	pid, ppid, pgid int
	start           uint64
	state           byte
	comm            string
}

// readProc reads /proc/<pid>/stat; false when the process is gone.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
	// cstime priority nice threads itrealvalue starttime ..."; comm may itself hold ") ".
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 >= len(b) {
		return proc{}, false
	}
	f := strings.Fields(string(b[closing+2:]))
	if len(f) < 20 {
		return proc{}, false
	}
	p := proc{pid: pid, comm: string(b[open+1 : closing]), state: f[0][0]}
	p.ppid, _ = strconv.Atoi(f[1])
	p.pgid, _ = strconv.Atoi(f[2])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	return p, true
}

// allProcs lists every process of the machine.
func allProcs() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// tree returns root and all its descendants.
func tree(root int) []proc {
	children := map[int][]proc{}
	var self *proc
	for _, p := range allProcs() {
		children[p.ppid] = append(children[p.ppid], p)
		if p.pid == root {
			self = &p
		}
	}
	if self == nil {
		return nil
	}
	out := []proc{*self}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].pid]...)
	}
	return out
}

// alive tells whether the very process p (not a recycled PID) still runs. Zombies count as dead: orphaned
// Chromium children are reparented to PID 1, which in a container may reap them late.
func (p proc) alive() bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start && now.state != 'Z' && now.state != 'X'
}

func (p proc) String() string { return fmt.Sprintf("%s[%d]", p.comm, p.pid) }

// isChromium tells Chromium's processes (the browser, zygotes, renderers, GPU and utility processes).
func (p proc) isChromium() bool { return strings.Contains(strings.ToLower(p.comm), "chrom") }

// workerProc runs the Portico worker binary as a separate process, as production does, and kills it the
// way a machine dies: SIGKILL to its whole process group, Chromium included. A worker that exits by
// itself (for example because Temporal was down when it started) is started again, like a process
// supervisor would.
type workerProc struct {
	bin     string
	env     []string
	logPath string

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	startedAt time.Time
	// wantUp is false once the test stops the worker for good; restartAt is when a dead worker is started.
	wantUp    bool
	restartAt time.Time
	starts    int
	selfExits int
	lastErr   error
}

// killReport is what one kill did.
type killReport struct {
	PID      int
	Uptime   time.Duration
	Chromium int      // Chromium processes of the worker that the kill took down
	Leftover []string // processes of the worker still alive after the kill (killed one by one then)
}

// start starts the worker if it is not running.
func (w *workerProc) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wantUp = true
	if w.cmd != nil {
		return nil
	}
	return w.startLocked()
}

func (w *workerProc) startLocked() error {
	logf, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	w.starts++
	fmt.Fprintf(logf, "\n=== chaos: worker start %d at %s\n", w.starts, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(w.bin)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a kill takes Chromium with it (Chromium stays in the group of the
	// process that started it); Pdeathsig so that a test binary that dies does not leave a worker behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	exited := make(chan struct{})
	w.cmd, w.exited, w.startedAt = cmd, exited, time.Now()
	go func() {
		err := cmd.Wait()
		close(exited)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.cmd != cmd {
			return // killed or stopped by the test, which reaped the group itself
		}
		// Exited by itself: take down whatever it left and have the supervisor start it again.
		w.cmd, w.lastErr = nil, err
		w.selfExits++
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		w.restartAt = time.Now().Add(time.Second)
	}()
	return nil
}

// supervise starts the worker again whenever it is down and due, until stop is closed.
func (w *workerProc) supervise(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		if w.wantUp && w.cmd == nil && !time.Now().Before(w.restartAt) {
			if err := w.startLocked(); err != nil {
				w.lastErr = err
				w.restartAt = time.Now().Add(time.Second)
			}
		}
		w.mu.Unlock()
	}
}

// up reports the running worker's PID and how long it has run; 0 when it is down.
func (w *workerProc) up() (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return 0, 0
	}
	return w.cmd.Process.Pid, time.Since(w.startedAt)
}

// kill SIGKILLs the worker's process group and checks that no process of the worker survived, Chromium
// above all: a surviving Chromium would keep driving the portal for a dead worker. The supervisor starts
// a new worker after pause.
func (w *workerProc) kill(pause time.Duration) (killReport, error) {
	w.mu.Lock()
	cmd, exited, started := w.cmd, w.exited, w.startedAt
	w.cmd = nil
	w.restartAt = time.Now().Add(pause)
	w.mu.Unlock()
	if cmd == nil {
		return killReport{}, errors.New("the worker is not running")
	}
	return reap(cmd, exited, started, syscall.SIGKILL)
}

// stop ends the worker for good: SIGTERM, as a deployment would, then SIGKILL to the group.
func (w *workerProc) stop() (killReport, error) {
	w.mu.Lock()
	cmd, exited, started := w.cmd, w.exited, w.startedAt
	w.cmd, w.wantUp = nil, false
	w.mu.Unlock()
	if cmd == nil {
		return killReport{}, nil
	}
	return reap(cmd, exited, started, syscall.SIGTERM)
}

// reap signals the worker (SIGKILL to its group, or SIGTERM to it and SIGKILL to the group after a
// grace period), waits for it, and then for every process it had to be gone.
func reap(cmd *exec.Cmd, exited <-chan struct{}, started time.Time, sig syscall.Signal) (killReport, error) {
	pid := cmd.Process.Pid
	rep := killReport{PID: pid, Uptime: time.Since(started)}
	procs := tree(pid)
	for _, p := range procs {
		if p.isChromium() {
			rep.Chromium++
		}
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	} else {
		_ = cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
		}
		procs = append(procs, tree(pid)...)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		return rep, fmt.Errorf("worker %d did not exit within 15 s of SIGKILL", pid)
	}
	// Processes of the group that were not in the snapshot (forked meanwhile) are found by group.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []proc
		for _, p := range procs {
			if p.pid != pid && p.alive() {
				left = append(left, p)
			}
		}
		for _, p := range allProcs() {
			if p.pgid == pid && p.pid != pid && p.state != 'Z' && p.state != 'X' && !slices.ContainsFunc(left, func(q proc) bool { return q.pid == p.pid }) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return rep, nil
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				rep.Leftover = append(rep.Leftover, p.String())
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			return rep, fmt.Errorf("worker %d: %d of its processes outlived the kill of its group: %s", pid, len(left), strings.Join(rep.Leftover, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last n lines of the worker's log.
func (w *workerProc) logTail(n int) string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logFindings counts the lines of the worker's log that are bugs whatever the chaos: data races, panics,
// and Go runtime fatal errors.
func (w *workerProc) logFindings() (races, panics int, first string) {
	f, err := os.Open(w.logPath)
	if err != nil {
		return 0, 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "WARNING: DATA RACE"):
			races++
		case strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:"):
			panics++
		default:
			continue
		}
		if first == "" {
			first = line
		}
	}
	return races, panics, first
}

// keepLog copies the worker's log out of the test's temporary directory, which is removed, so that a
// failed run can be read afterwards.
func (w *workerProc) keepLog() string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return ""
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("portico-chaos-worker-%s.log", time.Now().UTC().Format("20060102T150405")))
	if os.WriteFile(path, b, 0o644) != nil {
		return ""
	}
	return path
}
