package activities

// CONTRACT between the workflow (workflows/invoice.go) and the activities for the invoice lifecycle.
// The bodies marked "TODO(activities helper)" are being implemented; the types and signatures are fixed.

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"
)

// Policy is a customer's invoicing policy: who may approve, how Portico reminds and escalates, and what it
// may fix and resubmit on its own. Stored per customer in PostgreSQL (table customer_policies); a customer
// without a row gets DefaultPolicy.
type Policy struct {
	CustomerID string
	// Approvers are the people (e-mail addresses, lower case) whose decisions are accepted.
	Approvers []string
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

var errTODO = errors.New("not implemented yet")

// LoadPolicy reads the customer's policy. TODO(activities helper)
func (a *Activities) LoadPolicy(ctx context.Context, customerID string) (Policy, error) {
	return Policy{}, errTODO
}

// CheckInvoice runs the pre-submission checks that need only PostgreSQL (every check but
// number_unused, which SaveDraft makes in the portal). TODO(activities helper)
func (a *Activities) CheckInvoice(ctx context.Context, invoiceID string) (CheckReport, error) {
	return CheckReport{}, errTODO
}

// ApplyFix records a fix for the invoice's next portal submission. TODO(activities helper)
func (a *Activities) ApplyFix(ctx context.Context, invoiceID string, fix Fix) error {
	return errTODO
}

// Notify puts a notification into the outbox. TODO(activities helper)
func (a *Activities) Notify(ctx context.Context, n Notification) error {
	return errTODO
}
