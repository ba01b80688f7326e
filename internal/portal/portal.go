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
}
