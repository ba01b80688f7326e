package simulator

// Sign-in. The decisions of the sign-in flow live in plain methods, the
// SHARED CORE that the Coupa pages below and the Ariba SPA both call, so that
// both flavors count failures, lock, expire passwords and remember browsers
// the same way. Each comes in two forms: xxxLocked (s.mu held, for handlers
// that already hold it) and xxx (takes s.mu itself).
//
//	checkPassword(username, password, rememberToken) (loginOutcome, msg)
//	    step 1. Outcomes: loginNeedsTOTP (ask for the code), loginRemembered
//	    (browser remembered: call startSession, no code), loginPasswordExpired
//	    (show the change form, then changeExpiredPassword), loginRejected
//	    (wrong user name or password: show msg), loginLocked (show msg),
//	    loginError (state not saved: show msg). rememberToken is the value of
//	    the rememberCookie ("sim_remember"), or "".
//	changeExpiredPassword(username, current, newPassword, confirm) (loginOutcome, msg, field)
//	    the "Password expired" form. loginNeedsTOTP = changed, continue with
//	    the code (msg is a success text); loginRejected = show msg at field
//	    (current_password, new_password or confirm_password); loginLocked.
//	checkTOTP(username, code) (loginOutcome, msg)
//	    step 2. loginOK = accepted (then rememberBrowser if ticked, and
//	    startSession); loginRejected = wrong or reused code, stay on the step;
//	    loginLocked = back to the password step with msg. A code is single use
//	    per 30 s step; wrong codes count toward lockout, reused ones do not.
//	rememberBrowser(username) (token string, maxAge time.Duration)
//	    after loginOK when "Remember this browser" was ticked: the value of
//	    the rememberCookie; "" when Rules.RememberBrowserDays is 0.
//	startSession(username) (sessionToken string)
//	    creates a signed-in session; the token is the sessionCookie value.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Texts of the login pages; drivers match on them.
const (
	msgInvalidLogin       = "Invalid user name or password."
	msgCodeReused         = "This code has already been used. Wait for the next code."
	msgInvalidCode        = "Invalid verification code."
	msgMFAExpired         = "The sign-in attempt timed out. Please sign in again."
	msgSignedOut          = "You have been signed out."
	msgPasswordExpired    = "Your password has expired. Choose a new one."
	msgPasswordChanged    = "Your password has been changed. Enter your verification code."
	msgCurrentPassword    = "The current password is not correct."
	msgNewPasswordShort   = "The new password must be at least 8 characters."
	msgNewPasswordSame    = "The new password must be different from the current one."
	msgNewPasswordsDiffer = "The new passwords do not match."
	msgUnavailable        = "The portal could not complete your request. Please try again later."

	rememberCookie    = "sim_remember" // "Remember this browser"
	minPasswordLength = 8
)

// loginOutcome is what a step of the sign-in flow decided (see the top of this file).
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
type loginOutcome int

// The sign-in outcomes.
const (
	loginRejected        loginOutcome = iota + 1 // show msg and stay on the same step
	loginLocked                                  // account locked: show msg on the password step
	loginNeedsTOTP                               // password right (or changed): ask for the verification code
	loginRemembered                              // password right and browser remembered: sign in without a code
	loginPasswordExpired                         // password right but expired: show the "Password expired" form
	loginOK                                      // verification code accepted: start the session
	loginError                                   // the portal could not save its state: show msg
)

func (o loginOutcome) String() string {
	switch o {
	case loginRejected:
		return "rejected"
	case loginLocked:
		return "locked"
	case loginNeedsTOTP:
		return "needs_totp"
	case loginRemembered:
		return "remembered"
	case loginPasswordExpired:
		return "password_expired"
	case loginOK:
		return "ok"
	case loginError:
		return "error"
	}
	return fmt.Sprintf("loginOutcome(%d)", int(o))
}

// checkPassword is the password step.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) checkPassword(username, password, rememberToken string) (loginOutcome, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkPasswordLocked(username, password, rememberToken)
}

// checkPasswordLocked is checkPassword with s.mu held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) checkPasswordLocked(username, password, rememberToken string) (loginOutcome, string) {
	acct := s.accounts[username]
	outcome, msg := loginRejected, msgInvalidLogin
	switch {
	case acct == nil:
		s.logLocked("login_failed", username, "", "unknown user name")
	case acct.Locked:
		s.logLocked("login_failed", username, "", "account locked")
		outcome, msg = loginLocked, s.lockedMessage()
	case subtle.ConstantTimeCompare([]byte(acct.Password), []byte(password)) != 1:
		s.logLocked("login_failed", username, "", "wrong password")
		if s.countFailureLocked(acct) {
			outcome, msg = loginLocked, s.lockedMessage()
		}
	case s.passwordExpiredLocked(acct):
		s.logLocked("login_ok", username, "", "password accepted, password expired")
		s.logLocked("password_expired", username, "", s.passwordAgeLocked(acct))
		outcome, msg = loginPasswordExpired, msgPasswordExpired
	case s.rememberedLocked(acct, rememberToken):
		acct.FailedLogins = 0
		s.logLocked("login_ok", username, "", "password accepted, browser remembered")
		s.logLocked("totp_remembered", username, "", "verification code skipped")
		outcome, msg = loginRemembered, ""
	default:
		s.logLocked("login_ok", username, "", "password accepted, verification code due")
		outcome, msg = loginNeedsTOTP, ""
	}
	if err := s.persistLocked(); err != nil {
		slog.Error("simulator: save state", "err", err)
		return loginError, msgUnavailable
	}
	return outcome, msg
}

func (s *Server) lockedMessage() string {
	return fmt.Sprintf("Account locked. Contact %s's administrator.", s.cfg.Buyer)
}

// countFailureLocked records a wrong password or code and tells whether the
// account is now locked; s.mu must be held.
func (s *Server) countFailureLocked(acct *account) (locked bool) {
	acct.FailedLogins++
	if acct.FailedLogins >= s.rulesLocked().MaxFailedLogins && !acct.Locked {
		acct.Locked = true
		s.logLocked("locked", acct.Username, "", fmt.Sprintf("%d failed attempts in a row", acct.FailedLogins))
	}
	return acct.Locked
}

// passwordExpiredLocked tells whether acct must choose a new password before
// signing in: forced by the control API, or older than Rules.PasswordMaxAgeDays.
func (s *Server) passwordExpiredLocked(acct *account) bool {
	if acct.MustChangePassword {
		return true
	}
	days := s.rulesLocked().PasswordMaxAgeDays
	if days <= 0 || acct.PasswordChangedAt.IsZero() {
		return false
	}
	return !s.now().Before(acct.PasswordChangedAt.AddDate(0, 0, days))
}

func (s *Server) passwordAgeLocked(acct *account) string {
	if acct.MustChangePassword {
		return "expired by the administrator"
	}
	return fmt.Sprintf("changed %s, maximum age %d days", formatDate(acct.PasswordChangedAt), s.rulesLocked().PasswordMaxAgeDays)
}

// setPasswordLocked gives acct a new password that is valid from now; s.mu must be held.
func (s *Server) setPasswordLocked(acct *account, password, detail string) {
	acct.Password = password
	acct.PasswordChangedAt = s.now()
	acct.MustChangePassword = false
	s.logLocked("password_changed", acct.Username, "", detail)
}

// changeExpiredPassword is the "Password expired" form: the current password
// again, a new one twice. field names the input a rejection belongs to.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) changeExpiredPassword(username, current, newPassword, confirm string) (outcome loginOutcome, msg, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeExpiredPasswordLocked(username, current, newPassword, confirm)
}

// changeExpiredPasswordLocked is changeExpiredPassword with s.mu held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) changeExpiredPasswordLocked(username, current, newPassword, confirm string) (outcome loginOutcome, msg, field string) {
	acct := s.accounts[username]
	switch {
	case acct == nil:
		return loginRejected, msgInvalidLogin, "current_password"
	case acct.Locked:
		return loginLocked, s.lockedMessage(), ""
	case subtle.ConstantTimeCompare([]byte(acct.Password), []byte(current)) != 1:
		s.logLocked("login_failed", username, "", "wrong current password on the password change form")
		outcome, msg, field = loginRejected, msgCurrentPassword, "current_password"
		if s.countFailureLocked(acct) {
			outcome, msg, field = loginLocked, s.lockedMessage(), ""
		}
	case utf8.RuneCountInString(newPassword) < minPasswordLength:
		return loginRejected, msgNewPasswordShort, "new_password"
	case newPassword == current:
		return loginRejected, msgNewPasswordSame, "new_password"
	case confirm != newPassword:
		return loginRejected, msgNewPasswordsDiffer, "confirm_password"
	default:
		s.setPasswordLocked(acct, newPassword, "changed by the supplier after expiry")
		outcome, msg = loginNeedsTOTP, msgPasswordChanged
	}
	if err := s.persistLocked(); err != nil {
		slog.Error("simulator: save state", "err", err)
		return loginError, msgUnavailable, ""
	}
	return outcome, msg, field
}

// checkTOTP is the verification-code step for a user whose password step succeeded.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) checkTOTP(username, code string) (loginOutcome, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkTOTPLocked(username, code)
}

// checkTOTPLocked is checkTOTP with s.mu held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) checkTOTPLocked(username, code string) (loginOutcome, string) {
	code = strings.TrimSpace(code)
	acct := s.accounts[username]
	var outcome loginOutcome
	var msg string
	if acct == nil || acct.Locked {
		// Locked meanwhile, e.g. by a parallel attempt from another browser.
		s.logLocked("totp_failed", username, "", "account locked")
		outcome, msg = loginLocked, s.lockedMessage()
	} else {
		step, ok := matchTOTP(acct.TOTPSecret, code, s.now())
		switch {
		case ok && step <= acct.LastTOTPStep:
			// A replayed code is not a guess, so it does not count toward lockout;
			// the user only has to wait for the next step.
			s.logLocked("totp_reused", acct.Username, "", fmt.Sprintf("step %d", step))
			outcome, msg = loginRejected, msgCodeReused
		case !ok:
			s.logLocked("totp_failed", acct.Username, "", "wrong code")
			outcome, msg = loginRejected, msgInvalidCode
			if s.countFailureLocked(acct) {
				outcome, msg = loginLocked, s.lockedMessage()
			}
		default:
			acct.LastTOTPStep = step
			acct.FailedLogins = 0
			s.logLocked("totp_ok", acct.Username, "", fmt.Sprintf("step %d", step))
			outcome = loginOK
		}
	}
	if err := s.persistLocked(); err != nil {
		slog.Error("simulator: save state", "err", err)
		return loginError, msgUnavailable
	}
	return outcome, msg
}

// rememberBrowser registers a "Remember this browser" token for username,
// valid for Rules.RememberBrowserDays; token is "" when the rule is off.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) rememberBrowser(username string) (token string, maxAge time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rememberBrowserLocked(username)
}

// rememberBrowserLocked is rememberBrowser with s.mu held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) rememberBrowserLocked(username string) (token string, maxAge time.Duration) {
	days := s.rulesLocked().RememberBrowserDays
	acct := s.accounts[username]
	if days <= 0 || acct == nil {
		return "", 0
	}
	now := s.now()
	for h, exp := range acct.Remembered {
		if !now.Before(exp) {
			delete(acct.Remembered, h)
		}
	}
	if acct.Remembered == nil {
		acct.Remembered = map[string]time.Time{}
	}
	token = s.newToken()
	maxAge = time.Duration(days) * 24 * time.Hour
	acct.Remembered[rememberHash(token)] = now.Add(maxAge)
	if err := s.persistLocked(); err != nil {
		// The browser is remembered in memory all the same.
		slog.Error("simulator: save state", "err", err)
	}
	return token, maxAge
}

// rememberedLocked tells whether token is a live "Remember this browser"
// token of acct while the rule is on; s.mu must be held.
func (s *Server) rememberedLocked(acct *account, token string) bool {
	if token == "" || s.rulesLocked().RememberBrowserDays <= 0 {
		return false
	}
	exp, ok := acct.Remembered[rememberHash(token)]
	return ok && s.now().Before(exp)
}

// rememberHash is how a remember token is stored: the state file holds no
// token that would sign anybody in.
func rememberHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// startSession signs username in and returns the session token (the value of
// the sessionCookie).
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) startSession(username string) (sessionToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startSessionLocked(username)
}

// startSessionLocked is startSession with s.mu held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) startSessionLocked(username string) (sessionToken string) {
	sess := &session{id: s.newToken(), username: username, csrf: randomToken(), lastSeen: s.now()}
	s.sweepSessionsLocked()
	s.sessions[sess.id] = sess
	return sess.id
}

// --- Coupa pages ---

type loginView struct {
	Username string
	Next     string
}

type totpView struct {
	RememberDays int // > 0: offer "Remember this browser"
}

type passwordView struct {
	Errors map[string]string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	s.mu.Lock()
	if sess, _ := s.sessionLocked(r); sess != nil {
		s.mu.Unlock()
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	pre := s.preSessionLocked(w, r)
	data := pageData{Title: "Sign in", CSRF: pre.csrf, Flash: pre.flash, Page: loginView{Next: next}}
	pre.flash = nil
	s.mu.Unlock()
	s.render(w, http.StatusOK, "login", data)
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))

	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.pre[cookieValue(r, preCookie)]
	if pre == nil || !tokenEqual(pre.csrf, r.PostFormValue("csrf_token")) {
		s.forbiddenCSRF(w)
		return
	}
	outcome, msg := s.checkPasswordLocked(username, password, cookieValue(r, rememberCookie))
	switch outcome {
	case loginNeedsTOTP, loginPasswordExpired:
		token := s.newToken()
		s.mfa[token] = &mfaPending{
			username: username, next: next, expires: s.now().Add(mfaTTL),
			mustChangePassword: outcome == loginPasswordExpired,
		}
		s.setCookie(w, r, mfaCookie, token)
		if outcome == loginPasswordExpired {
			http.Redirect(w, r, "/login/password", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
	case loginRemembered:
		s.setCookie(w, r, sessionCookie, s.startSessionLocked(username))
		http.Redirect(w, r, next, http.StatusSeeOther)
	case loginError:
		s.internalError(w, fmt.Errorf("password step: %s", msg))
	default:
		s.render(w, http.StatusOK, "login", pageData{
			Title: "Sign in", CSRF: pre.csrf,
			Flash: &flash{Kind: "error", Message: msg},
			Page:  loginView{Username: username, Next: next},
		})
	}
}

// mfaLocked returns the pending second step of r's browser; s.mu must be held.
func (s *Server) mfaLocked(r *http.Request) (token string, p *mfaPending, expired bool) {
	token = cookieValue(r, mfaCookie)
	p = s.mfa[token]
	if p == nil {
		return token, nil, false
	}
	if s.now().After(p.expires) {
		delete(s.mfa, token)
		return token, nil, true
	}
	return token, p, false
}

// pendingOr redirects a browser that is not at the expected sign-in step:
// without a pending step to the password page, with a pending password change
// to the change form, otherwise to the code form. It returns the pending step
// when the browser is where it should be; s.mu must be held.
func (s *Server) pendingOr(w http.ResponseWriter, r *http.Request, pre *preSession, wantChange bool) (string, *mfaPending) {
	token, p, expired := s.mfaLocked(r)
	switch {
	case p == nil:
		if expired {
			pre.flash = &flash{Kind: "error", Message: msgMFAExpired}
		}
		clearCookie(w, mfaCookie)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return "", nil
	case p.mustChangePassword && !wantChange:
		http.Redirect(w, r, "/login/password", http.StatusSeeOther)
		return "", nil
	case !p.mustChangePassword && wantChange:
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
		return "", nil
	}
	return token, p
}

func (s *Server) totpPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	pre := s.preSessionLocked(w, r)
	if _, p := s.pendingOr(w, r, pre, false); p == nil {
		s.mu.Unlock()
		return
	}
	data := pageData{Title: "Verification code", CSRF: pre.csrf, Flash: pre.flash,
		Page: totpView{RememberDays: s.rulesLocked().RememberBrowserDays}}
	pre.flash = nil
	s.mu.Unlock()
	s.render(w, http.StatusOK, "totp", data)
}

func (s *Server) totpSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))

	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.pre[cookieValue(r, preCookie)]
	if pre == nil || !tokenEqual(pre.csrf, r.PostFormValue("csrf_token")) {
		s.forbiddenCSRF(w)
		return
	}
	token, p := s.pendingOr(w, r, pre, false)
	if p == nil {
		return
	}
	outcome, msg := s.checkTOTPLocked(p.username, code)
	switch outcome {
	case loginOK:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		if r.PostFormValue("remember_browser") != "" {
			if rt, maxAge := s.rememberBrowserLocked(p.username); rt != "" {
				http.SetCookie(w, &http.Cookie{
					Name: rememberCookie, Value: rt, Path: "/", MaxAge: int(maxAge / time.Second),
					HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
				})
			}
		}
		s.setCookie(w, r, sessionCookie, s.startSessionLocked(p.username))
		http.Redirect(w, r, p.next, http.StatusSeeOther)
	case loginLocked:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		pre.flash = &flash{Kind: "error", Message: msg}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(p.next), http.StatusSeeOther)
	case loginError:
		s.internalError(w, fmt.Errorf("code step: %s", msg))
	default:
		s.render(w, http.StatusOK, "totp", pageData{
			Title: "Verification code", CSRF: pre.csrf, Flash: &flash{Kind: "error", Message: msg},
			Page: totpView{RememberDays: s.rulesLocked().RememberBrowserDays},
		})
	}
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	pre := s.preSessionLocked(w, r)
	if _, p := s.pendingOr(w, r, pre, true); p == nil {
		s.mu.Unlock()
		return
	}
	pre.flash = nil
	data := pageData{Title: "Password expired", CSRF: pre.csrf,
		Flash: &flash{Kind: "error", Message: msgPasswordExpired}, Page: passwordView{}}
	s.mu.Unlock()
	s.render(w, http.StatusOK, "password_expired", data)
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.pre[cookieValue(r, preCookie)]
	if pre == nil || !tokenEqual(pre.csrf, r.PostFormValue("csrf_token")) {
		s.forbiddenCSRF(w)
		return
	}
	token, p := s.pendingOr(w, r, pre, true)
	if p == nil {
		return
	}
	outcome, msg, field := s.changeExpiredPasswordLocked(p.username,
		r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password"))
	switch outcome {
	case loginNeedsTOTP:
		p.mustChangePassword = false
		p.expires = s.now().Add(mfaTTL)
		pre.flash = &flash{Kind: "success", Message: msg}
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
	case loginLocked:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		pre.flash = &flash{Kind: "error", Message: msg}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(p.next), http.StatusSeeOther)
	case loginError:
		s.internalError(w, fmt.Errorf("password change: %s", msg))
	default:
		s.render(w, http.StatusUnprocessableEntity, "password_expired", pageData{
			Title: "Password expired", CSRF: pre.csrf,
			Flash: &flash{Kind: "error", Message: msgPasswordExpired, Messages: []string{msg}},
			Page:  passwordView{Errors: map[string]string{field: msg}},
		})
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.logLocked("logout", sess.username, "", "")
	err := s.persistLocked()
	s.preSessionLocked(w, r).flash = &flash{Kind: "success", Message: msgSignedOut}
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, err)
		return
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
