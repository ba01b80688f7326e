package portal

import (
	"fmt"
	"strings"
)

// Status is Portico's canonical invoice status: the same words whatever the portal calls them.
type Status string

// The canonical statuses (see ../shared/portal-facts.md for each portal's words).
const (
	StatusDraft         Status = "draft"
	StatusWithBuyer     Status = "with_buyer"
	StatusApproved      Status = "approved"
	StatusDisputed      Status = "disputed"
	StatusVoided        Status = "voided"
	StatusPartiallyPaid Status = "partially_paid"
	StatusPaid          Status = "paid"
)

// Final reports whether no later status can follow on the portal without a new submission.
func (s Status) Final() bool {
	return s == StatusPaid || s == StatusDisputed || s == StatusVoided
}

// coupaWords maps the Coupa-like portal's status words to canonical ones.
var coupaWords = map[string]Status{
	"draft":            StatusDraft,
	"pending approval": StatusWithBuyer,
	"processing":       StatusWithBuyer,
	"approved":         StatusApproved,
	"disputed":         StatusDisputed,
	"voided":           StatusVoided,
	"abandoned":        StatusVoided,
	"partially paid":   StatusPartiallyPaid,
	"paid":             StatusPaid,
}

// CanonicalStatus maps a portal's status word to a canonical status. A word Portico does not know is a
// layout drift, never guessed: acting on a misread status could resubmit or give up on a live invoice.
func CanonicalStatus(word string) (Status, error) {
	s, ok := coupaWords[strings.ToLower(strings.Join(strings.Fields(word), " "))]
	if !ok {
		return "", &DriftError{Step: "read status", Detail: fmt.Sprintf("unknown status word %q", word)}
	}
	return s, nil
}
