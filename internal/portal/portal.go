// Package portal holds what Portico knows about buyer AP portals independent of how it drives them: the
// records a portal shows (purchase orders, invoices), Portico's canonical invoice statuses, and the named
// errors a portal interaction ends in.
package portal

import (
	"time"

	"github.com/shopspring/decimal"
)

// PurchaseOrder is a PO as the portal shows it to the supplier.
type PurchaseOrder struct {
	Number       string
	BuyerEntity  string
	OrderDate    time.Time
	Currency     string
	Total        decimal.Decimal
	Invoiced     decimal.Decimal
	Remaining    decimal.Decimal
	Status       string // the portal's own word, e.g. "Partially Invoiced"
	PaymentTerms string
	Lines        []POLine
}

// POLine is one line of a purchase order.
type POLine struct {
	LineNo      int
	PartNumber  string
	Description string
	Quantity    decimal.Decimal
	UOM         string
	UnitPrice   decimal.Decimal
}

// Draft is what Portico keys into a portal's invoice form when it flips a PO into an invoice.
type Draft struct {
	Number   string
	PONumber string
	Date     time.Time
	TaxRate  decimal.Decimal // percent
	Note     string
	// RemitTo is the remit-to address to choose, as the portal lists it; empty leaves the portal's default.
	RemitTo string
	// TaxReference marks the invoice tax-exempt with this exemption reference.
	TaxReference string
	// Lines bill PO lines by number; PO lines not listed are set to zero so the portal drops them.
	Lines []DraftLine
	// ExpectedTotal is the ERP's total; a portal that computes another total is stopped, not submitted.
	ExpectedTotal  decimal.Decimal
	AttachmentName string
	Attachment     []byte `json:"-"`
}

// DraftLine bills a quantity of one PO line.
type DraftLine struct {
	POLineNo int
	Quantity decimal.Decimal
	// UnitPrice, when set, is keyed into portals whose form lets the price be edited; it must mirror the PO.
	UnitPrice decimal.Decimal
}

// Invoice is an invoice as the portal shows it to the supplier.
type Invoice struct {
	PortalID         string
	Number           string
	PONumber         string
	Status           Status
	PortalStatus     string // the portal's own word, e.g. "Pending Approval"
	Total            decimal.Decimal
	Reason           string // dispute or rejection reason, when the portal gives one
	PaymentReference string
	// RoutingStatus is a second status some portals show beside the invoice status (Ariba: Sent,
	// Acknowledged, Failed).
	RoutingStatus string
	// Code is the portal's machine code for a rejection or dispute, e.g. INVOICE_DUPLICATE.
	Code string
	// PaidAmount is what the buyer has paid so far, when the portal shows it.
	PaidAmount decimal.Decimal
}
