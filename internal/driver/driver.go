// Package driver is the portal engine: it runs a portal definition (internal/portaldef) in Chromium the way a
// person works a portal. It finds fields by their labels and buttons by their names in Chromium's
// accessibility tree, logs in with password and TOTP when the portal asks, reads tables by their column
// headers and keys invoices into PO-flip forms. Every outcome is one of the named errors of package
// portal; where it cannot tell with certainty which element to use, it stops with a drift error and keeps
// a screenshot and the page's HTML as evidence. It never guesses.
package driver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"portico/internal/browser"
	"portico/internal/evidence"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/vault"
)

// DefaultStepTimeout bounds every single browser step (a page load, a click, a field).
const DefaultStepTimeout = 20 * time.Second

// DefaultSettle bounds how long a single-page app may take to show a field or a signal after a click.
const DefaultSettle = 10 * time.Second

// StepClaimer records which TOTP step a login of an account uses, across all worker processes, so that two
// logins never send the same code (the portal would refuse the second and count it toward lockout).
type StepClaimer interface {
	ClaimTOTPStep(ctx context.Context, accountID string, step int64) (bool, error)
}

// LoginGuard remembers, across worker processes and restarts, that a portal refused an account's current
// credentials; the driver then refuses to try them again until they are updated.
type LoginGuard interface {
	RecordLoginRefusal(ctx context.Context, accountID, reason string) error
	LoginRefusal(ctx context.Context, accountID string) (reason string, refused bool, err error)
}

// SessionStore keeps each account's portal session (its cookies, as opaque bytes the driver encodes)
// across worker processes and restarts, so that a new worker reuses a session instead of logging in and
// spending a TOTP step. The bytes hold live session cookies: a store must keep them encrypted.
type SessionStore interface {
	SavePortalSession(ctx context.Context, accountID string, cookies []byte) error
	// PortalSession reports false when no session is saved; a saved one that cannot be opened is an error.
	PortalSession(ctx context.Context, accountID string) (cookies []byte, ok bool, err error)
	ForgetPortalSession(ctx context.Context, accountID string) error
}

// Config tunes a Driver.
type Config struct {
	// StepTimeout bounds each browser step; default DefaultStepTimeout.
	StepTimeout time.Duration
	// Settle bounds the wait for a single-page app to render; default DefaultSettle.
	Settle time.Duration
	// Claims serialises TOTP codes per account; required.
	Claims StepClaimer
	// Now is the clock for TOTP codes; default time.Now.
	Now func() time.Time
	// Evidence keeps screenshots and HTML of pages that drifted; nil keeps none.
	Evidence evidence.Store
	// Guard shares refused credentials between workers; nil remembers them in this process only.
	Guard LoginGuard
	// Sessions shares logged-in portal sessions between workers and restarts; nil keeps them in this
	// process only.
	Sessions SessionStore
	// Observer is told of sign-ins and of how long each step took, for metrics; nil tells no one.
	Observer Observer
}

// Driver drives portals through one shared Chromium. It keeps each account's session cookies in memory (and,
// with Config.Sessions, in a shared store) so that activities reuse a logged-in session instead of logging
// in (and spending a TOTP step) every time.
type Driver struct {
	br  *browser.Browser
	cfg Config

	mu      sync.Mutex
	cookies map[string][]*network.CookieParam
	// refused remembers, per account, the credentials a portal refused (as a hash) and why, so that no
	// other activity tries them again: every refused try counts toward the portal's lockout.
	refused map[string]refusal
	// signIn serialises the sign-ins of each account within this process, and signedIn counts each
	// account's good sign-ins: a tab that finds the sign-in form after another tab signed in takes that
	// session instead of signing in (and spending a TOTP step) again.
	signIn   map[string]*sync.Mutex
	signedIn map[string]uint64

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
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Driver{br: br, cfg: cfg, cookies: map[string][]*network.CookieParam{}, refused: map[string]refusal{},
		signIn: map[string]*sync.Mutex{}, signedIn: map[string]uint64{}}
}

// Browser returns the browser the driver runs in.
func (d *Driver) Browser() *browser.Browser { return d.br }

// Stats returns the counters.
func (d *Driver) Stats() Stats {
	return Stats{Logins: d.logins.Load(), PageLoads: d.pageLoads.Load()}
}

// Account is one supplier login at one portal.
type Account struct {
	ID          string
	BaseURL     string
	Portal      *portaldef.Definition
	Credentials vault.Credentials
}

// Session is one tab logged in (lazily) to one account. It is not safe for concurrent use.
type Session struct {
	d        *Driver
	acct     Account
	def      *portaldef.Definition
	base     *url.URL
	tab      context.Context
	closeTab func()
	onStep   func(step string)

	confirm atomic.Pointer[string] // the dialog text fragment the current step expects to accept
	net     netMonitor
	// savedPage is the portal ID of the draft whose page the tab shows as the portal's answer to saving it
	// (CreateDraft read the draft there); any navigation or click clears it. CaptureInvoice captures that
	// page as it is instead of loading it again.
	savedPage string
	// signedIn is the account's sign-in count (Driver.signedIn) when this tab took its session.
	signedIn uint64
}

// Open opens a tab for the account. onStep, if not nil, is told the name of each step (activities use it to
// heartbeat with what they are doing).
func (d *Driver) Open(ctx context.Context, acct Account, onStep func(step string)) (*Session, error) {
	if acct.Portal == nil {
		return nil, fmt.Errorf("portal account %s: no portal definition", acct.ID)
	}
	base, err := url.Parse(strings.TrimRight(acct.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("portal account %s: base URL %q is not an absolute URL", acct.ID, acct.BaseURL)
	}
	tab, closeTab, err := d.br.NewTab(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{d: d, acct: acct, def: acct.Portal, base: base, tab: tab, closeTab: closeTab, onStep: onStep}
	d.mu.Lock()
	s.signedIn = d.signedIn[acct.ID]
	d.mu.Unlock()
	go s.handleDialogs()
	if err := s.net.start(tab); err != nil {
		closeTab()
		return nil, fmt.Errorf("watch portal requests: %w", err)
	}
	saved, err := d.sessionCookies(ctx, acct.ID, s.url("/"))
	if err != nil {
		closeTab()
		return nil, err
	}
	if len(saved) > 0 {
		if _, err := chromedp.Call(tab, network.SetCookies, network.SetCookiesParams{Cookies: saved}); err != nil {
			// Cookies the browser refuses would be refused again on every retry: start from a login instead.
			ferr := d.forget(ctx, acct.ID)
			closeTab()
			return nil, errors.Join(fmt.Errorf("account %s: restore portal session: %w", acct.ID, err), ferr)
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
		accept := want != nil && strings.Contains(strings.ToLower(ev.Message), strings.ToLower(*want))
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

func (s *Session) stepErr(step string, err error) error {
	if s.tab.Err() != nil {
		return fmt.Errorf("step %s: %w", step, context.Cause(s.tab))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("step %s: no answer within %s: %w", step, s.d.cfg.StepTimeout, portal.ErrUnavailable)
	}
	var de *portal.DriftError
	if errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("step %s: %w", step, err)
}

func (s *Session) location() string {
	ctx, cancel := s.stepCtx()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return ""
	}
	return loc
}

// drift makes the named drift error, keeping a screenshot and the page's HTML as evidence.
func (s *Session) drift(step, selector, detail string) error {
	e := &portal.DriftError{Step: step, URL: s.location(), Selector: selector, Detail: detail}
	e.Evidence = s.keepPage("drift")
	return e
}

// keepPage stores a screenshot and the HTML of the current page; failures to keep evidence never hide the
// error being reported, so they are noted in the references instead.
func (s *Session) keepPage(kind string) []string {
	if s.d.cfg.Evidence == nil {
		return nil
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	var refs []string
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		if ref, err := s.d.cfg.Evidence.Put(kind+"-screenshot", "png", png); err == nil {
			refs = append(refs, ref)
		} else {
			refs = append(refs, "(screenshot not kept: "+err.Error()+")")
		}
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		if ref, err := s.d.cfg.Evidence.Put(kind+"-page", "html", []byte(html)); err == nil {
			refs = append(refs, ref)
		}
	}
	return refs
}

// Screenshot stores a screenshot of the page the session is on and returns its reference.
func (s *Session) Screenshot(kind string) ([]string, error) {
	if s.d.cfg.Evidence == nil {
		return nil, errors.New("no evidence store configured")
	}
	return s.keepPage(kind), nil
}

// saveCookies keeps the cookies of a good login, in memory and in the session store, for the tabs and
// workers that come after.
func (s *Session) saveCookies() error {
	ctx, cancel := s.stepCtx()
	defer cancel()
	origin := s.url("/")
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin}})
	if err != nil {
		return s.stepErr("save session", err)
	}
	var params []*network.CookieParam
	for _, c := range res.Cookies {
		p := &network.CookieParam{
			Name: c.Name, Value: c.Value, URL: origin, Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		}
		// A persistent cookie ("remember this browser") keeps its expiry, so a restored one lapses when
		// the portal meant it to, not when a worker happens to restart.
		if !c.Session && c.Expires > 0 {
			p.Expires = cdp.TimeSinceEpoch(c.Expires)
		}
		params = append(params, p)
	}
	s.d.mu.Lock()
	s.d.cookies[s.acct.ID] = params
	s.d.signedIn[s.acct.ID]++
	s.signedIn = s.d.signedIn[s.acct.ID]
	s.d.mu.Unlock()
	if s.d.cfg.Sessions == nil {
		return nil
	}
	blob, err := encodeSession(origin, params)
	if err != nil {
		return fmt.Errorf("account %s: encode portal session: %w", s.acct.ID, err)
	}
	// A failed save fails the operation although this process holds the session: the error is the only
	// way it is seen, and the retry reuses the session from memory, without a login.
	if err := s.d.cfg.Sessions.SavePortalSession(s.tab, s.acct.ID, blob); err != nil {
		return fmt.Errorf("account %s: logged in, but saving the portal session failed: %w", s.acct.ID, err)
	}
	return nil
}

// signInLock is the account's sign-in lock in this process.
func (d *Driver) signInLock(accountID string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	mu, ok := d.signIn[accountID]
	if !ok {
		mu = &sync.Mutex{}
		d.signIn[accountID] = mu
	}
	return mu
}

// takeNewerSession gives the tab the session another tab of the account signed in to after this tab
// took its own, and reports whether there was one. The caller holds the account's sign-in lock.
func (s *Session) takeNewerSession() (bool, error) {
	s.d.mu.Lock()
	now, cookies := s.d.signedIn[s.acct.ID], s.d.cookies[s.acct.ID]
	s.d.mu.Unlock()
	if now == s.signedIn || len(cookies) == 0 {
		return false, nil
	}
	s.signedIn = now
	ctx, cancel := s.stepCtx()
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookies, network.SetCookiesParams{Cookies: cookies}); err != nil {
		return false, s.stepErr("take the account's new session", err)
	}
	return true, nil
}

// forgetSession drops the account's session: the portal asked for a sign-in, so it is over, and a login
// that fails must leave nothing a later tab or worker would start from.
func (s *Session) forgetSession() error {
	return s.d.forget(s.tab, s.acct.ID)
}

func (d *Driver) forget(ctx context.Context, accountID string) error {
	d.mu.Lock()
	delete(d.cookies, accountID)
	d.mu.Unlock()
	if d.cfg.Sessions == nil {
		return nil
	}
	if err := d.cfg.Sessions.ForgetPortalSession(ctx, accountID); err != nil {
		return fmt.Errorf("account %s: forget the saved portal session: %w", accountID, err)
	}
	return nil
}

// sessionCookies returns the cookies to start a tab of the account with: this process's, or else the
// session store's. A saved session that cannot be used (it does not open, or belongs to another origin)
// is dropped, and the tab logs in as it would without one: a session is a convenience, never a reason to
// stop. A store that cannot be read is an error, as the login would need it too.
func (d *Driver) sessionCookies(ctx context.Context, accountID, origin string) ([]*network.CookieParam, error) {
	d.mu.Lock()
	saved, ok := d.cookies[accountID]
	d.mu.Unlock()
	if ok || d.cfg.Sessions == nil {
		return saved, nil
	}
	blob, found, err := d.cfg.Sessions.PortalSession(ctx, accountID)
	if errors.Is(err, vault.ErrTampered) || errors.Is(err, vault.ErrUnknownKey) {
		return nil, d.forget(ctx, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("account %s: load the saved portal session: %w", accountID, err)
	}
	if !found {
		return nil, nil
	}
	saved, ok = decodeSession(blob, origin, time.Now()) // the browser's clock, not the TOTP one
	if !ok {
		return nil, d.forget(ctx, accountID)
	}
	d.mu.Lock()
	if mine, raced := d.cookies[accountID]; raced {
		saved = mine // a tab of this process logged in meanwhile: its session is the newer
	} else {
		d.cookies[accountID] = saved
	}
	d.mu.Unlock()
	return saved, nil
}

// savedSession is how a session is kept in the store. It is the driver's own format, not cdproto's, so
// that a Chromium protocol upgrade cannot make saved sessions unreadable.
type savedSession struct {
	Version int           `json:"v"`
	Origin  string        `json:"origin"` // the URL the cookies were read for; never replayed to another
	Cookies []savedCookie `json:"cookies"`
}

type savedCookie struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Path     string  `json:"path,omitempty"`
	Secure   bool    `json:"secure,omitempty"`
	HTTPOnly bool    `json:"http_only,omitempty"`
	SameSite string  `json:"same_site,omitempty"`
	Expires  float64 `json:"expires,omitempty"` // seconds since the epoch; 0 for a session cookie
}

const savedSessionVersion = 1

func encodeSession(origin string, params []*network.CookieParam) ([]byte, error) {
	ss := savedSession{Version: savedSessionVersion, Origin: origin, Cookies: make([]savedCookie, 0, len(params))}
	for _, p := range params {
		ss.Cookies = append(ss.Cookies, savedCookie{
			Name: p.Name, Value: p.Value, Path: p.Path, Secure: p.Secure, HTTPOnly: p.HTTPOnly,
			SameSite: string(p.SameSite), Expires: float64(p.Expires),
		})
	}
	return json.Marshal(ss)
}

// decodeSession reads a saved session for origin, leaving out cookies that have expired. It reports false
// for a session it cannot use; it never says why in words, as a parse error could quote a cookie.
func decodeSession(blob []byte, origin string, now time.Time) ([]*network.CookieParam, bool) {
	var ss savedSession
	if err := json.Unmarshal(blob, &ss); err != nil || ss.Version != savedSessionVersion || ss.Origin != origin {
		return nil, false
	}
	var params []*network.CookieParam
	for _, c := range ss.Cookies {
		if c.Expires > 0 && c.Expires <= float64(now.Unix()) {
			continue
		}
		params = append(params, &network.CookieParam{
			Name: c.Name, Value: c.Value, URL: origin, Path: c.Path, Secure: c.Secure, HTTPOnly: c.HTTPOnly,
			SameSite: network.CookieSameSite(c.SameSite), Expires: cdp.TimeSinceEpoch(c.Expires),
		})
	}
	return params, len(params) > 0
}

type refusal struct {
	creds [32]byte
	err   error
}

func credsHash(c vault.Credentials) [32]byte {
	return sha256.Sum256([]byte(c.Username + "\x00" + c.Password + "\x00" + c.TOTPSecret))
}

// refusedBefore returns the error of an earlier refusal of these very credentials, by this process or
// (through the guard) by any worker.
func (d *Driver) refusedBefore(ctx context.Context, accountID string, c vault.Credentials) error {
	d.mu.Lock()
	r, ok := d.refused[accountID]
	d.mu.Unlock()
	if ok && r.creds == credsHash(c) {
		return fmt.Errorf("%w (not tried again: the portal refused these credentials before; update them in Portico)", r.err)
	}
	if d.cfg.Guard == nil {
		return nil
	}
	reason, refused, err := d.cfg.Guard.LoginRefusal(ctx, accountID)
	if err != nil {
		return fmt.Errorf("account %s: read earlier login refusals: %w", accountID, err)
	}
	if refused {
		return fmt.Errorf("account %s: %w: not tried again: %s; update the credentials in Portico", accountID, refusalKind(reason), reason)
	}
	return nil
}

// refusalKind maps a stored refusal back to its named error.
func refusalKind(reason string) error {
	for _, e := range []error{portal.ErrAccountLocked, portal.ErrPasswordExpired, portal.ErrTOTPRejected} {
		if strings.Contains(reason, e.Error()) {
			return e
		}
	}
	return portal.ErrLoginRejected
}

func (d *Driver) noteRefusal(ctx context.Context, accountID string, c vault.Credentials, err error) error {
	d.mu.Lock()
	d.refused[accountID] = refusal{creds: credsHash(c), err: err}
	d.mu.Unlock()
	if d.cfg.Guard == nil {
		return nil
	}
	// The error names the account and quotes the portal's message; it never holds a secret.
	return d.cfg.Guard.RecordLoginRefusal(ctx, accountID, err.Error())
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

// netMonitor watches the tab's requests so that a single-page app's failed or hung XHR is reported as the
// outage it is (retryable), not as a layout change.
type netMonitor struct {
	mu       sync.Mutex
	inflight map[network.RequestID]string
	// finished holds requests whose end arrived before their start: each event type has its own
	// goroutine, so the order between them is not kept.
	finished map[network.RequestID]bool
	errors   int64
	lastErr  string
}

func (m *netMonitor) start(tab context.Context) error {
	m.inflight = map[network.RequestID]string{}
	m.finished = map[network.RequestID]bool{}
	sent := chromedp.Events(tab, network.RequestWillBeSent)
	recv := chromedp.Events(tab, network.ResponseReceived)
	done := chromedp.Events(tab, network.LoadingFinished)
	failed := chromedp.Events(tab, network.LoadingFailed)
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			if ev.Type == network.ResourceTypeXHR || ev.Type == network.ResourceTypeFetch {
				m.mu.Lock()
				if m.finished[ev.RequestID] {
					delete(m.finished, ev.RequestID)
				} else {
					m.inflight[ev.RequestID] = ev.Request.URL
				}
				m.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range recv {
			if err != nil {
				return
			}
			if ev.Response != nil && ev.Response.Status >= 500 {
				m.mu.Lock()
				m.errors++
				m.lastErr = fmt.Sprintf("HTTP %d from %s", ev.Response.Status, ev.Response.URL)
				m.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range done {
			if err != nil {
				return
			}
			m.end(ev.RequestID)
		}
	}()
	go func() {
		for ev, err := range failed {
			if err != nil {
				return
			}
			m.end(ev.RequestID)
		}
	}()
	return nil
}

// end marks a request finished (or failed).
func (m *netMonitor) end(id network.RequestID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.inflight[id]; ok {
		delete(m.inflight, id)
	} else {
		m.finished[id] = true
	}
}

// snapshot returns the count of 5xx answers so far, the last one, and the requests still in flight.
func (m *netMonitor) snapshot() (int64, string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.errors, m.lastErr, len(m.inflight)
}
