package simulator

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
)

// The Ariba flavor is a single-page app: the server serves one shell page for
// every /app URL, and static/ariba/app.js renders the views from the JSON API
// under /api. Saving does not navigate; a toast (role="status") is the only
// success signal. The rules behind it (login, invoice validation, PO balance)
// are the shared core the Coupa pages use; only the words, the layout and the
// routing behaviour of submitted invoices differ.

// Routing statuses of the Ariba flavor (Invoice.RoutingStatus).
const (
	routingSent         = "Sent"
	routingAcknowledged = "Acknowledged"
	routingFailed       = "Failed"
)

// Rejection codes of automatic routing failures (Invoice.RejectionCode).
const (
	rejectDuplicate = "INVOICE_DUPLICATE"
	rejectPOInvalid = "PO_INVALID"
)

// aribaRoutes registers the single-page-app supplier surface of the Ariba flavor.
func (s *Server) aribaRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /app", s.aribaShell)
	m.HandleFunc("GET /app/{path...}", s.aribaShell)

	m.HandleFunc("GET /api/session", s.aribaSessionGet)
	m.HandleFunc("POST /api/session", s.aribaSessionPassword)
	m.HandleFunc("POST /api/session/mfa", s.aribaSessionMFA)
	m.HandleFunc("POST /api/session/password", s.aribaSessionChangePassword)
	m.HandleFunc("DELETE /api/session", s.aribaAPI(s.aribaSessionDelete))

	m.HandleFunc("GET /api/orders", s.aribaAPI(s.aribaOrderList))
	m.HandleFunc("GET /api/orders/{number}", s.aribaAPI(s.aribaOrderDetail))
	m.HandleFunc("POST /api/orders/{number}/invoices", s.aribaAPI(s.aribaInvoiceCreate))
	m.HandleFunc("GET /api/invoices", s.aribaAPI(s.aribaInvoiceList))
	m.HandleFunc("GET /api/invoices/{id}", s.aribaAPI(s.aribaInvoiceDetail))
	m.HandleFunc("POST /api/invoices/{id}/submit", s.aribaAPI(s.aribaInvoiceSubmit))
	m.HandleFunc("DELETE /api/invoices/{id}", s.aribaAPI(s.aribaInvoiceDelete))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "no endpoint "+r.Method+" "+r.URL.Path)
	})

	// The buyer acknowledges receipt of a routed invoice. The pattern is more
	// specific than the shared /buyer/api/invoices/{id}/{action}, so it wins.
	m.HandleFunc("POST /buyer/api/invoices/{id}/acknowledge", s.withToken(s.aribaBuyerAcknowledge))
}

var aribaShellTemplate = template.Must(template.New("ariba-shell").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{.CSRF}}">
<meta name="sn-buyer" content="{{.Buyer}}">
<title>{{.Buyer}} · Supplier Network</title>
<link rel="stylesheet" href="/static/ariba/app.css">
<script src="/static/ariba/app.js" defer></script>
</head>
<body class="sn-body">
<a class="sn-skip" href="#sn-main">Skip to content</a>
<header class="sn-topbar">
  <div class="sn-brand"><span class="sn-logo" aria-hidden="true">◆</span> Supplier Network <span class="sn-customer">{{.Buyer}}</span></div>
  <nav class="sn-nav" id="sn-nav" aria-label="Main" hidden></nav>
</header>
<main id="sn-main" class="sn-main" aria-busy="true" tabindex="-1"><p class="sn-loading">Loading…</p></main>
<div class="sn-toasts" id="sn-toasts"></div>
<noscript><p>This portal needs JavaScript.</p></noscript>
</body>
</html>
`))

// aribaShell serves the app's single page for any /app URL; the script
// renders the view that the URL names (or the sign-in view).
func (s *Server) aribaShell(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var csrf string
	if sess, _ := s.sessionLocked(r); sess != nil {
		csrf = sess.csrf
	} else {
		csrf = s.preSessionLocked(w, r).csrf
	}
	s.mu.Unlock()
	var buf bytes.Buffer
	if err := aribaShellTemplate.Execute(&buf, struct{ CSRF, Buyer string }{csrf, s.cfg.Buyer}); err != nil {
		slog.Error("render ariba shell", "err", err)
		http.Error(w, "internal error while rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// aribaAPI wraps a JSON endpoint of a signed-in supplier: no or an idle
// session is 401 (the app then shows the sign-in view in place), and every
// mutating request must carry the session's CSRF token in X-CSRF-Token.
func (s *Server) aribaAPI(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sess, expired := s.sessionLocked(r)
		if sess == nil {
			s.mu.Unlock()
			msg := msgSignInFirst
			if expired {
				clearCookie(w, sessionCookie)
				msg = msgSessionExpired
			}
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": msg, "expired": expired})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead &&
			!tokenEqual(sess.csrf, r.Header.Get(csrfHeader)) {
			s.mu.Unlock()
			writeJSONError(w, http.StatusForbidden, msgCSRFRefused)
			return
		}
		sess.lastSeen = s.now()
		s.mu.Unlock()
		h(w, r, sess)
	}
}

const (
	csrfHeader     = "X-CSRF-Token"
	msgSignInFirst = "Sign in to continue."
	msgCSRFRefused = "The security token is missing or invalid. Reload the page and try again."
)
