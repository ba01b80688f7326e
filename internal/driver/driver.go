// Package driver drives a buyer portal in Chromium the way a person would: it logs in with password and
// TOTP, reads the PO and invoice tables, keys invoices into the PO-flip form and submits them. It reports
// every outcome as one of the named errors of package portal; it never guesses.
package driver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"portico/internal/browser"
	"portico/internal/portal"
	"portico/internal/vault"
)

// DefaultStepTimeout bounds every single browser step (a page load, a click, a field).
const DefaultStepTimeout = 20 * time.Second

// StepClaimer records which TOTP step a login of an account uses, across all worker processes, so that two
// logins never send the same code (the portal would refuse the second and count it toward lockout).
type StepClaimer interface {
	ClaimTOTPStep(ctx context.Context, accountID string, step int64) (bool, error)
}

// Config tunes a Driver.
type Config struct {
	// StepTimeout bounds each browser step; default DefaultStepTimeout.
	StepTimeout time.Duration
	// Claims serialises TOTP codes per account; required.
	Claims StepClaimer
	// Now is the clock for TOTP codes; default time.Now.
	Now func() time.Time
}

// Driver drives portals through one shared Chromium. It keeps each account's session cookies in memory so
// that activities reuse a logged-in session instead of logging in (and spending a TOTP step) every time.
type Driver struct {
	br  *browser.Browser
	cfg Config

	mu      sync.Mutex
	cookies map[string][]*network.CookieParam

	logins    atomic.Int64
	pageLoads atomic.Int64
}

// Stats counts what the driver cost the portals since it started.
type Stats struct {
	Logins    int64
	PageLoads int64
}

// New makes a Driver on a running browser.
func New(br *browser.Browser, cfg Config) *Driver {
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Driver{br: br, cfg: cfg, cookies: map[string][]*network.CookieParam{}}
}

// Stats returns the counters.
func (d *Driver) Stats() Stats {
	return Stats{Logins: d.logins.Load(), PageLoads: d.pageLoads.Load()}
}

// Account is one supplier login at one portal.
type Account struct {
	ID          string
	BaseURL     string
	Credentials vault.Credentials
}

// Session is one tab logged in (lazily) to one account. It is not safe for concurrent use.
type Session struct {
	d        *Driver
	acct     Account
	base     *url.URL
	tab      context.Context
	closeTab func()
	onStep   func(step string)

	confirm atomic.Pointer[string] // the dialog text fragment the current step expects to accept
	dialogs chan string            // unexpected dialogs, dismissed
}

// Open opens a tab for the account. onStep, if not nil, is told the name of each step (activities use it to
// heartbeat with what they are doing).
func (d *Driver) Open(ctx context.Context, acct Account, onStep func(step string)) (*Session, error) {
	base, err := url.Parse(strings.TrimRight(acct.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("portal account %s: base URL %q is not an absolute URL", acct.ID, acct.BaseURL)
	}
	tab, closeTab, err := d.br.NewTab(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{d: d, acct: acct, base: base, tab: tab, closeTab: closeTab, onStep: onStep, dialogs: make(chan string, 4)}
	go s.handleDialogs()
	d.mu.Lock()
	saved := d.cookies[acct.ID]
	d.mu.Unlock()
	if len(saved) > 0 {
		if _, err := chromedp.Call(tab, network.SetCookies, network.SetCookiesParams{Cookies: saved}); err != nil {
			closeTab()
			return nil, fmt.Errorf("restore portal session: %w", err)
		}
	}
	return s, nil
}

// Close closes the tab and its browser context.
func (s *Session) Close() { s.closeTab() }

// handleDialogs accepts the confirm dialog a step expects (Submit, Delete) and dismisses any other, so an
// unexpected "Are you sure?" never confirms something Portico did not mean to do.
func (s *Session) handleDialogs() {
	for ev, err := range chromedp.Events(s.tab, page.JavascriptDialogOpening) {
		if err != nil {
			return
		}
		want := s.confirm.Load()
		accept := want != nil && strings.Contains(ev.Message, *want)
		if !accept {
			select {
			case s.dialogs <- ev.Message:
			default:
			}
		}
		_, _ = chromedp.Call(s.tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
	}
}

func (s *Session) step(name string) {
	if s.onStep != nil {
		s.onStep(name)
	}
}

// url resolves a portal path against the account's base URL (which may itself have a path prefix).
func (s *Session) url(path string) string {
	u := *s.base
	p, q, _ := strings.Cut(path, "?")
	u.Path = strings.TrimRight(s.base.Path, "/") + p
	u.RawQuery = q
	return u.String()
}

// stepCtx bounds one browser step.
func (s *Session) stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.tab, s.d.cfg.StepTimeout)
}

// do runs steps that return nothing under the step timeout, naming the step in any error.
func (s *Session) do(step string, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := s.stepCtx()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		return s.stepErr(step, err)
	}
	return nil
}

// eval runs JavaScript under the step timeout and decodes its result.
func eval[T any](s *Session, step, js string) (T, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		return v, s.stepErr(step, err)
	}
	return v, nil
}

func (s *Session) stepErr(step string, err error) error {
	if s.tab.Err() != nil {
		return fmt.Errorf("step %s: %w", step, context.Cause(s.tab))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("step %s: no answer within %s: %w", step, s.d.cfg.StepTimeout, portal.ErrUnavailable)
	}
	return fmt.Errorf("step %s: %w", step, err)
}

// navigate loads a page (or follows a click that navigates) and checks the HTTP status. It returns the
// status code so callers can tell a missing record (404) from an outage (5xx).
func (s *Session) navigate(step string, trigger chromedp.Action[chromedp.Void]) (int64, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	s.d.pageLoads.Add(1)
	resp, err := chromedp.RunResponse(ctx, trigger)
	if err != nil {
		return 0, s.stepErr(step, err)
	}
	if resp == nil {
		return 0, nil
	}
	if resp.Status >= 500 {
		return resp.Status, fmt.Errorf("step %s: HTTP %d: %w", step, resp.Status, portal.ErrUnavailable)
	}
	return resp.Status, nil
}

// open loads a portal page, logging in first when the portal sends the browser to its login page.
func (s *Session) open(step, path string) (int64, error) {
	s.step(step)
	status, err := s.navigate(step, chromedp.Navigate(s.url(path)))
	if err != nil {
		return status, err
	}
	onLogin, err := s.onLoginPage()
	if err != nil || !onLogin {
		return status, err
	}
	s.forgetCookies()
	if err := s.login(); err != nil {
		return 0, err
	}
	// The portal sends the browser on to the page it asked for; load it again if it did not.
	here, err := s.location()
	if err != nil {
		return 0, err
	}
	if here.Path != s.base.Path+strings.SplitN(path, "?", 2)[0] {
		return s.navigate(step, chromedp.Navigate(s.url(path)))
	}
	return 200, nil
}

func (s *Session) location() (*url.URL, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return nil, s.stepErr("read location", err)
	}
	return url.Parse(loc)
}

func (s *Session) onLoginPage() (bool, error) {
	u, err := s.location()
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(u.Path, s.base.Path+"/login"), nil
}

// exists reports which of the selectors match an element on the current page.
func (s *Session) exists(step string, selectors ...string) (map[string]bool, error) {
	js := fmt.Sprintf(`(() => { const out = {}; for (const s of %s) out[s] = document.querySelector(s) !== null; return out; })()`, jsString(selectors))
	return eval[map[string]bool](s, step, js)
}

// need fails with a drift error unless every selector matches: a server-rendered page is complete once
// loaded, so a missing field means the layout changed.
func (s *Session) need(step string, selectors ...string) error {
	found, err := s.exists(step, selectors...)
	if err != nil {
		return err
	}
	var missing []string
	for _, sel := range selectors {
		if !found[sel] {
			missing = append(missing, sel)
		}
	}
	if len(missing) > 0 {
		u, _ := s.location()
		at := ""
		if u != nil {
			at = u.String()
		}
		return &portal.DriftError{Step: step, URL: at, Detail: "missing " + strings.Join(missing, ", ")}
	}
	return nil
}

// flashErrors reads the page's error banner and per-field errors.
func (s *Session) flashErrors(step string) (map[string]string, error) {
	return eval[map[string]string](s, step, `(() => {
		const out = {};
		const banner = document.querySelector('.flash.error, [role=alert]');
		if (banner && banner.innerText.trim()) out[''] = banner.innerText.trim();
		for (const e of document.querySelectorAll('.field-error[data-field]')) out[e.dataset.field] = e.innerText.trim();
		return out;
	})()`)
}

func (s *Session) saveCookies() error {
	ctx, cancel := s.stepCtx()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.url("/")}})
	if err != nil {
		return s.stepErr("save session", err)
	}
	var params []*network.CookieParam
	for _, c := range res.Cookies {
		params = append(params, &network.CookieParam{
			Name: c.Name, Value: c.Value, URL: s.url("/"), Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		})
	}
	s.d.mu.Lock()
	s.d.cookies[s.acct.ID] = params
	s.d.mu.Unlock()
	return nil
}

func (s *Session) forgetCookies() {
	s.d.mu.Lock()
	delete(s.d.cookies, s.acct.ID)
	s.d.mu.Unlock()
}

// tempFile writes an attachment to a private temp file for the browser's file chooser.
func tempFile(name string, data []byte) (string, func(), error) {
	dir, err := os.MkdirTemp("", "portico-upload-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	base := filepath.Base(name)
	if base == "." || base == "/" || base == "" {
		base = "invoice.pdf"
	}
	path := filepath.Join(dir, base)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
