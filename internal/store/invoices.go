package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
)

// ErrDuplicateInvoice is returned when the ERP inserts an invoice ID, or an invoice number on the same
// portal account, that already exists.
var ErrDuplicateInvoice = errors.New("invoice already exists")

// Invoice is an ERP invoice bound for a portal, with what Portico has written back about it.
type Invoice struct {
	ID             string
	CustomerID     string
	AccountID      string
	Number         string
	PONumber       string
	Date           time.Time
	Currency       string
	TaxRate        decimal.Decimal // percent
	Total          decimal.Decimal
	Note           string
	AttachmentName string
	// PaymentTerms are the ERP's terms as printed on the invoice, e.g. "Net 30".
	PaymentTerms string
	Lines        []InvoiceLine

	// What Portico keys into the portal: the ERP's values unless a fix (ApplyFix) overrides them. Read
	// only; InsertInvoice ignores them.
	PortalNumber  string    // the override number (after a renumber), else Number
	PortalDate    time.Time // the override date (after a redate), else Date
	RemitTo       string    // the remit-to address to choose; empty leaves the portal's default
	TaxReference  string    // a tax exemption reference; empty: not exempt
	DropZeroLines bool      // lines with quantity zero are left out of the draft instead of keyed as 0
	// PortalPONumber is the synced PO the invoice is keyed against: the PO it was matched to
	// (invoice_po_matches: found after normalising, by balance or lines, or chosen by a person), else PONumber.
	// An automatic match made for another ERP po_number than the current one no longer applies.
	PortalPONumber string

	// Written back by Portico.
	Stage           string
	PortalStatus    string
	PortalInvoiceID string
	StatusReason    string
	StatusUpdatedAt time.Time
}

// InvoiceLine is one ERP invoice line, billing a quantity of one PO line.
type InvoiceLine struct {
	LineNo      int
	POLineNo    int
	PartNumber  string
	Description string
	Quantity    decimal.Decimal
	UOM         string
	UnitPrice   decimal.Decimal
}

// InsertInvoice writes a new ERP invoice with its lines and attachment, as an ERP (or the demo) does.
func (s *Store) InsertInvoice(ctx context.Context, inv Invoice, attachment []byte) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO erp_invoices (id, customer_id, account_id, invoice_number, po_number, invoice_date, currency, tax_rate, total, note, attachment_name, attachment, payment_terms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			inv.ID, inv.CustomerID, inv.AccountID, inv.Number, inv.PONumber, inv.Date, inv.Currency, inv.TaxRate, inv.Total,
			inv.Note, inv.AttachmentName, attachment, inv.PaymentTerms); err != nil {
			return err
		}
		for _, l := range inv.Lines {
			if _, err := tx.Exec(ctx, `
				INSERT INTO erp_invoice_lines (invoice_id, line_no, po_line_no, part_number, description, quantity, uom, unit_price)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				inv.ID, l.LineNo, l.POLineNo, l.PartNumber, l.Description, l.Quantity, l.UOM, l.UnitPrice); err != nil {
				return err
			}
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("invoice %s (number %s): %w", inv.ID, inv.Number, ErrDuplicateInvoice)
	}
	return err
}

// Invoice returns an ERP invoice with its lines (not its attachment), and what Portico keys into the portal
// for it (PortalNumber, PortalDate and the other overrides).
func (s *Store) Invoice(ctx context.Context, id string) (Invoice, error) {
	var inv Invoice
	var updated *time.Time
	var ov PortalOverrides
	err := s.pool.QueryRow(ctx, `
		SELECT e.id, e.customer_id, e.account_id, e.invoice_number, e.po_number, e.invoice_date, e.currency, e.tax_rate, e.total, e.note,
		       e.attachment_name, e.payment_terms, e.portal_overrides, e.stage, e.portal_status, e.portal_invoice_id, e.status_reason,
		       e.status_updated_at, coalesce(m.po_number, e.po_number)
		FROM erp_invoices e
		LEFT JOIN invoice_po_matches m ON m.invoice_id = e.id AND m.status = 'matched' AND m.po_number <> ''
		      AND (m.rule = 'manual' OR m.erp_po_number = e.po_number)
		WHERE e.id = $1`, id).
		Scan(&inv.ID, &inv.CustomerID, &inv.AccountID, &inv.Number, &inv.PONumber, &inv.Date, &inv.Currency, &inv.TaxRate,
			&inv.Total, &inv.Note, &inv.AttachmentName, &inv.PaymentTerms, &ov, &inv.Stage, &inv.PortalStatus, &inv.PortalInvoiceID,
			&inv.StatusReason, &updated, &inv.PortalPONumber)
	if err != nil {
		return inv, notFound(err, "invoice "+id)
	}
	if updated != nil {
		inv.StatusUpdatedAt = *updated
	}
	if err := ov.applyTo(&inv); err != nil {
		return inv, fmt.Errorf("invoice %s: portal_overrides: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT line_no, po_line_no, part_number, description, quantity, uom, unit_price
		FROM erp_invoice_lines WHERE invoice_id = $1 ORDER BY line_no`, id)
	if err != nil {
		return inv, err
	}
	defer rows.Close()
	for rows.Next() {
		var l InvoiceLine
		if err := rows.Scan(&l.LineNo, &l.POLineNo, &l.PartNumber, &l.Description, &l.Quantity, &l.UOM, &l.UnitPrice); err != nil {
			return inv, err
		}
		inv.Lines = append(inv.Lines, l)
	}
	return inv, rows.Err()
}

// InvoiceAttachment returns the invoice's legal PDF, read only by the activity that uploads it.
func (s *Store) InvoiceAttachment(ctx context.Context, id string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT attachment FROM erp_invoices WHERE id = $1`, id).Scan(&data)
	return data, notFound(err, "invoice "+id)
}

// StatusChange is one change of an invoice's stage or portal status, as written back to the ERP.
type StatusChange struct {
	InvoiceID       string
	Seq             int // assigned by the invoice workflow; makes a retried write a no-op
	At              time.Time
	Stage           string
	Status          string // canonical status, e.g. "with_buyer"
	PortalStatus    string // the portal's own word
	PortalInvoiceID string
	Reason          string
	Source          string // "portico", "portal", or "approver:<name>"
	// Decision, when set, is the approval or resolution this change records (accepted or refused); it is
	// kept in the decision audit in the same transaction as the change.
	Decision *Decision `json:",omitempty"`
}

// RecordStatus appends the change to the invoice's status history and updates the ERP row. It is
// idempotent on (invoice, seq), and an older change never overwrites a newer one.
func (s *Store) RecordStatus(ctx context.Context, c StatusChange) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO invoice_status_history (invoice_id, seq, at, stage, status, portal_status, reason, source)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (invoice_id, seq) DO NOTHING`,
			c.InvoiceID, c.Seq, c.At, c.Stage, c.Status, c.PortalStatus, c.Reason, c.Source)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return fmt.Errorf("invoice %s: %w", c.InvoiceID, ErrNotFound)
			}
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if c.Decision != nil {
			if err := insertDecision(ctx, tx, c); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE erp_invoices SET stage = $2, portal_status = $3, status_reason = $4,
				portal_invoice_id = CASE WHEN $5 = '' THEN portal_invoice_id ELSE $5 END,
				status_seq = $6, status_updated_at = $7
			WHERE id = $1 AND status_seq < $6`,
			c.InvoiceID, c.Stage, c.PortalStatus, c.Reason, c.PortalInvoiceID, c.Seq, c.At)
		return err
	})
}

// StatusHistory returns every recorded change of an invoice, oldest first.
func (s *Store) StatusHistory(ctx context.Context, invoiceID string) ([]StatusChange, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT invoice_id, seq, at, stage, status, portal_status, reason, source
		FROM invoice_status_history WHERE invoice_id = $1 ORDER BY seq`, invoiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StatusChange
	for rows.Next() {
		var c StatusChange
		if err := rows.Scan(&c.InvoiceID, &c.Seq, &c.At, &c.Stage, &c.Status, &c.PortalStatus, &c.Reason, &c.Source); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
