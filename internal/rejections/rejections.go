// Package rejections decides what Portico does about an invoice the buyer's portal disputed or rejected:
// fix it and resubmit on its own, or hand it to a person. Classify is pure and deterministic (no clock, no
// I/O), so the invoice workflow can call it directly and it can be tested as a table.
package rejections

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"portico/activities"
	"portico/internal/portal"
)

// The kinds of activities.Fix, as the ApplyFix activity reads them.
const (
	FixRenumber      = "renumber"
	FixRedate        = "redate"
	FixTaxReference  = "tax_reference"
	FixRemitTo       = "remit_to"
	FixDropZeroLines = "drop_zero_lines"
)

// The problems Classify recognises.
const (
	ProblemDuplicateNumber = "duplicate_number"
	ProblemBackDated       = "back_dated"
	ProblemTaxMissing      = "tax_missing"
	ProblemRemitToWrong    = "remit_to_wrong"
	ProblemLineMismatch    = "line_mismatch"
	ProblemOther           = "other"
)

// DefaultRenumberSuffix is used when the policy names none: INV-7 becomes INV-7-01 in round 1.
const DefaultRenumberSuffix = "-%02d"

// Decision is what to do about one rejection. Fixes is empty when only a person can resolve it.
type Decision struct {
	Problem string
	// Fixes are applied in order before the invoice is drafted and submitted again. When the problem's own
	// fix is not a new number, a renumber follows it: a disputed invoice keeps its number in the portal.
	Fixes []activities.Fix
	// Reason says what the portal refused and what Portico will do, or why a person must decide.
	Reason string
}

// Fixable reports whether Portico can resubmit without a person.
func (d Decision) Fixable() bool { return len(d.Fixes) > 0 }

// codeProblems maps the portals' rejection codes (Ariba routing failures, buyer dispute codes) to problems.
// Codes not listed here fall back to the text of the reason.
var codeProblems = map[string]string{
	"INVOICE_DUPLICATE": ProblemDuplicateNumber,
	"DUPLICATE_NUMBER":  ProblemDuplicateNumber,
	"DATE_INVALID":      ProblemBackDated,
	"TAX_MISSING":       ProblemTaxMissing,
	"REMIT_TO_WRONG":    ProblemRemitToWrong,
	"LINE_MISMATCH":     ProblemLineMismatch,
}

var daysInThePast = regexp.MustCompile(`more than \d+ days in the past`)

// Classify decides what to do about a disputed or rejected invoice. ercNumber is the invoice number in the
// ERP, round the resubmission round this fix would start (1 for the first), today the date a re-dated
// invoice gets.
func Classify(inv portal.Invoice, p activities.Policy, ercNumber string, round int, today time.Time) Decision {
	code := strings.ToUpper(strings.TrimSpace(inv.Code))
	text := strings.ToLower(strings.Join(strings.Fields(inv.Reason), " "))
	said := describe(code, inv.Reason)
	renumber := activities.Fix{Kind: FixRenumber, Number: NewNumber(ercNumber, p.RenumberSuffix, round)}

	problem, known := codeProblems[code]
	if !known {
		problem = problemOfText(text)
	}
	person := func(why string) Decision {
		return Decision{Problem: problem, Reason: said + "; " + why}
	}
	fix := func(f activities.Fix, what string) Decision {
		d := Decision{Problem: problem, Fixes: []activities.Fix{f}, Reason: said + "; " + what}
		if f.Kind != FixRenumber {
			d.Fixes = append(d.Fixes, renumber)
			d.Reason += ", as " + renumber.Number
		}
		return d
	}

	switch problem {
	case ProblemDuplicateNumber:
		return fix(renumber, "resubmit as "+renumber.Number)
	case ProblemBackDated:
		date := today.Format(time.DateOnly)
		return fix(activities.Fix{Kind: FixRedate, Date: date}, "resubmit dated "+date)
	case ProblemTaxMissing:
		if !containsAny(text, "reference", "exempt") {
			return person("the tax itself is missing or wrong; only a person can correct the rate")
		}
		if p.TaxReference == "" {
			return person("the portal asks for a tax exemption reference and the customer's policy has none")
		}
		return fix(activities.Fix{Kind: FixTaxReference, TaxReference: p.TaxReference}, "resubmit with the policy's tax reference")
	case ProblemRemitToWrong:
		if p.RemitTo == "" {
			return person("the portal wants another remit-to address and the customer's policy names none")
		}
		return fix(activities.Fix{Kind: FixRemitTo, RemitTo: p.RemitTo}, "resubmit with the policy's remit-to address")
	case ProblemLineMismatch:
		if !containsAny(text, "zero", "quantity 0") {
			return person("a line does not match the PO; only a person can say which figure is right")
		}
		return fix(activities.Fix{Kind: FixDropZeroLines, DropZeroLines: true}, "resubmit without the lines billed at zero")
	}
	return person("Portico cannot fix this on its own")
}

// problemOfText recognises a problem from the words of a reason that came without a known code.
func problemOfText(text string) string {
	switch {
	case containsAny(text, "already been used", "duplicate"):
		return ProblemDuplicateNumber
	case containsAny(text, "back-dated", "backdated", "older than") || daysInThePast.MatchString(text):
		return ProblemBackDated
	case strings.Contains(text, "tax") && containsAny(text, "reference", "exempt"):
		return ProblemTaxMissing
	case strings.Contains(text, "remit"):
		return ProblemRemitToWrong
	case strings.Contains(text, "line") && containsAny(text, "zero", "quantity 0"):
		return ProblemLineMismatch
	}
	return ProblemOther
}

// NewNumber is the portal number of a resubmission round: the ERP number with the policy's suffix
// (DefaultRenumberSuffix when it has none) applied to the round.
func NewNumber(ercNumber, suffix string, round int) string {
	if suffix == "" {
		suffix = DefaultRenumberSuffix
	}
	return ercNumber + fmt.Sprintf(suffix, round)
}

// describe quotes what the portal said, code and reason, for the ERP history and the person.
func describe(code, reason string) string {
	reason = strings.TrimSpace(reason)
	switch {
	case code != "" && reason != "":
		return fmt.Sprintf("the portal said %s %q", code, reason)
	case code != "":
		return "the portal said " + code
	case reason != "":
		return fmt.Sprintf("the portal said %q", reason)
	}
	return "the portal gave no reason"
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
