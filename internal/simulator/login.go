package simulator

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Texts of the login pages; drivers match on them.
const (
	msgInvalidLogin = "Invalid user name or password."
	msgCodeReused   = "This code has already been used. Wait for the next code."
	msgInvalidCode  = "Invalid verification code."
	msgMFAExpired   = "The sign-in attempt timed out. Please sign in again."
	msgSignedOut    = "You have been signed out."
)

type loginView struct {
	Username string
	Next     string
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
	fail := func(msg string) {
		s.render(w, http.StatusOK, "login", pageData{
			Title: "Sign in", CSRF: pre.csrf,
			Flash: &flash{Kind: "error", Message: msg},
			Page:  loginView{Username: username, Next: next},
		})
	}
	acct := s.accounts[username]
	switch {
	case acct == nil:
		s.logLocked("login_failed", username, "", "unknown user name")
	case acct.Locked:
		s.logLocked("login_failed", username, "", "account locked")
	case subtle.ConstantTimeCompare([]byte(acct.Password), []byte(password)) != 1:
		s.logLocked("login_failed", username, "", "wrong password")
		s.countFailureLocked(acct)
	default:
		s.logLocked("login_ok", username, "", "password accepted, verification code due")
		if err := s.persistLocked(); err != nil {
			s.internalError(w, err)
			return
		}
		token := randomToken()
		s.mfa[token] = &mfaPending{username: username, next: next, expires: s.now().Add(mfaTTL)}
		s.setCookie(w, r, mfaCookie, token)
		http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
		return
	}
	if err := s.persistLocked(); err != nil {
		s.internalError(w, err)
		return
	}
	if acct != nil && acct.Locked {
		fail(s.lockedMessage())
		return
	}
	fail(msgInvalidLogin)
}

func (s *Server) lockedMessage() string {
	return fmt.Sprintf("Account locked. Contact %s's administrator.", s.cfg.Buyer)
}

// countFailureLocked records a wrong password or code; s.mu must be held.
func (s *Server) countFailureLocked(acct *account) {
	acct.FailedLogins++
	if acct.FailedLogins >= s.cfg.MaxFailedLogins && !acct.Locked {
		acct.Locked = true
		s.logLocked("locked", acct.Username, "", fmt.Sprintf("%d failed attempts in a row", acct.FailedLogins))
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

func (s *Server) totpPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, p, expired := s.mfaLocked(r)
	pre := s.preSessionLocked(w, r)
	if p == nil {
		if expired {
			pre.flash = &flash{Kind: "error", Message: msgMFAExpired}
		}
		s.mu.Unlock()
		clearCookie(w, mfaCookie)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	data := pageData{Title: "Verification code", CSRF: pre.csrf, Flash: pre.flash}
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
	token, p, expired := s.mfaLocked(r)
	if p == nil {
		if expired {
			pre.flash = &flash{Kind: "error", Message: msgMFAExpired}
		}
		clearCookie(w, mfaCookie)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	acct := s.accounts[p.username]
	backToLogin := func(msg string) {
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		pre.flash = &flash{Kind: "error", Message: msg}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(p.next), http.StatusSeeOther)
	}
	if acct == nil || acct.Locked {
		// Locked meanwhile, e.g. by a parallel attempt from another browser.
		s.logLocked("totp_failed", p.username, "", "account locked")
		if err := s.persistLocked(); err != nil {
			s.internalError(w, err)
			return
		}
		backToLogin(s.lockedMessage())
		return
	}
	again := func(msg string) {
		s.render(w, http.StatusOK, "totp", pageData{
			Title: "Verification code", CSRF: pre.csrf, Flash: &flash{Kind: "error", Message: msg},
		})
	}

	step, ok := matchTOTP(acct.TOTPSecret, code, s.now())
	switch {
	case ok && step <= acct.LastTOTPStep:
		// A replayed code is not a guess, so it does not count toward lockout;
		// the user only has to wait for the next step.
		s.logLocked("totp_reused", acct.Username, "", fmt.Sprintf("step %d", step))
		if err := s.persistLocked(); err != nil {
			s.internalError(w, err)
			return
		}
		again(msgCodeReused)
	case !ok:
		s.logLocked("totp_failed", acct.Username, "", "wrong code")
		s.countFailureLocked(acct)
		if err := s.persistLocked(); err != nil {
			s.internalError(w, err)
			return
		}
		if acct.Locked {
			backToLogin(s.lockedMessage())
			return
		}
		again(msgInvalidCode)
	default:
		acct.LastTOTPStep = step
		acct.FailedLogins = 0
		s.logLocked("totp_ok", acct.Username, "", fmt.Sprintf("step %d", step))
		if err := s.persistLocked(); err != nil {
			s.internalError(w, err)
			return
		}
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		sess := &session{id: randomToken(), username: acct.Username, csrf: randomToken(), lastSeen: s.now()}
		s.sweepSessionsLocked()
		s.sessions[sess.id] = sess
		s.setCookie(w, r, sessionCookie, sess.id)
		http.Redirect(w, r, p.next, http.StatusSeeOther)
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
