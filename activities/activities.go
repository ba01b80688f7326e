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
	Matched   bool
	PONumber  string
	Remaining decimal.Decimal
	Reason    string
}

// MatchPO matches the invoice to the synced PO with its PO number and checks that the PO can take it:
// same currency, still invoiceable, enough remaining balance.
func (a *Activities) MatchPO(ctx context.Context, invoiceID string) (MatchResult, error) {
	inv, err := a.Store.Invoice(ctx, invoiceID)
	if err != nil {
		return MatchResult{}, err
	}
	po, err := a.Store.PurchaseOrder(ctx, inv.AccountID, inv.PONumber)
	if errors.Is(err, store.ErrNotFound) {
		return MatchResult{Reason: fmt.Sprintf("PO %s is not among the POs synced from the portal", inv.PONumber)}, nil
	}
	if err != nil {
		return MatchResult{}, err
	}
	res := MatchResult{PONumber: po.Number, Remaining: po.Remaining}
	switch st := strings.ToLower(po.Status); {
	case !strings.EqualFold(po.Currency, inv.Currency):
		res.Reason = fmt.Sprintf("PO %s is in %s, the invoice in %s", po.Number, po.Currency, inv.Currency)
	case st == "closed" || st == "cancelled" || st == "fully invoiced":
		res.Reason = fmt.Sprintf("PO %s is %s in the portal", po.Number, po.Status)
	case inv.Total.GreaterThan(po.Remaining):
		res.Reason = fmt.Sprintf("invoice total %s %s is above the PO's remaining balance %s", inv.Total, inv.Currency, po.Remaining)
	default:
		res.Matched = true
	}
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
