package portal

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The named ends of a portal interaction. Each tells an operator what to do; none is retried blindly.
var (
	// ErrLoginRejected means the portal refused the user name or password. Retrying would lock the account:
	// update the password in Portico, then resume.
	ErrLoginRejected = errors.New("portal refused the user name or password")
	// ErrAccountLocked means the portal locked the account; only the buyer's administrator can unlock it.
	ErrAccountLocked = errors.New("portal account is locked")
	// ErrTOTPRejected means the portal refused the verification code: the TOTP secret is wrong or the clock is off.
	ErrTOTPRejected = errors.New("portal refused the TOTP verification code")
	// ErrPasswordExpired means the portal demands a new password before anything else.
	ErrPasswordExpired = errors.New("portal password has expired")
	// ErrNotFound means the PO or invoice is not in the portal.
	ErrNotFound = errors.New("not found in the portal")
	// ErrNotInvoiceable means the PO has no Create Invoice action (closed, cancelled or fully invoiced).
	ErrNotInvoiceable = errors.New("purchase order cannot be invoiced in the portal")
	// ErrUnavailable is a portal-side outage (5xx, maintenance page, timeout): safe to retry later.
	ErrUnavailable = errors.New("portal unavailable")
)

// DriftError means the portal's pages no longer look as Portico expects (a field, button or status word is
// missing or unknown). Portico stops rather than guess; the portal definition needs an update.
type DriftError struct {
	Step string
	URL  string
	// Selector is the locator that failed, as the portal definition writes it.
	Selector string
	Detail   string
	// Evidence references what the page looked like (a screenshot and its HTML) in the evidence store.
	Evidence []string
}

func (e *DriftError) Error() string {
	msg := "portal layout changed: step " + e.Step + ": "
	if e.Selector != "" {
		msg += e.Selector + ": "
	}
	msg += e.Detail
	if e.URL != "" {
		msg += " (at " + e.URL + ")"
	}
	if len(e.Evidence) > 0 {
		msg += "; evidence " + strings.Join(e.Evidence, ", ")
	}
	return msg
}

// RejectedError means the portal refused what Portico entered, with the portal's own messages per field.
type RejectedError struct {
	Step   string
	Fields map[string]string // field name → the portal's message; "" for form-level messages
}

func (e *RejectedError) Error() string {
	var parts []string
	for f, m := range e.Fields {
		if f == "" {
			parts = append(parts, m)
		} else {
			parts = append(parts, f+": "+m)
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("portal refused %s: %s", e.Step, strings.Join(parts, "; "))
}

// MismatchError means the portal computed a different value than the ERP's (for example the total); the
// draft is left for a person to look at rather than submitted.
type MismatchError struct {
	What, Portal, ERP string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("portal shows %s %s but the ERP says %s", e.What, e.Portal, e.ERP)
}
