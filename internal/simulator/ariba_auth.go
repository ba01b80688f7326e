package simulator

import (
	"net/http"
	"strings"
	"time"
)

// ariba_auth.go is the sign-in API of the Ariba app. Every decision (wrong
// password, lockout, expired password, single-use codes, remembered browsers,
// the session itself) is the shared core's in login.go; these handlers only
// carry its outcomes as JSON. The pending second step lives where the Coupa
// pages keep it (s.mfa and the mfaCookie), so both flavors behave the same.

// aribaAuthState is the answer of every sign-in endpoint: step "done" with the
// signed-in user, or the step the app must show next.
type aribaAuthState struct {
	Step            string `json:"step"` // password, mfa, password_expired or done
	CSRF            string `json:"csrf"`
	Error           string `json:"error,omitempty"`   // why the last attempt failed (role="alert")
	Message         string `json:"message,omitempty"` // what the step says (expiry, password changed)
	Field           string `json:"field,omitempty"`   // the input a password-change error concerns
	Expired         bool   `json:"expired,omitempty"` // the session ran out (idle timeout)
	RememberOffered bool   `json:"remember_offered,omitempty"`
	User            string `json:"user,omitempty"`
	Supplier        string `json:"supplier,omitempty"`
	Buyer           string `json:"buyer,omitempty"`
}

// The app's fields of the password change form, by the core's field names.
var aribaPasswordFields = map[string]string{
	"current_password": "currentPassword",
	"new_password":     "newPassword",
	"confirm_password": "confirmPassword",
}

// signedInLocked is the "done" answer for a session; s.mu must be held.
func (s *Server) signedInLocked(sessionID string) aribaAuthState {
	sess := s.sessions[sessionID]
	st := aribaAuthState{Step: "done", CSRF: sess.csrf, User: sess.username, Buyer: s.cfg.Buyer}
	if a := s.accounts[sess.username]; a != nil {
		st.Supplier = a.Supplier
	}
	return st
}

// pendingStateLocked is the sign-in step a browser without a session is at; s.mu must be held.
func (s *Server) pendingStateLocked(w http.ResponseWriter, r *http.Request, csrf string) aribaAuthState {
	_, p, expired := s.mfaLocked(r)
	switch {
	case p == nil:
		st := aribaAuthState{Step: "password", CSRF: csrf, Buyer: s.cfg.Buyer}
		if expired {
			clearCookie(w, mfaCookie)
			st.Error = msgMFAExpired
		}
		return st
	case p.mustChangePassword:
		return aribaAuthState{Step: "password_expired", CSRF: csrf, Message: msgPasswordExpired, Buyer: s.cfg.Buyer}
	}
	return aribaAuthState{Step: "mfa", CSRF: csrf, RememberOffered: s.rulesLocked().RememberBrowserDays > 0, Buyer: s.cfg.Buyer}
}

// aribaSessionGet tells the app who is signed in (200) or which sign-in step
// is due (401), with the CSRF token for the next request either way.
func (s *Server) aribaSessionGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, expired := s.sessionLocked(r)
	if sess != nil {
		sess.lastSeen = s.now()
		writeJSON(w, http.StatusOK, s.signedInLocked(sess.id))
		return
	}
	pre := s.preSessionLocked(w, r)
	st := s.pendingStateLocked(w, r, pre.csrf)
	if expired {
		clearCookie(w, sessionCookie)
		st.Expired = true
		if st.Error == "" {
			st.Error = msgSessionExpired
		}
	}
	writeJSON(w, http.StatusUnauthorized, st)
}

// aribaPreLocked checks the CSRF token of a sign-in request against the
// browser's pre-session and answers 403 when it does not match; s.mu must be held.
func (s *Server) aribaPreLocked(w http.ResponseWriter, r *http.Request) *preSession {
	pre := s.pre[cookieValue(r, preCookie)]
	if pre == nil || !tokenEqual(pre.csrf, r.Header.Get(csrfHeader)) {
		writeJSONError(w, http.StatusForbidden, msgCSRFRefused)
		return nil
	}
	return pre
}

// aribaAuthStatus is the HTTP status of a refused sign-in step.
func aribaAuthStatus(o loginOutcome) int {
	switch o {
	case loginLocked:
		return http.StatusLocked
	case loginError:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// aribaSessionPassword is the password step: POST /api/session {"username","password"}.
func (s *Server) aribaSessionPassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	username := strings.TrimSpace(body.Username)
	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.aribaPreLocked(w, r)
	if pre == nil {
		return
	}
	outcome, msg := s.checkPasswordLocked(username, body.Password, cookieValue(r, rememberCookie))
	switch outcome {
	case loginNeedsTOTP, loginPasswordExpired:
		token := s.newToken()
		s.mfa[token] = &mfaPending{
			username: username, next: "/app", expires: s.now().Add(mfaTTL),
			mustChangePassword: outcome == loginPasswordExpired,
		}
		s.setCookie(w, r, mfaCookie, token)
		st := aribaAuthState{Step: "mfa", CSRF: pre.csrf, RememberOffered: s.rulesLocked().RememberBrowserDays > 0, Buyer: s.cfg.Buyer}
		if outcome == loginPasswordExpired {
			st = aribaAuthState{Step: "password_expired", CSRF: pre.csrf, Message: msg, Buyer: s.cfg.Buyer}
		}
		writeJSON(w, http.StatusOK, st)
	case loginRemembered:
		id := s.startSessionLocked(username)
		s.setCookie(w, r, sessionCookie, id)
		writeJSON(w, http.StatusOK, s.signedInLocked(id))
	default:
		writeJSON(w, aribaAuthStatus(outcome), aribaAuthState{Step: "password", CSRF: pre.csrf, Error: msg, Buyer: s.cfg.Buyer})
	}
}

// aribaSessionMFA is the verification-code step: POST /api/session/mfa {"code","trust"}.
func (s *Server) aribaSessionMFA(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code  string `json:"code"`
		Trust bool   `json:"trust"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.aribaPreLocked(w, r)
	if pre == nil {
		return
	}
	token, p, _ := s.mfaLocked(r)
	if p == nil || p.mustChangePassword {
		st := s.pendingStateLocked(w, r, pre.csrf)
		if st.Error == "" && p == nil {
			st.Error = msgSignInFirst
		}
		if p != nil {
			st.Error = msgPasswordExpired
		}
		writeJSON(w, http.StatusConflict, st)
		return
	}
	outcome, msg := s.checkTOTPLocked(p.username, body.Code)
	switch outcome {
	case loginOK:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		if body.Trust {
			if rt, maxAge := s.rememberBrowserLocked(p.username); rt != "" {
				http.SetCookie(w, &http.Cookie{
					Name: rememberCookie, Value: rt, Path: "/", MaxAge: int(maxAge / time.Second),
					HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
				})
			}
		}
		id := s.startSessionLocked(p.username)
		s.setCookie(w, r, sessionCookie, id)
		writeJSON(w, http.StatusOK, s.signedInLocked(id))
	case loginLocked:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		writeJSON(w, aribaAuthStatus(outcome), aribaAuthState{Step: "password", CSRF: pre.csrf, Error: msg, Buyer: s.cfg.Buyer})
	default:
		writeJSON(w, aribaAuthStatus(outcome), aribaAuthState{
			Step: "mfa", CSRF: pre.csrf, Error: msg, RememberOffered: s.rulesLocked().RememberBrowserDays > 0, Buyer: s.cfg.Buyer,
		})
	}
}

// aribaSessionChangePassword is the "Password expired" form:
// POST /api/session/password {"current_password","new_password","confirm_password"}.
func (s *Server) aribaSessionChangePassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
		Confirm string `json:"confirm_password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pre := s.aribaPreLocked(w, r)
	if pre == nil {
		return
	}
	token, p, _ := s.mfaLocked(r)
	if p == nil || !p.mustChangePassword {
		st := s.pendingStateLocked(w, r, pre.csrf)
		if st.Error == "" {
			st.Error = msgSignInFirst
		}
		writeJSON(w, http.StatusConflict, st)
		return
	}
	outcome, msg, field := s.changeExpiredPasswordLocked(p.username, body.Current, body.New, body.Confirm)
	switch outcome {
	case loginNeedsTOTP:
		p.mustChangePassword = false
		p.expires = s.now().Add(mfaTTL)
		writeJSON(w, http.StatusOK, aribaAuthState{
			Step: "mfa", CSRF: pre.csrf, Message: msg, RememberOffered: s.rulesLocked().RememberBrowserDays > 0, Buyer: s.cfg.Buyer,
		})
	case loginLocked:
		delete(s.mfa, token)
		clearCookie(w, mfaCookie)
		writeJSON(w, aribaAuthStatus(outcome), aribaAuthState{Step: "password", CSRF: pre.csrf, Error: msg, Buyer: s.cfg.Buyer})
	case loginError:
		writeJSON(w, aribaAuthStatus(outcome), aribaAuthState{Step: "password_expired", CSRF: pre.csrf, Error: msg, Message: msgPasswordExpired, Buyer: s.cfg.Buyer})
	default:
		writeJSON(w, http.StatusUnprocessableEntity, aribaAuthState{
			Step: "password_expired", CSRF: pre.csrf, Error: msg, Message: msgPasswordExpired,
			Field: aribaPasswordFields[field], Buyer: s.cfg.Buyer,
		})
	}
}

// aribaSessionDelete signs out: DELETE /api/session.
func (s *Server) aribaSessionDelete(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.logLocked("logout", sess.username, "", "")
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	clearCookie(w, sessionCookie)
	writeJSON(w, http.StatusOK, map[string]string{"message": msgSignedOut})
}
