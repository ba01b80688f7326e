// Package simulator is a server-rendered, Coupa-like buyer AP portal that
// suppliers sign in to (password + TOTP) to read purchase orders and raise
// invoices against them. It is the default target of the Portico portal
// driver and behaves like the real portals described in portal-facts.md:
// full page navigations, CSRF tokens, idle sessions, single-use TOTP codes,
// lockout, paged tables and server-side validation. A buyer page, a buyer
// JSON API and a control API let tests and demos play the buyer.
package simulator

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Flavor          string           // FlavorCoupa (default, server-rendered pages) or FlavorAriba (single-page app)
	Buyer           string           // buyer name shown in the header, default "Acme Manufacturing"
	SessionIdle     time.Duration    // idle timeout of a supplier session, default 15m
	MaxFailedLogins int              // wrong passwords or codes in a row before lockout, default 5
	PageSize        int              // rows per page in PO and invoice lists, default 25
	Now             func() time.Time // clock, default time.Now (tests move it)
	ControlToken    string           // if set, /control and /buyer require header X-Control-Token (or ?token=)
	StatePath       string           // if set, state is loaded from / saved (atomically) to this JSON file after every change
	// Rules are the buyer's portal rules (rules.go); PUT /control/rules replaces them at run time.
	// MaxFailedLogins, SessionIdle and PageSize above still work: they fill the matching rule when
	// it is unset, and always hold the live values. Read the live rules with s.rulesLocked().
	Rules Rules
}

// The portal flavors: the same buyer, rules and data behind two very different user interfaces.
const (
	// FlavorCoupa is a server-rendered portal with full page navigations (docs/simulator.md).
	FlavorCoupa = "coupa"
	// FlavorAriba is a single-page app that saves by XHR and signals success with a toast.
	FlavorAriba = "ariba"
)

// ErrUnknownAccount is returned when an operation names a supplier account
// that does not exist.
var ErrUnknownAccount = errors.New("simulator: unknown account")

// Server is the portal. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template

	mu       sync.Mutex
	accounts map[string]*account
	pos      map[string]map[string]*PO // username → PO number → PO
	invoices []*Invoice                // in creation order
	nextSeq  int
	events   []Event

	// Browser-side state is deliberately not persisted: a restarted portal
	// signs everybody out, as real ones do after a deploy.
	sessions map[string]*session
	pre      map[string]*preSession
	mfa      map[string]*mfaPending

	faults faultSet // injected faults (faults.go), guarded by mu

	requests []Request // the latest supplier requests (Requests), guarded by mu; not persisted

	issuedMu sync.Mutex
	issued   []string // every cookie value handed out (IssuedCookies)
}

// newToken makes a random cookie value and keeps it for IssuedCookies. It takes its own lock, so callers
// may or may not hold s.mu.
func (s *Server) newToken() string {
	t := randomToken()
	s.issuedMu.Lock()
	s.issued = append(s.issued, t)
	s.issuedMu.Unlock()
	return t
}

// IssuedCookies returns the value of every cookie the portal has handed out (sessions, sign-in steps,
// "remember this browser"), so that tests can prove none reaches a workflow history, a log or the database.
func (s *Server) IssuedCookies() []string {
	s.issuedMu.Lock()
	defer s.issuedMu.Unlock()
	return append([]string(nil), s.issued...)
}

// Request is one supplier request the portal received: page loads and API calls, whatever answered them
// (faults included). Control, buyer, health and static requests are not kept.
type Request struct {
	Method string
	Path   string
	Query  string // raw query
}

// maxRequests bounds the request log; older entries are dropped.
const maxRequests = 200_000

func (s *Server) recordRequest(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) >= maxRequests {
		s.requests = append(s.requests[:0], s.requests[maxRequests/2:]...)
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
}

// Requests returns the supplier requests received since the portal started (the latest 100,000 at least),
// oldest first, so that tests and benchmarks count what a driver cost the portal.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// account is an Account plus the security state the portal keeps about it.
type account struct {
	Account
	FailedLogins int   `json:"failed_logins"`
	Locked       bool  `json:"locked"`
	LastTOTPStep int64 `json:"last_totp_step"`
	// MustChangePassword is set by POST /control/accounts/{u}/expire-password (login.go).
	MustChangePassword bool `json:"must_change_password,omitempty"`
	// Remembered maps a hash of a "Remember this browser" cookie to its expiry (login.go).
	Remembered map[string]time.Time `json:"remembered_browsers,omitempty"`
}

// New returns a Server for cfg, loading cfg.StatePath if that file exists.
func New(cfg Config) (*Server, error) {
	switch cfg.Flavor {
	case "":
		cfg.Flavor = FlavorCoupa
	case FlavorCoupa, FlavorAriba:
	default:
		return nil, fmt.Errorf("simulator: unknown flavor %q (want %q or %q)", cfg.Flavor, FlavorCoupa, FlavorAriba)
	}
	if cfg.Buyer == "" {
		cfg.Buyer = "Acme Manufacturing"
	}
	if err := applyConfigRules(&cfg); err != nil { // defaults of SessionIdle, MaxFailedLogins, PageSize
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		pages:    pages,
		accounts: map[string]*account{},
		pos:      map[string]map[string]*PO{},
		nextSeq:  1,
		sessions: map[string]*session{},
		pre:      map[string]*preSession{},
		mfa:      map[string]*mfaPending{},
	}
	if cfg.StatePath != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// ServeHTTP dispatches a request to the portal's pages and APIs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	s.serveWithFaults(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	})
	m.Handle("GET /static/", http.FileServerFS(staticFS))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Flavor == FlavorAriba {
			http.Redirect(w, r, "/app/orders", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/pos", http.StatusSeeOther)
	})

	if s.cfg.Flavor == FlavorAriba {
		s.aribaRoutes(m)
	} else {
		s.coupaRoutes(m)
	}

	m.HandleFunc("GET /buyer", s.withToken(s.buyerPage))
	m.HandleFunc("POST /buyer/invoices/{id}/{action}", s.withToken(s.buyerForm))
	m.HandleFunc("GET /buyer/api/invoices", s.withToken(s.buyerAPIList))
	m.HandleFunc("POST /buyer/api/invoices/{id}/{action}", s.withToken(s.buyerAPIAction))

	m.HandleFunc("POST /control/accounts", s.withToken(s.controlAddAccount))
	m.HandleFunc("POST /control/accounts/{username}/unlock", s.withToken(s.controlUnlock))
	m.HandleFunc("POST /control/accounts/{username}/expire-password", s.withToken(s.controlExpirePassword))
	m.HandleFunc("POST /control/accounts/{username}/password", s.withToken(s.controlSetPassword))
	m.HandleFunc("GET /control/rules", s.withToken(s.controlGetRules))
	m.HandleFunc("PUT /control/rules", s.withToken(s.controlPutRules))
	m.HandleFunc("POST /control/purchase-orders", s.withToken(s.controlAddPOs))
	m.HandleFunc("GET /control/purchase-orders", s.withToken(s.controlListPOs))
	m.HandleFunc("GET /control/invoices", s.withToken(s.controlInvoices))
	m.HandleFunc("GET /control/events", s.withToken(s.controlEvents))
	m.HandleFunc("POST /control/faults", s.withToken(s.controlInjectFault))
	m.HandleFunc("GET /control/faults", s.withToken(s.controlListFaults))
	m.HandleFunc("DELETE /control/faults", s.withToken(s.controlClearFaults))
	m.HandleFunc("DELETE /control/faults/{id}", s.withToken(s.controlDeleteFault))

	// API clients get JSON for a wrong path or method, not an HTML page.
	apiNotFound := func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no endpoint "+r.Method+" "+r.URL.Path)
	}
	m.HandleFunc("/control/", s.withToken(apiNotFound))
	m.HandleFunc("/buyer/api/", s.withToken(apiNotFound))

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, http.StatusNotFound, "Page not found", "The page you asked for does not exist.")
	})
	s.mux = m
}

// coupaRoutes registers the server-rendered supplier pages.
func (s *Server) coupaRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.loginSubmit)
	m.HandleFunc("GET /login/totp", s.totpPage)
	m.HandleFunc("POST /login/totp", s.totpSubmit)
	m.HandleFunc("GET /login/password", s.passwordPage)
	m.HandleFunc("POST /login/password", s.passwordSubmit)
	m.HandleFunc("POST /logout", s.authed(s.logout))

	m.HandleFunc("GET /pos", s.authed(s.poList))
	m.HandleFunc("GET /pos/{number}", s.authed(s.poDetail))
	m.HandleFunc("GET /pos/{number}/invoices/new", s.authed(s.invoiceNew))
	m.HandleFunc("POST /pos/{number}/invoices", s.authed(s.invoiceCreate))
	m.HandleFunc("GET /invoices", s.authed(s.invoiceList))
	m.HandleFunc("GET /invoices/{id}", s.authed(s.invoiceDetail))
	m.HandleFunc("POST /invoices/{id}/submit", s.authed(s.invoiceSubmit))
	m.HandleFunc("POST /invoices/{id}/delete", s.authed(s.invoiceDelete))
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// logLocked appends to the audit log; s.mu must be held.
func (s *Server) logLocked(kind, username, invoiceNumber, detail string) {
	s.events = append(s.events, Event{
		Time: s.now(), Kind: kind, Username: username, InvoiceNumber: invoiceNumber, Detail: detail,
	})
}

// withToken guards the buyer and control surfaces, which have no login of
// their own, with the shared control token when one is configured.
func (s *Server) withToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if want := s.cfg.ControlToken; want != "" {
			got := r.Header.Get("X-Control-Token")
			if got == "" {
				got = r.URL.Query().Get("token")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				writeJSONError(w, http.StatusUnauthorized, "missing or invalid control token")
				return
			}
		}
		h(w, r)
	}
}

const maxJSONBody = 1 << 20

// decodeJSON reads a JSON request body strictly: unknown fields are errors so
// that a misspelt seed field fails loudly instead of seeding a blank value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the status line is already out; nothing useful to do on error
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
