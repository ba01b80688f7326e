package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	chromium "portico/internal/browser"
)

// addSupplier adds another account with alice's password and TOTP secret.
func (e *env) addSupplier(username string) {
	e.t.Helper()
	if err := e.srv.AddAccount(Account{Username: username, Password: testPassword, TOTPSecret: testSecret, Supplier: username + " Ltd"}); err != nil {
		e.t.Fatal(err)
	}
}

// loginAs signs username in fully (the account must use alice's password and secret).
func (e *env) loginAs(b *browser, username string) page {
	e.t.Helper()
	p := b.submitCode(b.submitLogin(username, testPassword), e.code())
	if p.url.Path != "/pos" {
		e.t.Fatalf("login of %s landed on %s (%d): %s", username, p.url, p.status, p.flashError())
	}
	e.clock.Advance(30 * time.Second)
	return p
}

func (e *env) inject(f Fault) string {
	e.t.Helper()
	id, err := e.srv.InjectFault(f)
	if err != nil {
		e.t.Fatalf("InjectFault(%+v): %v", f, err)
	}
	return id
}

// timedGet is b.get with its duration.
func (b *browser) timedGet(path string) (page, time.Duration) {
	b.t.Helper()
	start := time.Now()
	p := b.get(path)
	return p, time.Since(start)
}

func faultEvents(events []Event) []Event {
	var out []Event
	for _, ev := range events {
		if strings.HasPrefix(ev.Kind, "fault_") {
			out = append(out, ev)
		}
	}
	return out
}

func TestFaultLatencyOnlyDelaysItsScope(t *testing.T) {
	e := newEnv(t, Config{})
	e.addSupplier("bob")
	alice, bob := e.browser(), e.browser()
	e.login(alice)
	e.loginAs(bob, "bob")

	const delay = 500 * time.Millisecond
	id := e.inject(Fault{Kind: FaultLatency, MS: int(delay.Milliseconds()), Account: testUser, Path: "/pos"})

	p, d := alice.timedGet("/pos")
	if p.status != http.StatusOK || d < delay {
		t.Fatalf("alice /pos: %d after %s, want 200 after at least %s", p.status, d, delay)
	}
	if p, d := alice.timedGet("/pos/PO-404"); p.status != http.StatusNotFound || d < delay {
		t.Fatalf("alice /pos/PO-404 (under the prefix): %d after %s", p.status, d)
	}
	for _, c := range []struct {
		who  *browser
		path string
	}{{alice, "/invoices"}, {bob, "/pos"}, {alice, "/healthz"}, {alice, "/control/events"}} {
		if _, d := c.who.timedGet(c.path); d >= delay*7/10 {
			t.Errorf("%s took %s: the latency fault leaked out of its scope", c.path, d)
		}
	}

	fs := e.srv.Faults()
	if len(fs) != 1 || fs[0].ID != id || fs[0].Matched != 2 || fs[0].Applied != 2 {
		t.Fatalf("faults: %+v", fs)
	}
	evs := faultEvents(e.srv.Events())
	if len(evs) != 2 || evs[0].Kind != "fault_latency" || evs[0].Username != testUser || evs[0].Detail != "GET /pos (fault "+id+")" {
		t.Fatalf("fault events: %+v", evs)
	}
}

func TestFaultErrorBurstRecovers(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	e.login(b)
	e.inject(Fault{Kind: FaultError, Status: http.StatusServiceUnavailable, Count: 3})

	for i := 1; i <= 3; i++ {
		p := b.get("/pos")
		if p.status != http.StatusServiceUnavailable || p.text("h1") != "Service Unavailable" {
			t.Fatalf("request %d: %d %q, want the 503 page", i, p.status, p.text("h1"))
		}
	}
	if p := b.get("/pos"); p.status != http.StatusOK || p.text("h1") != "Purchase Orders" {
		t.Fatalf("after the burst: %d %q", p.status, p.text("h1"))
	}
	if fs := e.srv.Faults(); len(fs) != 0 {
		t.Fatalf("a used-up fault is still active: %+v", fs)
	}
	if n := e.srv.CountEvents("fault_error", ""); n != 3 {
		t.Fatalf("fault_error events: %d, want 3", n)
	}

	// Other 5xx statuses carry their own heading.
	e.inject(Fault{Kind: FaultError, Status: http.StatusBadGateway, Count: 1})
	if p := b.get("/invoices"); p.status != http.StatusBadGateway || p.text("h1") != "Bad Gateway" {
		t.Fatalf("502: %d %q", p.status, p.text("h1"))
	}
}

func TestFaultAfterSkipsTheFirstRequests(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	e.login(b)
	e.inject(Fault{Kind: FaultError, Path: "/pos", After: 2, Count: 1})

	var got []int
	for range 4 {
		got = append(got, b.get("/pos").status)
	}
	if want := []int{200, 200, 503, 200}; !slices.Equal(got, want) {
		t.Fatalf("statuses: %v, want %v (the 3rd page load fails)", got, want)
	}
}

func TestFaultMaintenance(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	e.login(b)
	e.inject(Fault{Kind: FaultMaintenance})

	resp, err := b.c.Get(e.ts.URL + "/pos")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "120" {
		t.Fatalf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if h1 := doc.Find("h1").Text(); h1 != "Scheduled maintenance" {
		t.Fatalf("h1 %q", h1)
	}
	if !strings.Contains(doc.Text(), "The portal is down for scheduled maintenance. Please try again later.") {
		t.Fatalf("page text %q", doc.Text())
	}
	// The login page is down too, but the control surface is not.
	if p := e.browser().get("/login"); p.status != http.StatusServiceUnavailable {
		t.Fatalf("/login: %d", p.status)
	}
	if code := e.apiJSON(http.MethodGet, "/control/faults", nil, nil); code != http.StatusOK {
		t.Fatalf("/control/faults: %d", code)
	}
	if !hasEvent(e.srv.Events(), "fault_maintenance", testUser) {
		t.Fatal("no fault_maintenance event for alice")
	}
}

func TestFaultOnTheSinglePageAppAPIAnswersJSON(t *testing.T) {
	e := newEnv(t, Config{Flavor: FlavorAriba})
	e.inject(Fault{Kind: FaultMaintenance, Path: "/api"})
	resp, err := http.Get(e.ts.URL + "/api/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "120" || body.Error != "Scheduled maintenance" {
		t.Fatalf("%d %q %+v", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestFaultHangEndsWhenTheClientGivesUp(t *testing.T) {
	e := newEnv(t, Config{})
	done := make(chan struct{}, 10)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.srv.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	t.Cleanup(e.srv.ClearFaults) // runs before the servers close
	e.inject(Fault{Kind: FaultHang, Path: "/login"})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/login", nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung request: %v, want the client's deadline", err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the handler still runs after the client went away")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}

	// Clearing the faults releases a hung request, which is then served.
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/login")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	for e.srv.CountEvents("fault_hang", "") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case code := <-got:
		t.Fatalf("answered %d while hanging", code)
	case <-time.After(100 * time.Millisecond):
	}
	e.srv.ClearFaults()
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Fatalf("released request: %d", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ClearFaults did not release the hung request")
	}

	// Deleting another fault leaves a hung request hanging; deleting its own fault releases it.
	other := e.inject(Fault{Kind: FaultLatency, MS: 1, Path: "/pos"})
	hang := e.inject(Fault{Kind: FaultHang, Path: "/login"})
	go func() {
		resp, err := http.Get(ts.URL + "/login")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	for e.srv.CountEvents("fault_hang", "") < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if code := e.apiJSON(http.MethodDelete, "/control/faults/"+other, nil, nil); code != http.StatusOK {
		t.Fatalf("delete %s: %d", other, code)
	}
	select {
	case code := <-got:
		t.Fatalf("answered %d after another fault was deleted", code)
	case <-time.After(100 * time.Millisecond):
	}
	if code := e.apiJSON(http.MethodDelete, "/control/faults/"+hang, nil, nil); code != http.StatusOK {
		t.Fatalf("delete %s: %d", hang, code)
	}
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Fatalf("released request: %d", code)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("deleting the hang fault did not release its request")
	}

	// With ms, the gateway gives up and answers 504.
	e.inject(Fault{Kind: FaultHang, MS: 100})
	resp, err := http.Get(ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("hang with ms: %d, want 504", resp.StatusCode)
	}
}

func TestFaultKillSessionSendsTheNextPageToLogin(t *testing.T) {
	e := newEnv(t, Config{})
	e.addSupplier("bob")
	alice, alice2, bob := e.browser(), e.browser(), e.browser()
	e.login(alice)
	e.login(alice2)
	e.loginAs(bob, "bob")

	var f Fault
	if code := e.apiJSON(http.MethodPost, "/control/faults", map[string]any{"kind": "kill_session", "account": testUser}, &f); code != http.StatusCreated {
		t.Fatalf("inject: %d", code)
	}
	if f.ID == "" || f.Applied != 2 {
		t.Fatalf("kill_session answer: %+v, want an id and 2 sessions", f)
	}
	for _, b := range []*browser{alice, alice2} {
		p := b.get("/invoices")
		if p.url.Path != "/login" || p.url.Query().Get("next") != "/invoices" {
			t.Fatalf("after kill_session alice is at %s", p.url)
		}
		if msg := p.text(`div.flash.info`); msg != msgSessionExpired {
			t.Fatalf("flash %q, want %q", msg, msgSessionExpired)
		}
	}
	if p := bob.get("/invoices"); p.url.Path != "/invoices" {
		t.Fatalf("bob lost his session too: %s", p.url)
	}
	if fs := e.srv.Faults(); len(fs) != 0 {
		t.Fatalf("kill_session is one-shot, yet active: %+v", fs)
	}
	evs := faultEvents(e.srv.Events())
	if len(evs) != 1 || evs[0].Kind != "fault_kill_session" || evs[0].Username != testUser || !strings.HasPrefix(evs[0].Detail, "expired 2 session(s)") {
		t.Fatalf("events: %+v", evs)
	}
	// A new login works.
	e.login(alice)
}

func TestFaultScopeByAccountAndMethod(t *testing.T) {
	e := newEnv(t, Config{})
	e.addSupplier("bob")
	alice, bob := e.browser(), e.browser()
	e.login(alice)
	e.loginAs(bob, "bob")

	e.inject(Fault{Kind: FaultError, Account: "bob"})
	if p := alice.get("/pos"); p.status != http.StatusOK {
		t.Fatalf("alice: %d", p.status)
	}
	if p := bob.get("/pos"); p.status != http.StatusServiceUnavailable {
		t.Fatalf("bob: %d", p.status)
	}
	if p := e.browser().get("/login"); p.status != http.StatusOK {
		t.Fatalf("anonymous /login: %d (no session: only unscoped faults apply)", p.status)
	}
	e.srv.ClearFaults()

	// Method scope; and a sign-in POST is matched by the user name it posts.
	e.inject(Fault{Kind: FaultError, Account: testUser, Method: "post", Path: "/login"})
	fs := e.srv.Faults()
	if fs[0].Method != "POST" {
		t.Fatalf("method not normalized: %+v", fs[0])
	}
	b := e.browser()
	if p := b.get("/login"); p.status != http.StatusOK {
		t.Fatalf("GET /login: %d", p.status)
	}
	if p := b.submitLogin(testUser, testPassword); p.status != http.StatusServiceUnavailable {
		t.Fatalf("alice's sign-in POST: %d", p.status)
	}
	if p := e.browser().submitLogin("bob", testPassword); p.url.Path != "/login/totp" {
		t.Fatalf("bob's sign-in: %d %s", p.status, p.url)
	}
	if !hasEvent(e.srv.Events(), "fault_error", testUser) || hasEvent(e.srv.Events(), "fault_error", "") {
		t.Fatalf("events: %+v", faultEvents(e.srv.Events()))
	}
}

func TestFaultControlAPI(t *testing.T) {
	e := newEnv(t, Config{})

	var f Fault
	if code := e.apiJSON(http.MethodPost, "/control/faults", map[string]any{"kind": "error", "count": 2, "path": "/pos"}, &f); code != http.StatusCreated {
		t.Fatalf("inject: %d", code)
	}
	if f.ID != "f1" || f.Status != 503 || f.Count != 2 || f.Path != "/pos" {
		t.Fatalf("injected: %+v", f)
	}
	var list []Fault
	if code := e.apiJSON(http.MethodGet, "/control/faults", nil, &list); code != http.StatusOK || len(list) != 1 || list[0].ID != "f1" {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := e.apiJSON(http.MethodDelete, "/control/faults/f1", nil, nil); code != http.StatusOK {
		t.Fatalf("delete: %d", code)
	}
	var er map[string]string
	if code := e.apiJSON(http.MethodDelete, "/control/faults/f1", nil, &er); code != http.StatusNotFound || !strings.Contains(er["error"], "f1") {
		t.Fatalf("delete again: %d %v", code, er)
	}
	for range 2 {
		e.apiJSON(http.MethodPost, "/control/faults", map[string]any{"kind": "latency", "ms": 1}, nil)
	}
	var cleared map[string]int
	if code := e.apiJSON(http.MethodDelete, "/control/faults", nil, &cleared); code != http.StatusOK || cleared["cleared"] != 2 {
		t.Fatalf("clear: %d %v", code, cleared)
	}
	if e.apiJSON(http.MethodGet, "/control/faults", nil, &list); len(list) != 0 {
		t.Fatalf("after clear: %+v", list)
	}

	for _, c := range []struct {
		body   any
		status int
		want   string
	}{
		{rawBody(`not json`), 400, "invalid JSON"},
		{rawBody(`{"kind":"latency","ms":100,"delay":1}`), 400, `unknown field "delay"`},
		{map[string]any{}, 400, "kind is required"},
		{map[string]any{"kind": "sleep"}, 400, `unknown kind "sleep"`},
		{map[string]any{"kind": "latency"}, 400, `latency needs "ms"`},
		{map[string]any{"kind": "latency", "ms": 10 * 60 * 1000}, 400, "ms must be between"},
		{map[string]any{"kind": "error", "status": 404}, 400, "not a known 5xx"},
		{map[string]any{"kind": "error", "ms": 5}, 400, `ms does not apply to kind "error"`},
		{map[string]any{"kind": "error", "count": -1}, 400, "must not be negative"},
		{map[string]any{"kind": "error", "path": "pos"}, 400, "must start with /"},
		{map[string]any{"kind": "error", "path": "/control/events"}, 400, "never faulted"},
		{map[string]any{"kind": "error", "path": "/static"}, 400, "never faulted"},
		{map[string]any{"kind": "error", "path": "/pos?page=2"}, 400, "without query"},
		{map[string]any{"kind": "error", "method": "get it"}, 400, "not an HTTP method"},
		{map[string]any{"kind": "error", "account": "nobody"}, 404, "unknown account"},
		{map[string]any{"kind": "maintenance", "status": 503}, 400, "status does not apply"},
		{map[string]any{"kind": "kill_session"}, 400, "needs an account"},
		{map[string]any{"kind": "kill_session", "account": testUser, "count": 1}, 400, "acts once"},
		{map[string]any{"kind": "drift"}, 400, `needs a "drift" object`},
		{map[string]any{"kind": "drift", "drift": map[string]any{}}, 400, "at least one of"},
		{map[string]any{"kind": "drift", "drift": map[string]any{"rename_label": map[string]any{"from": "Invoice #"}}}, 400, "non-empty from and to"},
		{map[string]any{"kind": "drift", "drift": map[string]any{"status_word": map[string]any{"from": "Paid", "to": " Paid "}}}, 400, "the same"},
		{map[string]any{"kind": "drift", "drift": map[string]any{"remove": map[string]any{"text": " "}}}, 400, "non-empty text"},
		{map[string]any{"kind": "drift", "drift": map[string]any{"cosmetic": true, "colour": "red"}}, 400, `unknown field "colour"`},
		{map[string]any{"kind": "latency", "ms": 5, "drift": map[string]any{"cosmetic": true}}, 400, "drift does not apply"},
	} {
		var got map[string]string
		code := e.apiJSON(http.MethodPost, "/control/faults", c.body, &got)
		if code != c.status || !strings.Contains(got["error"], c.want) {
			t.Errorf("%v: %d %q, want %d with %q", c.body, code, got["error"], c.status, c.want)
		}
	}
	if fs := e.srv.Faults(); len(fs) != 0 {
		t.Fatalf("a refused fault became active: %+v", fs)
	}
}

func TestFaultsNeverTouchControlBuyerHealthOrStatic(t *testing.T) {
	e := newEnv(t, Config{})
	e.inject(Fault{Kind: FaultError})
	e.inject(Fault{Kind: FaultDrift, Drift: &Drift{Cosmetic: true}})
	for _, path := range []string{"/control/events", "/control/faults", "/buyer", "/buyer/api/invoices", "/healthz", "/static/style.css", "/static/drift.js"} {
		resp, err := http.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte("data-drift=")) {
			t.Errorf("%s: %d (drift script: %v)", path, resp.StatusCode, bytes.Contains(body, []byte("data-drift=")))
		}
	}
	if p := e.browser().get("/login"); p.status != http.StatusServiceUnavailable {
		t.Fatalf("/login: %d, want the unscoped 503", p.status)
	}
	// The buyer can still work while suppliers see errors.
	if code := e.apiJSON(http.MethodGet, "/buyer/api/invoices", nil, nil); code != http.StatusOK {
		t.Fatalf("buyer API: %d", code)
	}
}

func TestDriftAddsItsScriptToHTMLPagesOnly(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	e.addSupplier("bob")
	alice, bob := e.browser(), e.browser()
	e.login(alice)
	e.loginAs(bob, "bob")
	alice.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	id := e.inject(Fault{Kind: FaultDrift, Account: testUser, Count: 2,
		Drift: &Drift{Cosmetic: true, RenameLabel: &TextChange{From: " Invoice  #", To: "Supplier Invoice Number"}}})

	get := func(b *browser, path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := b.c.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	const tag = `<script src="/static/drift.js" data-drift="`
	// Another account: no script.
	if _, body := get(bob, "/pos"); bytes.Contains(body, []byte(tag)) {
		t.Fatal("bob's page got alice's drift")
	}
	// A redirect is not a page and does not count; JSON neither.
	if resp, body := get(alice, "/"); resp.StatusCode != http.StatusSeeOther || bytes.Contains(body, []byte(tag)) {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	resp, body := get(alice, "/pos/PO-1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/pos/PO-1: %d", resp.StatusCode)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	i := bytes.Index(body, []byte(tag))
	if i < 0 || !bytes.HasPrefix(bytes.TrimSpace(body[bytes.Index(body[i:], []byte("</script>"))+i+len("</script>"):]), []byte("</body>")) {
		t.Fatalf("the drift script is not right before </body>:\n%s", body)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var cfg driftScriptConfig
	if err := json.Unmarshal([]byte(doc.Find("script[data-drift]").AttrOr("data-drift", "")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Seed != id || !cfg.Cosmetic || len(cfg.Rename) != 1 || cfg.Rename[0] != (TextChange{From: "Invoice #", To: "Supplier Invoice Number"}) {
		t.Fatalf("config %+v", cfg)
	}
	if _, body := get(alice, "/pos"); !bytes.Contains(body, []byte(tag)) {
		t.Fatal("second page: no script")
	}
	if _, body := get(alice, "/pos"); bytes.Contains(body, []byte(tag)) {
		t.Fatal("third page: count 2 is used up, yet drifted")
	}
	if n := e.srv.CountEvents("fault_drift", ""); n != 2 {
		t.Fatalf("fault_drift events: %d", n)
	}
}

func TestInjectDriftScript(t *testing.T) {
	tag := []byte(`<script></script>`)
	for in, want := range map[string]string{
		"<html><body><p>x</p></body></html>":    "<html><body><p>x</p><script></script>\n</body></html>",
		"<HTML><BODY>x</BODY></HTML>":           "<HTML><BODY>x<script></script>\n</BODY></HTML>",
		"<p>no body</p></html>":                 "<p>no body</p><script></script>\n</html>",
		"<p>fragment</p>":                       "<p>fragment</p><script></script>\n",
		"<body><pre>&lt;/body&gt;</pre></body>": "<body><pre>&lt;/body&gt;</pre><script></script>\n</body>",
	} {
		if got := string(injectDriftScript([]byte(in), tag)); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// ---- drift in real Chromium -------------------------------------------------

// chromeTab is one tab of a Chromium started for one test.
type chromeTab struct {
	t   *testing.T
	ctx context.Context
}

func newChromeTab(t *testing.T) *chromeTab {
	t.Helper()
	if _, err := os.Stat(chromium.DefaultExecPath); err != nil {
		t.Skipf("no Chromium at %s", chromium.DefaultExecPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b, err := chromium.Start(ctx, chromium.Options{ExecPath: chromium.DefaultExecPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tab, closeTab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeTab)
	return &chromeTab{t: t, ctx: tab}
}

func (c *chromeTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

func evalIn[T any](c *chromeTab, js string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition, across page loads, for up to 15 s.
func (c *chromeTab) waitFor(what, cond string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	js := `document.readyState === 'complete' && !!(` + cond + `)`
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
	c.t.Fatalf("waiting for %s (%s): timed out at %s", what, cond, loc)
}

// clickText clicks, with a JavaScript click, the button or link whose text is text.
func (c *chromeTab) clickText(text string) {
	c.t.Helper()
	q, _ := json.Marshal(text)
	js := `(() => {
		const el = [...document.querySelectorAll('button, a, input[type=submit]')]
			.find(b => (b.tagName === 'INPUT' ? b.value : b.textContent).replace(/\s+/g, ' ').trim() === ` + string(q) + `);
		if (!el) return false;
		el.click();
		return true;
	})()`
	if !evalIn[bool](c, js) {
		c.t.Fatalf("no button or link %q on %s", text, evalIn[string](c, `location.href`))
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// chromeLoginCoupa signs alice in through the Coupa pages, finding fields by name and buttons by text.
func chromeLoginCoupa(e *env, c *chromeTab) {
	e.t.Helper()
	c.do("open the login page", chromedp.Navigate(e.ts.URL+"/login"))
	c.do("password step",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), testUser),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword))
	c.clickText("Sign in")
	c.waitFor("the code page", `location.pathname === '/login/totp'`)
	c.do("code step", chromedp.SendKeys(chromedp.CSS(`input[name=code]`), e.code()))
	c.clickText("Verify")
	c.waitFor("the PO list", `location.pathname === '/pos'`)
	e.clock.Advance(30 * time.Second)
}

// pageTexts is every non-empty text of the body, white space collapsed, sorted.
func pageTexts(doc *goquery.Document) []string {
	var out []string
	var walk func(*goquery.Selection)
	walk = func(s *goquery.Selection) {
		s.Contents().Each(func(_ int, n *goquery.Selection) {
			switch {
			case goquery.NodeName(n) == "#text":
				if t := normalizeText(n.Text()); t != "" {
					out = append(out, t)
				}
			case goquery.NodeName(n) != "script" && goquery.NodeName(n) != "style":
				walk(n)
			}
		})
	}
	walk(doc.Find("body"))
	slices.Sort(out)
	return out
}

const browserPageTextsJS = `(() => {
	const out = [];
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	while (w.nextNode()) {
		const n = w.currentNode;
		if (n.parentElement.closest('script, style')) continue;
		const t = n.data.replace(/\s+/g, ' ').trim();
		if (t) out.push(t);
	}
	return out.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
})()`

// formView is what the tests read of the invoice form in Chromium.
type formView struct {
	NumberID      string   `json:"numberId"`
	FieldLabels   []string `json:"fieldLabels"`
	FirstButtons  []string `json:"firstButtons"`
	ButtonsOnTop  bool     `json:"buttonsOnTop"`
	Wrapped       bool     `json:"wrapped"`
	ButtonWrapped bool     `json:"buttonWrapped"`
	LabelsWork    bool     `json:"labelsWork"`
	NumberLabel   string   `json:"numberLabel"`
	RefsResolve   bool     `json:"refsResolve"`
	Headers       []string `json:"headers"`
	QtyHeader     string   `json:"qtyHeader"`
	Names         []string `json:"names"`
	Texts         []string `json:"texts"`
	OldIDs        []string `json:"oldIds"`
	OldClasses    []string `json:"oldClasses"`
	NumberValue   string   `json:"numberValue"`
	Hidden        bool     `json:"hidden"`
}

func readFormView(c *chromeTab, ids, classes []string) formView {
	c.t.Helper()
	idsJSON, _ := json.Marshal(ids)
	classesJSON, _ := json.Marshal(classes)
	return evalIn[formView](c, `(() => {
		const num = document.querySelector('input[name=invoice_number]');
		const form = num.form;
		const text = el => el.textContent.replace(/\s+/g, ' ').trim();
		const controls = [...form.querySelectorAll('input:not([type=hidden]), select, textarea')];
		const fields = controls.filter(c => !c.closest('table'));
		const buttons = [...form.querySelectorAll('button')];
		const lines = [...form.querySelectorAll('table')].find(t => t.querySelector('input[name=qty_1]'));
		const qtyCell = lines.querySelector('input[name=qty_1]').closest('td');
		const headers = [...lines.tHead.rows[0].cells].map(text);
		const numLabel = [...document.querySelectorAll('label')].find(l => l.control === num);
		const refs = [...document.querySelectorAll('[aria-describedby], [aria-labelledby], label[for]')];
		return {
			numberId: num.id,
			fieldLabels: fields.map(c => c.labels.length ? text(c.labels[0]) : '(unlabelled ' + c.name + ')'),
			firstButtons: buttons.slice(0, 2).map(text),
			buttonsOnTop: buttons.length > 0 && fields.every(f => buttons[0].compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING)
				&& form.firstElementChild.contains(buttons[0]),
			wrapped: num.parentElement.tagName === 'DIV' && num.parentElement.parentElement.tagName === 'DIV'
				&& num.parentElement.contains(numLabel),
			buttonWrapped: buttons.every(b => b.parentElement.tagName === 'DIV' && b.parentElement.parentElement.tagName === 'DIV'),
			labelsWork: [...document.querySelectorAll('label[for]')].every(l => l.control !== null),
			numberLabel: numLabel ? text(numLabel) : '',
			refsResolve: refs.every(el => ['aria-describedby', 'aria-labelledby', 'for'].every(a =>
				!el.hasAttribute(a) || el.getAttribute(a).split(/\s+/).every(id => document.getElementById(id) !== null))),
			headers,
			qtyHeader: headers[[...qtyCell.parentElement.cells].indexOf(qtyCell)],
			names: [...document.querySelectorAll('[name]')].map(el => el.getAttribute('name')).sort(),
			texts: `+browserPageTextsJS+`,
			oldIds: `+string(idsJSON)+`.filter(id => document.getElementById(id) !== null),
			oldClasses: `+string(classesJSON)+`.filter(c => document.getElementsByClassName(c).length > 0),
			numberValue: num.value,
			hidden: getComputedStyle(lines.querySelector('input[name=qty_1]').labels[0]).position === 'absolute',
		};
	})()`)
}

// TestDriftCosmeticInChromium loads the invoice form with a cosmetic drift
// and checks what a browser sees, then saves a draft through the drifted form.
func TestDriftCosmeticInChromium(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	c := newChromeTab(t)
	id := e.inject(Fault{Kind: FaultDrift, Account: testUser, Drift: &Drift{Cosmetic: true}})

	// The page as the server renders it, for comparison.
	hb := e.browser()
	e.login(hb)
	orig := hb.get("/pos/PO-1/invoices/new").doc
	form := orig.Find("form#invoice-form")
	var ids, classes, fieldLabels, headers, names []string
	orig.Find("[id]").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("id", "")) })
	orig.Find("[class]").Each(func(_ int, s *goquery.Selection) {
		for _, c := range strings.Fields(s.AttrOr("class", "")) {
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
	})
	form.Find("input:not([type=hidden]), select, textarea").Each(func(_ int, s *goquery.Selection) {
		if s.Closest("table").Length() == 0 {
			fieldLabels = append(fieldLabels, normalizeText(orig.Find(`label[for="`+s.AttrOr("id", "")+`"]`).Text()))
		}
	})
	form.Find("input[name=qty_1]").Closest("table").Find("thead th").Each(func(_ int, s *goquery.Selection) {
		headers = append(headers, normalizeText(s.Text()))
	})
	orig.Find("[name]").Each(func(_ int, s *goquery.Selection) { names = append(names, s.AttrOr("name", "")) })
	slices.Sort(names)
	if len(fieldLabels) < 5 || len(headers) < 5 || !slices.Contains(headers, "Quantity") {
		t.Fatalf("unexpected invoice form: fields %q, headers %q", fieldLabels, headers)
	}

	chromeLoginCoupa(e, c)
	// The sign-in pages after the password step belong to alice and were drifted too.
	c.do("open the invoice form", chromedp.Navigate(e.ts.URL+"/pos/PO-1/invoices/new"))
	v := readFormView(c, ids, classes)

	if v.NumberID == "" || v.NumberID == "invoice-number" {
		t.Errorf("invoice number id %q: not changed", v.NumberID)
	}
	if len(v.OldIDs) != 0 {
		t.Errorf("ids still present: %q", v.OldIDs)
	}
	if len(v.OldClasses) != 0 {
		t.Errorf("class names still present: %q", v.OldClasses)
	}
	if !v.LabelsWork || v.NumberLabel != "Invoice #" || !v.RefsResolve {
		t.Errorf("labels: all work %v, invoice number label %q, aria references resolve %v", v.LabelsWork, v.NumberLabel, v.RefsResolve)
	}
	if !v.Wrapped || !v.ButtonWrapped {
		t.Errorf("wrappers: field %v, buttons %v", v.Wrapped, v.ButtonWrapped)
	}
	want := slices.Clone(fieldLabels)
	slices.Reverse(want)
	if !slices.Equal(v.FieldLabels, want) {
		t.Errorf("field order %q, want the reverse of %q", v.FieldLabels, fieldLabels)
	}
	if !v.ButtonsOnTop || !slices.Equal(v.FirstButtons, []string{"Save as Draft", "Calculate"}) {
		t.Errorf("buttons: on top %v, first %q", v.ButtonsOnTop, v.FirstButtons)
	}
	wantHeaders := slices.Clone(headers)
	slices.Reverse(wantHeaders)
	if !slices.Equal(v.Headers, wantHeaders) || v.QtyHeader != "Quantity" {
		t.Errorf("line table headers %q (quantity input under %q), want %q", v.Headers, v.QtyHeader, wantHeaders)
	}
	if !slices.Equal(v.Names, names) {
		t.Errorf("names %q, want %q", v.Names, names)
	}
	if texts := pageTexts(orig); !slices.Equal(v.Texts, texts) {
		t.Errorf("visible texts changed:\n got %q\nwant %q", v.Texts, texts)
	}
	if !v.Hidden {
		t.Error("the style sheet no longer hides the visually hidden line labels")
	}

	// Nothing moves any more: a later change of the page leaves the drifted layout as it is.
	before := evalIn[string](c, `document.body.innerHTML`)
	evalIn[bool](c, `(() => { const d = document.createElement('div'); document.body.appendChild(d); d.remove(); return true; })()`)
	time.Sleep(100 * time.Millisecond)
	if after := evalIn[string](c, `document.body.innerHTML`); after != before {
		t.Error("the page changed again after an unrelated DOM change")
	}

	// The drifted form still posts and saves a draft.
	pdfPath := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(pdfPath, pdf.content, 0o600); err != nil {
		t.Fatal(err)
	}
	c.do("fill in the form",
		chromedp.SendKeys(chromedp.CSS(`input[name=invoice_number]`), "INV-DRIFT-1"),
		chromedp.SetValue(chromedp.CSS(`input[name=invoice_date]`), "2025-03-10"),
		chromedp.SetValue(chromedp.CSS(`input[name=qty_1]`), "4"),
		chromedp.SetValue(chromedp.CSS(`input[name=qty_2]`), "0"),
		chromedp.SetValue(chromedp.CSS(`input[name=tax_rate]`), "10"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=note]`), "Drifted"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=attachment]`), []string{pdfPath}))
	c.clickText("Save as Draft")
	c.waitFor("the saved draft", `location.pathname.startsWith('/invoices/INV-')`)
	if h1 := evalIn[string](c, `document.querySelector('h1').textContent`); h1 != "Invoice INV-DRIFT-1" {
		t.Fatalf("after saving: h1 %q\n%s", h1, evalIn[string](c, `document.body.innerText`))
	}
	invs := e.srv.Invoices(testUser)
	if len(invs) != 1 || invs[0].Number != "INV-DRIFT-1" || invs[0].Status != StatusDraft || invs[0].Note != "Drifted" ||
		invs[0].AttachmentName != "invoice.pdf" || len(invs[0].Lines) != 1 || !invs[0].Lines[0].Quantity.Equal(decimal.NewFromInt(4)) {
		t.Fatalf("stored invoices: %+v", invs)
	}
	// Every page of alice's was drifted, the sign-in code page included.
	var detail []string
	for _, ev := range e.srv.Events() {
		if ev.Kind == "fault_drift" {
			detail = append(detail, strings.TrimSuffix(ev.Detail, " (fault "+id+")"))
		}
	}
	for _, want := range []string{"GET /login/totp", "GET /pos", "GET /pos/PO-1/invoices/new"} {
		if !slices.Contains(detail, want) {
			t.Errorf("no fault_drift event for %s in %q", want, detail)
		}
	}
}

// TestDriftTextsInChromium renames a label, replaces a status word and
// removes an action, with two drift faults on the same pages.
func TestDriftTextsInChromium(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	hb := e.browser()
	e.login(hb)
	draft := e.createDraft(hb, "PO-1", "INV-T1", nil)
	id := draft.doc.Find("[data-invoice-id]").AttrOr("data-invoice-id", "")
	if p := hb.post("/invoices/"+id+"/submit", url.Values{"csrf_token": {draft.csrf()}}); p.text("#invoice-status") != "Pending Approval" {
		t.Fatalf("submit: %d %q", p.status, p.text("#invoice-status"))
	}

	c := newChromeTab(t)
	e.inject(Fault{Kind: FaultDrift, Account: testUser, Drift: &Drift{
		RenameLabel: &TextChange{From: "Invoice #", To: "Supplier Invoice Number"},
		StatusWord:  &TextChange{From: "Pending Approval", To: "Awaiting Approval"},
	}})
	e.inject(Fault{Kind: FaultDrift, Account: testUser, Path: "/pos", Drift: &Drift{Remove: &RemoveAction{Text: "Save as Draft"}}})
	chromeLoginCoupa(e, c)

	c.do("open the invoice list", chromedp.Navigate(e.ts.URL+"/invoices"))
	type listView struct {
		Headers []string `json:"headers"`
		Badge   string   `json:"badge"`
		Search  string   `json:"search"`
		Text    string   `json:"text"`
	}
	lv := evalIn[listView](c, `({
		headers: [...document.querySelectorAll('#invoice-table th')].map(th => th.textContent),
		badge: document.querySelector('#invoice-table .badge').textContent,
		search: document.querySelector('label[for=invoice-search]').textContent,
		text: document.body.innerText,
	})`)
	if lv.Headers[0] != "Supplier Invoice Number" || slices.Contains(lv.Headers, "Invoice #") || lv.Search != "Supplier Invoice Number" {
		t.Errorf("headers %q, search label %q", lv.Headers, lv.Search)
	}
	if lv.Badge != "Awaiting Approval" || strings.Contains(lv.Text, "Pending Approval") {
		t.Errorf("badge %q; page:\n%s", lv.Badge, lv.Text)
	}
	if !strings.Contains(lv.Text, "INV-T1") {
		t.Errorf("data texts must stay: %s", lv.Text)
	}

	c.do("open the invoice", chromedp.Navigate(e.ts.URL+"/invoices/"+id))
	if got := evalIn[string](c, `document.getElementById('invoice-status').textContent`); got != "Awaiting Approval" {
		t.Errorf("detail status %q", got)
	}

	c.do("open the invoice form", chromedp.Navigate(e.ts.URL+"/pos/PO-1/invoices/new"))
	type formTexts struct {
		Label    string   `json:"label"`
		Control  string   `json:"control"`
		Buttons  []string `json:"buttons"`
		SameID   bool     `json:"sameId"`
		Wrappers bool     `json:"wrappers"`
	}
	ft := evalIn[formTexts](c, `(() => {
		const num = document.querySelector('input[name=invoice_number]');
		return {
			label: num.labels[0].textContent,
			control: num.labels[0].control.name,
			buttons: [...num.form.querySelectorAll('button')].map(b => b.textContent),
			sameId: num.id === 'invoice-number',
			wrappers: num.parentElement === num.form,
		};
	})()`)
	if ft.Label != "Supplier Invoice Number" || ft.Control != "invoice_number" {
		t.Errorf("invoice number label %q for %q", ft.Label, ft.Control)
	}
	if slices.Contains(ft.Buttons, "Save as Draft") || !slices.Contains(ft.Buttons, "Calculate") {
		t.Errorf("buttons %q: Save as Draft must be gone, Calculate stay", ft.Buttons)
	}
	if !ft.SameID || !ft.Wrappers {
		t.Errorf("without cosmetic the layout must stay: same id %v, no wrappers %v", ft.SameID, ft.Wrappers)
	}
}

// spaPage is a small app that renders with JavaScript: the first render
// happens before drift.js runs, then it re-renders every 30 ms, twenty times.
// Its own code finds elements by their old ids and classes. With hostile set,
// it also re-renders whenever its form loses its id, which fights drift.js.
func spaPage(hostile bool) string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>SPA</title>
<style>.hidden { display: none; } .toast { color: green; } .field label { font-weight: bold; }</style>
</head><body>
<div id="app"></div>
<script>
window.renders = 0;
function render() {
  var app = document.getElementById('app');
  app.innerHTML = '<form id="f1" class="form"><div class="field"><label for="amount">Amount</label><input id="amount" name="amount"></div>' +
    '<div class="field"><label for="note">Note</label><input id="note" name="note"></div>' +
    '<div class="actions"><button type="button" id="save" class="primary">Save</button></div></form>' +
    '<table id="grid"><thead><tr><th>A</th><th>B</th><th>C</th></tr></thead><tbody><tr><td>1</td><td>2</td><td>3</td></tr></tbody></table>' +
    '<div id="toast" class="toast hidden" role="status"></div>';
  window.renders++;
}
document.addEventListener('click', function (e) {
  if (e.target.id !== 'save') return;
  var t = document.getElementById('toast');
  t.textContent = 'Saved ' + document.getElementById('amount').value + ' ' + document.querySelectorAll('#f1 .field').length;
  t.classList.remove('hidden');
});
render();
var iv = setInterval(function () { render(); if (window.renders >= 20) clearInterval(iv); }, 30);
` + map[bool]string{true: `
new MutationObserver(function () {
  var f = document.querySelector('#app > form, #app > div > form, #app form');
  if (f && f.getAttribute('id') !== 'f1') render();
}).observe(document.documentElement, { subtree: true, childList: true, attributes: true });
`}[hostile] + `</script>
</body></html>`
}

// TestDriftOnARenderingAppInChromium checks that drift.js follows an app's
// re-renders without looping, keeps the app's own code working, and stays
// responsive when the app fights back.
func TestDriftOnARenderingAppInChromium(t *testing.T) {
	e := newEnv(t, Config{})
	c := newChromeTab(t)
	tag := driftScriptTag(driftScriptConfig{Seed: "t1", Cosmetic: true})
	mux := http.NewServeMux()
	mux.Handle("/static/", e.srv)
	for _, hostile := range []bool{false, true} {
		body := injectDriftScript([]byte(spaPage(hostile)), tag)
		mux.HandleFunc(fmt.Sprintf("/spa/%v", hostile), func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(body)
		})
	}
	ts := newTestServer(t, mux)

	c.do("open the app", chromedp.Navigate(ts.URL+"/spa/false"))
	c.waitFor("twenty renders", `window.renders >= 20`)
	// Quiet once the app is: no change at all for half a second.
	mutations, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](`new Promise(resolve => {
		let n = 0;
		const mo = new MutationObserver(rs => { n += rs.length; });
		mo.observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
		setTimeout(() => { mo.disconnect(); resolve(n); }, 500);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if mutations != 0 {
		t.Fatalf("%d DOM changes after the app stopped rendering: drift.js loops", mutations)
	}
	type appView struct {
		Renders     int      `json:"renders"`
		OldIDs      bool     `json:"oldIds"`
		AmountLabel string   `json:"amountLabel"`
		Order       []string `json:"order"`
		ButtonFirst bool     `json:"buttonFirst"`
		Headers     []string `json:"headers"`
		Cells       []string `json:"cells"`
		ToastHidden bool     `json:"toastHidden"`
	}
	v := evalIn[appView](c, `(() => {
		const form = document.querySelector('input[name=amount]').form;
		return {
			renders: window.renders,
			oldIds: ['app', 'f1', 'amount', 'save', 'toast', 'grid'].some(id => document.getElementById(id)),
			amountLabel: document.querySelector('input[name=amount]').labels[0].textContent,
			order: [...form.querySelectorAll('input')].map(i => i.name),
			buttonFirst: form.firstElementChild.contains(form.querySelector('button')),
			headers: [...document.querySelectorAll('th')].map(th => th.textContent),
			cells: [...document.querySelectorAll('td')].map(td => td.textContent),
			toastHidden: getComputedStyle(document.querySelector('[role=status]')).display === 'none',
		};
	})()`)
	if v.OldIDs || v.AmountLabel != "Amount" || !slices.Equal(v.Order, []string{"note", "amount"}) || !v.ButtonFirst {
		t.Errorf("app form not drifted: %+v", v)
	}
	if !slices.Equal(v.Headers, []string{"C", "B", "A"}) || !slices.Equal(v.Cells, []string{"3", "2", "1"}) {
		t.Errorf("table: %q / %q", v.Headers, v.Cells)
	}
	if !v.ToastHidden {
		t.Error("the toast, hidden by its class, shows")
	}
	// The app's own code still finds its elements by the old names.
	c.do("type an amount", chromedp.SendKeys(chromedp.CSS(`input[name=amount]`), "42"))
	c.do("save", chromedp.Click(chromedp.CSS(`button[type=button]`)))
	c.waitFor("the toast", `getComputedStyle(document.querySelector('[role=status]')).display !== 'none'`)
	if got := evalIn[string](c, `document.querySelector('[role=status]').textContent`); got != "Saved 42 2" {
		t.Errorf("toast %q", got)
	}

	// An app that re-renders whenever drift.js renames its form must not freeze the tab.
	navCtx, cancelNav := context.WithTimeout(c.ctx, 15*time.Second)
	err = chromedp.Do(navCtx, chromedp.Navigate(ts.URL+"/spa/true"))
	cancelNav()
	if err != nil {
		t.Fatalf("the hostile app does not load: %v", err)
	}
	start := time.Now()
	for range 5 {
		ctx, cancel := context.WithTimeout(c.ctx, 3*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1 + 1`))
		cancel()
		if err != nil {
			t.Fatalf("the tab does not answer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	renders := evalIn[int](c, `window.renders`)
	if perSecond := float64(renders) / time.Since(start).Seconds(); perSecond > 400 {
		t.Errorf("%d renders in %s: the fight is not throttled", renders, time.Since(start))
	}
	t.Logf("hostile app: %d renders in %s", renders, time.Since(start).Round(time.Millisecond))
}

// TestDriftOnTheAribaAppInChromium walks the single-page app through sign-in
// and the invoice wizard under a cosmetic drift and a renamed label, finding
// fields by name and buttons by text: the app's own code must keep working.
func TestDriftOnTheAribaAppInChromium(t *testing.T) {
	e := newEnv(t, Config{Flavor: FlavorAriba})
	e.seedPO("PO-1", POOpen)
	c := newChromeTab(t)
	e.inject(Fault{Kind: FaultDrift, Path: "/app", Drift: &Drift{
		Cosmetic:    true,
		RenameLabel: &TextChange{From: "Invoice No.", To: "Supplier Invoice Number"},
	}})
	pdfPath := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(pdfPath, pdf.content, 0o600); err != nil {
		t.Fatal(err)
	}
	ready := func(cond string) string {
		return `document.querySelector('main').getAttribute('aria-busy') === 'false' && (` + cond + `)`
	}
	heading := func(text string) string {
		return ready(`(document.querySelector('main h1') || {}).textContent === ` + jsString(text))
	}
	step := func(n int) string {
		return ready(fmt.Sprintf(`[...document.querySelectorAll('main p')].some(p => p.textContent === 'Step %d of 4')`, n))
	}
	clickVisible := func(text string) {
		t.Helper()
		if !evalIn[bool](c, `(() => {
			const b = [...document.querySelectorAll('main button')].find(b => b.offsetParent !== null && b.textContent === `+jsString(text)+`);
			if (b) b.click();
			return !!b;
		})()`) {
			t.Fatalf("no visible button %q", text)
		}
	}

	c.do("open the order", chromedp.Navigate(e.ts.URL+"/app/orders/PO-1"))
	c.waitFor("the sign-in view", heading("Supplier sign in"))
	type signIn struct {
		OldMain    bool     `json:"oldMain"`
		Fields     []string `json:"fields"`
		ButtonsTop bool     `json:"buttonsTop"`
		Label      string   `json:"label"`
	}
	si := evalIn[signIn](c, `(() => {
		const form = document.querySelector('input[name=loginId]').form;
		return {
			oldMain: !!document.getElementById('sn-main') || !!document.getElementById('sn-login-id'),
			fields: [...form.querySelectorAll('input')].map(i => i.name),
			buttonsTop: form.firstElementChild.contains(form.querySelector('button[type=submit]')),
			label: form.loginId.labels[0].textContent,
		};
	})()`)
	if si.OldMain || !slices.Equal(si.Fields, []string{"secret", "loginId"}) || !si.ButtonsTop || si.Label != "Email or user ID" {
		t.Fatalf("sign-in view not drifted as expected: %+v", si)
	}
	c.do("password step",
		chromedp.SendKeys(chromedp.CSS(`input[name=loginId]`), testUser),
		chromedp.SendKeys(chromedp.CSS(`input[name=secret]`), testPassword),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	c.waitFor("the code view", heading("Verify your identity"))
	c.do("code step",
		chromedp.SendKeys(chromedp.CSS(`input[name=otp]`), e.code()),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	c.waitFor("the order", heading("Order PO-1"))
	headers := evalIn[[]string](c, `[...document.querySelectorAll('table[aria-label="Order lines"] th')].map(th => th.textContent)`)
	if len(headers) < 3 || headers[len(headers)-1] != "No." {
		t.Errorf("order lines headers %q: not reversed", headers)
	}

	c.clickText("Create Invoice")
	c.waitFor("the wizard", step(1))
	if got := evalIn[string](c, `document.querySelector('input[name=invoiceNo]').labels[0].textContent`); got != "Supplier Invoice Number" {
		t.Errorf("invoice number label %q", got)
	}
	c.do("header",
		chromedp.SendKeys(chromedp.CSS(`input[name=invoiceNo]`), "INV-D1"),
		chromedp.SetValue(chromedp.CSS(`input[name=invoiceDate]`), "2025-03-10"))
	clickVisible("Next")
	c.waitFor("step 2", step(2))
	c.do("lines",
		chromedp.SetValue(chromedp.CSS(`input[name="qty.1"]`), "4"),
		chromedp.Click(chromedp.CSS(`input[name="remove.2"]`)))
	// The app marks the removed row with its class, by its old name; drift renames it.
	if got := evalIn[string](c, `document.querySelector('tr[data-line="2"]').className`); got == "" || strings.Contains(got, "sn-") {
		t.Errorf("removed row class %q", got)
	}
	clickVisible("Next")
	c.waitFor("step 3", step(3))
	c.do("tax and attachment",
		chromedp.SetValue(chromedp.CSS(`input[name=taxPercent]`), "10"),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=comments]`), "Drifted"),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=document]`), []string{pdfPath}))
	clickVisible("Next")
	c.waitFor("the review", step(4)+` && document.querySelector('main').innerText.includes('55.00 EUR')`)
	clickVisible("Save")
	c.waitFor("the saved invoice", heading("Invoice INV-D1")+
		` && [...document.querySelectorAll('[role=status]')].some(el => el.textContent === 'Invoice INV-D1 saved as draft.')`)

	invs := e.srv.Invoices(testUser)
	if len(invs) != 1 || invs[0].Number != "INV-D1" || invs[0].Note != "Drifted" || invs[0].AttachmentName != "invoice.pdf" ||
		len(invs[0].Lines) != 1 || !invs[0].Lines[0].Quantity.Equal(decimal.NewFromInt(4)) {
		t.Fatalf("stored invoices: %+v", invs)
	}
}
