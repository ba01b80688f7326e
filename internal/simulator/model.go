package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// dateLayout is how calendar dates appear on pages, in form fields and in JSON.
const dateLayout = "2006-01-02"

// Account is a supplier user of the portal.
type Account struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"` // base32, as shown under the enrolment QR code
	Supplier   string `json:"supplier"`    // supplier company name shown in the header
	// PasswordChangedAt is when the password was last set; Rules.PasswordMaxAgeDays counts from
	// it. Zero when seeding means "now".
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
}

// POStatus is the status of a purchase order as the supplier sees it.
type POStatus string

// Purchase order statuses.
const (
	POOpen              POStatus = "Open"
	POPartiallyInvoiced POStatus = "Partially Invoiced"
	POFullyInvoiced     POStatus = "Fully Invoiced"
	POClosed            POStatus = "Closed"
	POCancelled         POStatus = "Cancelled"
)

func (s POStatus) valid() bool {
	switch s {
	case POOpen, POPartiallyInvoiced, POFullyInvoiced, POClosed, POCancelled:
		return true
	}
	return false
}

// PO is a purchase order issued by the buyer to one supplier account.
type PO struct {
	Number       string    `json:"number"`
	BuyerEntity  string    `json:"buyer_entity"`
	OrderDate    time.Time `json:"order_date"` // only the date part is used
	Currency     string    `json:"currency"`
	PaymentTerms string    `json:"payment_terms"`
	// Status is the seeded status. Open and Partially Invoiced POs move on by
	// themselves as invoices are submitted; Fully Invoiced, Closed and Cancelled
	// are kept as seeded so that tests can set up POs that cannot be invoiced.
	Status POStatus `json:"status"`
	Lines  []POLine `json:"lines"`
	// UpdatedAt is when the PO last changed as the supplier sees it: when it was seeded or changed, and when
	// its invoiced amount changed (an invoice submitted, disputed or voided). The PO lists filter on it
	// (updated_since). Zero when seeding means "now".
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// POLine is one line of a purchase order.
type POLine struct {
	LineNo      int             `json:"line_no"`
	PartNumber  string          `json:"part_number"`
	Description string          `json:"description"`
	Quantity    decimal.Decimal `json:"quantity"`
	UOM         string          `json:"uom"`
	UnitPrice   decimal.Decimal `json:"unit_price"`
}

// Amount is the line's quantity times its unit price, rounded to cents.
func (l POLine) Amount() decimal.Decimal {
	return roundMoney(l.Quantity.Mul(l.UnitPrice))
}

// Total is the sum of the PO's line amounts.
func (p PO) Total() decimal.Decimal {
	total := decimal.Zero
	for _, l := range p.Lines {
		total = total.Add(l.Amount())
	}
	return total
}

// line returns the PO line with the given number.
func (p PO) line(n int) (POLine, bool) {
	for _, l := range p.Lines {
		if l.LineNo == n {
			return l, true
		}
	}
	return POLine{}, false
}

// MarshalJSON writes OrderDate as a plain date, the way the control API takes it.
func (p PO) MarshalJSON() ([]byte, error) {
	type alias PO
	return json.Marshal(struct {
		alias
		OrderDate string `json:"order_date"`
	}{alias(p), formatDate(p.OrderDate)})
}

// UnmarshalJSON reads OrderDate as a plain date (RFC 3339 is accepted too) and
// refuses unknown fields so that a typo in seed data is reported, not ignored.
func (p *PO) UnmarshalJSON(b []byte) error {
	type alias PO
	var v struct {
		alias
		OrderDate string `json:"order_date"`
	}
	if err := decodeStrict(b, &v); err != nil {
		return err
	}
	d, err := parseDate(v.OrderDate)
	if err != nil {
		return fmt.Errorf("order_date: %w", err)
	}
	*p = PO(v.alias)
	p.OrderDate = d
	return nil
}

// InvoiceStatus is the status of an invoice, in Coupa's words.
type InvoiceStatus string

// Invoice statuses.
const (
	StatusDraft           InvoiceStatus = "Draft"
	StatusPendingApproval InvoiceStatus = "Pending Approval"
	StatusApproved        InvoiceStatus = "Approved"
	StatusDisputed        InvoiceStatus = "Disputed"
	StatusVoided          InvoiceStatus = "Voided"
	StatusPartiallyPaid   InvoiceStatus = "Partially Paid"
	StatusPaid            InvoiceStatus = "Paid"
)

// consumesBalance tells whether an invoice in this status counts toward the
// PO's invoiced amount. Drafts have not been sent; disputed and voided
// invoices give their amount back to the PO.
func (s InvoiceStatus) consumesBalance() bool {
	return s == StatusPendingApproval || s == StatusApproved || s == StatusPartiallyPaid || s == StatusPaid
}

// Invoice is a supplier invoice raised against a PO.
type Invoice struct {
	ID             string          `json:"id"`
	Number         string          `json:"number"`
	PONumber       string          `json:"po_number"`
	Supplier       string          `json:"supplier"` // the supplier account's username
	InvoiceDate    time.Time       `json:"invoice_date"`
	Currency       string          `json:"currency"`
	PaymentTerms   string          `json:"payment_terms"`
	Lines          []InvoiceLine   `json:"lines"`
	TaxRate        decimal.Decimal `json:"tax_rate"`
	Tax            decimal.Decimal `json:"tax"`
	Subtotal       decimal.Decimal `json:"subtotal"`
	Total          decimal.Decimal `json:"total"`
	Note           string          `json:"note"`
	RemitTo        string          `json:"remit_to,omitempty"`      // one of Rules.RemitTo
	TaxTreatment   string          `json:"tax_treatment,omitempty"` // TaxStandard or TaxExempt
	TaxReference   string          `json:"tax_reference,omitempty"` // exemption reference, with TaxExempt
	AttachmentName string          `json:"attachment_name"`
	AttachmentType string          `json:"attachment_type,omitempty"` // pdf, png, jpg or tiff (by content)
	AttachmentSize int64           `json:"attachment_size"`
	Status         InvoiceStatus   `json:"status"`
	DisputeReason  string          `json:"dispute_reason"`
	// RoutingStatus is the Ariba flavor's delivery status beside the invoice status: "" (not sent),
	// Sent, Acknowledged or Failed.
	RoutingStatus string `json:"routing_status,omitempty"`
	// RejectionCode is the machine code of an automatic rejection, e.g. INVOICE_DUPLICATE, or the
	// buyer's dispute code (DisputeCodes), e.g. LINE_MISMATCH.
	RejectionCode string `json:"rejection_code,omitempty"`
	// PaymentReference is the buyer's payment reference; several partial payments are joined with ", ".
	PaymentReference string `json:"payment_reference"`
	// PaidAmount is the sum of the buyer's payments; below Total the status is Partially Paid.
	PaidAmount  decimal.Decimal `json:"paid_amount"`
	CreatedAt   time.Time       `json:"created_at"`
	SubmittedAt time.Time       `json:"submitted_at,omitzero"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// InvoiceLine is one billed line; it mirrors a PO line.
type InvoiceLine struct {
	LineNo      int             `json:"line_no"`
	PartNumber  string          `json:"part_number"`
	Description string          `json:"description"`
	Quantity    decimal.Decimal `json:"quantity"`
	UOM         string          `json:"uom"`
	UnitPrice   decimal.Decimal `json:"unit_price"`
	Amount      decimal.Decimal `json:"amount"`
}

// MarshalJSON writes InvoiceDate as a plain date.
func (inv Invoice) MarshalJSON() ([]byte, error) {
	type alias Invoice
	return json.Marshal(struct {
		alias
		InvoiceDate string `json:"invoice_date"`
	}{alias(inv), formatDate(inv.InvoiceDate)})
}

// UnmarshalJSON reads InvoiceDate as a plain date.
func (inv *Invoice) UnmarshalJSON(b []byte) error {
	type alias Invoice
	var v struct {
		alias
		InvoiceDate string `json:"invoice_date"`
	}
	if err := decodeStrict(b, &v); err != nil {
		return err
	}
	d, err := parseDate(v.InvoiceDate)
	if err != nil {
		return fmt.Errorf("invoice_date: %w", err)
	}
	*inv = Invoice(v.alias)
	inv.InvoiceDate = d
	return nil
}

// clone returns a copy that shares no slices with inv, so that snapshots handed
// out of the lock cannot race with later changes.
func (inv *Invoice) clone() Invoice {
	c := *inv
	c.Lines = append([]InvoiceLine(nil), inv.Lines...)
	return c
}

// Event is one entry of the audit log.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is one of login_ok, login_failed, totp_ok, totp_reused, totp_failed,
	// totp_remembered, password_expired, password_changed, locked, unlocked,
	// logout, draft_created, draft_deleted, submitted,
	// approved, disputed, partially_paid, paid, voided, rules_changed.
	Kind          string `json:"kind"`
	Username      string `json:"username,omitempty"`
	InvoiceNumber string `json:"invoice_number,omitempty"`
	Detail        string `json:"detail,omitempty"`
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(dateLayout)
}

// parseDate accepts "2006-01-02" and, for callers that marshal a time.Time,
// RFC 3339; the result is midnight UTC of that calendar date.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(dateLayout, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", s)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
