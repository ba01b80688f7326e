package activities

// The invoice lifecycle: policies, pre-submission checks, fixes and notifications, used by the invoice
// workflow (workflows/invoice.go).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"portico/internal/money"
	"portico/internal/payterms"
	"portico/internal/portal"
	"portico/internal/store"
)

// Policy is a customer's invoicing policy: who may approve, how Portico reminds and escalates, and what it
// may fix and resubmit on its own. Stored per customer in PostgreSQL (table customer_policies); a customer
// without a row gets DefaultPolicy.
type Policy struct {
	CustomerID string
	// Approvers are the people (e-mail addresses, lower case) whose decisions are accepted.
	Approvers []string
	// ApproversRequired makes an empty Approvers list refuse every decision. LoadPolicy always sets it;
	// policies recorded in histories from before it was added lack it, and keep their "anyone" meaning.
	ApproversRequired bool
	// AutoApprove approves drafts whose checks all passed without waiting for a person.
	AutoApprove bool
	// RemindEvery reminds the approvers while a draft waits; EscalateAfter escalates it (stage escalated).
	RemindEvery   time.Duration
	EscalateAfter time.Duration
	// MaxResubmissions bounds automatic fix-and-resubmit rounds after portal rejections.
	MaxResubmissions int
	// RenumberSuffix makes a new invoice number after a duplicate-number rejection: a fmt pattern applied
	// to the resubmission round (1, 2, ...), appended to the ERP number. Default "-%02d" (INV-7 → INV-7-01).
	RenumberSuffix string
	// Terms: "exact" (the invoice's payment terms must be the PO's) or "better_allowed" (shorter or
	// equal payment days may pass).
	Terms string
	// Buyer tolerance over the PO's remaining balance (both zero: none; both set: the smaller applies).
	TolerancePercent decimal.Decimal
	ToleranceAmount  decimal.Decimal
	// MaxBackdateDays refuses invoice dates older than this many days (0: no limit).
	MaxBackdateDays int
	// AttachmentRequired: the buyer requires the legal invoice PDF.
	AttachmentRequired bool
	// Profile values Portico may fill in when a portal asks for them.
	RemitTo      string
	TaxReference string
}

// DefaultPolicy is the policy of a customer without a row in customer_policies: no approvers (every
// decision is refused until the customer's approvers are configured), no auto-approval, a reminder every 24 h, escalation after 72 h, two
// automatic resubmissions renumbered "-01", "-02", exact payment terms, no tolerance, no backdating limit,
// no required attachment.
func DefaultPolicy(customerID string) Policy { return policyOf(store.DefaultPolicy(customerID)) }

func policyOf(p store.Policy) Policy {
	return Policy{
		CustomerID: p.CustomerID, Approvers: p.Approvers, ApproversRequired: true, AutoApprove: p.AutoApprove, RemindEvery: p.RemindEvery,
		EscalateAfter: p.EscalateAfter, MaxResubmissions: p.MaxResubmissions, RenumberSuffix: p.RenumberSuffix, Terms: p.Terms,
		TolerancePercent: p.TolerancePercent, ToleranceAmount: p.ToleranceAmount, MaxBackdateDays: p.MaxBackdateDays,
		AttachmentRequired: p.AttachmentRequired, RemitTo: p.RemitTo, TaxReference: p.TaxReference,
	}
}

// Check is one named pre-submission check and its outcome.
type Check struct {
	Name   string // po_open, balance, tolerance, currency, payment_terms, invoice_date, required_fields, attachment, number_unused
	Passed bool
	Detail string
}

// CheckReport is every check of an invoice; Passed is true when all passed.
type CheckReport struct {
	Checks []Check
	Passed bool
}

// Fix is a change Portico applies to what it keys into the portal (never to the ERP's own record) before
// resubmitting: the ERP keeps its number; the portal gets Number.
type Fix struct {
	Kind          string // renumber, redate, tax_reference, remit_to, drop_zero_lines
	Number        string `json:",omitempty"`
	Date          string `json:",omitempty"` // YYYY-MM-DD
	TaxReference  string `json:",omitempty"`
	RemitTo       string `json:",omitempty"`
	DropZeroLines bool   `json:",omitempty"`
}

// Notification is a message to the approvers (reminder, escalation, hand-over), kept in the notifications
// outbox table for whatever delivers mail or chat.
type Notification struct {
	InvoiceID string
	Kind      string // reminder, escalation, needs_attention
	To        []string
	Text      string
	Seq       int // numbered by the workflow so a retried activity inserts once
}

// LoadPolicy reads the customer's policy, or DefaultPolicy for a customer without one. Only the listed
// approvers may decide; a customer without approvers gets every decision refused, never "anyone".
func (a *Activities) LoadPolicy(ctx context.Context, customerID string) (Policy, error) {
	p, err := a.Store.Policy(ctx, customerID)
	if errors.Is(err, store.ErrNotFound) {
		return Policy{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("customer %q does not exist", customerID), ErrTypeMisconfigured, nil)
	}
	if err != nil {
		return Policy{}, err
	}
	return policyOf(p), nil
}

// The names of the checks.
const (
	checkPOOpen         = "po_open"
	checkBalance        = "balance"
	checkTolerance      = "tolerance"
	checkCurrency       = "currency"
	checkPaymentTerms   = "payment_terms"
	checkInvoiceDate    = "invoice_date"
	checkRequiredFields = "required_fields"
	checkAttachment     = "attachment"
	checkNumberUnused   = "number_unused"
)

// CheckInvoice runs the pre-submission checks that need only PostgreSQL (every check but
// number_unused, which SaveDraft makes in the portal), on what Portico would key in (the ERP invoice with
// its fixes), against the synced PO and the customer's policy. Every check is reported, each failed one
// with what a person can do about it, and stored in invoice_checks for the ERP to read.
func (a *Activities) CheckInvoice(ctx context.Context, invoiceID string) (CheckReport, error) {
	inv, err := a.Store.Invoice(ctx, invoiceID)
	if errors.Is(err, store.ErrNotFound) {
		return CheckReport{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", invoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return CheckReport{}, err
	}
	pol, err := a.Store.Policy(ctx, inv.CustomerID)
	if err != nil {
		return CheckReport{}, err
	}
	attachment, err := a.Store.InvoiceAttachment(ctx, invoiceID)
	if err != nil {
		return CheckReport{}, err
	}
	var po *portal.PurchaseOrder
	if strings.TrimSpace(inv.PONumber) != "" {
		p, err := a.Store.PurchaseOrder(ctx, inv.AccountID, portalPO(inv))
		switch {
		case err == nil:
			po = &p
		case !errors.Is(err, store.ErrNotFound):
			return CheckReport{}, err
		}
	}
	// Dates are the supplier's calendar: "today" where the portal account is.
	loc := time.UTC
	if acct, err := a.Store.PortalAccount(ctx, inv.AccountID); err == nil {
		if l, err := time.LoadLocation(acct.TimeZone); err == nil {
			loc = l
		}
	}
	checks := runChecks(inv, po, pol, attachment, time.Now().In(loc))
	results := make([]store.CheckResult, len(checks))
	rep := CheckReport{Checks: checks, Passed: true}
	for i, c := range checks {
		results[i] = store.CheckResult{Name: c.Name, Passed: c.Passed, Detail: c.Detail}
		rep.Passed = rep.Passed && c.Passed
	}
	if err := a.Store.RecordChecks(ctx, invoiceID, results); err != nil {
		return CheckReport{}, err
	}
	activity.GetLogger(ctx).Info("invoice checked", "invoice", invoiceID, "passed", rep.Passed, "failed", failedNames(checks))
	return rep, nil
}

func failedNames(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// runChecks makes every check of one invoice; now is the current time in the account's time zone.
func runChecks(inv store.Invoice, po *portal.PurchaseOrder, pol store.Policy, attachment []byte, now time.Time) []Check {
	amt := func(d decimal.Decimal) string {
		if s, err := money.Format(d, inv.Currency); err == nil {
			return s + " " + inv.Currency
		}
		return d.String() + " " + inv.Currency
	}
	noPO := fmt.Sprintf("there is no synced %s to compare with (see po_open)", poRef(inv.PONumber))
	var checks []Check
	add := func(name string, passed bool, detail string, args ...any) {
		checks = append(checks, Check{Name: name, Passed: passed, Detail: fmt.Sprintf(detail, args...)})
	}

	// po_open
	switch {
	case po == nil && strings.TrimSpace(inv.PONumber) == "":
		add(checkPOOpen, false, "the ERP invoice names no PO (see required_fields)")
	case po == nil:
		add(checkPOOpen, false, "%s is not among the POs synced from portal account %s: check the PO number on the ERP invoice, or sync the account's POs", poRef(inv.PONumber), inv.AccountID)
	case !poOpen(po.Status):
		add(checkPOOpen, false, "%s is %q in the portal; only Open or Partially Invoiced POs take invoices: ask the buyer to reopen it, or bill another PO", poRef(po.Number), po.Status)
	default:
		add(checkPOOpen, true, "%s is %s in the portal", poRef(po.Number), po.Status)
	}

	// balance and tolerance, in the PO's currency only.
	sameCurrency := po != nil && strings.EqualFold(strings.TrimSpace(po.Currency), strings.TrimSpace(inv.Currency))
	switch {
	case po == nil:
		add(checkBalance, false, "%s", noPO)
		add(checkTolerance, false, "%s", noPO)
	case !sameCurrency:
		add(checkBalance, false, "the invoice (%s) and %s (%s) are in different currencies (see currency)", inv.Currency, poRef(po.Number), po.Currency)
		add(checkTolerance, false, "the invoice (%s) and %s (%s) are in different currencies (see currency)", inv.Currency, poRef(po.Number), po.Currency)
	default:
		over := inv.Total.Sub(po.Remaining)
		if over.IsPositive() {
			add(checkBalance, false, "the invoice total %s is %s above %s's remaining balance of %s: bill at most the remaining balance, or ask the buyer to raise the PO",
				amt(inv.Total), amt(over), poRef(po.Number), amt(po.Remaining))
		} else {
			add(checkBalance, true, "the invoice total %s is within %s's remaining balance of %s", amt(inv.Total), poRef(po.Number), amt(po.Remaining))
		}
		tol := tolerance(pol, po.Total, inv.Currency)
		switch {
		case !over.IsPositive():
			add(checkTolerance, true, "within the remaining balance; no tolerance needed")
		case tol.IsZero():
			add(checkTolerance, false, "the customer's policy allows no tolerance over the remaining balance; the invoice is %s above it", amt(over))
		case over.GreaterThan(tol):
			add(checkTolerance, false, "the invoice is %s above %s's remaining balance, more than the buyer's tolerance of %s", amt(over), poRef(po.Number), amt(tol))
		default:
			add(checkTolerance, true, "the invoice is %s above %s's remaining balance, within the buyer's tolerance of %s", amt(over), poRef(po.Number), amt(tol))
		}
	}

	// currency
	switch {
	case po == nil:
		add(checkCurrency, false, "%s", noPO)
	case !sameCurrency:
		add(checkCurrency, false, "the invoice is in %s but %s is in %s: invoice in the PO's currency", inv.Currency, poRef(po.Number), po.Currency)
	default:
		add(checkCurrency, true, "%s, as %s", po.Currency, poRef(po.Number))
	}

	// payment_terms
	if po == nil {
		add(checkPaymentTerms, false, "%s", noPO)
	} else {
		ok, detail := termsCheck(inv.PaymentTerms, po.PaymentTerms, poRef(po.Number), pol.Terms)
		add(checkPaymentTerms, ok, "%s", detail)
	}

	// invoice_date: what Portico keys in (after a redate), against the supplier's today.
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	date := inv.PortalDate
	day := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
	ds := date.Format(store.DateLayout)
	switch {
	case date.IsZero():
		add(checkInvoiceDate, false, "the invoice has no date")
	case day.After(today):
		add(checkInvoiceDate, false, "the invoice date %s is in the future (today is %s in %s): date it today or earlier", ds, today.Format(store.DateLayout), now.Location())
	case pol.MaxBackdateDays > 0 && day.Before(today.AddDate(0, 0, -pol.MaxBackdateDays)):
		add(checkInvoiceDate, false, "the invoice date %s is %d days ago; the buyer accepts invoices dated at most %d days back: redate it",
			ds, int(today.Sub(day).Hours()/24), pol.MaxBackdateDays)
	default:
		add(checkInvoiceDate, true, "%s", ds)
	}

	// required_fields
	var missing []string
	if strings.TrimSpace(inv.PortalNumber) == "" {
		missing = append(missing, "invoice number")
	}
	if inv.Date.IsZero() {
		missing = append(missing, "invoice date")
	}
	if strings.TrimSpace(inv.PONumber) == "" {
		missing = append(missing, "PO number")
	}
	if !billsSomething(inv.Lines) {
		missing = append(missing, "lines (at least one with a positive quantity)")
	}
	if strings.TrimSpace(inv.Currency) == "" {
		missing = append(missing, "currency")
	} else if !money.ValidCurrency(inv.Currency) {
		missing = append(missing, fmt.Sprintf("currency (%q is not an ISO 4217 code)", inv.Currency))
	}
	if len(missing) > 0 {
		add(checkRequiredFields, false, "the ERP invoice lacks: %s", strings.Join(missing, ", "))
	} else {
		add(checkRequiredFields, true, "number, date, PO, lines and currency are present")
	}

	// attachment
	switch {
	case len(attachment) == 0 && pol.AttachmentRequired:
		add(checkAttachment, false, "the buyer requires the legal invoice PDF and the ERP invoice has none: attach it in the ERP")
	case len(attachment) == 0:
		add(checkAttachment, true, "no attachment (not required)")
	case !bytes.HasPrefix(attachment, []byte("%PDF")):
		add(checkAttachment, false, "the attachment %q is not a PDF (it does not start with %%PDF): attach the invoice as PDF in the ERP", inv.AttachmentName)
	default:
		add(checkAttachment, true, "%s is a PDF (%d bytes)", inv.AttachmentName, len(attachment))
	}
	return checks
}

// poRef names a PO in messages: "PO-4500012" as it is, "4500012" as "PO 4500012".
func poRef(number string) string {
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(number)), "PO") {
		return number
	}
	return "PO " + number
}

// poOpen reports whether a PO in this portal status takes invoices.
func poOpen(status string) bool {
	switch strings.Join(strings.Fields(strings.ToLower(status)), " ") {
	case "open", "partially invoiced":
		return true
	}
	return false
}

// billsSomething reports whether at least one line bills a positive quantity.
func billsSomething(lines []store.InvoiceLine) bool {
	for _, l := range lines {
		if l.Quantity.IsPositive() {
			return true
		}
	}
	return false
}

// tolerance is how far the policy lets an invoice go over the PO's remaining balance: the percent of the
// PO total and/or the amount, the smaller when both are set (as buyer portals compute it).
func tolerance(pol store.Policy, poTotal decimal.Decimal, currency string) decimal.Decimal {
	pct := decimal.Zero
	if pol.TolerancePercent.IsPositive() {
		pct = poTotal.Mul(pol.TolerancePercent).Div(decimal.NewFromInt(100))
		if r, err := money.Round(pct, currency); err == nil {
			pct = r
		}
	}
	switch {
	case pol.TolerancePercent.IsPositive() && pol.ToleranceAmount.IsPositive():
		return decimal.Min(pct, pol.ToleranceAmount)
	case pol.TolerancePercent.IsPositive():
		return pct
	case pol.ToleranceAmount.IsPositive():
		return pol.ToleranceAmount
	}
	return decimal.Zero
}

// termsCheck compares the invoice's payment terms with the PO's under the policy's terms rule.
func termsCheck(invTerms, poTerms, poNumber, rule string) (bool, string) {
	norm := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
	switch {
	case strings.TrimSpace(poTerms) == "":
		return true, fmt.Sprintf("%s shows no payment terms; nothing to compare with", poNumber)
	case strings.TrimSpace(invTerms) == "":
		return false, fmt.Sprintf("the ERP invoice has no payment terms; %s's are %q: set them in the ERP", poNumber, poTerms)
	case norm(invTerms) == norm(poTerms):
		return true, fmt.Sprintf("%q, as %s", invTerms, poNumber)
	case rule != store.TermsBetterAllowed:
		return false, fmt.Sprintf("the invoice's payment terms %q are not %s's %q, and the customer's policy requires the PO's exactly: invoice with %q",
			invTerms, poNumber, poTerms, poTerms)
	}
	invDays, ok := payterms.Days(invTerms)
	if !ok {
		return false, fmt.Sprintf("cannot read a number of payment days from the invoice's terms %q (%s: %q): use terms like \"Net 30\" or \"30 days\"", invTerms, poNumber, poTerms)
	}
	poDays, ok := payterms.Days(poTerms)
	if !ok {
		return false, fmt.Sprintf("cannot read a number of payment days from %s's terms %q, so the invoice's %q cannot be compared: invoice with %q",
			poNumber, poTerms, invTerms, poTerms)
	}
	if invDays > poDays {
		return false, fmt.Sprintf("the invoice's payment terms %q (%d days) are longer than %s's %q (%d days): invoice with %d days or fewer",
			invTerms, invDays, poNumber, poTerms, poDays, poDays)
	}
	return true, fmt.Sprintf("the invoice's %q (%d days) are no longer than %s's %q (%d days)", invTerms, invDays, poNumber, poTerms, poDays)
}

// ApplyFix records a fix for the invoice's next portal submission: the value of the fix's kind (a new
// number, a date, a tax exemption reference, a remit-to address, or dropping zero-quantity lines) is
// merged into the invoice's portal overrides, which SaveDraft keys in from then on. The ERP's own values
// are never changed. Applying the same fix again is harmless.
func (a *Activities) ApplyFix(ctx context.Context, invoiceID string, fix Fix) error {
	ov, err := overridesOf(fix)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("fix for invoice %s: %v", invoiceID, err), ErrTypeInvalidFix, nil)
	}
	err = a.Store.ApplyFix(ctx, invoiceID, ov)
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", invoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("portal fix applied", "invoice", invoiceID, "kind", fix.Kind)
	return nil
}

// overridesOf is the portal override a fix makes: only the field its kind names.
func overridesOf(fix Fix) (store.PortalOverrides, error) {
	var ov store.PortalOverrides
	need := func(field, v string) (string, error) {
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("a %s fix needs %s", fix.Kind, field)
		}
		return v, nil
	}
	var err error
	switch fix.Kind {
	case "renumber":
		ov.Number, err = need("Number", fix.Number)
	case "redate":
		if ov.Date, err = need("Date", fix.Date); err == nil {
			if _, perr := time.Parse(store.DateLayout, ov.Date); perr != nil {
				err = fmt.Errorf("date %q is not YYYY-MM-DD", fix.Date)
			}
		}
	case "tax_reference":
		ov.TaxReference, err = need("TaxReference", fix.TaxReference)
	case "remit_to":
		ov.RemitTo, err = need("RemitTo", fix.RemitTo)
	case "drop_zero_lines":
		ov.DropZeroLines = true
	default:
		err = fmt.Errorf("unknown fix kind %q (renumber, redate, tax_reference, remit_to, drop_zero_lines)", fix.Kind)
	}
	return ov, err
}

// Notify puts a notification into the outbox, once per (invoice, Seq): a retried activity inserts nothing
// more. It logs that a notification was queued, never its text.
func (a *Activities) Notify(ctx context.Context, n Notification) error {
	if strings.TrimSpace(n.Kind) == "" {
		return temporal.NewNonRetryableApplicationError("notification for invoice "+n.InvoiceID+" has no kind", ErrTypeMisconfigured, nil)
	}
	inserted, err := a.Store.InsertNotification(ctx, store.Notification{InvoiceID: n.InvoiceID, Seq: n.Seq, Kind: n.Kind, Recipients: n.To, Text: n.Text})
	if errors.Is(err, store.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", n.InvoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return err
	}
	activity.GetLogger(ctx).Info("notification queued", "invoice", n.InvoiceID, "kind", n.Kind, "seq", n.Seq,
		"recipients", len(n.To), "duplicate", !inserted)
	return nil
}
