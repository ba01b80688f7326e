package browser

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PID names the running Chromium (metrics read its process tree from /proc), and OpenTabs follows tabs
// however they close: by their close function, by the caller's context, or with the browser.
func TestPIDAndOpenTabs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pid := b.PID()
	if pid <= 0 {
		t.Fatalf("PID %d", pid)
	}
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmd), "chromium") {
		t.Fatalf("PID %d is not Chromium: %q %v", pid, cmd, err)
	}

	waitTabs := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); b.OpenTabs() != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d tabs open, want %d", b.OpenTabs(), want)
			}
		}
	}
	_, close1, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(ctx)
	_, close2, err := b.NewTab(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer close2()
	waitTabs(2)
	close1()
	close1() // closing twice counts once
	waitTabs(1)
	tcancel() // the activity ended without closing its tab
	waitTabs(0)

	// A browser that died is replaced by the next tab, with a new PID.
	b.cancelBrowser()
	_, close3, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.PID() == pid || b.PID() <= 0 {
		t.Fatalf("PID after restart %d (before %d)", b.PID(), pid)
	}
	waitTabs(1)
	b.Close()
	waitTabs(0)
	close3()
	if b.PID() != 0 {
		t.Fatalf("PID after Close %d", b.PID())
	}
}
