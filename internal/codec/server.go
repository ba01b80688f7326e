package codec

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// ErrNoTokens is returned when no codec server token is configured. Without one the codec server would
// decrypt for anyone who can reach it, so it does not start.
var ErrNoTokens = errors.New("codec: no codec server token configured: set PORTICO_CODEC_TOKENS " +
	"(comma-separated) or PORTICO_CODEC_TOKEN_FILE (one token a line), or create " + defaultTokenFile +
	"; make a token with `openssl rand -hex 32`")

// MinTokenLength is the shortest token TokensFromEnv accepts: a token guards every decrypted payload and the
// login form has no lockout, so it must be too long to guess.
const MinTokenLength = 16

const (
	sessionCookieName   = "portico_codec_session"
	sessionVersion      = 1
	sessionPayloadLen   = 1 + 8 + 8 + 8 // version, expiry, token tag, nonce
	defaultSessionTTL   = 12 * time.Hour
	defaultMaxBodyBytes = 16 << 20
	maxLoginBodyBytes   = 8 << 10
)

// DefaultAllowedOrigins are the origins of the Web UI of `temporal server start-dev` (port 8233), under both
// names a browser may use for it.
var DefaultAllowedOrigins = []string{"http://localhost:8233", "http://127.0.0.1:8233"}

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	// Tokens are the bearer tokens that may decrypt, from TokensFromEnv for example. Blank entries are
	// ignored; with none left every request is refused.
	Tokens []string

	// AllowedOrigins are the browser origins (scheme://host:port) of Temporal Web UIs allowed to call the
	// codec with credentials. Empty means DefaultAllowedOrigins. "*" is not supported: reflecting any origin
	// with credentials would let any web page read decrypted payloads.
	AllowedOrigins []string

	// SessionTTL is how long a login cookie stays valid; 12 hours when zero.
	SessionTTL time.Duration

	// SessionKey signs login cookies. Empty means a random key per handler, so sessions end when the process
	// restarts; set a shared key of at least 32 bytes to keep sessions across replicas or restarts.
	SessionKey []byte

	// CookiePath is the Path of the login cookie. Empty means the prefix the handler is mounted under, derived
	// from the request (for /codec/login it is /codec); set it when a proxy in front rewrites the path.
	CookiePath string

	// MaxBodyBytes bounds an encode or decode request; 16 MiB when zero.
	MaxBodyBytes int64

	// Logger receives refusals and decode failures (never tokens or payload contents); nil discards them.
	Logger *slog.Logger
}

type handler struct {
	codec       http.Handler
	tokenHashes [][sha256.Size]byte
	tokenTags   [][]byte
	origins     map[string]bool
	ttl         time.Duration
	key         []byte
	cookiePath  string
	maxBody     int64
	log         *slog.Logger
	now         func() time.Time
}

// NewHandler serves the codec server protocol of the Temporal Web UI and CLI (POST .../encode and
// POST .../decode with JSON Payloads) behind token authentication, plus a small login page
// (GET/POST .../login, POST .../logout) that gives a browser a session cookie, because the Web UI can send
// cookies to a codec server but has no way to send a static bearer token. Mount it under a prefix with
// http.StripPrefix; only the last path segment is looked at, as the protocol asks.
//
// It panics if opts.SessionKey is set but shorter than 32 bytes, which is a configuration bug.
func NewHandler(c *Codec, opts HandlerOptions) http.Handler {
	h := &handler{
		origins:    map[string]bool{},
		ttl:        opts.SessionTTL,
		key:        opts.SessionKey,
		cookiePath: opts.CookiePath,
		maxBody:    opts.MaxBodyBytes,
		log:        opts.Logger,
		now:        time.Now,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.ttl <= 0 {
		h.ttl = defaultSessionTTL
	}
	if h.maxBody <= 0 {
		h.maxBody = defaultMaxBodyBytes
	}
	switch {
	case len(h.key) == 0:
		h.key = make([]byte, 32)
		if _, err := rand.Read(h.key); err != nil {
			panic(fmt.Sprintf("codec: session key: %v", err))
		}
	case len(h.key) < 32:
		panic("codec: HandlerOptions.SessionKey must be at least 32 bytes")
	}
	for _, t := range opts.Tokens {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		h.tokenHashes = append(h.tokenHashes, sha256.Sum256([]byte(t)))
		h.tokenTags = append(h.tokenTags, h.tokenTag(t))
	}
	if len(h.tokenHashes) == 0 {
		h.log.Warn("codec server has no tokens configured; every request will be refused")
	}
	origins := opts.AllowedOrigins
	if len(origins) == 0 {
		origins = DefaultAllowedOrigins
	}
	for _, o := range origins {
		if n := normalizeOrigin(o); n != "" && n != "*" && n != "null" {
			h.origins[n] = true
		}
	}
	h.codec = converter.NewPayloadCodecHTTPHandler(&loggingCodec{c: c, log: h.log})
	return h
}

// TokensFromEnv reads codec server tokens from PORTICO_CODEC_TOKENS (comma-separated) or
// PORTICO_CODEC_TOKEN_FILE (one a line, # comments allowed), falling back to .state/codec.token where
// `make run` keeps the demo token. With none it returns ErrNoTokens; a token shorter than MinTokenLength
// is an error.
func TokensFromEnv() ([]string, error) {
	var raw []string
	switch {
	case strings.TrimSpace(os.Getenv("PORTICO_CODEC_TOKENS")) != "":
		raw = strings.Split(os.Getenv("PORTICO_CODEC_TOKENS"), ",")
	case os.Getenv("PORTICO_CODEC_TOKEN_FILE") != "":
		data, err := os.ReadFile(os.Getenv("PORTICO_CODEC_TOKEN_FILE"))
		if err != nil {
			return nil, fmt.Errorf("codec: read PORTICO_CODEC_TOKEN_FILE: %w", err)
		}
		raw = strings.Split(string(data), "\n")
	default:
		data, err := os.ReadFile(defaultTokenFile)
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoTokens
		}
		if err != nil {
			return nil, fmt.Errorf("codec: read %s: %w", defaultTokenFile, err)
		}
		raw = strings.Split(string(data), "\n")
	}
	var tokens []string
	for i, t := range raw {
		t = strings.TrimSpace(t)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(t) < MinTokenLength {
			return nil, fmt.Errorf("codec: codec token #%d is shorter than %d characters (the token itself is "+
				"not shown); make one with `openssl rand -hex 32`", i+1, MinTokenLength)
		}
		tokens = append(tokens, t)
	}
	if len(tokens) == 0 {
		return nil, ErrNoTokens
	}
	return tokens, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// Decoded payloads and login state must not land in a browser or proxy cache.
	hdr.Set("Cache-Control", "no-store")

	origin := r.Header.Get("Origin")
	originAllowed := origin != "" && h.origins[normalizeOrigin(origin)]
	if originAllowed {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}

	if r.Method == http.MethodOptions {
		h.preflight(w, r, originAllowed)
		return
	}

	switch lastSegment(r.URL.Path) {
	case "encode", "decode":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST, OPTIONS")
			return
		}
		how, ok := h.authenticate(r)
		if !ok {
			h.log.Info("codec request refused: no valid token or session", "path", r.URL.Path, "remote", r.RemoteAddr)
			h.unauthorized(w, r)
			return
		}
		// A cookie rides along with any request the browser makes, so with cookie auth the calling page must be
		// an allowed Temporal UI. CORS already keeps other pages from reading the answer; this keeps them from
		// making the codec do work on their behalf at all.
		if how == authCookie && origin != "" && !originAllowed && !sameHost(origin, r.Host) {
			h.log.Info("codec request refused: cookie from a disallowed origin", "origin", origin, "remote", r.RemoteAddr)
			writeJSONError(w, http.StatusForbidden, "forbidden_origin",
				"this origin is not in the codec server's allowed origins")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		h.codec.ServeHTTP(w, r)
	case "login":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.loginPage(w, r, http.StatusOK, "")
		case http.MethodPost:
			h.login(w, r)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case "logout":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		h.logout(w, r)
	default:
		writeJSONError(w, http.StatusNotFound, "not_found", "the codec server serves POST encode, POST decode and login")
	}
}

// preflight answers the browser's CORS check without authentication: it carries no credentials by design.
// A disallowed origin gets no CORS headers, so the browser never sends the real request.
func (h *handler) preflight(w http.ResponseWriter, r *http.Request, originAllowed bool) {
	if !originAllowed {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	// Authorization-Extras is what newer UIs add next to Authorization when "Pass access token" is on; a
	// header missing here fails the whole preflight, so it is allowed even though it is ignored.
	hdr.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Namespace, Authorization-Extras")
	hdr.Set("Access-Control-Max-Age", "600")
	// Chrome's Private Network Access asks this when a UI on a LAN address calls a codec on loopback.
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		hdr.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

type authMethod int

const (
	authNone authMethod = iota
	authBearer
	authCookie
)

// authenticate accepts a valid bearer token or a valid session cookie. An unknown bearer token does not
// veto a valid cookie: the UI's "Pass access token" option sends its own OIDC token in that header.
func (h *handler) authenticate(r *http.Request) (authMethod, bool) {
	if tok, ok := bearerToken(r); ok && h.validToken(tok) {
		return authBearer, true
	}
	if c, err := r.Cookie(sessionCookieName); err == nil && h.validSession(c.Value) {
		return authCookie, true
	}
	return authNone, false
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// validToken compares hashes, so the comparison takes the same time whatever the presented token's length,
// and checks every configured token, so timing does not reveal which one matched.
func (h *handler) validToken(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for i := range h.tokenHashes {
		match |= subtle.ConstantTimeCompare(sum[:], h.tokenHashes[i][:])
	}
	return match == 1
}

// tokenTag binds a session to the token that created it without storing the token: a session outlives
// neither its expiry nor the removal of its token from the configuration (with a shared SessionKey).
func (h *handler) tokenTag(tok string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("portico-codec-token-tag/v1\x00"))
	m.Write([]byte(tok))
	return m.Sum(nil)[:8]
}

func (h *handler) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("portico-codec-session/v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

func (h *handler) newSession(tok string) (string, time.Time, error) {
	expires := h.now().Add(h.ttl).Truncate(time.Second)
	p := make([]byte, sessionPayloadLen)
	p[0] = sessionVersion
	binary.BigEndian.PutUint64(p[1:9], uint64(expires.Unix()))
	copy(p[9:17], h.tokenTag(tok))
	if _, err := rand.Read(p[17:]); err != nil {
		return "", time.Time{}, err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(p) + "." + enc.EncodeToString(h.sign(p)), expires, nil
}

// sessionExpiry returns when a valid session ends.
func (h *handler) sessionExpiry(v string) (time.Time, bool) {
	// Strict, so each session has exactly one spelling: loose decoding ignores the spare low bits of the
	// last character and would accept altered cookies as the same session.
	enc := base64.RawURLEncoding.Strict()
	ps, ss, ok := strings.Cut(v, ".")
	if !ok {
		return time.Time{}, false
	}
	p, err := enc.DecodeString(ps)
	if err != nil || len(p) != sessionPayloadLen || p[0] != sessionVersion {
		return time.Time{}, false
	}
	sig, err := enc.DecodeString(ss)
	if err != nil || !hmac.Equal(sig, h.sign(p)) {
		return time.Time{}, false
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(p[1:9])), 0)
	if !h.now().Before(expires) {
		return time.Time{}, false
	}
	known := 0
	for _, tag := range h.tokenTags {
		known |= subtle.ConstantTimeCompare(p[9:17], tag)
	}
	return expires, known == 1
}

func (h *handler) validSession(v string) bool {
	_, ok := h.sessionExpiry(v)
	return ok
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBodyBytes)
	if err := r.ParseForm(); err != nil {
		h.loginPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" || !h.validToken(tok) {
		h.log.Info("codec login refused", "remote", r.RemoteAddr)
		h.loginPage(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	value, expires, err := h.newSession(tok)
	if err != nil {
		h.log.Error("codec login: make session", "err", err)
		h.loginPage(w, r, http.StatusInternalServerError, "Could not start a session; see the server log.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookieName,
		Value:    value,
		Path:     h.cookiePathFor(r),
		Expires:  expires,
		MaxAge:   int(h.ttl / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	h.log.Info("codec login", "remote", r.RemoteAddr, "expires", expires)
	// Redirect so reloading the result page does not post the token again.
	seeLoginPage(w)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookieName,
		Value:    "",
		Path:     h.cookiePathFor(r),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	seeLoginPage(w)
}

// seeLoginPage redirects to the login page with a relative Location, which the browser resolves against the
// URL it used. http.Redirect would resolve it against the path after http.StripPrefix and lose the prefix.
func seeLoginPage(w http.ResponseWriter) {
	w.Header().Set("Location", "login")
	w.WriteHeader(http.StatusSeeOther)
}

// mountPrefix is the part of the browser's path that http.StripPrefix removed, read off the untouched
// RequestURI, so the cookie covers the decode endpoint wherever the handler is mounted.
func mountPrefix(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || !strings.HasSuffix(u.Path, r.URL.Path) {
		return ""
	}
	return strings.TrimSuffix(u.Path[:len(u.Path)-len(r.URL.Path)], "/")
}

func (h *handler) cookiePathFor(r *http.Request) string {
	if h.cookiePath != "" {
		return h.cookiePath
	}
	if p := mountPrefix(r); p != "" {
		return p
	}
	return "/"
}

func (h *handler) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="portico-codec"`)
	writeJSONError(w, http.StatusUnauthorized, "unauthorized",
		fmt.Sprintf("send Authorization: Bearer <token> (temporal --codec-auth \"Bearer <token>\"), "+
			"or sign in at %s/login and enable \"Include cross-origin credentials\" in the Temporal UI", mountPrefix(r)))
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
}

func lastSegment(p string) string {
	return p[strings.LastIndex(p, "/")+1:]
}

func normalizeOrigin(o string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
}

func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

type loginView struct {
	Error    string
	SignedIn bool
	Expires  string
	Endpoint string
	Origins  []string
}

func (h *handler) loginPage(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	v := loginView{Error: errMsg, Endpoint: endpointURL(r), Origins: slices.Sorted(maps.Keys(h.origins))}
	if c, err := r.Cookie(sessionCookieName); err == nil && errMsg == "" {
		if exp, ok := h.sessionExpiry(c.Value); ok {
			v.SignedIn, v.Expires = true, exp.Local().Format("2006-01-02 15:04 MST")
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := loginTemplate.Execute(w, v); err != nil {
		h.log.Warn("codec login page", "err", err)
	}
}

// endpointURL is what to paste into the UI's codec endpoint field; it echoes only the request's own Host,
// escaped by html/template.
func endpointURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + mountPrefix(r)
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portico codec server</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #1f2328; }
input[type=password] { width: 100%; padding: .5rem; font: inherit; box-sizing: border-box; }
button { margin-top: .75rem; padding: .4rem 1rem; font: inherit; }
.err { color: #b42318; } .ok { color: #067647; }
code { background: #f3f4f6; padding: 0 .25rem; }
</style>
</head>
<body>
<h1>Portico payload decryption</h1>
{{if .SignedIn}}
<p class="ok">This browser is signed in until {{.Expires}} and can decrypt payloads in the Temporal UI.</p>
<form method="post" action="logout"><button type="submit">Sign out</button></form>
{{else}}
<p>Paste a codec token to let this browser decrypt Temporal payloads. The browser keeps a signed session cookie, not the token.</p>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="login">
<label for="token">Codec token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Sign in</button>
</form>
{{end}}
<h2>In the Temporal UI</h2>
<ol>
<li>Open this page and the Temporal UI under the same host name (both <code>localhost</code> or both <code>127.0.0.1</code>); otherwise the browser treats them as different sites and does not send the cookie.</li>
<li>In the Temporal UI, click the Codec Server button (the glasses icon) in the top bar.</li>
<li>Choose <em>Use my browser setting and ignore Cluster-level setting</em>, set the endpoint to <code>{{.Endpoint}}</code>, switch on <em>Include cross-origin credentials</em>, leave <em>Pass the user access token</em> off, and click <em>Apply</em>.</li>
</ol>
<p>Allowed UI origins: {{range $i, $o := .Origins}}{{if $i}}, {{end}}<code>{{$o}}</code>{{end}}.</p>
<p>CLI: <code>temporal workflow show --codec-endpoint {{.Endpoint}} --codec-auth "Bearer $TOKEN" ...</code></p>
</body>
</html>
`))

// loggingCodec reports failures of requests made through the HTTP handler. Errors from Codec name key IDs
// and payload positions only, so they are safe to log.
type loggingCodec struct {
	c   *Codec
	log *slog.Logger
}

func (l *loggingCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out, err := l.c.Encode(p)
	if err != nil {
		l.log.Warn("codec server encode failed", "payloads", len(p), "err", err)
	}
	return out, err
}

func (l *loggingCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out, err := l.c.Decode(p)
	if err != nil {
		l.log.Warn("codec server decode failed", "payloads", len(p), "err", err)
	}
	return out, err
}
