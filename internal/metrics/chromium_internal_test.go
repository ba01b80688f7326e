package metrics

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A fake /proc: the tree under 100 is 100 → 101 → 103 and 100 → 102; 200 is another process; 104 has
// vanished between the listing and the read of its statm. A command name may hold spaces and parentheses,
// which is why stat is read from its last ')'.
func TestProcessTreeFollowsDescendants(t *testing.T) {
	dir := t.TempDir()
	proc := func(pid, ppid int, comm string, rssPages int, withStatm bool) {
		t.Helper()
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) + " 1 1 0 -1 4194560"
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if withStatm {
			if err := os.WriteFile(filepath.Join(d, "statm"), []byte("9999 "+strconv.Itoa(rssPages)+" 10 1 0 50 0\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			rollup := "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 1 kB\nPss:   " + strconv.Itoa(rssPages) + " kB\nPss_Anon: 1 kB\n"
			if err := os.WriteFile(filepath.Join(d, "smaps_rollup"), []byte(rollup), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	proc(1, 0, "init", 1, true)
	proc(100, 1, "chromium", 10, true)
	proc(101, 100, "chromium (zygote)", 20, true)
	proc(102, 100, "odd) S 1 name", 30, true)
	proc(103, 101, "chromium", 40, true)
	proc(104, 101, "chromium", 50, false)
	proc(200, 1, "postgres", 1000, true)
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	if got, want := processTree(dir, 100), (tree{procs: 4, rss: 100 * page, pss: 100 * 1024, pssKnown: true}); got != want {
		t.Fatalf("tree of 100: %+v, want %+v", got, want)
	}
	if got, want := processTree(dir, 101), (tree{procs: 2, rss: 60 * page, pss: 60 * 1024, pssKnown: true}); got != want {
		t.Fatalf("tree of 101: %+v, want %+v", got, want)
	}
	if got := processTree(dir, 999); got != (tree{}) {
		t.Fatalf("gone process: %+v", got)
	}
	// Without smaps_rollup (an old kernel) PSS is unknown, and RSS still counts.
	if err := os.Remove(filepath.Join(dir, "103", "smaps_rollup")); err != nil {
		t.Fatal(err)
	}
	if got := processTree(dir, 100); got.pssKnown || got.procs != 4 || got.rss != 100*page {
		t.Fatalf("without smaps_rollup: %+v", got)
	}
}
