package simulator

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginWithTOTP(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()

	login := b.get("/login")
	if got := login.doc.Find("title").Text(); !strings.Contains(got, "Acme Manufacturing") {
		t.Errorf("title %q does not name the buyer", got)
	}
	for _, sel := range []string{
		`form#login-form input#username[name=username]`, `form#login-form input#password[name=password][type=password]`,
		`label[for=username]`, `label[for=password]`, `input[name=csrf_token]`, `input[name=next]`, `button#sign-in`,
	} {
		if !login.has(sel) {
			t.Errorf("login page lacks %s", sel)
		}
	}
	if got := login.text(`label[for=username]`); got != "User name" {
		t.Errorf("username label = %q", got)
	}

	mfa := b.submitLogin(testUser, testPassword)
	if mfa.url.Path != "/login/totp" || !mfa.has(`form#totp-form input#code[name=code]`) || mfa.text(`label[for=code]`) != "Verification code" {
		t.Fatalf("after the password expected the code form, got %s", mfa.url)
	}
	landing := b.submitCode(mfa, e.code())
	if landing.url.Path != "/pos" {
		t.Fatalf("landed on %s, want /pos (%s)", landing.url, landing.flashError())
	}
	if got := landing.text("#current-user"); !strings.Contains(got, testUser) || !strings.Contains(got, testSupplier) {
		t.Errorf("header user = %q, want username and supplier", got)
	}
	if got := landing.text("#buyer-name"); got != "Acme Manufacturing" {
		t.Errorf("header buyer = %q", got)
	}
	evs := e.srv.Events()
	if !hasEvent(evs, "login_ok", testUser) || !hasEvent(evs, "totp_ok", testUser) {
		t.Errorf("events %+v lack login_ok and totp_ok", evs)
	}
}

func TestCodeFormRequiresPassword(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.browser().get("/login/totp")
	if p.url.Path != "/login" {
		t.Errorf("code form without password step landed on %s, want /login", p.url)
	}
}

func TestWrongCodeIsRefused(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	p := b.submitCode(b.submitLogin(testUser, testPassword), "000000")
	if p.url.Path != "/login/totp" || p.flashError() != msgInvalidCode {
		t.Fatalf("wrong code: at %s with error %q", p.url, p.flashError())
	}
	if !hasEvent(e.srv.Events(), "totp_failed", testUser) {
		t.Error("no totp_failed event")
	}
	// The right code still works on the same form.
	if p := b.submitCode(p, e.code()); p.url.Path != "/pos" {
		t.Errorf("right code after a wrong one landed on %s", p.url)
	}
}

func TestTOTPCodeReusedInSameStepIsRefused(t *testing.T) {
	e := newEnv(t, Config{})
	code := e.code()

	first := e.browser()
	if p := first.submitCode(first.submitLogin(testUser, testPassword), code); p.url.Path != "/pos" {
		t.Fatalf("first login landed on %s", p.url)
	}

	e.clock.Advance(10 * time.Second) // same 30 s step
	second := e.browser()
	p := second.submitCode(second.submitLogin(testUser, testPassword), code)
	if p.url.Path != "/login/totp" {
		t.Fatalf("reused code let the second login through to %s", p.url)
	}
	if got := p.flashError(); got != msgCodeReused {
		t.Errorf("error = %q, want %q", got, msgCodeReused)
	}
	if !hasEvent(e.srv.Events(), "totp_reused", testUser) {
		t.Error("no totp_reused event")
	}

	e.clock.Advance(30 * time.Second)
	if p := second.submitCode(p, e.code()); p.url.Path != "/pos" {
		t.Errorf("next step's code landed on %s: %q", p.url, p.flashError())
	}
}

func TestLockoutAfterWrongPasswords(t *testing.T) {
	e := newEnv(t, Config{MaxFailedLogins: 3})
	b := e.browser()
	locked := "Account locked. Contact Acme Manufacturing's administrator."

	for i := 1; i <= 2; i++ {
		if got := b.submitLogin(testUser, "wrong").flashError(); got != msgInvalidLogin {
			t.Fatalf("wrong password %d: error %q, want %q", i, got, msgInvalidLogin)
		}
	}
	if got := b.submitLogin(testUser, "wrong").flashError(); got != locked {
		t.Errorf("third wrong password: error %q, want %q", got, locked)
	}
	p := b.submitLogin(testUser, testPassword)
	if p.url.Path != "/login" || p.flashError() != locked {
		t.Errorf("right password on a locked account: at %s, error %q", p.url, p.flashError())
	}
	if !hasEvent(e.srv.Events(), "locked", testUser) {
		t.Error("no locked event")
	}

	if status := e.apiJSON("POST", "/control/accounts/alice/unlock", nil, nil); status != 200 {
		t.Fatalf("unlock: status %d", status)
	}
	if p := b.submitLogin(testUser, testPassword); p.url.Path != "/login/totp" {
		t.Errorf("after unlock the password step landed on %s", p.url)
	}
}

func TestWrongCodesCountTowardLockout(t *testing.T) {
	e := newEnv(t, Config{MaxFailedLogins: 2})
	b := e.browser()
	if got := b.submitLogin(testUser, "wrong").flashError(); got != msgInvalidLogin {
		t.Fatalf("wrong password: %q", got)
	}
	p := b.submitCode(b.submitLogin(testUser, testPassword), "123456")
	if p.url.Path != "/login" || !strings.HasPrefix(p.flashError(), "Account locked.") {
		t.Errorf("second failure (a wrong code) should lock: at %s, error %q", p.url, p.flashError())
	}
	if p := b.submitLogin(testUser, testPassword); !strings.HasPrefix(p.flashError(), "Account locked.") {
		t.Errorf("locked account accepted the password: %s", p.url)
	}
}

func TestFullLoginResetsFailureCount(t *testing.T) {
	e := newEnv(t, Config{MaxFailedLogins: 3})
	b := e.browser()
	for range 2 {
		b.submitLogin(testUser, "wrong")
	}
	e.login(b)
	other := e.browser()
	for range 2 {
		if got := other.submitLogin(testUser, "wrong").flashError(); got != msgInvalidLogin {
			t.Fatalf("after a full login two wrong passwords should not lock; got %q", got)
		}
	}
}

func TestSessionIdleExpiryRedirectsToLogin(t *testing.T) {
	e := newEnv(t, Config{SessionIdle: 15 * time.Minute})
	b := e.browser()
	e.login(b)

	// Activity keeps the session alive past the idle time in total.
	for range 2 {
		e.clock.Advance(10 * time.Minute)
		if p := b.get("/invoices"); p.url.Path != "/invoices" {
			t.Fatalf("active session was dropped: landed on %s", p.url)
		}
	}

	e.clock.Advance(16 * time.Minute)
	p := b.get("/invoices?page=2")
	if p.url.Path != "/login" || p.url.Query().Get("next") != "/invoices?page=2" {
		t.Fatalf("idle session: landed on %s, want /login?next=/invoices?page=2", p.url)
	}
	if got := p.text(".flash"); got != msgSessionExpired {
		t.Errorf("expiry message = %q", got)
	}
	if got := p.doc.Find(`input[name=next]`).AttrOr("value", ""); got != "/invoices?page=2" {
		t.Errorf("login form next = %q", got)
	}

	// Signing in again lands where the user was going.
	mfa := b.post("/login", url.Values{
		"csrf_token": {p.csrf()}, "username": {testUser}, "password": {testPassword}, "next": {"/invoices?page=2"},
	})
	if landed := b.submitCode(mfa, e.code()); landed.url.RequestURI() != "/invoices?page=2" {
		t.Errorf("after re-login landed on %s", landed.url.RequestURI())
	}
}

func TestProtectedPageWithoutSessionRedirects(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.browser().get("/pos/PO-1")
	if p.url.Path != "/login" || p.url.Query().Get("next") != "/pos/PO-1" {
		t.Errorf("landed on %s", p.url)
	}
	if p.has(".flash") {
		t.Errorf("a first visit is not an expired session: flash %q", p.text(".flash"))
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/login/totp", `/\evil`} {
		if got := safeNext(next); got != "/pos" {
			t.Errorf("safeNext(%q) = %q, want /pos", next, got)
		}
	}
	if got := safeNext("/invoices?page=2"); got != "/invoices?page=2" {
		t.Errorf("safeNext kept-path = %q", got)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)

	t.Run("login without token", func(t *testing.T) {
		b := e.browser()
		b.get("/login")
		p := b.post("/login", url.Values{"username": {testUser}, "password": {testPassword}})
		if p.status != 403 || !strings.Contains(p.text("#error-message"), "security token is missing or invalid") {
			t.Errorf("status %d, message %q", p.status, p.text("#error-message"))
		}
	})
	t.Run("login with another browser's token", func(t *testing.T) {
		token := e.browser().get("/login").csrf()
		b := e.browser()
		b.get("/login")
		if p := b.post("/login", url.Values{"csrf_token": {token}, "username": {testUser}, "password": {testPassword}}); p.status != 403 {
			t.Errorf("status %d, want 403", p.status)
		}
	})
	t.Run("signed-in POSTs", func(t *testing.T) {
		b := e.browser()
		e.login(b)
		draft := e.createDraft(b, "PO-1", "CSRF-1", nil)
		submit := draft.url.Path + "/submit"
		for name, token := range map[string][]string{"missing": nil, "wrong": {"not-the-token"}} {
			p := b.post(submit, url.Values{"csrf_token": token})
			if p.status != 403 {
				t.Errorf("%s token: status %d, want 403", name, p.status)
			}
			if got := p.doc.Find("h1").Text(); got != "Security check failed" {
				t.Errorf("%s token: heading %q", name, got)
			}
		}
		if st := e.srv.Invoices(testUser)[0].Status; st != StatusDraft {
			t.Errorf("refused submit changed the status to %s", st)
		}
		if p := b.postMultipart("/pos/PO-1/invoices", invoiceFields("bogus", "CSRF-2"), pdf); p.status != 403 {
			t.Errorf("multipart with a wrong token: status %d", p.status)
		}
		if n := len(e.srv.Invoices(testUser)); n != 1 {
			t.Errorf("refused create left %d invoices, want 1", n)
		}
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	landing := e.login(b)
	p := b.post("/logout", url.Values{"csrf_token": {landing.csrf()}})
	if p.url.Path != "/login" || p.text(".flash") != msgSignedOut {
		t.Fatalf("logout landed on %s with %q", p.url, p.text(".flash"))
	}
	if p := b.get("/pos"); p.url.Path != "/login" {
		t.Errorf("after logout /pos is still reachable")
	}
}
