// Package activities holds Portico's Temporal activities: Activities, which need only PostgreSQL, and
// Browser, which drive portals in Chromium and run on their own task queue so that browser capacity is
// scaled and limited apart from everything else.
package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"portico/internal/matching"
	"portico/internal/money"
	"portico/internal/store"
)

// Error types of the non-retryable application errors activities end in. Workflows and operators match on them.
const (
	ErrTypeInvoiceNotFound     = "InvoiceNotFound"
	ErrTypeInvalidInvoice      = "InvalidInvoice"
	ErrTypePortalLogin         = "PortalLoginFailed"
	ErrTypePortalLocked        = "PortalAccountLocked"
	ErrTypePortalLayoutChanged = "PortalLayoutChanged"
	ErrTypePortalRejected      = "PortalRejected"
	ErrTypePortalMismatch      = "PortalMismatch"
	ErrTypePortalNotFound      = "PortalNotFound"
	ErrTypePONotInvoiceable    = "PONotInvoiceable"
	ErrTypeMisconfigured       = "Misconfigured"
	// ErrTypeNumberUsed: the invoice number is already used in the portal by another invoice (another PO).
	ErrTypeNumberUsed = "InvoiceNumberUsed"
	// ErrTypeInvalidFix: ApplyFix was given a fix of an unknown kind or without its value.
	ErrTypeInvalidFix = "InvalidFix"
)

// Activities are the activities that need only PostgreSQL.
type Activities struct {
	Store *store.Store
}

// InvoiceSummary is what a workflow needs to know of an ERP invoice: identifiers and amounts, never
// attachments or anything secret.
type InvoiceSummary struct {
	InvoiceID  string
	Number     string
	CustomerID string
	AccountID  string
	PONumber   string
	Currency   string
	Total      decimal.Decimal
	Lines      int
}

// LoadInvoice reads and validates an ERP invoice. Malformed ERP data ends here with an error naming the
// field, before anything reaches a portal.
func (a *Activities) LoadInvoice(ctx context.Context, invoiceID string) (InvoiceSummary, error) {
	inv, err := a.Store.Invoice(ctx, invoiceID)
	if errors.Is(err, store.ErrNotFound) {
		return InvoiceSummary{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", invoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return InvoiceSummary{}, err
	}
	if problems := validate(inv); len(problems) > 0 {
		return InvoiceSummary{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("ERP invoice %s is invalid: %s", invoiceID, strings.Join(problems, "; ")), ErrTypeInvalidInvoice, nil)
	}
	return InvoiceSummary{
		InvoiceID: inv.ID, Number: inv.Number, CustomerID: inv.CustomerID, AccountID: inv.AccountID,
		PONumber: inv.PONumber, Currency: inv.Currency, Total: inv.Total, Lines: len(inv.Lines),
	}, nil
}

// validate lists what is wrong with an ERP invoice, each naming its field.
func validate(inv store.Invoice) []string {
	var p []string
	if strings.TrimSpace(inv.Number) == "" {
		p = append(p, "invoice_number is empty")
	}
	if strings.TrimSpace(inv.PONumber) == "" {
		p = append(p, "po_number is empty")
	}
	if inv.Date.IsZero() {
		p = append(p, "invoice_date is empty")
	}
	n, err := money.MinorUnits(inv.Currency)
	if err != nil {
		p = append(p, fmt.Sprintf("currency %q is not a known ISO 4217 code", inv.Currency))
	} else if !inv.Total.Round(n).Equal(inv.Total) {
		p = append(p, fmt.Sprintf("total %s has more decimals than %s allows (%d)", inv.Total, inv.Currency, n))
	}
	if !inv.Total.IsPositive() {
		p = append(p, fmt.Sprintf("total %s is not positive", inv.Total))
	}
	if inv.TaxRate.IsNegative() || inv.TaxRate.GreaterThan(decimal.NewFromInt(100)) {
		p = append(p, fmt.Sprintf("tax_rate %s is not a percentage", inv.TaxRate))
	}
	if len(inv.Lines) == 0 {
		p = append(p, "the invoice has no lines")
	} else if !billsSomething(inv.Lines) {
		p = append(p, "no line bills a positive quantity")
	}
	for _, l := range inv.Lines {
		// A line at zero bills nothing: it is keyed as 0, or left out after a drop_zero_lines fix.
		if l.Quantity.IsNegative() {
			p = append(p, fmt.Sprintf("line %d: quantity %s is negative", l.LineNo, l.Quantity))
		}
		if l.POLineNo <= 0 {
			p = append(p, fmt.Sprintf("line %d: po_line_no is missing", l.LineNo))
		}
	}
	return p
}

// MatchResult is the outcome of matching an invoice to a synced PO, with the reason when it failed.
type MatchResult struct {
	// Matched: PONumber is the invoice's PO and can take it; the portal draft is keyed against it (it may
	// differ from the ERP's po_number, e.g. "po 4500012" matched to PO-4500012).
	Matched bool
	// PONumber is the matched PO; when not matched, the PO the invoice names if it cannot take the invoice
	// (closed, another currency, too little remaining balance), else empty (then the workflow looks the ERP's
	// PO number up in the portal and matches again).
	PONumber  string
	Remaining decimal.Decimal
	// Reason says why the invoice is not matched (the reasons of matching, joined).
	Reason string
	// Status is matched, ambiguous (several POs fit about equally well: a person chooses) or unmatched.
	Status string `json:",omitempty"`
	// Rule is the rule the PO was found by: po_number, balance, lines, or manual (a person's decision).
	Rule string `json:",omitempty"`
	// Candidates are the best candidates, best first, each with its score and reasons.
	Candidates []Candidate `json:",omitempty"`
}

// Candidate is one PO an invoice may bill, with its score and the reasons a person can check.
type Candidate = matching.Candidate

// MatchPO matches the invoice to a synced PO (internal/matching: the PO number after normalising, else the
// customer's open PO whose remaining balance equals the total, else the best fit of lines) and checks that
// the PO can take it: same currency, still invoiceable, enough remaining balance. A match a person made
// (store.SetManualInvoiceMatch) is kept. The outcome is stored (invoice_po_matches, and the matched PO in
// erp_invoices.matched_po_number), so the draft is keyed against the matched PO.
func (a *Activities) MatchPO(ctx context.Context, invoiceID string) (MatchResult, error) {
	inv, err := a.Store.Invoice(ctx, invoiceID)
	if errors.Is(err, store.ErrNotFound) {
		return MatchResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", invoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return MatchResult{}, err
	}
	mi := matchingInvoice(inv)
	prev, err := a.Store.InvoiceMatch(ctx, invoiceID)
	switch {
	case err == nil && prev.Manual():
		return a.manualMatch(ctx, inv, mi, prev)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return MatchResult{}, err
	}
	opts := matching.DefaultOptions()
	pos, err := a.Store.MatchCandidatePOs(ctx, inv.AccountID, mi, opts.MaxFanout)
	if err != nil {
		return MatchResult{}, err
	}
	r := matching.NewIndex(pos, opts).Match(mi)
	if _, err := a.Store.RecordInvoiceMatches(ctx, []store.InvoiceMatch{store.InvoiceMatchOf(inv.AccountID, inv.PONumber, r)}); err != nil {
		return MatchResult{}, err
	}
	return matchResultOf(r), nil
}

// portalPO is the PO an invoice is keyed against in the portal: the PO MatchPO matched it to (which may be
// written differently from the ERP's po_number, or found by balance or lines, or chosen by a person), else
// the ERP's po_number.
func portalPO(inv store.Invoice) string {
	if inv.PortalPONumber != "" {
		return inv.PortalPONumber
	}
	return inv.PONumber
}

// matchingInvoice is an ERP invoice as the matcher sees it.
func matchingInvoice(inv store.Invoice) matching.Invoice {
	mi := matching.Invoice{ID: inv.ID, CustomerID: inv.CustomerID, PONumber: inv.PONumber, Currency: inv.Currency, Total: inv.Total}
	for _, l := range inv.Lines {
		mi.Lines = append(mi.Lines, matching.InvoiceLine{LineNo: l.LineNo, POLineNo: l.POLineNo, PartNumber: l.PartNumber, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	return mi
}

func matchResultOf(r matching.Result) MatchResult {
	res := MatchResult{Matched: r.Status == matching.StatusMatched, PONumber: r.PONumber, Remaining: r.Remaining,
		Status: r.Status, Rule: r.Rule, Candidates: r.Candidates}
	if !res.Matched {
		res.Reason = r.Reason()
	}
	return res
}

// manualMatch checks the PO a person matched the invoice to.
func (a *Activities) manualMatch(ctx context.Context, inv store.Invoice, mi matching.Invoice, m store.InvoiceMatch) (MatchResult, error) {
	res := MatchResult{PONumber: m.PONumber, Rule: matching.RuleManual, Status: matching.StatusUnmatched, Candidates: m.Candidates}
	po, err := a.Store.PurchaseOrder(ctx, inv.AccountID, m.PONumber)
	if errors.Is(err, store.ErrNotFound) {
		res.Reason = fmt.Sprintf("PO %s, matched by %s, is not among the POs synced from the portal", m.PONumber, m.DecidedBy)
		return res, nil
	}
	if err != nil {
		return MatchResult{}, err
	}
	res.Remaining = po.Remaining
	problems := matching.Fit(mi, matching.PO{Number: po.Number, Currency: po.Currency, Total: po.Total, Remaining: po.Remaining, Status: po.Status})
	if len(problems) > 0 {
		res.Reason = strings.Join(problems, "; ") + fmt.Sprintf(" (matched by %s)", m.DecidedBy)
		return res, nil
	}
	res.Matched, res.Status = true, matching.StatusMatched
	return res, nil
}

// RecordStatus writes one status change back to the ERP tables. The workflow numbers changes, so a retry
// of this activity never writes a change twice.
func (a *Activities) RecordStatus(ctx context.Context, change store.StatusChange) error {
	err := a.Store.RecordStatus(ctx, change)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvoiceNotFound, nil)
	}
	return err
}
