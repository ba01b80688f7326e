package simulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

const (
	sessionCookie = "sim_session"
	preCookie     = "sim_pre" // anonymous browser: carries the login forms' CSRF token and flashes
	mfaCookie     = "sim_mfa" // password accepted, TOTP code still due

	preSessionTTL = 2 * time.Hour
	mfaTTL        = 5 * time.Minute
	maxFormBody   = 64 << 10

	msgSessionExpired = "Your session has expired. Please sign in again."
)

// session is a signed-in supplier browser.
type session struct {
	id       string
	username string
	csrf     string
	lastSeen time.Time
	flash    *flash
}

// preSession is a browser that has not signed in yet. It exists so that the
// login forms carry a CSRF token bound to a cookie, like every other form.
type preSession struct {
	csrf     string
	lastSeen time.Time
	flash    *flash
}

// mfaPending remembers who passed the password step until the code is given.
// A pending password change (expired password) comes first.
type mfaPending struct {
	username           string
	next               string
	expires            time.Time
	mustChangePassword bool // the "Password expired" form is due before the code
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// preSessionLocked returns the browser's pre-session, creating one (and its
// cookie) when there is none; s.mu must be held.
func (s *Server) preSessionLocked(w http.ResponseWriter, r *http.Request) *preSession {
	now := s.now()
	if p := s.pre[cookieValue(r, preCookie)]; p != nil && now.Sub(p.lastSeen) <= preSessionTTL {
		p.lastSeen = now
		return p
	}
	// Anonymous pre-sessions are cheap to create, so expired ones are swept
	// here to keep a crawler from growing the map without bound.
	for id, p := range s.pre {
		if now.Sub(p.lastSeen) > preSessionTTL {
			delete(s.pre, id)
		}
	}
	id := s.newToken()
	p := &preSession{csrf: randomToken(), lastSeen: now}
	s.pre[id] = p
	s.setCookie(w, r, preCookie, id)
	return p
}

// sessionLocked returns the signed-in session of r. An idle session is
// removed and reported as expired; s.mu must be held.
func (s *Server) sessionLocked(r *http.Request) (sess *session, expired bool) {
	id := cookieValue(r, sessionCookie)
	sess = s.sessions[id]
	if sess == nil {
		return nil, false
	}
	if s.now().Sub(sess.lastSeen) > time.Duration(s.rulesLocked().SessionIdle) {
		delete(s.sessions, id)
		return nil, true
	}
	return sess, false
}

// authed wraps a supplier page: no or expired session redirects to the login
// page with next set; POSTs must carry the session's CSRF token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sess, expired := s.sessionLocked(r)
		if sess == nil {
			if expired {
				clearCookie(w, sessionCookie)
				s.preSessionLocked(w, r).flash = &flash{Kind: "info", Message: msgSessionExpired}
			}
			s.mu.Unlock()
			http.Redirect(w, r, "/login?next="+url.QueryEscape(nextAfterLogin(r)), http.StatusSeeOther)
			return
		}
		sess.lastSeen = s.now()
		uploadLimit := uploadLimitFor(s.rulesLocked())
		s.mu.Unlock()

		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := parseFormLimit(w, r, uploadLimit); err != nil {
				s.renderUserError(w, sess, http.StatusRequestEntityTooLarge, "Request too large", err.Error(), "")
				return
			}
			if !tokenEqual(sess.csrf, r.PostFormValue("csrf_token")) {
				s.forbiddenCSRF(w)
				return
			}
		}
		h(w, r, sess)
	}
}

// maxUploadBody leaves room above the 5 MB attachment limit so that a
// slightly larger PDF gets the friendly form error rather than a 413.
const maxUploadBody = 12 << 20

// uploadLimitFor is the multipart body limit under rules: well above the
// attachment limit, so that a too-large file gets the friendly form error.
func uploadLimitFor(r Rules) int64 {
	return max(maxUploadBody, 2*r.AttachmentMaxBytes+(1<<20))
}

// parseForm reads a urlencoded or multipart body within the default size limits.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	return parseFormLimit(w, r, maxUploadBody)
}

// parseFormLimit reads a urlencoded or multipart body; a multipart body may
// be up to uploadLimit bytes.
func parseFormLimit(w http.ResponseWriter, r *http.Request, uploadLimit int64) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = http.MaxBytesReader(w, r.Body, uploadLimit)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			return fmt.Errorf("the form could not be read; uploads are limited to %d MB", uploadLimit>>20)
		}
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("the form could not be read")
	}
	return nil
}

// nextAfterLogin is where the browser should land after signing in again.
// A POST target cannot be replayed by a GET, so its parent page is used
// (e.g. /invoices/INV-000001/submit → /invoices/INV-000001).
func nextAfterLogin(r *http.Request) string {
	p := r.URL.Path
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return path.Dir(p)
	}
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return p
}

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.Contains(next, `\`) || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "/login") {
		return "/pos"
	}
	return next
}

// sweepSessionsLocked drops idle sessions and stale MFA steps so that repeated
// logins in a long-running demo do not accumulate; s.mu must be held.
func (s *Server) sweepSessionsLocked() {
	now := s.now()
	for id, sess := range s.sessions {
		if now.Sub(sess.lastSeen) > time.Duration(s.rulesLocked().SessionIdle) {
			delete(s.sessions, id)
		}
	}
	for id, p := range s.mfa {
		if now.After(p.expires) {
			delete(s.mfa, id)
		}
	}
}
