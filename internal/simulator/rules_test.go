package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
)

// putRules replaces the portal's rules through the control API.
func (e *env) putRules(rules any) Rules {
	e.t.Helper()
	var got Rules
	if st := e.apiJSON("PUT", "/control/rules", rules, &got); st != http.StatusOK {
		e.t.Fatalf("PUT /control/rules %v: status %d", rules, st)
	}
	return got
}

// postInvoice posts the invoice form of po with fields (the CSRF token is filled in).
func (b *browser) postInvoice(po string, fields url.Values, file *upload) page {
	b.t.Helper()
	form := b.get("/pos/" + po + "/invoices/new")
	fields.Set("csrf_token", form.csrf())
	return b.postMultipart("/pos/"+po+"/invoices", fields, file)
}

// saved tells whether the form post created a draft, and fails with the form's errors otherwise.
func saved(t *testing.T, p page) bool {
	t.Helper()
	if strings.HasPrefix(p.url.Path, "/invoices/INV-") {
		return true
	}
	t.Logf("not saved (%d): %s", p.status, p.flashError())
	return false
}

func fieldErr(p page, field string) string {
	return p.text(`span.field-error[data-field="` + field + `"]`)
}

// labelled finds the form control whose label has exactly this text.
func labelled(p page, text string) *goquery.Selection {
	var out *goquery.Selection
	p.doc.Find("label").EachWithBreak(func(_ int, l *goquery.Selection) bool {
		if strings.TrimSpace(l.Text()) == text {
			out = p.doc.Find("#" + l.AttrOr("for", "-none-"))
			return false
		}
		return true
	})
	if out == nil {
		return p.doc.Find("#-none-")
	}
	return out
}

func TestRulesControlEndpoint(t *testing.T) {
	e := newEnv(t, Config{MaxFailedLogins: 3, PageSize: 7})
	var got Rules
	if st := e.apiJSON("GET", "/control/rules", nil, &got); st != 200 {
		t.Fatalf("GET rules: %d", st)
	}
	if got.MaxFailedLogins != 3 || got.PageSize != 7 || time.Duration(got.SessionIdle) != 15*time.Minute ||
		!slices.Equal(got.AttachmentTypes, []string{"pdf"}) || got.AttachmentMaxBytes != 5<<20 || got.ZeroLines != "drop" ||
		got.RememberBrowserDays != 0 || got.LinesMirrorPO || len(got.RemitTo) != 0 {
		t.Errorf("defaults with the legacy Config fields: %+v", got)
	}
	var raw map[string]any
	e.apiJSON("GET", "/control/rules", nil, &raw)
	for _, k := range []string{"max_failed_logins", "session_idle", "remember_browser_days", "password_max_age_days", "page_size",
		"tolerance_percent", "tolerance_amount", "max_backdate_days", "attachment_required", "attachment_types",
		"attachment_max_bytes", "zero_lines", "lines_mirror_po", "remit_to", "tax_exemption_needs_reference"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET rules lacks %q: %v", k, raw)
		}
	}
	if raw["session_idle"] != "15m0s" {
		t.Errorf("session_idle = %v", raw["session_idle"])
	}

	got = e.putRules(rawBody(`{"session_idle":"2m","tolerance_percent":"5","attachment_types":["PDF","jpeg"],"zero_lines":"reject"}`))
	if time.Duration(got.SessionIdle) != 2*time.Minute || !got.TolerancePercent.Equal(decimal.NewFromInt(5)) ||
		!slices.Equal(got.AttachmentTypes, []string{"pdf", "jpg"}) || got.ZeroLines != "reject" || got.MaxFailedLogins != 5 {
		t.Errorf("PUT replaced rules to %+v", got)
	}
	if r := e.srv.Rules(); r.MaxFailedLogins != 5 || e.srv.cfg.PageSize != 25 {
		t.Errorf("PUT must replace, not merge: %+v, cfg.PageSize %d", r, e.srv.cfg.PageSize)
	}
	if !hasEvent(e.srv.Events(), "rules_changed", "") {
		t.Error("no rules_changed event")
	}

	for name, body := range map[string]string{
		"unknown field":   `{"max_failed_login":3}`,
		"trailing data":   `{"page_size":3} {}`,
		"not JSON":        `{"page_size":`,
		"bad zero_lines":  `{"zero_lines":"ignore"}`,
		"bad type":        `{"attachment_types":["docx"]}`,
		"negative":        `{"max_backdate_days":-1}`,
		"bad percent":     `{"tolerance_percent":"120"}`,
		"bad duration":    `{"session_idle":"soon"}`,
		"empty remit-to":  `{"remit_to":["A", " "]}`,
		"repeated remit":  `{"remit_to":["A","A"]}`,
		"huge attachment": `{"attachment_max_bytes":1000000000}`,
	} {
		var errBody map[string]string
		if st := e.apiJSON("PUT", "/control/rules", rawBody(body), &errBody); st != 400 || errBody["error"] == "" {
			t.Errorf("%s: status %d, %v; want 400 with an error", name, st, errBody)
		}
	}
	if r := e.srv.Rules(); r.ZeroLines != "reject" {
		t.Errorf("a refused PUT changed the rules: %+v", r)
	}
	if _, err := New(Config{Rules: Rules{ZeroLines: "maybe"}}); err == nil {
		t.Error("New accepted invalid rules")
	}
}

func TestRulesLoginLimitsAtRunTime(t *testing.T) {
	t.Run("max failed logins", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.putRules(Rules{MaxFailedLogins: 2})
		b := e.browser()
		if got := b.submitLogin(testUser, "wrong").flashError(); got != msgInvalidLogin {
			t.Fatalf("first wrong password: %q", got)
		}
		if got := b.submitLogin(testUser, "wrong").flashError(); !strings.HasPrefix(got, "Account locked.") {
			t.Errorf("second wrong password under max 2: %q", got)
		}
	})
	t.Run("session idle", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.putRules(rawBody(`{"session_idle":"2m"}`))
		b := e.browser()
		e.login(b)
		e.clock.Advance(time.Minute)
		if p := b.get("/pos"); p.url.Path != "/pos" {
			t.Fatalf("session dropped within the idle time")
		}
		e.clock.Advance(3 * time.Minute)
		if p := b.get("/pos"); p.url.Path != "/login" {
			t.Errorf("session idle for 3m under a 2m rule still works")
		}
	})
	t.Run("page size", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.seedPO("PO-1", POOpen)
		e.seedPO("PO-2", POOpen)
		b := e.browser()
		e.login(b)
		if b.get("/pos").has(`a[rel=next]`) {
			t.Fatal("two POs need no second page by default")
		}
		e.putRules(Rules{PageSize: 1})
		p := b.get("/pos")
		if next := p.doc.Find(`nav.pagination a[rel=next]`); strings.TrimSpace(next.Text()) != "Next" || p.text(".page-info") != "Page 1 of 2" {
			t.Errorf("page size 1: next %q, %q", next.Text(), p.text(".page-info"))
		}
	})
}

func TestRememberBrowser(t *testing.T) {
	e := newEnv(t, Config{Rules: Rules{RememberBrowserDays: 30}})
	b := e.browser()
	mfa := b.submitLogin(testUser, testPassword)
	box := labelled(mfa, "Remember this browser")
	if box.Length() != 1 || box.AttrOr("type", "") != "checkbox" || box.AttrOr("name", "") != "remember_browser" {
		t.Fatalf("verification page lacks the Remember this browser checkbox")
	}
	p := b.post("/login/totp", url.Values{"csrf_token": {mfa.csrf()}, "code": {e.code()}, "remember_browser": {"1"}})
	if p.url.Path != "/pos" {
		t.Fatalf("login with remember landed on %s", p.url)
	}
	e.clock.Advance(30 * time.Second)
	b.post("/logout", url.Values{"csrf_token": {p.csrf()}})

	cases := []struct {
		name    string
		browser *browser
		advance time.Duration
		want    string // path after the password
	}{
		{"same browser skips the code", b, time.Hour, "/pos"},
		{"another browser is asked", e.browser(), 0, "/login/totp"},
		{"same browser after 31 days is asked", b, 31 * 24 * time.Hour, "/login/totp"},
	}
	for _, tc := range cases {
		e.clock.Advance(tc.advance)
		if p := tc.browser.submitLogin(testUser, testPassword); p.url.Path != tc.want {
			t.Errorf("%s: landed on %s, want %s", tc.name, p.url.Path, tc.want)
		}
	}
	if n := e.srv.CountEvents("totp_remembered", ""); n != 1 {
		t.Errorf("%d totp_remembered events, want 1", n)
	}
	// A wrong password is refused even from a remembered browser.
	e2 := newEnv(t, Config{Rules: Rules{RememberBrowserDays: 30}})
	b2 := e2.browser()
	mfa = b2.submitLogin(testUser, testPassword)
	b2.post("/login/totp", url.Values{"csrf_token": {mfa.csrf()}, "code": {e2.code()}, "remember_browser": {"1"}})
	b2.c.Jar.SetCookies(mustURL(e2.ts.URL), []*http.Cookie{{Name: sessionCookie, Value: "", MaxAge: -1}})
	if p := b2.submitLogin(testUser, "wrong"); p.flashError() != msgInvalidLogin {
		t.Errorf("wrong password from a remembered browser: %s %q", p.url, p.flashError())
	}
	// With the rule off there is no checkbox, and the cookie is ignored.
	e2.putRules(Rules{})
	e2.clock.Advance(30 * time.Second)
	p = b2.submitLogin(testUser, testPassword)
	if p.url.Path != "/login/totp" || labelled(p, "Remember this browser").Length() != 0 {
		t.Errorf("rule off: landed on %s, checkbox present %v", p.url.Path, labelled(p, "Remember this browser").Length() > 0)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestPasswordExpiry(t *testing.T) {
	e := newEnv(t, Config{Rules: Rules{PasswordMaxAgeDays: 90, MaxFailedLogins: 5}})
	b := e.browser()
	if p := b.submitLogin(testUser, testPassword); p.url.Path != "/login/totp" {
		t.Fatalf("a fresh password: landed on %s", p.url.Path)
	}
	e.clock.Advance(91 * 24 * time.Hour)
	b = e.browser()
	p := b.submitLogin(testUser, testPassword)
	if p.url.Path != "/login/password" || p.text("h1") != "Password expired" || p.text(`[role=alert]`) != msgPasswordExpired {
		t.Fatalf("expired password: at %s, h1 %q, alert %q", p.url.Path, p.text("h1"), p.text(`[role=alert]`))
	}
	for _, l := range []string{"Current password", "New password", "Confirm new password"} {
		if in := labelled(p, l); in.Length() != 1 || in.AttrOr("type", "") != "password" {
			t.Errorf("no password input labelled %q", l)
		}
	}
	if p.text("button#change-password") != "Change password" {
		t.Error("no Change password button")
	}
	if !hasEvent(e.srv.Events(), "password_expired", testUser) {
		t.Error("no password_expired event")
	}
	if q := b.get("/login/totp"); q.url.Path != "/login/password" {
		t.Errorf("the code form before the change: landed on %s", q.url.Path)
	}

	const newPW = "a much better one"
	cases := []struct {
		name, current, next, confirm, field, want string
	}{
		{"wrong current", "nope", newPW, newPW, "current_password", msgCurrentPassword},
		{"too short", testPassword, "short", "short", "new_password", msgNewPasswordShort},
		{"same as before", testPassword, testPassword, testPassword, "new_password", msgNewPasswordSame},
		{"confirmation differs", testPassword, newPW, newPW + "!", "confirm_password", msgNewPasswordsDiffer},
	}
	for _, tc := range cases {
		r := b.post("/login/password", url.Values{"csrf_token": {p.csrf()}, "current_password": {tc.current},
			"new_password": {tc.next}, "confirm_password": {tc.confirm}})
		if r.status != 422 || fieldErr(r, tc.field) != tc.want || !strings.Contains(r.flashError(), tc.want) {
			t.Errorf("%s: status %d, field %q, flash %q", tc.name, r.status, fieldErr(r, tc.field), r.flashError())
		}
		if in := r.doc.Find(`[name="` + tc.field + `"]`); in.AttrOr("aria-invalid", "") != "true" ||
			!strings.Contains(in.AttrOr("aria-describedby", ""), tc.field+"-error") {
			t.Errorf("%s: the field is not marked invalid", tc.name)
		}
	}
	r := b.post("/login/password", url.Values{"csrf_token": {p.csrf()}, "current_password": {testPassword},
		"new_password": {newPW}, "confirm_password": {newPW}})
	if r.url.Path != "/login/totp" || r.text(`.flash[role=status]`) != msgPasswordChanged {
		t.Fatalf("change: at %s, %q / %q", r.url.Path, r.text(".flash"), r.flashError())
	}
	if landed := b.submitCode(r, e.code()); landed.url.Path != "/pos" {
		t.Fatalf("code after the change landed on %s", landed.url.Path)
	}
	e.clock.Advance(30 * time.Second)
	if p := e.browser().submitLogin(testUser, testPassword); p.flashError() != msgInvalidLogin {
		t.Errorf("the old password still works: %s", p.url.Path)
	}
	if p := e.browser().submitLogin(testUser, newPW); p.url.Path != "/login/totp" {
		t.Errorf("the new password: landed on %s", p.url.Path)
	}
	if !hasEvent(e.srv.Events(), "password_changed", testUser) {
		t.Error("no password_changed event")
	}
}

func TestPasswordAgeFromSeed(t *testing.T) {
	cases := []struct {
		name    string
		changed time.Time
		maxAge  int
		want    string
	}{
		{"seeded 100 days ago, max 90", time.Date(2024, 12, 4, 0, 0, 0, 0, time.UTC), 90, "/login/password"},
		{"seeded 80 days ago, max 90", time.Date(2024, 12, 24, 0, 0, 0, 0, time.UTC), 90, "/login/totp"},
		{"seeded 100 days ago, no maximum", time.Date(2024, 12, 4, 0, 0, 0, 0, time.UTC), 0, "/login/totp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Rules: Rules{PasswordMaxAgeDays: tc.maxAge}})
			if err := e.srv.AddAccount(Account{Username: "old", Password: "pw", TOTPSecret: testSecret, PasswordChangedAt: tc.changed}); err != nil {
				t.Fatal(err)
			}
			if p := e.browser().submitLogin("old", "pw"); p.url.Path != tc.want {
				t.Errorf("landed on %s, want %s", p.url.Path, tc.want)
			}
			// Re-seeding the same password keeps its age.
			if err := e.srv.AddAccount(Account{Username: "old", Password: "pw", TOTPSecret: testSecret}); err != nil {
				t.Fatal(err)
			}
			if p := e.browser().submitLogin("old", "pw"); p.url.Path != tc.want {
				t.Errorf("after re-seeding: landed on %s, want %s", p.url.Path, tc.want)
			}
		})
	}
}

func TestPasswordControlEndpoints(t *testing.T) {
	e := newEnv(t, Config{}) // no maximum age: only the administrator expires passwords
	if st := e.apiJSON("POST", "/control/accounts/alice/expire-password", nil, nil); st != 200 {
		t.Fatalf("expire-password: %d", st)
	}
	if p := e.browser().submitLogin(testUser, testPassword); p.url.Path != "/login/password" {
		t.Errorf("after expire-password: landed on %s", p.url.Path)
	}
	if st := e.apiJSON("POST", "/control/accounts/alice/password", map[string]string{"password": "reset-by-admin"}, nil); st != 200 {
		t.Fatalf("set password: %d", st)
	}
	if p := e.browser().submitLogin(testUser, "reset-by-admin"); p.url.Path != "/login/totp" {
		t.Errorf("after the administrator's reset: landed on %s", p.url.Path)
	}
	for name, tc := range map[string]struct {
		path string
		body any
		want int
	}{
		"expire unknown":   {"/control/accounts/nobody/expire-password", nil, 404},
		"password unknown": {"/control/accounts/nobody/password", map[string]string{"password": "x"}, 404},
		"empty password":   {"/control/accounts/alice/password", map[string]string{"password": ""}, 400},
		"unknown field":    {"/control/accounts/alice/password", map[string]string{"pasword": "x"}, 400},
	} {
		if st := e.apiJSON("POST", tc.path, tc.body, nil); st != tc.want {
			t.Errorf("%s: status %d, want %d", name, st, tc.want)
		}
	}
}

func TestToleranceRules(t *testing.T) {
	// The whole PO (205.00) plus 10% tax is 225.50: 20.50 over the balance.
	full := func(v url.Values) { v.Set("qty_1", "10"); v.Set("qty_2", "4"); v.Set("tax_rate", "10") }
	cases := []struct {
		name     string
		rules    Rules
		wantSave bool
		want     string
	}{
		{"no tolerance", Rules{}, false, "The invoice total 225.50 EUR exceeds the remaining PO balance of 205.00 EUR."},
		{"10 percent of the PO total", Rules{TolerancePercent: decimal.NewFromInt(10)}, true, ""},
		{"5 percent", Rules{TolerancePercent: decimal.NewFromInt(5)}, false,
			"The invoice total 225.50 EUR exceeds the remaining PO balance of 205.00 EUR plus the tolerance of 10.25 EUR."},
		{"amount 25", Rules{ToleranceAmount: decimal.NewFromInt(25)}, true, ""},
		{"amount 20", Rules{ToleranceAmount: decimal.NewFromInt(20)}, false, "plus the tolerance of 20.00 EUR."},
		{"both: the smaller (5% = 10.25) applies", Rules{TolerancePercent: decimal.NewFromInt(5), ToleranceAmount: decimal.NewFromInt(50)}, false,
			"plus the tolerance of 10.25 EUR."},
		{"both: the smaller (amount 21) applies", Rules{TolerancePercent: decimal.NewFromInt(50), ToleranceAmount: decimal.NewFromInt(21)}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Rules: tc.rules})
			e.seedPO("PO-1", POOpen)
			b := e.browser()
			e.login(b)
			fields := invoiceFields("", "TOL-1")
			full(fields)
			p := b.postInvoice("PO-1", fields, pdf)
			if got := strings.HasPrefix(p.url.Path, "/invoices/INV-"); got != tc.wantSave {
				t.Fatalf("saved = %v, want %v (%s)", got, tc.wantSave, p.flashError())
			}
			if !tc.wantSave {
				if !strings.Contains(fieldErr(p, "total"), tc.want) {
					t.Errorf("total error %q, want %q", fieldErr(p, "total"), tc.want)
				}
				return
			}
			sub := b.post(p.url.Path+"/submit", url.Values{"csrf_token": {p.csrf()}})
			if sub.text("#invoice-status") != "Pending Approval" {
				t.Errorf("submit within tolerance: %q", sub.flashError())
			}
			if po := b.get("/pos/PO-1"); po.text("#po-status") != "Fully Invoiced" || b.get("/pos/PO-1/invoices/new").status != 409 {
				t.Errorf("an over-invoiced PO: status %q", po.text("#po-status"))
			}
		})
	}

	t.Run("refused at submit when the tolerance went away", func(t *testing.T) {
		e := newEnv(t, Config{Rules: Rules{ToleranceAmount: decimal.NewFromInt(25)}})
		e.seedPO("PO-1", POOpen)
		b := e.browser()
		e.login(b)
		fields := invoiceFields("", "TOL-2")
		full(fields)
		draft := b.postInvoice("PO-1", fields, pdf)
		if !saved(t, draft) {
			t.FailNow()
		}
		e.putRules(Rules{})
		p := b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})
		if p.flashError() != "The invoice total 225.50 EUR exceeds the remaining PO balance of 205.00 EUR." || p.text("#invoice-status") != "Draft" {
			t.Errorf("submit: %q, status %q", p.flashError(), p.text("#invoice-status"))
		}
	})
}

// formCase is one invoice form submission under some rules.
type formCase struct {
	name  string
	rules Rules
	edit  func(url.Values)
	file  *upload
	field string // "" = the form must save
	want  string // the field's error
	check func(t *testing.T, inv Invoice)
}

func runFormCases(t *testing.T, cases []formCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{Rules: tc.rules})
			e.seedPO("PO-1", POOpen)
			b := e.browser()
			e.login(b)
			fields := invoiceFields("", "F-1")
			if tc.edit != nil {
				tc.edit(fields)
			}
			p := b.postInvoice("PO-1", fields, tc.file)
			if tc.field == "" {
				if !saved(t, p) {
					t.FailNow()
				}
				if tc.check != nil {
					tc.check(t, e.srv.Invoices(testUser)[0])
				}
				return
			}
			if p.status != 422 {
				t.Fatalf("status %d at %s, want 422", p.status, p.url.Path)
			}
			if got := fieldErr(p, tc.field); got != tc.want {
				t.Errorf("error of %s = %q, want %q (flash %q)", tc.field, got, tc.want, p.flashError())
			}
			if !strings.Contains(p.flashError(), tc.want) {
				t.Errorf("flash %q lacks %q", p.flashError(), tc.want)
			}
			if n := len(e.srv.Invoices(testUser)); n != 0 {
				t.Errorf("a refused form saved %d invoices", n)
			}
		})
	}
}

func TestBackdateRule(t *testing.T) {
	// Today is 2025-03-14.
	date := func(d string) func(url.Values) { return func(v url.Values) { v.Set("invoice_date", d) } }
	runFormCases(t, []formCase{
		{name: "30 days: 2025-02-12 is 30 days back", rules: Rules{MaxBackdateDays: 30}, edit: date("2025-02-12")},
		{name: "30 days: 2025-02-11 is 31 days back", rules: Rules{MaxBackdateDays: 30}, edit: date("2025-02-11"),
			field: "invoice_date", want: "Invoice date cannot be more than 30 days in the past."},
		{name: "no limit", edit: date("2023-01-01")},
		{name: "future dates are always refused", rules: Rules{MaxBackdateDays: 30}, edit: date("2025-03-15"),
			field: "invoice_date", want: msgDateFuture},
	})
}

var (
	pngFile  = &upload{name: "scan.png", content: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")}
	jpgFile  = &upload{name: "scan.jpg", content: []byte("\xff\xd8\xff\xe0\x00\x10JFIF")}
	tiffFile = &upload{name: "scan.tif", content: []byte("II*\x00\x08\x00\x00\x00")}
	// Content decides, not the name.
	pngNamedPDF = &upload{name: "invoice.pdf", content: pngFile.content}
	pdfNamedPNG = &upload{name: "invoice.png", content: pdf.content}
)

func TestAttachmentRules(t *testing.T) {
	pdfPNG := Rules{AttachmentTypes: []string{"pdf", "png"}}
	kind := func(want string) func(*testing.T, Invoice) {
		return func(t *testing.T, inv Invoice) {
			if inv.AttachmentType != want {
				t.Errorf("attachment type %q, want %q", inv.AttachmentType, want)
			}
		}
	}
	runFormCases(t, []formCase{
		{name: "optional and absent", file: nil},
		{name: "required and absent", rules: Rules{AttachmentRequired: true}, file: nil, field: "attachment",
			want: "An invoice attachment is required: a PDF file of at most 5 MB."},
		{name: "required, types and size named", rules: Rules{AttachmentRequired: true, AttachmentTypes: []string{"pdf", "png", "tiff"}, AttachmentMaxBytes: 2 << 20},
			file: nil, field: "attachment", want: "An invoice attachment is required: a PDF, PNG or TIFF file of at most 2 MB."},
		{name: "required and given", rules: Rules{AttachmentRequired: true}, file: pdf, check: kind("pdf")},
		{name: "PNG allowed", rules: pdfPNG, file: pngFile, check: kind("png")},
		{name: "JPG not allowed", rules: pdfPNG, file: jpgFile, field: "attachment", want: "The attachment must be a PDF or PNG file."},
		{name: "JPG allowed", rules: Rules{AttachmentTypes: []string{"jpg"}}, file: jpgFile, check: kind("jpg")},
		{name: "TIFF allowed", rules: Rules{AttachmentTypes: []string{"tiff"}}, file: tiffFile, check: kind("tiff")},
		{name: "PNG named .pdf is not a PDF", file: pngNamedPDF, field: "attachment", want: msgNotPDF},
		{name: "PDF named .png is a PDF", file: pdfNamedPNG, check: kind("pdf")},
		{name: "over the size limit", rules: Rules{AttachmentMaxBytes: 1024},
			file:  &upload{name: "big.pdf", content: append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 1100)...)},
			field: "attachment", want: "The attachment must not be larger than 1 KB."},
		{name: "large limit above the default upload size", rules: Rules{AttachmentMaxBytes: 20 << 20},
			file: &upload{name: "big.pdf", content: append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 13<<20)...)}, check: kind("pdf")},
	})

	t.Run("form shows accept and hint", func(t *testing.T) {
		e := newEnv(t, Config{Rules: Rules{AttachmentRequired: true, AttachmentTypes: []string{"pdf", "png"}}})
		e.seedPO("PO-1", POOpen)
		b := e.browser()
		e.login(b)
		p := b.get("/pos/PO-1/invoices/new")
		in := labelled(p, "Invoice PDF")
		if acc := in.AttrOr("accept", ""); !strings.Contains(acc, "application/pdf") || !strings.Contains(acc, "image/png") || strings.Contains(acc, "jpeg") {
			t.Errorf("accept = %q", acc)
		}
		if got := p.text("#attachment-hint"); got != "Required: PDF or PNG, at most 5 MB." {
			t.Errorf("hint = %q", got)
		}
	})
}

func TestZeroLinesRule(t *testing.T) {
	lines := func(want ...int) func(*testing.T, Invoice) {
		return func(t *testing.T, inv Invoice) {
			var got []int
			for _, l := range inv.Lines {
				got = append(got, l.LineNo)
			}
			if !slices.Equal(got, want) {
				t.Errorf("billed lines %v, want %v", got, want)
			}
		}
	}
	reject := Rules{ZeroLines: ZeroLinesReject}
	runFormCases(t, []formCase{
		{name: "drop: a zero line is dropped", file: pdf, check: lines(1)},
		{name: "drop: Remove line drops a line with a quantity", edit: func(v url.Values) { v.Set("qty_2", "2"); v.Set("remove_2", "1") }, check: lines(1)},
		{name: "reject: a zero line is refused", rules: reject, field: "qty_2", want: "Line 2 has quantity 0: remove lines you do not bill."},
		{name: "reject: an empty quantity is a zero line", rules: reject, edit: func(v url.Values) { v.Set("qty_2", "") },
			field: "qty_2", want: "Line 2 has quantity 0: remove lines you do not bill."},
		{name: "reject: a removed zero line is fine", rules: reject, edit: func(v url.Values) { v.Set("remove_2", "1") }, check: lines(1)},
		{name: "reject: removing every line leaves nothing", rules: reject,
			edit: func(v url.Values) { v.Set("remove_1", "1"); v.Set("remove_2", "1") }, field: "lines", want: msgNoLines},
	})
}

func TestLineMirroringRule(t *testing.T) {
	mirror := Rules{LinesMirrorPO: true}
	price := func(p string) func(url.Values) { return func(v url.Values) { v.Set("price_1", p) } }
	billed := func(unit, total string) func(*testing.T, Invoice) {
		return func(t *testing.T, inv Invoice) {
			if inv.Lines[0].UnitPrice.StringFixed(2) != unit || inv.Total.StringFixed(2) != total {
				t.Errorf("billed %s each, total %s; want %s, %s", inv.Lines[0].UnitPrice, inv.Total, unit, total)
			}
		}
	}
	runFormCases(t, []formCase{
		{name: "mirror: the PO price", rules: mirror, edit: price("12.50"), check: billed("12.50", "55.00")},
		{name: "mirror: the PO price written differently", rules: mirror, edit: price("12.5"), check: billed("12.50", "55.00")},
		{name: "mirror: no price field bills the PO price", rules: mirror, check: billed("12.50", "55.00")},
		{name: "mirror: 1 x total instead of qty x price", rules: mirror,
			edit:  func(v url.Values) { v.Set("qty_1", "1"); v.Set("price_1", "50.00") },
			field: "price_1", want: "Line 1: unit price must be the PO's 12.50 per EA; bill quantity x PO price, as on the PO."},
		{name: "off: another price is billed", edit: price("10"), check: billed("10.00", "44.00")},
		{name: "not a number", edit: price("ten"), field: "price_1", want: "Line 1: unit price must be a number."},
		{name: "negative", edit: price("-1"), field: "price_1", want: "Line 1: unit price cannot be negative."},
	})
}

func TestRemitToRule(t *testing.T) {
	addrs := Rules{RemitTo: []string{"Widgets Ltd, 1 Main St, Leeds", "Widgets Ltd, PO Box 9, York"}}
	runFormCases(t, []formCase{
		{name: "no list: no field", edit: func(v url.Values) { v.Set("remit_to", "anything") }, check: func(t *testing.T, inv Invoice) {
			if inv.RemitTo != "" {
				t.Errorf("remit-to %q stored without a list", inv.RemitTo)
			}
		}},
		{name: "required", rules: addrs, field: "remit_to", want: msgRemitToMissing},
		{name: "not on the list", rules: addrs, edit: func(v url.Values) { v.Set("remit_to", "Elsewhere") },
			field: "remit_to", want: `Remit-To Address "Elsewhere" is not one of Acme Manufacturing's addresses.`},
		{name: "on the list", rules: addrs, edit: func(v url.Values) { v.Set("remit_to", "Widgets Ltd, PO Box 9, York") },
			check: func(t *testing.T, inv Invoice) {
				if inv.RemitTo != "Widgets Ltd, PO Box 9, York" {
					t.Errorf("remit-to %q", inv.RemitTo)
				}
			}},
	})

	e := newEnv(t, Config{Rules: addrs})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	p := b.get("/pos/PO-1/invoices/new")
	sel := labelled(p, "Remit-To Address")
	opts := sel.Find("option")
	if goquery.NodeName(sel) != "select" || opts.Length() != 3 || opts.First().AttrOr("value", "x") != "" || opts.First().Text() != "Choose…" {
		t.Fatalf("remit-to select: %s with %d options, first %q", goquery.NodeName(sel), opts.Length(), opts.First().Text())
	}
	fields := invoiceFields("", "R-1")
	fields.Set("remit_to", "Widgets Ltd, 1 Main St, Leeds")
	d := b.postInvoice("PO-1", fields, pdf)
	if d.text("#invoice-remit-to") != "Widgets Ltd, 1 Main St, Leeds" {
		t.Errorf("detail page remit-to %q", d.text("#invoice-remit-to"))
	}
	// The list changed after the draft was saved: submit refuses it.
	e.putRules(Rules{RemitTo: []string{"Widgets Ltd, New Address"}})
	if s := b.post(d.url.Path+"/submit", url.Values{"csrf_token": {d.csrf()}}); !strings.Contains(s.flashError(), "is not one of") {
		t.Errorf("submit with a withdrawn address: %q", s.flashError())
	}
}

func TestTaxExemptionRule(t *testing.T) {
	needRef := Rules{TaxExemptionNeedsReference: true}
	exempt := func(ref string) func(url.Values) {
		return func(v url.Values) { v.Set("tax_treatment", "Exempt"); v.Set("tax_reference", ref) }
	}
	taxed := func(treatment, tax, ref string) func(*testing.T, Invoice) {
		return func(t *testing.T, inv Invoice) {
			if inv.TaxTreatment != treatment || inv.Tax.StringFixed(2) != tax || inv.TaxReference != ref {
				t.Errorf("treatment %q tax %s ref %q; want %q %s %q", inv.TaxTreatment, inv.Tax, inv.TaxReference, treatment, tax, ref)
			}
		}
	}
	runFormCases(t, []formCase{
		{name: "standard", check: taxed("Standard", "5.00", "")},
		{name: "exempt without reference, rule off", edit: exempt(""), check: taxed("Exempt", "0.00", "")},
		{name: "exempt without reference, rule on", rules: needRef, edit: exempt("  "), field: "tax_reference", want: msgTaxReference},
		{name: "exempt with reference", rules: needRef, edit: exempt("VAT-EX-42"), check: taxed("Exempt", "0.00", "VAT-EX-42")},
		{name: "exempt ignores a bad rate", rules: needRef, edit: func(v url.Values) { exempt("R")(v); v.Set("tax_rate", "abc") },
			check: taxed("Exempt", "0.00", "R")},
		{name: "unknown treatment", edit: func(v url.Values) { v.Set("tax_treatment", "Zero") }, field: "tax_treatment", want: msgTaxTreatment},
	})

	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	p := b.get("/pos/PO-1/invoices/new")
	sel := labelled(p, "Tax Treatment")
	var opts []string
	sel.Find("option").Each(func(_ int, o *goquery.Selection) { opts = append(opts, o.Text()) })
	if !slices.Equal(opts, []string{"Standard", "Exempt"}) || sel.Find("option[selected]").Text() != "Standard" {
		t.Errorf("tax treatment options %v, selected %q", opts, sel.Find("option[selected]").Text())
	}
	if labelled(p, "Tax Exemption Reference").AttrOr("name", "") != "tax_reference" {
		t.Error("no Tax Exemption Reference input")
	}
}

func TestPOsThatCannotBeInvoiced(t *testing.T) {
	for _, st := range []POStatus{POClosed, POCancelled, POFullyInvoiced} {
		t.Run(string(st), func(t *testing.T) {
			e := newEnv(t, Config{})
			e.seedPO("PO-X", st)
			e.seedPO("PO-OK", POOpen)
			b := e.browser()
			e.login(b)
			if b.get("/pos/PO-X").has("a#create-invoice") {
				t.Error("a Create Invoice action on a PO that cannot be invoiced")
			}
			if !b.get("/pos/PO-OK").has("a#create-invoice") {
				t.Error("no Create Invoice on an open PO")
			}
			if p := b.get("/pos/PO-X/invoices/new"); p.status != http.StatusConflict {
				t.Errorf("form URL: status %d, want 409", p.status)
			}
			form := b.get("/pos/PO-OK/invoices/new")
			p := b.postMultipart("/pos/PO-X/invoices", invoiceFields(form.csrf(), "X-1"), pdf)
			if p.status != 422 || !strings.Contains(fieldErr(p, "po"), "cannot be invoiced") {
				t.Errorf("post: status %d, %q", p.status, fieldErr(p, "po"))
			}
		})
	}
}

func TestCalculateDoesNotSave(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	fields := invoiceFields("", "CALC-1")
	fields.Set("action", "calculate")
	fields.Set("qty_2", "1")
	p := b.postInvoice("PO-1", fields, nil)
	if p.status != 200 || len(e.srv.Invoices(testUser)) != 0 {
		t.Fatalf("calculate: status %d, %d invoices", p.status, len(e.srv.Invoices(testUser)))
	}
	// 4 x 12.50 + 1 x 20.00 = 70.00, tax 10% = 7.00.
	if got := p.text("#invoice-subtotal") + "|" + p.text("#invoice-tax") + "|" + p.text("#invoice-total"); got != "70.00|7.00|77.00" {
		t.Errorf("totals %s", got)
	}
	if p.text(`.flash[role=status]`) != msgCalculated || p.doc.Find("#invoice-number").AttrOr("value", "") != "CALC-1" {
		t.Errorf("flash %q, number kept %q", p.text(".flash"), p.doc.Find("#invoice-number").AttrOr("value", ""))
	}
}

func TestSubmitRechecksRules(t *testing.T) {
	cases := []struct {
		name  string
		rules Rules
		want  string
	}{
		{"attachment now required", Rules{AttachmentRequired: true}, "An invoice attachment is required: a PDF file of at most 5 MB."},
		{"back-dating now limited", Rules{MaxBackdateDays: 1}, "Invoice date cannot be more than 1 days in the past."},
		{"price mirroring now on", Rules{LinesMirrorPO: true}, "Line 1: unit price must be the PO's 12.50 per EA; bill quantity x PO price, as on the PO."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.seedPO("PO-1", POOpen)
			b := e.browser()
			e.login(b)
			fields := invoiceFields("", "RE-1")
			fields.Set("price_1", "12.00")
			d := b.postInvoice("PO-1", fields, nil)
			if !saved(t, d) {
				t.FailNow()
			}
			e.putRules(tc.rules)
			p := b.post(d.url.Path+"/submit", url.Values{"csrf_token": {d.csrf()}})
			if p.flashError() != tc.want || p.text("#invoice-status") != "Draft" {
				t.Errorf("submit: %q (status %s), want %q", p.flashError(), p.text("#invoice-status"), tc.want)
			}
			e.putRules(Rules{})
			if p := b.post(d.url.Path+"/submit", url.Values{"csrf_token": {d.csrf()}}); p.text("#invoice-status") != "Pending Approval" {
				t.Errorf("submit under lenient rules: %q", p.flashError())
			}
		})
	}
}

func TestDisputeCodes(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	cases := []struct {
		name     string
		body     any
		status   int
		wantCode string
	}{
		{"known code", map[string]string{"code": "LINE_MISMATCH", "reason": "Line 1 billed at the wrong price"}, 200, "LINE_MISMATCH"},
		{"lower case code", map[string]string{"code": "tax_missing", "reason": "No VAT"}, 200, "TAX_MISSING"},
		{"no code is OTHER", map[string]string{"reason": "Call us"}, 200, "OTHER"},
		{"unknown code", map[string]string{"code": "WRONG_COLOUR", "reason": "x"}, 400, ""},
		{"code without reason", map[string]string{"code": "PO_INVALID"}, 400, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := e.submitted(b, "DC-"+string(rune('A'+i)))
			st, inv := e.buyerCall(id, "dispute", tc.body)
			if st != tc.status {
				t.Fatalf("status %d, want %d", st, tc.status)
			}
			if tc.status != 200 {
				if got := e.srv.Invoices(testUser); got[len(got)-1].Status != StatusPendingApproval {
					t.Errorf("a refused dispute changed the status")
				}
				return
			}
			if inv.Status != StatusDisputed || inv.RejectionCode != tc.wantCode {
				t.Errorf("invoice %s code %q", inv.Status, inv.RejectionCode)
			}
			p := b.get("/invoices/" + id)
			if p.text("#dispute-code") != tc.wantCode || p.text("#dispute-reason") == "" {
				t.Errorf("detail page: code %q reason %q", p.text("#dispute-code"), p.text("#dispute-reason"))
			}
		})
	}
}

func TestPartialPayments(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	id := e.submitted(b, "PP-1") // total 55.00
	pay := func(body any) (int, Invoice, map[string]string) {
		var raw json.RawMessage
		st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/pay", body, &raw)
		var inv Invoice
		var eb map[string]string
		if st == 200 {
			_ = json.Unmarshal(raw, &inv)
		} else {
			_ = json.Unmarshal(raw, &eb)
		}
		return st, inv, eb
	}
	if st, _, _ := pay(map[string]string{"reference": "P-0", "amount": "10"}); st != http.StatusConflict {
		t.Errorf("pay before approval: %d", st)
	}
	e.apiJSON("POST", "/buyer/api/invoices/"+id+"/approve", nil, nil)
	// Approved and never paid simply stays Approved.
	if got := b.get("/invoices/" + id); got.text("#invoice-status") != "Approved" || got.text("#amount-paid") != "0.00" {
		t.Errorf("approved: %q paid %q", got.text("#invoice-status"), got.text("#amount-paid"))
	}
	for name, body := range map[string]map[string]string{
		"over the total": {"reference": "P-X", "amount": "55.01"},
		"zero":           {"reference": "P-X", "amount": "0"},
		"negative":       {"reference": "P-X", "amount": "-5"},
		"not a number":   {"reference": "P-X", "amount": "lots"},
		"three decimals": {"reference": "P-X", "amount": "1.005"},
		"no reference":   {"amount": "5"},
		"unknown field":  {"reference": "P-X", "amout": "5"},
	} {
		if st, _, eb := pay(body); st != 400 || eb["error"] == "" {
			t.Errorf("%s: status %d, %v", name, st, eb)
		}
	}
	st, inv, _ := pay(map[string]string{"reference": "P-1", "amount": "20.00"})
	if st != 200 || inv.Status != StatusPartiallyPaid || inv.PaidAmount.StringFixed(2) != "20.00" {
		t.Fatalf("partial pay: %d %s %s", st, inv.Status, inv.PaidAmount)
	}
	p := b.get("/invoices/" + id)
	if p.text("#invoice-status") != "Partially Paid" || p.text("#amount-paid") != "20.00" || p.text("#payment-reference") != "P-1" ||
		p.text("#invoice-header-total") != "55.00" {
		t.Errorf("supplier sees %q, paid %q, ref %q, total %q", p.text("#invoice-status"), p.text("#amount-paid"),
			p.text("#payment-reference"), p.text("#invoice-header-total"))
	}
	if got := b.get("/pos/PO-1").text("#po-invoiced"); got != "55.00" {
		t.Errorf("a partly paid invoice must hold PO balance: invoiced %s", got)
	}
	if st, _, _ := pay(map[string]string{"reference": "P-X", "amount": "35.01"}); st != 400 {
		t.Errorf("paying more than is left: %d", st)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/void", nil, nil); st != http.StatusConflict {
		t.Errorf("voiding a partly paid invoice: %d", st)
	}
	st, inv, _ = pay(map[string]string{"reference": "P-2"}) // the rest
	if st != 200 || inv.Status != StatusPaid || inv.PaidAmount.StringFixed(2) != "55.00" || inv.PaymentReference != "P-1, P-2" {
		t.Fatalf("final pay: %d %s %s %q", st, inv.Status, inv.PaidAmount, inv.PaymentReference)
	}
	if st, _, _ := pay(map[string]string{"reference": "P-3"}); st != http.StatusConflict {
		t.Errorf("paying a paid invoice: %d", st)
	}
	if e.srv.CountEvents("partially_paid", "PP-1") != 1 || e.srv.CountEvents("paid", "PP-1") != 1 {
		t.Errorf("events: %d partially_paid, %d paid", e.srv.CountEvents("partially_paid", "PP-1"), e.srv.CountEvents("paid", "PP-1"))
	}
}

func TestVoidTransitions(t *testing.T) {
	cases := []struct {
		name   string
		setup  []string // buyer actions before void
		status int
	}{
		{"pending approval", nil, 200},
		{"approved", []string{"approve"}, 200},
		{"disputed", []string{"dispute"}, 200},
		{"paid", []string{"approve", "pay"}, http.StatusConflict},
		{"voided", []string{"void"}, http.StatusConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.seedPO("PO-1", POOpen)
			b := e.browser()
			e.login(b)
			id := e.submitted(b, "VO-1")
			for _, a := range tc.setup {
				body := map[string]string{"reason": "r", "reference": "ref"}
				if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/"+a, body, nil); st != 200 {
					t.Fatalf("%s: %d", a, st)
				}
			}
			st, inv := e.buyerCall(id, "void", nil)
			if st != tc.status {
				t.Fatalf("void: %d, want %d", st, tc.status)
			}
			if st == 200 && (inv.Status != StatusVoided || b.get("/invoices/"+id).text("#invoice-status") != "Voided") {
				t.Errorf("after void: %s", inv.Status)
			}
		})
	}
	// A draft is not the buyer's to void.
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	d := e.createDraft(b, "PO-1", "", invoiceFields("", "VO-D"))
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+d.text("#invoice-id")+"/void", nil, nil); st != http.StatusConflict {
		t.Errorf("voiding a draft: %d", st)
	}
}

func TestBuyerPageDisputeCodeAndPartialPay(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	id := e.submitted(b, "BP-1")
	page := b.get("/buyer")
	row := `tr[data-invoice-id="` + id + `"]`
	if labelled(page, "Dispute code for "+id).Find(`option[value="LINE_MISMATCH"]`).Length() != 1 {
		t.Fatal("no dispute code select on the buyer page")
	}
	b.post("/buyer/invoices/"+id+"/approve", nil)
	p := b.post("/buyer/invoices/"+id+"/pay", url.Values{"reference": {"BANK-1"}, "amount": {"5.00"}})
	if p.text(row+" span.badge") != "Partially Paid" || p.text(".flash[role=status]") != "Invoice partially paid." {
		t.Errorf("buyer page after a partial payment: %q, %q", p.text(row+" span.badge"), p.text(".flash"))
	}
	if !p.has(row+" form.pay-form") || p.has(row+" form.void-form") {
		t.Error("a partly paid invoice can be paid further but not voided")
	}

	id2 := e.submitted(b, "BP-2")
	p = b.post("/buyer/invoices/"+id2+"/dispute", url.Values{"code": {"REMIT_TO_WRONG"}, "reason": {"Old bank account"}})
	if got := p.text(`tr[data-invoice-id="` + id2 + `"] .dispute-info`); got != "REMIT_TO_WRONG: Old bank account" {
		t.Errorf("dispute info %q", got)
	}
	if p := b.post("/buyer/invoices/"+id2+"/void", url.Values{}); p.text(`tr[data-invoice-id="`+id2+`"] span.badge`) != "Voided" {
		t.Errorf("void from the buyer page failed: %q", p.flashError())
	}
}

// TestAccessibilityContract checks what the label-driven driver relies on:
// every control has a label, tables have names, errors are tied to fields.
func TestAccessibilityContract(t *testing.T) {
	e := newEnv(t, Config{Rules: Rules{RemitTo: []string{"Main"}, RememberBrowserDays: 7, PageSize: 1}})
	e.seedPO("PO-1", POOpen)
	e.seedPO("PO-2", POOpen)
	b := e.browser()

	allLabelled := func(name string, p page) {
		t.Helper()
		p.doc.Find(`input:not([type=hidden]), select, textarea`).Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("id", "")
			if id == "" || strings.TrimSpace(p.doc.Find(`label[for="`+id+`"]`).Text()) == "" {
				t.Errorf("%s: %s name=%q has no label", name, goquery.NodeName(s), s.AttrOr("name", ""))
			}
		})
		p.doc.Find(`[aria-describedby]`).Each(func(_ int, s *goquery.Selection) {
			for _, ref := range strings.Fields(s.AttrOr("aria-describedby", "")) {
				if !p.has("#" + ref) {
					t.Errorf("%s: aria-describedby %q of #%s points at nothing", name, ref, s.AttrOr("id", ""))
				}
			}
		})
	}
	allLabelled("login", b.get("/login"))
	allLabelled("totp", b.submitLogin(testUser, testPassword))
	e.login(b)
	pos := b.get("/pos")
	allLabelled("pos", pos)
	tables := map[string]string{}
	d := e.createDraft(b, "PO-1", "", func() url.Values { v := invoiceFields("", "A11Y-1"); v.Set("remit_to", "Main"); return v }())
	form := b.get("/pos/PO-1/invoices/new")
	allLabelled("invoice form", form)
	for _, p := range []page{pos, b.get("/pos/PO-1"), form, b.get("/invoices"), d} {
		p.doc.Find("table[aria-label]").Each(func(_ int, s *goquery.Selection) { tables[s.AttrOr("id", "")] = s.AttrOr("aria-label", "") })
	}
	for id, want := range map[string]string{"po-table": "Purchase orders", "po-lines": "PO lines", "invoice-lines": "Invoice lines",
		"invoice-table": "Invoices", "invoice-detail-lines": "Invoice detail lines"} {
		if tables[id] != want {
			t.Errorf("table #%s aria-label %q, want %q", id, tables[id], want)
		}
	}
	if next := pos.doc.Find(`a[rel=next]`); strings.TrimSpace(next.Text()) != "Next" {
		t.Errorf("next link text %q", next.Text())
	}
	for _, n := range []string{"1", "2"} {
		for _, l := range []string{"Quantity for line ", "Unit price for line ", "Remove line "} {
			if labelled(form, l+n).Length() != 1 {
				t.Errorf("no control labelled %q", l+n)
			}
		}
	}
	if labelled(form, "Remove line 1").AttrOr("type", "") != "checkbox" || labelled(form, "Unit price for line 2").AttrOr("value", "") != "20.00" {
		t.Error("remove checkbox or unit price prefill wrong")
	}
	for _, l := range []string{"Invoice #", "Invoice Date", "Tax Rate (%)", "Supplier Note", "Invoice PDF", "Remit-To Address",
		"Tax Treatment", "Tax Exemption Reference"} {
		if labelled(form, l).Length() != 1 {
			t.Errorf("no control labelled %q", l)
		}
	}
	if d.text(`.flash[role=status]`) != msgDraftSaved {
		t.Errorf("success flash %q is not a status", d.text(`.flash[role=status]`))
	}
	var terms []string
	d.doc.Find("dl#invoice-header dt").Each(func(_ int, s *goquery.Selection) { terms = append(terms, s.Text()) })
	for _, want := range []string{"Status", "Dispute Code", "Dispute Reason", "Payment Reference", "Amount Paid", "Total"} {
		if !slices.Contains(terms, want) {
			t.Errorf("invoice detail lacks term %q (has %v)", want, terms)
		}
	}
	allLabelled("buyer", b.get("/buyer"))

	// A refused form: every field error is announced and tied to its field.
	fields := invoiceFields("", "")
	fields.Set("qty_1", "x")
	fields.Set("price_2", "y")
	fields.Set("qty_2", "1")
	fields.Set("tax_rate", "abc")
	bad := b.postInvoice("PO-1", fields, &upload{name: "a.pdf", content: []byte("nope")})
	allLabelled("refused form", bad)
	if !bad.has(`div.flash.error[role=alert]`) {
		t.Error("no error banner with role=alert")
	}
	for _, f := range []string{"invoice_number", "remit_to", "qty_1", "price_2", "tax_rate", "attachment"} {
		in := bad.doc.Find(`[name="` + f + `"]`)
		if in.AttrOr("aria-invalid", "") != "true" || !strings.Contains(in.AttrOr("aria-describedby", ""), f+"-error") ||
			bad.text("#"+f+"-error") == "" || fieldErr(bad, f) == "" {
			t.Errorf("field %s: aria-invalid %q, describedby %q, error %q", f, in.AttrOr("aria-invalid", ""),
				in.AttrOr("aria-describedby", ""), fieldErr(bad, f))
		}
	}
}

// TestSharedCore drives the sign-in and invoice core the way the Ariba SPA
// does, without HTML.
func TestSharedCore(t *testing.T) {
	e := newEnv(t, Config{Rules: Rules{MaxFailedLogins: 3, RememberBrowserDays: 1}})
	e.seedPO("PO-1", POOpen)
	s := e.srv
	if o, msg := s.checkPassword(testUser, "wrong", ""); o != loginRejected || msg != msgInvalidLogin {
		t.Errorf("wrong password: %v %q", o, msg)
	}
	if o, _ := s.checkPassword("nobody", "x", ""); o != loginRejected {
		t.Errorf("unknown user: %v", o)
	}
	if o, _ := s.checkPassword(testUser, testPassword, ""); o != loginNeedsTOTP {
		t.Errorf("right password: %v", o)
	}
	if o, msg := s.checkTOTP(testUser, "000000"); o != loginRejected || msg != msgInvalidCode {
		t.Errorf("wrong code: %v %q", o, msg)
	}
	code := e.code()
	if o, _ := s.checkTOTP(testUser, code); o != loginOK {
		t.Errorf("right code: %v", o)
	}
	if o, msg := s.checkTOTP(testUser, code); o != loginRejected || msg != msgCodeReused {
		t.Errorf("reused code: %v %q", o, msg)
	}
	token, maxAge := s.rememberBrowser(testUser)
	if token == "" || maxAge != 24*time.Hour {
		t.Fatalf("remember: %q %v", token, maxAge)
	}
	if o, _ := s.checkPassword(testUser, testPassword, token); o != loginRemembered {
		t.Errorf("remembered: %v", o)
	}
	if o, _ := s.checkPassword(testUser, testPassword, "forged"); o != loginNeedsTOTP {
		t.Errorf("forged remember token: %v", o)
	}
	sid := s.startSession(testUser)
	s.mu.Lock()
	sess := s.sessions[sid]
	s.mu.Unlock()
	if sess == nil || sess.username != testUser || sess.csrf == "" {
		t.Fatalf("startSession: %+v", sess)
	}
	if err := s.ExpirePassword(testUser); err != nil {
		t.Fatal(err)
	}
	if o, msg := s.checkPassword(testUser, testPassword, token); o != loginPasswordExpired || msg != msgPasswordExpired {
		t.Errorf("expired beats remembered: %v %q", o, msg)
	}
	if o, _, field := s.changeExpiredPassword(testUser, testPassword, "abc", "abc"); o != loginRejected || field != "new_password" {
		t.Errorf("short new password: %v %s", o, field)
	}
	if o, msg, _ := s.changeExpiredPassword(testUser, testPassword, "brand new pw", "brand new pw"); o != loginNeedsTOTP || msg != msgPasswordChanged {
		t.Errorf("change: %v %q", o, msg)
	}
	for range 2 {
		s.checkTOTP(testUser, "111111")
	}
	if o, msg := s.checkTOTP(testUser, "222222"); o != loginLocked || !strings.HasPrefix(msg, "Account locked.") {
		t.Errorf("third wrong code: %v %q", o, msg)
	}
	if o, _ := s.checkPassword(testUser, "brand new pw", ""); o != loginLocked {
		t.Errorf("locked: %v", o)
	}

	in := invoiceInput{Number: "CORE-1", Date: "2025-03-10", TaxRate: "0",
		Qty: map[int]string{1: "2", 2: "1"}, Remove: map[int]bool{2: true}}
	s.mu.Lock()
	inv, errs, err := s.createDraftLocked(testUser, "PO-1", in)
	_, _, errMissing := s.createDraftLocked(testUser, "PO-404", in)
	_, dupErrs, _ := s.createDraftLocked(testUser, "PO-1", in)
	s.mu.Unlock()
	if err != nil || !errs.empty() || len(inv.Lines) != 1 || inv.Total.StringFixed(2) != "25.00" {
		t.Fatalf("createDraftLocked: %v %v %+v", err, errs.order, inv)
	}
	var ae *actionError
	if !asActionError(errMissing, &ae) || ae.status != 404 {
		t.Errorf("unknown PO: %v", errMissing)
	}
	if dupErrs.fields["invoice_number"] == "" {
		t.Errorf("duplicate number not refused: %v", dupErrs.order)
	}
	s.mu.Lock()
	_, errOther := s.submitInvoiceLocked("bob", inv.ID)
	got, errSubmit := s.submitInvoiceLocked(testUser, inv.ID)
	_, errAgain := s.submitInvoiceLocked(testUser, inv.ID)
	_, errDelete := s.deleteDraftLocked(testUser, inv.ID)
	s.mu.Unlock()
	if !asActionError(errOther, &ae) || ae.status != 404 {
		t.Errorf("another supplier's invoice: %v", errOther)
	}
	if errSubmit != nil || got.Status != StatusPendingApproval {
		t.Errorf("submit: %v", errSubmit)
	}
	if !asActionError(errAgain, &ae) || ae.status != 409 || ae.msg != "Only draft invoices can be submitted. This invoice is Pending Approval." {
		t.Errorf("second submit: %v", errAgain)
	}
	if !asActionError(errDelete, &ae) || ae.status != 409 {
		t.Errorf("delete after submit: %v", errDelete)
	}
}

// buyerCall calls a buyer API action and decodes the invoice of a 200 answer.
func (e *env) buyerCall(id, action string, body any) (int, Invoice) {
	e.t.Helper()
	var raw json.RawMessage
	st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/"+action, body, &raw)
	var inv Invoice
	if st == http.StatusOK {
		if err := json.Unmarshal(raw, &inv); err != nil {
			e.t.Fatalf("decode invoice: %v", err)
		}
	}
	return st, inv
}

func asActionError(err error, target **actionError) bool {
	ae, ok := err.(*actionError)
	if ok {
		*target = ae
	}
	return ok
}
