// Package browser runs the one headless Chromium a worker process owns and hands out isolated tabs: each
// tab lives in its own browser context (its own cookies and storage), so activities never see each other's
// sessions, and closing a tab frees everything it held.
//
// Opening a tab in a fresh browser context takes Chromium a round of its own (about 0.15 s on 2 cores),
// and closing one another 0.05 s; a portal draft is some 2 s, so that is a tenth of it spent on the
// browser rather than the portal. The browser therefore keeps one fresh, never-used tab open ahead of the
// next activity (handed out at once, replaced in the background) and closes tabs without making the
// activity wait.
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

	// spare is a tab opened ahead of the next NewTab, in a fresh browser context no page has used; warming
	// is set while one opens. Both are guarded by mu.
	spare   *spareTab
	warming bool

	// pid and tabs are read by metrics scrapes without b.mu, which NewTab holds while a tab opens.
	pid  atomic.Int64
	tabs atomic.Int64
}

// spareTab is an opened tab waiting for its activity, and the browser it was opened in.
type spareTab struct {
	ctx     context.Context
	cancel  context.CancelFunc
	browser context.Context
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
// whichever comes first; an activity's cancellation therefore frees its tab. close returns at once: the
// tab stops counting as open then, and Chromium tears it down in the background.
func (b *Browser) NewTab(ctx context.Context) (tab context.Context, closeTab func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.browserCtx == nil {
		return nil, nil, errors.New("browser is closed")
	}
	if b.browserCtx.Err() != nil {
		// Chromium died (killed, crashed, out of memory): start a new one rather than fail every activity.
		b.dropSpare()
		b.cancelBrowser()
		b.cancelAlloc()
		if err := b.launch(ctx); err != nil {
			return nil, nil, err
		}
	}
	var tabCtx context.Context
	var cancel context.CancelFunc
	if sp := b.spare; sp != nil && sp.browser == b.browserCtx && sp.ctx.Err() == nil {
		b.spare = nil
		tabCtx, cancel = sp.ctx, sp.cancel
	} else {
		b.dropSpare()
		tabCtx, cancel = chromedp.NewContext(b.browserCtx, chromedp.WithNewBrowserContext())
		if err := chromedp.Do(tabCtx); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("open tab: %w", err)
		}
	}
	b.warm()
	// The tab stops counting once, whichever way it closes first (close, ctx, the browser dying).
	b.tabs.Add(1)
	var counted sync.Once
	uncount := func() { counted.Do(func() { b.tabs.Add(-1) }) }
	context.AfterFunc(tabCtx, uncount)
	stop := context.AfterFunc(ctx, cancel)
	return tabCtx, func() {
		stop()
		uncount()
		go cancel()
	}, nil
}

// warm opens the next spare tab in the background unless one is open or opening. b.mu is held.
func (b *Browser) warm() {
	if b.spare != nil || b.warming {
		return
	}
	b.warming = true
	browserCtx := b.browserCtx
	go func() {
		tabCtx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		err := chromedp.Do(tabCtx)
		b.mu.Lock()
		defer b.mu.Unlock()
		b.warming = false
		if err != nil || b.browserCtx != browserCtx || b.spare != nil {
			cancel() // a failed open, or the browser was closed or replaced meanwhile
			return
		}
		b.spare = &spareTab{ctx: tabCtx, cancel: cancel, browser: browserCtx}
	}()
}

// dropSpare closes the spare tab, if any. b.mu is held.
func (b *Browser) dropSpare() {
	if b.spare != nil {
		b.spare.cancel()
		b.spare = nil
	}
}

// Close ends Chromium and waits for its processes to exit.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.browserCtx == nil {
		return
	}
	b.dropSpare()
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
