package driver

import (
	"errors"
	"time"

	"portico/internal/portal"
)

// Observer is told what the driver did at the portals, so that a worker exports it as metrics without
// the driver knowing how. It is called on the operation's goroutine, in the middle of a portal
// operation: it must be quick, and safe for concurrent use by many sessions.
type Observer interface {
	// Login is told the outcome (one of the Login* constants) of each sign-in the driver made, or did not
	// make because the portal refused the same credentials before.
	Login(portal, outcome string)
	// Step is told how long a step (one of the Step* constants) took, whether it succeeded or not.
	Step(portal, step string, took time.Duration)
}

// Login outcomes told to Observer.Login: a closed set, so that a metric labelled with them stays small.
const (
	// LoginOK: signed in.
	LoginOK = "ok"
	// LoginRefused: the portal refused the password.
	LoginRefused = "refused"
	// LoginTOTPRefused: the portal refused the verification code.
	LoginTOTPRefused = "totp_refused"
	// LoginLocked: the portal says the account is locked.
	LoginLocked = "locked"
	// LoginPasswordExpired: the portal wants a new password.
	LoginPasswordExpired = "password_expired"
	// LoginBlocked: not tried, as the portal refused these credentials before (LoginGuard); nothing
	// reached the portal.
	LoginBlocked = "blocked"
	// LoginUnavailable: the portal did not answer, or answered with an outage.
	LoginUnavailable = "unavailable"
	// LoginDrift: the sign-in pages were not as the portal definition says.
	LoginDrift = "drift"
	// LoginError: anything else (claiming a TOTP step, saving the session, a cancelled activity).
	LoginError = "error"
)

// Step names told to Observer.Step: a short closed set, never an invoice or PO number or a URL, so that a
// metric labelled with them stays small. A step's time includes the steps it runs: the page loads, and a
// sign-in when the portal asks for one on the way.
const (
	// StepPageLoad is one navigation, until the page has settled.
	StepPageLoad = "page_load"
	// StepLogin is one sign-in: password and, when asked, the verification code.
	StepLogin = "login"
	// StepListPOs is one page of the PO list, loaded and read (the POs' own pages are StepReadPO).
	StepListPOs = "list_pos"
	// StepReadPO is one PO's page, read for its lines.
	StepReadPO = "read_po"
	// StepFindPO is a PO looked up through the list's search, with its lines.
	StepFindPO = "find_po"
	// StepFindInvoice is an invoice looked up in the invoice list.
	StepFindInvoice = "find_invoice"
	// StepReadStatus is an invoice found and its page read (status checks, and before a submit or delete).
	StepReadStatus = "read_status"
	// StepCreateDraft is the create-draft flow: the PO flipped, the invoice keyed in and saved.
	StepCreateDraft = "create_draft"
	// StepSubmit is the submit flow, until the portal confirmed it.
	StepSubmit = "submit"
	// StepDeleteDraft is the delete flow.
	StepDeleteDraft = "delete_draft"
	// StepCaptureInvoice is an invoice's page opened and captured for evidence.
	StepCaptureInvoice = "capture_invoice"
	// StepListInvoices is one page of the invoice list, loaded and read for its invoices' statuses (a
	// status sweep).
	StepListInvoices = "list_invoices"
)

// timed starts timing a step for the observer; the caller calls what it returns when the step ends
// (defer s.timed(StepX)()).
func (s *Session) timed(step string) func() {
	o := s.d.cfg.Observer
	if o == nil {
		return func() {}
	}
	start := time.Now()
	return func() { o.Step(s.def.Name, step, time.Since(start)) }
}

func (s *Session) observeLogin(outcome string) {
	if o := s.d.cfg.Observer; o != nil {
		o.Login(s.def.Name, outcome)
	}
}

// loginOutcome names the outcome of a sign-in by its error.
func loginOutcome(err error) string {
	var drift *portal.DriftError
	switch {
	case err == nil:
		return LoginOK
	case errors.Is(err, portal.ErrAccountLocked):
		return LoginLocked
	case errors.Is(err, portal.ErrPasswordExpired):
		return LoginPasswordExpired
	case errors.Is(err, portal.ErrTOTPRejected):
		return LoginTOTPRefused
	case errors.Is(err, portal.ErrLoginRejected):
		return LoginRefused
	case errors.Is(err, portal.ErrUnavailable):
		return LoginUnavailable
	case errors.As(err, &drift):
		return LoginDrift
	}
	return LoginError
}

// blockedOutcome names why a sign-in was not tried: an earlier refusal, or failing to read the guard.
func blockedOutcome(err error) string {
	switch loginOutcome(err) {
	case LoginRefused, LoginTOTPRefused, LoginLocked, LoginPasswordExpired:
		return LoginBlocked
	}
	return LoginError
}

// Portal is the name of the session's portal definition, as portal accounts name it: a label for metrics.
func (s *Session) Portal() string { return s.def.Name }
