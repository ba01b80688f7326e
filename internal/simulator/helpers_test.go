package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"
	"github.com/shopspring/decimal"
)

const (
	testUser     = "alice"
	testPassword = "correct horse"
	testSecret   = "JBSWY3DPEHPK3PXP"
	testSupplier = "Widgets Ltd"
)

// fakeClock is a Config.Now that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running portal with one supplier account.
type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	// Mid-step start so that a test's few seconds never cross a TOTP step.
	clock := &fakeClock{t: time.Date(2025, 3, 14, 10, 0, 5, 0, time.UTC)}
	cfg.Now = clock.Now
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.AddAccount(Account{Username: testUser, Password: testPassword, TOTPSecret: testSecret, Supplier: testSupplier}); err != nil {
		t.Fatalf("AddAccount: %v", err)
	}
	return &env{t: t, srv: srv, ts: newTestServer(t, srv), clock: clock}
}

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func totpCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

func (e *env) code() string {
	e.t.Helper()
	c, err := totpCode(testSecret, e.clock.Now())
	if err != nil {
		e.t.Fatalf("generate code: %v", err)
	}
	return c
}

// seedPO gives alice a PO with two lines: 10 x 12.50 and 4 x 20.00 (total 205.00).
func (e *env) seedPO(number string, status POStatus) PO {
	e.t.Helper()
	po := PO{
		Number: number, BuyerEntity: "Acme Manufacturing GmbH", OrderDate: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
		Currency: "EUR", PaymentTerms: "Net 30", Status: status,
		Lines: []POLine{
			{LineNo: 1, PartNumber: "BOLT-M8", Description: "Hex bolt M8", Quantity: decimal.NewFromInt(10), UOM: "EA", UnitPrice: decimal.RequireFromString("12.50")},
			{LineNo: 2, PartNumber: "NUT-M8", Description: "Hex nut M8", Quantity: decimal.NewFromInt(4), UOM: "EA", UnitPrice: decimal.RequireFromString("20.00")},
		},
	}
	if err := e.srv.AddPurchaseOrders(testUser, []PO{po}); err != nil {
		e.t.Fatalf("AddPurchaseOrders: %v", err)
	}
	return po
}

// browser is a cookie-keeping client that follows redirects like a browser.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: e.ts.URL}
}

// page is a fetched HTML page.
type page struct {
	status int
	url    *url.URL // after redirects
	doc    *goquery.Document
}

func (p page) text(sel string) string {
	return strings.TrimSpace(p.doc.Find(sel).Text())
}

func (p page) has(sel string) bool { return p.doc.Find(sel).Length() > 0 }

func (p page) csrf() string {
	v, _ := p.doc.Find(`input[name=csrf_token]`).First().Attr("value")
	return v
}

func (p page) flashError() string { return p.text(`div.flash.error[role=alert]`) }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.t.Fatalf("parse %s: %v", req.URL, err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL, doc: doc}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

type upload struct {
	name    string
	content []byte
}

func (b *browser) postMultipart(path string, fields url.Values, file *upload) page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("attachment", file.name)
		if err != nil {
			b.t.Fatal(err)
		}
		if _, err := fw.Write(file.content); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		b.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, b.base+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// submitLogin fills in the password form and returns the page after it.
func (b *browser) submitLogin(user, password string) page {
	b.t.Helper()
	login := b.get("/login")
	return b.post("/login", url.Values{
		"csrf_token": {login.csrf()}, "username": {user}, "password": {password},
		"next": {login.doc.Find(`input[name=next]`).AttrOr("value", "")},
	})
}

// submitCode fills in the verification code form shown on p.
func (b *browser) submitCode(p page, code string) page {
	b.t.Helper()
	if p.url.Path != "/login/totp" {
		b.t.Fatalf("expected the verification page, got %s", p.url)
	}
	return b.post("/login/totp", url.Values{"csrf_token": {p.csrf()}, "code": {code}})
}

// login signs alice in fully and returns the landing page.
func (e *env) login(b *browser) page {
	e.t.Helper()
	p := b.submitCode(b.submitLogin(testUser, testPassword), e.code())
	if p.url.Path != "/pos" {
		e.t.Fatalf("login landed on %s (%d): %s", p.url, p.status, p.flashError())
	}
	// Each login uses up the current step; move on so the next login in the
	// same test gets a fresh code.
	e.clock.Advance(30 * time.Second)
	return p
}

// invoiceFields is a valid invoice form for PO lines 1 and 2.
func invoiceFields(csrf, number string) url.Values {
	return url.Values{
		"csrf_token": {csrf}, "invoice_number": {number}, "invoice_date": {"2025-03-10"},
		"qty_1": {"4"}, "qty_2": {"0"}, "tax_rate": {"10"}, "note": {"Partial delivery"},
	}
}

var pdf = &upload{name: "invoice.pdf", content: []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")}

// createDraft saves a draft through the form and returns its detail page.
func (e *env) createDraft(b *browser, po, number string, fields url.Values) page {
	e.t.Helper()
	form := b.get("/pos/" + po + "/invoices/new")
	if fields == nil {
		fields = invoiceFields("", number)
	}
	fields.Set("csrf_token", form.csrf())
	p := b.postMultipart("/pos/"+po+"/invoices", fields, pdf)
	if !strings.HasPrefix(p.url.Path, "/invoices/INV-") {
		e.t.Fatalf("draft not saved: %d %s: %s", p.status, p.url, p.flashError())
	}
	return p
}

// rawBody is a request body sent as is, for malformed JSON.
type rawBody string

// apiJSON calls a JSON endpoint and decodes the answer into out (if not nil).
func (e *env) apiJSON(method, path string, body any, out any) int {
	e.t.Helper()
	var r io.Reader
	if raw, ok := body.(rawBody); ok {
		r = strings.NewReader(string(raw))
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func hasEvent(events []Event, kind, username string) bool {
	for _, ev := range events {
		if ev.Kind == kind && ev.Username == username {
			return true
		}
	}
	return false
}
