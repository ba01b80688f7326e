package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// aribaClient is a browser-like client of the Ariba app's JSON API: it keeps
// cookies and the CSRF token the API hands out, and sends it on every
// mutating request, as app.js does.
type aribaClient struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

func (e *env) aribaClient() *aribaClient {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &aribaClient{t: e.t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: e.ts.URL}
}

// obj is a decoded JSON object.
type obj map[string]any

func (o obj) str(key string) string {
	v, _ := o[key].(string)
	return v
}

func (o obj) obj(key string) obj {
	v, _ := o[key].(map[string]any)
	return obj(v)
}

func (o obj) list(key string) []obj {
	raw, _ := o[key].([]any)
	out := make([]obj, 0, len(raw))
	for _, x := range raw {
		m, _ := x.(map[string]any)
		out = append(out, obj(m))
	}
	return out
}

func (o obj) num(key string) int {
	v, _ := o[key].(float64)
	return int(v)
}

// send makes a request with the client's CSRF token (unless noToken) and
// decodes the JSON answer; a csrf field in the answer becomes the client's token.
func (c *aribaClient) send(method, path, contentType string, body io.Reader, token string) (int, obj) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method != http.MethodGet && token != "" {
		req.Header.Set(csrfHeader, token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := obj{}
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if tok := out.str("csrf"); tok != "" {
		c.csrf = tok
	}
	return resp.StatusCode, out
}

func (c *aribaClient) call(method, path string, body any) (int, obj) {
	c.t.Helper()
	var r io.Reader
	ct := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r, ct = bytes.NewReader(b), "application/json"
	}
	return c.send(method, path, ct, r, c.csrf)
}

// saveInvoice posts the wizard's multipart form.
func (c *aribaClient) saveInvoice(po string, fields url.Values, file *upload) (int, obj) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile(afDocument, file.name)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := fw.Write(file.content); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	return c.send(http.MethodPost, "/api/orders/"+url.PathEscape(po)+"/invoices", mw.FormDataContentType(), &body, c.csrf)
}

// wizardFields is a valid wizard form for the seeded PO: 4 of line 1, line 2 removed, 10 % tax (total 55.00).
func wizardFields(number string) url.Values {
	return url.Values{
		afNumber: {number}, afDate: {"2025-03-10"}, afTaxRate: {"10"}, afTaxCat: {TaxStandard},
		afComments: {"Partial delivery"},
		"qty.1":    {"4"}, "price.1": {"12.50"}, "qty.2": {"4"}, "price.2": {"20.00"}, "remove.2": {"on"},
	}
}

func newAribaEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	cfg.Flavor = FlavorAriba
	return newEnv(t, cfg)
}

// aribaLogin signs alice in through the API and moves the clock to the next TOTP step.
func (e *env) aribaLogin(c *aribaClient) {
	e.t.Helper()
	if st, out := c.call(http.MethodGet, "/api/session", nil); st != http.StatusUnauthorized || out.str("step") != "password" {
		e.t.Fatalf("GET /api/session before login: %d %v", st, out)
	}
	st, out := c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	if st != http.StatusOK || out.str("step") != "mfa" {
		e.t.Fatalf("password step: %d %v", st, out)
	}
	st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": e.code()})
	if st != http.StatusOK || out.str("step") != "done" || out.str("user") != testUser {
		e.t.Fatalf("code step: %d %v", st, out)
	}
	e.clock.Advance(30 * time.Second)
}

// aribaDraft saves a valid draft and returns its ID.
func (e *env) aribaDraft(c *aribaClient, po, number string) string {
	e.t.Helper()
	st, out := c.saveInvoice(po, wizardFields(number), pdf)
	if st != http.StatusCreated {
		e.t.Fatalf("save draft %s: %d %v", number, st, out)
	}
	if got, want := out.str("message"), "Invoice "+number+" saved as draft."; got != want {
		e.t.Fatalf("message %q, want %q", got, want)
	}
	return out.obj("invoice").str("id")
}

func (e *env) aribaInvoice(c *aribaClient, id string) obj {
	e.t.Helper()
	st, out := c.call(http.MethodGet, "/api/invoices/"+id, nil)
	if st != http.StatusOK {
		e.t.Fatalf("GET invoice %s: %d %v", id, st, out)
	}
	return out.obj("invoice")
}

func (e *env) buyer(id, action string, body any) int {
	e.t.Helper()
	return e.apiJSON(http.MethodPost, "/buyer/api/invoices/"+id+"/"+action, body, nil)
}

func TestAribaShellAndRoutes(t *testing.T) {
	e := newAribaEnv(t, Config{})
	c := e.aribaClient()
	c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := c.c.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if st, h, _ := get("/"); st != http.StatusSeeOther || h.Get("Location") != "/app/orders" {
		t.Fatalf("GET / = %d to %q, want a redirect to /app/orders", st, h.Get("Location"))
	}
	for _, p := range []string{"/app", "/app/orders", "/app/orders/PO-1/invoice", "/app/invoices/INV-000001"} {
		st, _, body := get(p)
		if st != http.StatusOK || !strings.Contains(body, `<meta name="csrf-token" content="`) ||
			!strings.Contains(body, `/static/ariba/app.js`) || !strings.Contains(body, `aria-busy="true"`) {
			t.Fatalf("GET %s = %d, not the app shell:\n%s", p, st, body)
		}
	}
	if st, h, _ := get("/static/ariba/app.js"); st != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d %s", st, h.Get("Content-Type"))
	}
	// The Coupa pages do not exist in this flavor.
	if st, _, _ := get("/pos"); st != http.StatusNotFound {
		t.Fatalf("GET /pos = %d in the Ariba flavor", st)
	}
	if st, out := c.call(http.MethodGet, "/api/nothing", nil); st != http.StatusNotFound || out.str("error") == "" {
		t.Fatalf("GET /api/nothing = %d %v", st, out)
	}
	if st, out := c.call(http.MethodGet, "/api/orders", nil); st != http.StatusUnauthorized || out.str("error") != msgSignInFirst {
		t.Fatalf("GET /api/orders signed out = %d %v", st, out)
	}
}

func TestAribaLoginThroughSharedCore(t *testing.T) {
	e := newAribaEnv(t, Config{MaxFailedLogins: 3})
	c := e.aribaClient()
	c.call(http.MethodGet, "/api/session", nil) // pre-session and its CSRF token

	st, out := c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": "wrong"})
	if st != http.StatusUnauthorized || out.str("error") != msgInvalidLogin || out.str("step") != "password" {
		t.Fatalf("wrong password: %d %v", st, out)
	}
	// Right password, wrong code: the second failure in a row.
	c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": "000000"})
	if st != http.StatusUnauthorized || out.str("error") != msgInvalidCode || out.str("step") != "mfa" {
		t.Fatalf("wrong code: %d %v", st, out)
	}
	// A right code now resets the count; the same code again is refused as reused.
	code := e.code()
	if st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": code}); st != http.StatusOK || out.str("step") != "done" {
		t.Fatalf("right code: %d %v", st, out)
	}
	if st, out = c.call(http.MethodGet, "/api/session", nil); st != http.StatusOK || out.str("supplier") != testSupplier {
		t.Fatalf("session after login: %d %v", st, out)
	}
	c2 := e.aribaClient()
	c2.call(http.MethodGet, "/api/session", nil)
	c2.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	st, out = c2.call(http.MethodPost, "/api/session/mfa", obj{"code": code})
	if st != http.StatusUnauthorized || out.str("error") != msgCodeReused {
		t.Fatalf("reused code: %d %v", st, out)
	}

	// Three wrong passwords in a row lock the account, in both flavors' words.
	for i := range 3 {
		st, out = c2.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": fmt.Sprint("bad", i)})
	}
	if st != http.StatusLocked || out.str("error") != "Account locked. Contact Acme Manufacturing's administrator." {
		t.Fatalf("third wrong password: %d %v", st, out)
	}
	if st, out = c2.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword}); st != http.StatusLocked {
		t.Fatalf("right password on a locked account: %d %v", st, out)
	}
	if !hasEvent(e.srv.Events(), "locked", testUser) || !hasEvent(e.srv.Events(), "totp_reused", testUser) {
		t.Fatalf("events: %v", e.srv.Events())
	}

	// Signing out ends the session.
	if st, out = c.call(http.MethodDelete, "/api/session", nil); st != http.StatusOK || out.str("message") != msgSignedOut {
		t.Fatalf("sign out: %d %v", st, out)
	}
	if st, _ = c.call(http.MethodGet, "/api/orders", nil); st != http.StatusUnauthorized {
		t.Fatalf("orders after sign out: %d", st)
	}
}

func TestAribaSessionIdleTimeout(t *testing.T) {
	e := newAribaEnv(t, Config{SessionIdle: 10 * time.Minute})
	c := e.aribaClient()
	e.aribaLogin(c)
	e.clock.Advance(11 * time.Minute)
	st, out := c.call(http.MethodGet, "/api/orders", nil)
	if st != http.StatusUnauthorized || out.str("error") != msgSessionExpired || out["expired"] != true {
		t.Fatalf("idle session: %d %v", st, out)
	}
}

func TestAribaRememberBrowserAndPasswordExpiry(t *testing.T) {
	e := newAribaEnv(t, Config{Rules: Rules{RememberBrowserDays: 30}})
	c := e.aribaClient()
	c.call(http.MethodGet, "/api/session", nil)
	st, out := c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	if st != http.StatusOK || out["remember_offered"] != true {
		t.Fatalf("password step with remember on: %d %v", st, out)
	}
	if st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": e.code(), "trust": true}); st != http.StatusOK {
		t.Fatalf("code with trust: %d %v", st, out)
	}
	e.clock.Advance(30 * time.Second)
	c.call(http.MethodDelete, "/api/session", nil)
	c.call(http.MethodGet, "/api/session", nil)
	// The remembered browser skips the code.
	st, out = c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	if st != http.StatusOK || out.str("step") != "done" {
		t.Fatalf("remembered browser: %d %v", st, out)
	}
	if !hasEvent(e.srv.Events(), "totp_remembered", testUser) {
		t.Fatal("no totp_remembered event")
	}
	c.call(http.MethodDelete, "/api/session", nil)

	// An expired password: the change form, and no way around it.
	if err := e.srv.ExpirePassword(testUser); err != nil {
		t.Fatal(err)
	}
	c.call(http.MethodGet, "/api/session", nil)
	st, out = c.call(http.MethodPost, "/api/session", obj{"username": testUser, "password": testPassword})
	if st != http.StatusOK || out.str("step") != "password_expired" || out.str("message") != msgPasswordExpired {
		t.Fatalf("expired password: %d %v", st, out)
	}
	if st, out = c.call(http.MethodGet, "/api/session", nil); st != http.StatusUnauthorized || out.str("step") != "password_expired" {
		t.Fatalf("session state while the password is expired: %d %v", st, out)
	}
	if st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": e.code()}); st != http.StatusConflict || out.str("step") != "password_expired" {
		t.Fatalf("code before the password change: %d %v", st, out)
	}
	st, out = c.call(http.MethodPost, "/api/session/password", obj{"current_password": "nope", "new_password": "brand new pass", "confirm_password": "brand new pass"})
	if st != http.StatusUnprocessableEntity || out.str("error") != msgCurrentPassword || out.str("field") != "currentPassword" {
		t.Fatalf("wrong current password: %d %v", st, out)
	}
	st, out = c.call(http.MethodPost, "/api/session/password", obj{"current_password": testPassword, "new_password": "brand new pass", "confirm_password": "brand new pass"})
	if st != http.StatusOK || out.str("step") != "mfa" || out.str("message") != msgPasswordChanged {
		t.Fatalf("password change: %d %v", st, out)
	}
	if st, out = c.call(http.MethodPost, "/api/session/mfa", obj{"code": e.code()}); st != http.StatusOK || out.str("step") != "done" {
		t.Fatalf("code after the change: %d %v", st, out)
	}
}

func TestAribaCSRF(t *testing.T) {
	e := newAribaEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	c := e.aribaClient()
	c.call(http.MethodGet, "/api/session", nil)
	body := `{"username":"alice","password":"correct horse"}`
	for _, tok := range []string{"", "forged"} {
		st, out := c.send(http.MethodPost, "/api/session", "application/json", strings.NewReader(body), tok)
		if st != http.StatusForbidden || out.str("error") != msgCSRFRefused {
			t.Fatalf("login with token %q: %d %v", tok, st, out)
		}
	}
	e.aribaLogin(c)
	id := e.aribaDraft(c, "PO-1", "INV-1")
	for _, tok := range []string{"", "forged"} {
		if st, _ := c.send(http.MethodPost, "/api/invoices/"+id+"/submit", "", nil, tok); st != http.StatusForbidden {
			t.Fatalf("submit with token %q: %d", tok, st)
		}
		if st, _ := c.send(http.MethodDelete, "/api/invoices/"+id, "", nil, tok); st != http.StatusForbidden {
			t.Fatalf("delete with token %q: %d", tok, st)
		}
	}
	if inv := e.aribaInvoice(c, id); inv.str("status") != "Saved" {
		t.Fatalf("a refused request changed the invoice: %v", inv)
	}
}

func TestAribaOrdersPagingSearchAndDetail(t *testing.T) {
	e := newAribaEnv(t, Config{PageSize: 2})
	for _, n := range []string{"PO-1", "PO-2", "PO-3", "PO-4"} {
		e.seedPO(n, POOpen)
	}
	e.seedPO("PO-9", POClosed)
	c := e.aribaClient()
	e.aribaLogin(c)

	st, out := c.call(http.MethodGet, "/api/orders", nil)
	if st != http.StatusOK || out.num("page") != 1 || out.num("pages") != 3 || out.num("total") != 5 || len(out.list("orders")) != 2 {
		t.Fatalf("page 1: %d %v", st, out)
	}
	o := out.list("orders")[0]
	want := obj{"number": "PO-1", "customer": "Acme Manufacturing GmbH", "date": "2025-02-01", "currency": "EUR",
		"amount": "205.00", "amount_invoiced": "0.00", "amount_remaining": "205.00", "status": "New", "terms": "Net 30", "can_invoice": true}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("orders[0].%s = %v, want %v", k, o[k], v)
		}
	}
	if _, out = c.call(http.MethodGet, "/api/orders?page=3", nil); len(out.list("orders")) != 1 || out.list("orders")[0].str("number") != "PO-9" {
		t.Fatalf("page 3: %v", out)
	}
	if _, out = c.call(http.MethodGet, "/api/orders?page=99", nil); out.num("page") != 3 {
		t.Fatalf("page 99 is not clamped: %v", out)
	}
	if _, out = c.call(http.MethodGet, "/api/orders?search=po-4", nil); out.num("total") != 1 || out.str("search") != "po-4" ||
		out.list("orders")[0].str("number") != "PO-4" {
		t.Fatalf("search: %v", out)
	}

	st, out = c.call(http.MethodGet, "/api/orders/PO-2", nil)
	if st != http.StatusOK || !out.obj("order")["can_invoice"].(bool) || len(out.list("lines")) != 2 {
		t.Fatalf("detail: %d %v", st, out)
	}
	if l := out.list("lines")[0]; l.str("part") != "BOLT-M8" || l.str("qty") != "10" || l.str("unit") != "EA" || l.str("price") != "12.50" {
		t.Fatalf("line 1: %v", l)
	}
	if st, out = c.call(http.MethodGet, "/api/orders/PO-9", nil); out.obj("order")["can_invoice"] != false ||
		out.obj("order").str("status") != "Closed" || !strings.Contains(out.str("reason"), "cannot be invoiced") {
		t.Fatalf("closed PO: %d %v", st, out)
	}
	if st, out = c.call(http.MethodGet, "/api/orders/PO-404", nil); st != http.StatusNotFound || out.str("error") != "Order PO-404 was not found." {
		t.Fatalf("unknown PO: %d %v", st, out)
	}
}

func TestAribaCreateDraft(t *testing.T) {
	e := newAribaEnv(t, Config{Rules: Rules{RemitTo: []string{"Widgets Ltd, 1 Main St", "Widgets Ltd, PO Box 9"}, TaxExemptionNeedsReference: true}})
	e.seedPO("PO-1", POOpen)
	c := e.aribaClient()
	e.aribaLogin(c)

	_, out := c.call(http.MethodGet, "/api/orders/PO-1", nil)
	if remit := out.obj("form").list("remit_to"); len(remit) != 2 || remit[1].str("label") != "Widgets Ltd, PO Box 9" {
		t.Fatalf("remit-to options: %v", out.obj("form"))
	}

	// Every problem at once, each with the wizard's label.
	bad := url.Values{
		afNumber: {""}, afDate: {"2025-04-01"}, afTaxRate: {"0"}, afTaxCat: {TaxExempt}, afExemptRef: {""},
		"qty.1": {"11"}, "price.1": {"12.50"}, "qty.2": {"1"}, "price.2": {"x"},
	}
	st, out := c.saveInvoice("PO-1", bad, &upload{name: "inv.txt", content: []byte("hello")})
	if st != http.StatusUnprocessableEntity || out.str("error") != msgAribaNotSaved {
		t.Fatalf("invalid draft: %d %v", st, out)
	}
	got := map[string]string{}
	for _, fe := range out.list("errors") {
		got[fe.str("label")] = fe.str("field")
	}
	for label, field := range map[string]string{
		"Invoice No.": afNumber, "Invoice Date": afDate, "Remit To": afRemitTo, "Qty for line 1": "qty.1",
		"Price for line 2": "price.2", "Exemption Reference": afExemptRef, "Invoice Document": afDocument,
	} {
		if f, ok := got[label]; !ok || f != field {
			t.Errorf("no error for %q (field %q) in %v", label, field, out.list("errors"))
		}
	}
	if n := len(e.srv.Invoices(testUser)); n != 0 {
		t.Fatalf("%d invoices after a refused save", n)
	}

	fields := wizardFields("INV-1")
	fields.Set(afRemitTo, "Widgets Ltd, PO Box 9")
	st, out = c.saveInvoice("PO-1", fields, pdf)
	if st != http.StatusCreated || out.str("message") != "Invoice INV-1 saved as draft." {
		t.Fatalf("valid draft: %d %v", st, out)
	}
	inv := out.obj("invoice")
	for k, v := range map[string]any{
		"status": "Saved", "routing_status": "", "total_amount": "55.00 EUR", "remit_to": "Widgets Ltd, PO Box 9",
		"document": "invoice.pdf", "can_submit": true, "can_delete": true,
	} {
		if inv[k] != v {
			t.Errorf("invoice.%s = %v, want %v", k, inv[k], v)
		}
	}
	if lines := inv.list("lines"); len(lines) != 1 || lines[0].str("amount") != "50.00" {
		t.Fatalf("lines: %v", inv.list("lines"))
	}
	if !strings.Contains(inv.str("confirm_submit"), "Submit invoice INV-1") || !strings.Contains(inv.str("confirm_delete"), "Delete invoice INV-1") {
		t.Fatalf("confirm texts: %v", inv)
	}

	// A draft's number cannot be reused by another draft.
	st, out = c.saveInvoice("PO-1", fields, nil)
	if st != http.StatusUnprocessableEntity || out.list("errors")[0].str("message") != "Invoice number INV-1 has already been used." {
		t.Fatalf("duplicate draft: %d %v", st, out)
	}

	// A changed unit price is billed as typed under the default rules.
	fields = wizardFields("INV-2")
	fields.Set(afRemitTo, "Widgets Ltd, 1 Main St")
	fields.Set("price.1", "12.00")
	fields.Set(afTaxCat, TaxExempt)
	fields.Set(afExemptRef, "EX-77")
	if st, out = c.saveInvoice("PO-1", fields, nil); st != http.StatusCreated || out.obj("invoice").str("total_amount") != "48.00 EUR" ||
		out.obj("invoice").str("tax_category") != TaxExempt || out.obj("invoice").str("exemption_ref") != "EX-77" {
		t.Fatalf("exempt draft with own price: %d %v", st, out)
	}

	st, out = c.call(http.MethodGet, "/api/invoices?search=inv-2", nil)
	if st != http.StatusOK || out.num("total") != 1 {
		t.Fatalf("invoice search: %d %v", st, out)
	}
	row := out.list("invoices")[0]
	for k, v := range map[string]any{"number": "INV-2", "order_number": "PO-1", "invoice_date": "2025-03-10",
		"amount": "48.00", "currency": "EUR", "status": "Saved", "routing_status": ""} {
		if row[k] != v {
			t.Errorf("row.%s = %v, want %v", k, row[k], v)
		}
	}
	if st, out = c.saveInvoice("PO-404", wizardFields("INV-3"), nil); st != http.StatusNotFound {
		t.Fatalf("unknown PO: %d %v", st, out)
	}
}

func TestAribaSubmitStatusWordsAndDelete(t *testing.T) {
	e := newAribaEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	c := e.aribaClient()
	e.aribaLogin(c)

	status := func(id string) (string, string) {
		t.Helper()
		inv := e.aribaInvoice(c, id)
		return inv.str("status"), inv.str("routing_status")
	}
	id := e.aribaDraft(c, "PO-1", "INV-1")
	st, out := c.call(http.MethodPost, "/api/invoices/"+id+"/submit", nil)
	if st != http.StatusOK || out.str("message") != "Invoice INV-1 sent to Acme Manufacturing." {
		t.Fatalf("submit: %d %v", st, out)
	}
	if s, r := status(id); s != "Sent" || r != "Sent" {
		t.Fatalf("after submit: %s / %s", s, r)
	}
	if st, out = c.call(http.MethodPost, "/api/invoices/"+id+"/submit", nil); st != http.StatusConflict ||
		out.str("error") != "Only saved invoices can be submitted. Invoice INV-1 is Sent." {
		t.Fatalf("second submit: %d %v", st, out)
	}
	if st, out = c.call(http.MethodDelete, "/api/invoices/"+id, nil); st != http.StatusConflict {
		t.Fatalf("delete a sent invoice: %d %v", st, out)
	}
	_, po := c.call(http.MethodGet, "/api/orders/PO-1", nil)
	if o := po.obj("order"); o.str("amount_invoiced") != "55.00" || o.str("status") != "Partially Invoiced" {
		t.Fatalf("PO after submit: %v", o)
	}

	if code := e.buyer(id, "acknowledge", nil); code != http.StatusOK {
		t.Fatalf("acknowledge: %d", code)
	}
	if code := e.buyer(id, "acknowledge", nil); code != http.StatusConflict {
		t.Fatalf("second acknowledge: %d", code)
	}
	if s, r := status(id); s != "Sent" || r != "Acknowledged" {
		t.Fatalf("after acknowledge: %s / %s", s, r)
	}
	e.buyer(id, "approve", nil)
	if s, r := status(id); s != "Approved" || r != "Acknowledged" {
		t.Fatalf("after approve: %s / %s", s, r)
	}
	e.buyer(id, "pay", obj{"reference": "PAY-1", "amount": "20.00"})
	inv := e.aribaInvoice(c, id)
	if inv.str("status") != "Partially Paid" || inv.str("amount_paid") != "20.00 EUR" || inv.str("payment_reference") != "PAY-1" {
		t.Fatalf("after a partial payment: %v", inv)
	}
	e.buyer(id, "pay", obj{"reference": "PAY-2"})
	if inv = e.aribaInvoice(c, id); inv.str("status") != "Paid" || inv.str("amount_paid") != "55.00 EUR" {
		t.Fatalf("after payment: %v", inv)
	}

	// A buyer dispute is a rejection with its code and reason.
	id2 := e.aribaDraft(c, "PO-1", "INV-2")
	c.call(http.MethodPost, "/api/invoices/"+id2+"/submit", nil)
	if code := e.buyer(id2, "dispute", obj{"code": "LINE_MISMATCH", "reason": "Wrong bolts"}); code != http.StatusOK {
		t.Fatalf("dispute: %d", code)
	}
	inv = e.aribaInvoice(c, id2)
	if inv.str("status") != "Rejected" || inv.str("rejection_code") != "LINE_MISMATCH" || inv.str("rejection_reason") != "Wrong bolts" {
		t.Fatalf("after dispute: %v", inv)
	}
	e.buyer(id2, "void", nil)
	if s, _ := status(id2); s != "Canceled" {
		t.Fatalf("after void: %s", s)
	}

	// Delete a saved invoice.
	id3 := e.aribaDraft(c, "PO-1", "INV-3")
	if st, out = c.call(http.MethodDelete, "/api/invoices/"+id3, nil); st != http.StatusOK || out.str("message") != "Invoice INV-3 deleted." {
		t.Fatalf("delete: %d %v", st, out)
	}
	if st, _ = c.call(http.MethodGet, "/api/invoices/"+id3, nil); st != http.StatusNotFound {
		t.Fatalf("deleted invoice: %d", st)
	}
	if e.srv.CountEvents("draft_deleted", "INV-3") != 1 || e.srv.CountEvents("submitted", "INV-1") != 1 {
		t.Fatalf("events: %v", e.srv.Events())
	}

	// Submitting against a PO that the buyer closed meanwhile fails in routing.
	id4 := e.aribaDraft(c, "PO-1", "INV-4")
	e.seedPO("PO-1", POClosed)
	c.call(http.MethodPost, "/api/invoices/"+id4+"/submit", nil)
	inv = e.aribaInvoice(c, id4)
	if inv.str("status") != "Failed" || inv.str("routing_status") != "Failed" || inv.str("rejection_code") != rejectPOInvalid {
		t.Fatalf("submit on a closed PO: %v", inv)
	}
}

func TestAribaDuplicateFailsInRouting(t *testing.T) {
	e := newAribaEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	c := e.aribaClient()
	e.aribaLogin(c)

	id1 := e.aribaDraft(c, "PO-1", "INV-7")
	c.call(http.MethodPost, "/api/invoices/"+id1+"/submit", nil)

	// In this flavor a draft may repeat the number of a submitted invoice;
	// the buyer's network refuses it when it is sent.
	id2 := e.aribaDraft(c, "PO-1", "inv-7")
	st, out := c.call(http.MethodPost, "/api/invoices/"+id2+"/submit", nil)
	if st != http.StatusOK || out.str("message") != "Invoice inv-7 sent to Acme Manufacturing." {
		t.Fatalf("submit duplicate: %d %v", st, out)
	}
	inv := e.aribaInvoice(c, id2)
	for k, v := range map[string]string{
		"status": "Failed", "routing_status": "Failed", "rejection_code": "INVOICE_DUPLICATE",
		"rejection_reason": "Invoice number inv-7 has already been used.",
	} {
		if inv.str(k) != v {
			t.Errorf("%s = %q, want %q", k, inv.str(k), v)
		}
	}
	// The failed invoice does not use PO balance.
	_, po := c.call(http.MethodGet, "/api/orders/PO-1", nil)
	if got := po.obj("order").str("amount_invoiced"); got != "55.00" {
		t.Fatalf("amount invoiced %s, want 55.00", got)
	}
	// Drafts still may not repeat each other.
	e.aribaDraft(c, "PO-1", "INV-8")
	if st, out = c.saveInvoice("PO-1", wizardFields("INV-8"), nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("draft repeating a draft: %d %v", st, out)
	}
	if e.srv.CountEvents("routing_failed", "inv-7") != 1 {
		t.Fatalf("events: %v", e.srv.Events())
	}
	invs := e.srv.Invoices(testUser)
	i := slices.IndexFunc(invs, func(x Invoice) bool { return x.ID == id2 })
	if invs[i].Status != StatusDisputed || invs[i].RejectionCode != rejectDuplicate || !invs[i].Total.Equal(decimal.RequireFromString("55")) {
		t.Fatalf("stored invoice: %+v", invs[i])
	}
}
