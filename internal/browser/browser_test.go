package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func TestTabsAreIsolatedAndBrowserRestarts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "tab1", Path: "/"})
		}
		c, err := r.Cookie("s")
		v := "none"
		if err == nil {
			v = c.Value
		}
		w.Write([]byte("<html><body><p id=v>" + v + "</p></body></html>"))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	read := func(path string) string {
		tab, closeTab, err := b.NewTab(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer closeTab()
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatal(err)
		}
		v, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("#v")))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := read("/set"); got != "none" {
		t.Fatalf("first visit saw cookie %q", got)
	}
	if got := read("/"); got != "none" {
		t.Fatalf("a new tab saw another tab's cookie %q", got)
	}

	// Cancelling the caller's context closes the tab.
	tctx, tcancel := context.WithCancel(ctx)
	tab, closeTab, err := b.NewTab(tctx)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTab()
	tcancel()
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err == nil {
		t.Fatal("tab still usable after its context was cancelled")
	}

	// A dead Chromium is replaced on the next tab.
	b.cancelBrowser()
	if got := read("/"); got != "none" {
		t.Fatalf("after restart got %q", got)
	}
}
