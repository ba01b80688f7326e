package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault kinds. A fault makes matching supplier requests slow, failing, hung,
// signed out, under maintenance or drawn with a different layout, so that
// tests can prove a portal driver copes with what real portals do.
const (
	FaultLatency     = "latency"      // delay every matching request by MS milliseconds
	FaultError       = "error"        // answer with Status (5xx, default 503) and a small error page
	FaultHang        = "hang"         // hold the request until the client gives up (or MS, default 5 minutes, then 504)
	FaultKillSession = "kill_session" // expire every live session of Account, once, at injection
	FaultMaintenance = "maintenance"  // answer 503 + Retry-After: 120 with a maintenance page
	FaultDrift       = "drift"        // change the layout of matching HTML pages (see Drift)
)

var faultKinds = []string{FaultLatency, FaultError, FaultHang, FaultKillSession, FaultMaintenance, FaultDrift}

const (
	maxFaultDelay      = 5 * time.Minute // longest latency and longest hang
	maintenanceRetry   = "120"
	maintenanceHeading = "Scheduled maintenance"
	maintenanceMessage = "The portal is down for scheduled maintenance. Please try again later."
)

// Fault is one injected fault. Account, Path and Method scope it (all empty:
// every supplier request); Count and After bound which matching requests it
// affects. ID, Matched and Applied are set by the simulator and ignored on
// input.
type Fault struct {
	ID   string `json:"id,omitempty"`
	Kind string `json:"kind"`

	Account string `json:"account,omitempty"` // supplier username of the request's session (or of a login POST)
	Path    string `json:"path,omitempty"`    // path prefix, whole segments: "/pos" matches /pos and /pos/PO-1, not /posx
	Method  string `json:"method,omitempty"`  // e.g. "GET" or "POST"; empty matches every method
	// Query is URL query parameters the request must carry, url-encoded: "page=3" matches /pos?page=3 and
	// /pos?updated_since=…&page=3, not /pos?page=30. Every pair must be present (a key may repeat).
	Query string `json:"query,omitempty"`

	Count int `json:"count,omitempty"` // affect this many matching requests, then expire; 0 = until cleared
	After int `json:"after,omitempty"` // let the first After matching requests through untouched

	MS     int    `json:"ms,omitempty"`     // latency: the delay; hang: how long to hold before a 504 (default 5 minutes)
	Status int    `json:"status,omitempty"` // error: the 5xx status, default 503
	Drift  *Drift `json:"drift,omitempty"`  // drift: how pages change

	Matched int `json:"matched"` // matching requests seen so far (for drift: matching HTML pages)
	Applied int `json:"applied"` // requests the fault acted on (kill_session: sessions it expired)
}

// faultSet is the Server's injected faults; every field is guarded by s.mu.
type faultSet struct {
	active []*Fault // in injection order
	seq    int      // last fault number handed out
	// release holds, by fault id, a channel that is closed when that hang
	// fault is cleared, to let its hung requests through.
	release map[string]chan struct{}
}

// releaseChanLocked is the channel that releases the requests fault id holds; s.mu must be held.
func (fs *faultSet) releaseChanLocked(id string) <-chan struct{} {
	if fs.release == nil {
		fs.release = map[string]chan struct{}{}
	}
	ch := fs.release[id]
	if ch == nil {
		ch = make(chan struct{})
		fs.release[id] = ch
	}
	return ch
}

// releaseLocked lets the requests fault id holds through; s.mu must be held.
func (fs *faultSet) releaseLocked(id string) {
	if ch := fs.release[id]; ch != nil {
		close(ch)
		delete(fs.release, id)
	}
}

// InjectFault validates f and activates it, returning its id. A kill_session
// fault acts at once and is not kept. An error wrapping ErrUnknownAccount is
// returned when f.Account names no account.
func (s *Server) InjectFault(f Fault) (string, error) {
	g, err := s.injectFault(f)
	return g.ID, err
}

// injectFault is InjectFault returning the fault as injected.
func (s *Server) injectFault(f Fault) (Fault, error) {
	f = f.clone() // validation normalizes; the caller's Drift stays as given
	f.ID, f.Matched, f.Applied = "", 0, 0
	if err := validateFault(&f); err != nil {
		return Fault{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Account != "" && s.accounts[f.Account] == nil {
		return Fault{}, fmt.Errorf("%w: %s", ErrUnknownAccount, f.Account)
	}
	s.faults.seq++
	f.ID = "f" + strconv.Itoa(s.faults.seq)
	if f.Kind == FaultKillSession {
		// The sessions are aged past the idle timeout rather than dropped, so
		// the next page load behaves exactly like an idle expiry: a redirect
		// to the login page with "Your session has expired".
		for _, sess := range s.sessions {
			if sess.username == f.Account {
				sess.lastSeen = time.Time{} // idle for ages, whatever the idle rule is
				f.Applied++
			}
		}
		for id, p := range s.mfa {
			if p.username == f.Account {
				delete(s.mfa, id)
			}
		}
		s.logLocked("fault_kill_session", f.Account, "", fmt.Sprintf("expired %d session(s) (fault %s)", f.Applied, f.ID))
		return f, nil
	}
	nf := f.clone()
	s.faults.active = append(s.faults.active, &nf)
	return f, nil
}

// Faults returns the active faults in injection order.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults.active))
	for _, f := range s.faults.active {
		out = append(out, f.clone())
	}
	return out
}

// ClearFaults removes every fault and releases requests that are hanging,
// which then get served normally.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.active = nil
	for id := range s.faults.release {
		s.faults.releaseLocked(id)
	}
}

// ClearFault removes one fault; if it is a hang, the requests it holds are
// released as by ClearFaults.
// It reports whether the fault was active.
func (s *Server) ClearFault(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.faults.active, func(f *Fault) bool { return f.ID == id })
	if i < 0 {
		return false
	}
	s.faults.active = slices.Delete(s.faults.active, i, i+1)
	s.faults.releaseLocked(id)
	return true
}

func (f *Fault) clone() Fault {
	c := *f
	if f.Drift != nil {
		d := f.Drift.clone()
		c.Drift = &d
	}
	return c
}

var methodRE = regexp.MustCompile(`^[A-Z]+$`)

// validateFault checks and normalizes a fault given by a test or the control API.
func validateFault(f *Fault) error {
	f.Kind = strings.TrimSpace(f.Kind)
	f.Account = strings.TrimSpace(f.Account)
	f.Method = strings.ToUpper(strings.TrimSpace(f.Method))
	if f.Kind == "" {
		return fmt.Errorf("kind is required (one of %s)", strings.Join(faultKinds, ", "))
	}
	if !slices.Contains(faultKinds, f.Kind) {
		return fmt.Errorf("unknown kind %q (want one of %s)", f.Kind, strings.Join(faultKinds, ", "))
	}
	if f.Path != "" {
		switch {
		case !strings.HasPrefix(f.Path, "/"):
			return fmt.Errorf("path %q must start with /", f.Path)
		case strings.ContainsAny(f.Path, "?#"):
			return fmt.Errorf("path %q must be a path prefix without query or fragment", f.Path)
		case f.Path != "/" && faultExempt(f.Path):
			return fmt.Errorf("path %q is never faulted: /control, /buyer, /healthz and /static stay reachable", f.Path)
		}
	}
	if f.Query != "" {
		q, err := url.ParseQuery(f.Query)
		if err != nil || len(q) == 0 {
			return fmt.Errorf("query %q is not url-encoded key=value pairs", f.Query)
		}
	}
	if f.Method != "" && !methodRE.MatchString(f.Method) {
		return fmt.Errorf("method %q is not an HTTP method", f.Method)
	}
	if f.Count < 0 || f.After < 0 {
		return errors.New("count and after must not be negative")
	}
	if f.MS < 0 || time.Duration(f.MS)*time.Millisecond > maxFaultDelay {
		return fmt.Errorf("ms must be between 0 and %d", maxFaultDelay.Milliseconds())
	}
	unused := func(name string, set bool) error {
		if set {
			return fmt.Errorf("%s does not apply to kind %q", name, f.Kind)
		}
		return nil
	}
	var errs []error
	switch f.Kind {
	case FaultLatency:
		if f.MS == 0 {
			return errors.New(`latency needs "ms" > 0`)
		}
		errs = append(errs, unused("status", f.Status != 0), unused("drift", f.Drift != nil))
	case FaultError:
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		if f.Status < 500 || f.Status > 599 || http.StatusText(f.Status) == "" {
			return fmt.Errorf("status %d is not a known 5xx status", f.Status)
		}
		errs = append(errs, unused("ms", f.MS != 0), unused("drift", f.Drift != nil))
	case FaultHang:
		errs = append(errs, unused("status", f.Status != 0), unused("drift", f.Drift != nil))
	case FaultMaintenance:
		errs = append(errs, unused("ms", f.MS != 0), unused("status", f.Status != 0), unused("drift", f.Drift != nil))
	case FaultKillSession:
		if f.Account == "" {
			return errors.New("kill_session needs an account")
		}
		if f.Path != "" || f.Method != "" || f.Query != "" || f.Count != 0 || f.After != 0 {
			return errors.New("kill_session acts once, at injection: path, method, query, count and after do not apply")
		}
		errs = append(errs, unused("ms", f.MS != 0), unused("status", f.Status != 0), unused("drift", f.Drift != nil))
	case FaultDrift:
		if f.Drift == nil {
			return errors.New(`drift needs a "drift" object`)
		}
		if err := f.Drift.validate(); err != nil {
			return fmt.Errorf("drift: %w", err)
		}
		errs = append(errs, unused("ms", f.MS != 0), unused("status", f.Status != 0))
	}
	return errors.Join(errs...)
}

// faultExempt tells the paths that faults never touch, so tests and the buyer
// can always reach the portal to repair things, and pages always get their assets.
func faultExempt(p string) bool {
	return p == "/healthz" || hasPathPrefix(p, "/control") || hasPathPrefix(p, "/buyer") || hasPathPrefix(p, "/static")
}

// hasPathPrefix matches whole path segments: "/pos" matches "/pos" and
// "/pos/PO-1" but not "/posx"; a prefix ending in "/" matches anything below it.
func hasPathPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}

func (f *Fault) matches(account string, r *http.Request) bool {
	return (f.Account == "" || f.Account == account) &&
		(f.Method == "" || f.Method == r.Method) &&
		(f.Path == "" || hasPathPrefix(r.URL.Path, f.Path)) &&
		(f.Query == "" || hasQuery(r.URL.Query(), f.Query))
}

// hasQuery reports whether the request's query carries every pair of want (validated by validateFault).
func hasQuery(got url.Values, want string) bool {
	w, _ := url.ParseQuery(want)
	for k, vs := range w {
		for _, v := range vs {
			if !slices.Contains(got[k], v) {
				return false
			}
		}
	}
	return true
}

// takeLocked counts a matching request and tells whether the fault acts on
// it, retiring the fault when its count is used up; s.mu must be held.
func (s *Server) takeLocked(f *Fault, account string, r *http.Request) bool {
	f.Matched++
	if f.Matched <= f.After {
		return false
	}
	f.Applied++
	if f.Count > 0 && f.Applied >= f.Count {
		s.faults.active = slices.DeleteFunc(s.faults.active, func(g *Fault) bool { return g == f })
	}
	s.logLocked("fault_"+f.Kind, account, "", fmt.Sprintf("%s %s (fault %s)", r.Method, r.URL.Path, f.ID))
	return true
}

// faultPlan is what the faults decided for one request.
type faultPlan struct {
	account string
	delay   time.Duration
	answer  *Fault          // error, maintenance or hang; nil: serve the page
	drifts  []*Fault        // candidates, charged only if the answer is an HTML page
	release <-chan struct{} // closes when the hang fault is cleared
}

// serveWithFaults serves a request, applying any injected faults first.
//
// Order: every applicable latency fault adds its delay; then the oldest
// applicable error, maintenance or hang fault answers the request (faults
// behind it do not see the request); otherwise the page is served and, if it
// is HTML, drift faults rewrite it.
func (s *Server) serveWithFaults(w http.ResponseWriter, r *http.Request) {
	if faultExempt(r.URL.Path) {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.recordRequest(r)
	plan, ok := s.planFaults(r)
	if !ok {
		s.mux.ServeHTTP(w, r)
		return
	}
	if plan.delay > 0 {
		t := time.NewTimer(plan.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up; nobody reads an answer
		}
	}
	if f := plan.answer; f != nil {
		switch f.Kind {
		case FaultError:
			writeFaultPage(w, r, f.Status, http.StatusText(f.Status),
				"The server is temporarily unable to handle your request. Please try again later.")
			return
		case FaultMaintenance:
			w.Header().Set("Retry-After", maintenanceRetry)
			writeFaultPage(w, r, http.StatusServiceUnavailable, maintenanceHeading, maintenanceMessage)
			return
		case FaultHang:
			hold := maxFaultDelay
			if f.MS > 0 {
				hold = time.Duration(f.MS) * time.Millisecond
			}
			t := time.NewTimer(hold)
			defer t.Stop()
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
				writeFaultPage(w, r, http.StatusGatewayTimeout, http.StatusText(http.StatusGatewayTimeout),
					"The portal did not answer in time. Please try again later.")
				return
			case <-plan.release:
				// Faults were cleared: the request goes through, late.
			}
		}
	}
	if len(plan.drifts) == 0 {
		s.mux.ServeHTTP(w, r)
		return
	}
	dw := &driftWriter{w: w, s: s, r: r, account: plan.account, candidates: plan.drifts}
	s.mux.ServeHTTP(dw, r)
	dw.finish()
}

// planFaults decides which faults act on r; ok is false when none can.
func (s *Server) planFaults(r *http.Request) (plan faultPlan, ok bool) {
	s.mu.Lock()
	if len(s.faults.active) == 0 {
		s.mu.Unlock()
		return plan, false
	}
	account := s.requestAccountLocked(r)
	needLogin := false
	if account == "" && r.Method == http.MethodPost {
		for _, f := range s.faults.active {
			needLogin = needLogin || f.Account != ""
		}
	}
	s.mu.Unlock()
	if needLogin {
		account = postedUsername(r)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	plan.account = account
	// Snapshot: takeLocked may retire faults from the live list.
	active := slices.Clone(s.faults.active)
	for _, f := range active {
		if f.Kind == FaultLatency && f.matches(account, r) && s.takeLocked(f, account, r) {
			plan.delay += time.Duration(f.MS) * time.Millisecond
		}
	}
	for _, f := range active {
		switch f.Kind {
		case FaultError, FaultMaintenance, FaultHang:
			if f.matches(account, r) && s.takeLocked(f, account, r) {
				plan.answer = f.cloneRef()
				if f.Kind == FaultHang {
					plan.release = s.faults.releaseChanLocked(f.ID)
				}
			}
		}
		if plan.answer != nil {
			break
		}
	}
	if plan.answer == nil {
		for _, f := range active {
			if f.Kind == FaultDrift && f.matches(account, r) {
				plan.drifts = append(plan.drifts, f)
			}
		}
	}
	if plan.delay > maxFaultDelay {
		plan.delay = maxFaultDelay
	}
	return plan, plan.delay > 0 || plan.answer != nil || len(plan.drifts) > 0
}

// requestAccountLocked is the supplier a request belongs to: the user of its
// session cookie, or of its pending verification-code step; s.mu must be held.
// It only reads: an idle session still names its user here.
func (s *Server) requestAccountLocked(r *http.Request) string {
	if id := cookieValue(r, sessionCookie); id != "" {
		if sess := s.sessions[id]; sess != nil {
			return sess.username
		}
	}
	if id := cookieValue(r, mfaCookie); id != "" {
		if p := s.mfa[id]; p != nil {
			return p.username
		}
	}
	return ""
}

// postedUsername peeks at the "username" field of a small urlencoded or JSON
// POST (a sign-in form or a sign-in API call) and puts the body back.
func postedUsername(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" && ct != "application/json" {
		return ""
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > maxFormBody {
		return ""
	}
	if ct == "application/json" {
		var v struct {
			Username string `json:"username"`
		}
		if json.Unmarshal(buf, &v) != nil {
			return ""
		}
		return strings.TrimSpace(v.Username)
	}
	q, err := url.ParseQuery(string(buf))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(q.Get("username"))
}

// writeFaultPage answers like a gateway in front of the portal: a bare HTML
// page (or a JSON error for the single-page app's /api calls).
func writeFaultPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	w.Header().Set("Cache-Control", "no-store")
	if hasPathPrefix(r.URL.Path, "/api") {
		writeJSON(w, status, map[string]any{"error": heading, "message": message, "status": status})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>%d %s</title></head>
<body>
<h1>%s</h1>
<p>%s</p>
</body>
</html>
`, status, heading, heading, message)
}

// Control API.

func (s *Server) controlInjectFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeJSON(w, r, &f); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	g, err := s.injectFault(f)
	if err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

func (s *Server) controlListFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) controlClearFaults(w http.ResponseWriter, _ *http.Request) {
	n := len(s.Faults())
	s.ClearFaults()
	writeJSON(w, http.StatusOK, map[string]int{"cleared": n})
}

func (s *Server) controlDeleteFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.ClearFault(id) {
		writeJSONError(w, http.StatusNotFound, "no active fault "+id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"cleared": 1})
}
