// Package browser runs the one headless Chromium a worker process owns and hands out isolated tabs: each
// tab lives in its own browser context (its own cookies and storage), so activities never see each other's
// sessions, and closing a tab frees everything it held.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultExecPath is Debian's chromium package. Portico never downloads a browser.
const DefaultExecPath = "/usr/bin/chromium"

// ErrNotInstalled is returned when the Chromium binary is missing.
var ErrNotInstalled = errors.New("chromium not found: install Debian's chromium package (make tools) or set PORTICO_CHROMIUM")

// Options configures the browser process.
type Options struct {
	// ExecPath is the Chromium binary; default $PORTICO_CHROMIUM or DefaultExecPath.
	ExecPath string
	// Headful shows windows, for debugging a portal definition on a desktop.
	Headful bool
}

// Browser is one Chromium process shared by all activities of a worker.
type Browser struct {
	opts Options

	mu            sync.Mutex
	browserCtx    context.Context
	cancelBrowser context.CancelFunc
	cancelAlloc   context.CancelFunc

	// pid and tabs are read by metrics scrapes without b.mu, which NewTab holds while a tab opens.
	pid  atomic.Int64
	tabs atomic.Int64
}

// Start launches Chromium and waits until it answers.
func Start(ctx context.Context, opts Options) (*Browser, error) {
	if opts.ExecPath == "" {
		opts.ExecPath = os.Getenv("PORTICO_CHROMIUM")
	}
	if opts.ExecPath == "" {
		opts.ExecPath = DefaultExecPath
	}
	if _, err := os.Stat(opts.ExecPath); err != nil {
		return nil, fmt.Errorf("%w (looked at %s)", ErrNotInstalled, opts.ExecPath)
	}
	b := &Browser{opts: opts}
	if err := b.launch(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Browser) launch(ctx context.Context) error {
	flags := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.DefaultExecAllocatorOptions[:]...)
	flags = append(flags,
		chromedp.ExecPath(b.opts.ExecPath),
		// Workers run as root in containers; Chromium's sandbox needs user namespaces they rarely have.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// A closed network makes Chromium's own background fetches fail noisily and slowly.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.WindowSize(1280, 900),
	)
	if b.opts.Headful {
		flags = append(flags, chromedp.Flag("headless", false))
	}
	// The allocator outlives the caller's ctx: Chromium lives as long as the worker, not one activity.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browserCtx) }()
	select {
	case err := <-started:
		if err != nil {
			cancelBrowser()
			cancelAlloc()
			return fmt.Errorf("start chromium %s: %w", b.opts.ExecPath, err)
		}
	case <-ctx.Done():
		cancelBrowser()
		cancelAlloc()
		return ctx.Err()
	}
	b.browserCtx, b.cancelBrowser, b.cancelAlloc = browserCtx, cancelBrowser, cancelAlloc
	var pid int64
	if c := chromedp.FromContext(browserCtx); c != nil && c.Browser != nil {
		if p := c.Browser.Process(); p != nil {
			pid = int64(p.Pid)
		}
	}
	b.pid.Store(pid)
	return nil
}

// PID is the ID of the Chromium process (or of the wrapper script that runs it), for metrics that read
// its process tree; 0 when the browser is closed. After a crash it names the dead process until the next
// tab starts a new browser.
func (b *Browser) PID() int { return int(b.pid.Load()) }

// OpenTabs is the number of tabs open now; each browser activity holds one while it runs.
func (b *Browser) OpenTabs() int { return int(b.tabs.Load()) }

// NewTab opens a tab in a fresh browser context. The tab closes when ctx is done or close is called,
// whichever comes first; an activity's cancellation therefore frees its tab.
func (b *Browser) NewTab(ctx context.Context) (tab context.Context, closeTab func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.browserCtx == nil {
		return nil, nil, errors.New("browser is closed")
	}
	if b.browserCtx.Err() != nil {
		// Chromium died (killed, crashed, out of memory): start a new one rather than fail every activity.
		b.cancelBrowser()
		b.cancelAlloc()
		if err := b.launch(ctx); err != nil {
			return nil, nil, err
		}
	}
	tabCtx, cancel := chromedp.NewContext(b.browserCtx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tabCtx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("open tab: %w", err)
	}
	// The tab's context ends whichever way the tab closes (close, ctx, the browser dying), exactly once.
	b.tabs.Add(1)
	context.AfterFunc(tabCtx, func() { b.tabs.Add(-1) })
	stop := context.AfterFunc(ctx, cancel)
	return tabCtx, func() { stop(); cancel() }, nil
}

// Close ends Chromium and waits for its processes to exit.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.browserCtx == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		b.cancelBrowser() // closes the browser gracefully
		b.cancelAlloc()   // waits for the process and removes its profile directory
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	b.browserCtx = nil
	b.pid.Store(0)
}
