// Package api is the ERP's HTTP entry point into Portico: it takes in an invoice (POST /v1/invoices), starts
// the workflow of one the ERP wrote itself (POST /v1/invoices/{id}/start) and reports its stage. Every
// request is authenticated (an HMAC signature or a bearer token, see Authenticator) and refused if it is a
// replay; every response, error or not, is JSON.
package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"portico/internal/erp"
	"portico/internal/store"
	"portico/workflows"
)

// DefaultMaxBodyBytes bounds a request body, which is read whole before the signature over it can be
// checked: an unauthenticated caller must not make the server buffer without limit.
const DefaultMaxBodyBytes = 10 << 20

// temporalTimeout bounds each call to Temporal, so that a Temporal outage gives the ERP a 503 to retry on
// instead of a hung connection; a state query also waits this long at most for a worker to answer.
const temporalTimeout = 15 * time.Second

// Server is the ERP API as an http.Handler; mount it on any path (it routes on the request path, and
// HMAC signatures cover the path the client sent). The zero Auth refuses every request.
type Server struct {
	Client client.Client
	Store  *store.Store
	Auth   *Authenticator
	// Logger gets a warn line per refused request and an info line per accepted one; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock timestamps are checked against; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes overrides DefaultMaxBodyBytes when positive. It does not apply to POST /v1/invoices.
	MaxBodyBytes int64
	// Limits bound what POST /v1/invoices takes in (the attachment size); the zero value means the
	// defaults (erp.LimitsFromEnv reads them from the environment).
	Limits erp.Limits
	// MaxInvoiceBodyBytes bounds the body of POST /v1/invoices, which carries the attachment in base64;
	// zero or less means Limits.MaxRequestBytes(), room for the largest attachment and the rest.
	MaxInvoiceBodyBytes int64

	once sync.Once
	mux  *http.ServeMux
}

// call is what the authentication step hands to a route, and what the route hands back for the log line.
type call struct {
	requestID string
	client    string
	body      []byte
	invoice   string
	attrs     []any
}

type callKey struct{}

type route func(w http.ResponseWriter, r *http.Request, c *call)

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.handle("POST /v1/invoices", s.takeInvoice)
	s.handle("POST /v1/invoices/{id}/start", s.startInvoice)
	s.handle("GET /v1/invoices/{id}", s.getInvoice)
	// The method-less twins answer the other methods with a JSON 405 instead of ServeMux's plain text;
	// the method patterns are more specific and win for their own method.
	s.handle("/v1/invoices", methodNotAllowed(http.MethodPost))
	s.handle("/v1/invoices/{id}/start", methodNotAllowed(http.MethodPost))
	s.handle("/v1/invoices/{id}", methodNotAllowed(http.MethodGet, http.MethodHead))
	s.handle("/", func(w http.ResponseWriter, r *http.Request, _ *call) {
		writeError(w, http.StatusNotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
}

func (s *Server) handle(pattern string, h route) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		h(w, r, r.Context().Value(callKey{}).(*call))
	})
}

func methodNotAllowed(allow ...string) route {
	return func(w http.ResponseWriter, r *http.Request, _ *call) {
		for _, m := range allow {
			w.Header().Add("Allow", m)
		}
		writeError(w, http.StatusMethodNotAllowed, "", "method %s is not allowed here; use %s", r.Method, allow[0])
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ServeHTTP authenticates the request, then routes it. Authentication comes before routing, so an
// unauthenticated caller learns nothing about which paths exist.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.routes)
	c := &call{requestID: newRequestID()}
	w.Header().Set(HeaderRequestID, c.requestID)
	log := s.logger().With("request_id", c.requestID, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)

	limit, invoice := s.bodyLimit(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		status, reason := http.StatusBadRequest, "could not read the request body"
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status, reason = http.StatusRequestEntityTooLarge, "the request body is larger than "+byteSize(limit)
			if invoice {
				reason += "; an invoice's attachment may be at most " + byteSize(s.Limits.MaxAttachment()) + " (before base64)"
			}
		}
		log.Warn("api request refused", "client", logClient(r.Header.Get(HeaderClient)), "status", status, "reason", reason)
		writeError(w, status, "", "%s", reason)
		return
	}
	c.body = body

	if s.Store == nil {
		// Without the store there is no replay check, so nothing may pass.
		log.Error("api request refused: the API server has no store")
		writeError(w, http.StatusServiceUnavailable, "", "the API is not available")
		return
	}
	now := s.now()
	c.client, err = s.Auth.Authenticate(r.Context(), r, body, s.Store, now)
	if err != nil {
		ae := &AuthError{Status: http.StatusUnauthorized, Reason: "unauthenticated", Err: err}
		errors.As(err, &ae)
		attrs := []any{"client", logClient(ae.ClientID), "status", ae.Status, "reason", ae.Reason}
		if ae.Err != nil {
			attrs = append(attrs, "err", ae.Err)
		}
		log.Warn("api request refused", attrs...)
		if ae.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portico"`)
		}
		writeError(w, ae.Status, "", "%s", ae.Reason)
		return
	}
	if n, ran, err := s.Auth.purgeIfDue(r.Context(), s.Store, now); err != nil {
		log.Warn("api: could not purge expired nonces", "err", err)
	} else if ran && n > 0 {
		log.Debug("api: purged expired nonces", "count", n)
	}

	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	attrs := append([]any{"client", c.client, "invoice", c.invoice, "status", sw.status}, c.attrs...)
	level := slog.LevelInfo
	if sw.status >= http.StatusInternalServerError {
		level = slog.LevelError // the caller was refused for our fault, not theirs
	}
	log.Log(r.Context(), level, "api request", attrs...)
}

// bodyLimit is the most of the body read for the request, decided before anything else is known about it
// (even who sent it). Only a new invoice, with its attachment, gets more than DefaultMaxBodyBytes; it
// reports whether this is that route.
func (s *Server) bodyLimit(r *http.Request) (int64, bool) {
	if r.Method == http.MethodPost && r.URL.Path == "/v1/invoices" {
		if s.MaxInvoiceBodyBytes > 0 {
			return s.MaxInvoiceBodyBytes, true
		}
		return s.Limits.MaxRequestBytes(), true
	}
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes, false
	}
	return DefaultMaxBodyBytes, false
}

// takeInvoice takes in an invoice the ERP sends whole (erp.InvoiceRequest): 202 with its new workflow, 200
// when the same invoice was taken in before, 400 for JSON that is not an invoice, 422 for values the
// invoice cannot have (every problem listed), 409 when the ID or the number is taken by other content.
func (s *Server) takeInvoice(w http.ResponseWriter, r *http.Request, c *call) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "", "%s", errContentType)
			return
		}
	}
	if len(bytes.TrimSpace(c.body)) == 0 {
		writeError(w, http.StatusBadRequest, "", "the body must be an invoice, a JSON object")
		return
	}
	var req erp.InvoiceRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeFieldError(w, jsonFieldError(err))
		return
	}
	c.invoice = logClient(req.ID)
	ctx, cancel := context.WithTimeout(r.Context(), temporalTimeout)
	defer cancel()
	started, err := s.Limits.Intake(ctx, s.Store, s.Client, req, workflows.PollPolicy{})
	var invalid *erp.ValidationError
	var conflict *erp.ConflictError
	switch {
	case errors.As(err, &invalid):
		status := http.StatusUnprocessableEntity
		if invalid.Malformed {
			status = http.StatusBadRequest
		}
		c.attrs = append(c.attrs, "problems", len(invalid.Problems), "field", invalid.Problems[0].Field)
		writeProblems(w, status, "the invoice is refused", invalid.Problems)
		return
	case errors.As(err, &conflict):
		c.attrs = append(c.attrs, "problems", len(conflict.Problems), "field", conflict.Problems[0].Field)
		writeProblems(w, http.StatusConflict, "invoice "+strconv.Quote(req.ID)+" conflicts with what was taken in before", conflict.Problems)
		return
	case err != nil:
		s.internalError(w, r, c, "could not take in invoice "+strconv.Quote(req.ID), err)
		return
	}
	writeStarted(w, c, started)
}

// writeStarted answers a request that started an invoice's workflow: 202 for a new run, 200 for the run
// that already had it, and logs which.
func writeStarted(w http.ResponseWriter, c *call, started erp.Started) {
	c.attrs = append(c.attrs, "workflow_id", started.WorkflowID, "run_id", started.RunID, "existing", started.Existing)
	status := http.StatusAccepted
	if started.Existing {
		status = http.StatusOK
	}
	writeJSON(w, status, startResponse{WorkflowID: started.WorkflowID, RunID: started.RunID, Existing: started.Existing})
}

// startRequest is the optional body of POST /v1/invoices/{id}/start.
type startRequest struct {
	PollFirst *string `json:"poll_first"`
	PollMax   *string `json:"poll_max"`
}

// minPoll and maxPoll keep a caller from having a portal polled many times a second, or so rarely that a
// payment goes unseen for months.
const (
	minPoll = time.Second
	maxPoll = 30 * 24 * time.Hour
)

func (req startRequest) policy() (workflows.PollPolicy, error) {
	var p workflows.PollPolicy
	var err error
	if p.First, err = pollDuration("poll_first", req.PollFirst); err != nil {
		return p, err
	}
	if p.Max, err = pollDuration("poll_max", req.PollMax); err != nil {
		return p, err
	}
	if p.First > 0 && p.Max > 0 && p.Max < p.First {
		return p, fieldErr("poll_max", "must not be shorter than poll_first")
	}
	return p, nil
}

func pollDuration(field string, v *string) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil {
		return 0, fieldErr(field, "must be a duration such as 10s, 5m or 1h")
	}
	if d < minPoll || d > maxPoll {
		return 0, fieldErr(field, "must be between %s and %s", shortDuration(minPoll), shortDuration(maxPoll))
	}
	return d, nil
}

// startResponse tells the ERP which workflow carries the invoice; Existing (with status 200 rather than
// 202) says the request changed nothing, so a retry after a lost response is harmless.
type startResponse struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Existing   bool   `json:"existing"`
}

func (s *Server) startInvoice(w http.ResponseWriter, r *http.Request, c *call) {
	id, ok := s.invoiceID(w, r, c)
	if !ok {
		return
	}
	var req startRequest
	if _, err := decodeBody(r.Header.Get("Content-Type"), c.body, &req); err != nil {
		writeFieldError(w, err)
		return
	}
	poll, err := req.policy()
	if err != nil {
		writeFieldError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), temporalTimeout)
	defer cancel()
	started, err := erp.StartInvoice(ctx, s.Client, s.Store, id, poll)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "id", "the ERP has no invoice %q", id)
		return
	}
	if err != nil {
		s.internalError(w, r, c, "could not start the workflow of invoice "+id, err)
		return
	}
	writeStarted(w, c, started)
}

// invoiceResponse is the part of the workflow's state the ERP acts on; the full InvoiceState carries
// internals (checks, evidence IDs, refusals) that are not part of the API's promise.
type invoiceResponse struct {
	InvoiceID    string          `json:"invoice_id"`
	WorkflowID   string          `json:"workflow_id"`
	Stage        workflows.Stage `json:"stage"`
	PortalStatus string          `json:"portal_status,omitempty"`
	PortalID     string          `json:"portal_id,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	DraftVersion int             `json:"draft_version,omitempty"`
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, c *call) {
	id, ok := s.invoiceID(w, r, c)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), temporalTimeout)
	defer cancel()
	if _, err := s.Store.Invoice(ctx, id); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "id", "the ERP has no invoice %q", id)
		return
	} else if err != nil {
		s.internalError(w, r, c, "could not read invoice "+id, err)
		return
	}
	st, err := erp.State(ctx, s.Client, id)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		writeError(w, http.StatusNotFound, "id", "invoice %q has no workflow yet; start it with POST /v1/invoices/{id}/start", id)
		return
	}
	if err != nil {
		s.internalError(w, r, c, "could not read the state of invoice "+id, err)
		return
	}
	c.attrs = append(c.attrs, "stage", st.Stage)
	writeJSON(w, http.StatusOK, invoiceResponse{
		InvoiceID: id, WorkflowID: workflows.InvoiceWorkflowID(id), Stage: st.Stage,
		PortalStatus: st.PortalStatus, PortalID: st.PortalID, Reason: st.Reason, DraftVersion: st.DraftVersion,
	})
}

// maxInvoiceIDBytes bounds the path value before it reaches SQL and a workflow ID.
const maxInvoiceIDBytes = 200

func (s *Server) invoiceID(w http.ResponseWriter, r *http.Request, c *call) (string, bool) {
	id := r.PathValue("id")
	c.invoice = id
	bad := id == "" || len(id) > maxInvoiceIDBytes || !utf8.ValidString(id)
	for _, ch := range id {
		if unicode.IsControl(ch) {
			bad = true
		}
	}
	if bad {
		c.invoice = ""
		writeError(w, http.StatusBadRequest, "id", "the invoice id must be 1-%d bytes of printable UTF-8", maxInvoiceIDBytes)
		return "", false
	}
	return id, true
}

func writeFieldError(w http.ResponseWriter, err error) {
	if errors.Is(err, errContentType) {
		writeError(w, http.StatusUnsupportedMediaType, "", "%s", err)
		return
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, fe.Field, "%s", fe.Reason)
		return
	}
	writeError(w, http.StatusBadRequest, "", "bad request")
}

// internalError logs the cause and answers without it: errors from PostgreSQL and Temporal name hosts,
// tables and internals the caller has no use for. Temporal or database trouble is 503, so the ERP retries.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, c *call, what string, err error) {
	c.attrs = append(c.attrs, "err", err)
	status := http.StatusInternalServerError
	if transient(r.Context(), err) {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "10")
	}
	writeError(w, status, "", "%s (request %s); try again later", what, c.requestID)
}

func transient(ctx context.Context, err error) bool {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var exhausted *serviceerror.ResourceExhausted
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &unavailable) || errors.As(err, &deadline) ||
		errors.As(err, &exhausted) || ctx.Err() != nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader remembers the first status, the one the client gets, for the log line.
func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write marks the status as sent: an implicit 200 cannot be changed afterwards.
func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newRequestID() string { return hex.EncodeToString(randomBytes(8)) }

// logClient bounds what an unauthenticated caller can put into a log line through Portico-Client.
func logClient(id string) string {
	if len(id) > 64 {
		id = strings.ToValidUTF8(id[:64], "") + "…"
	}
	return id
}

func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmtInt(n>>20) + " MiB"
	}
	return fmtInt(n) + " bytes"
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
