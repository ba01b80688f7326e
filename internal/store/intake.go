package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// invoiceNumberKey is the unique constraint on (account_id, invoice_number) that 001_initial.sql creates
// under PostgreSQL's default name.
const invoiceNumberKey = "erp_invoices_account_id_invoice_number_key"

// InvoiceNumberTakenError is returned by InsertInvoiceOnce when the portal account already has the invoice
// number under another ERP invoice ID: portals refuse a second invoice with the same number, so the ERP must
// be told which of its invoices holds it.
type InvoiceNumberTakenError struct {
	AccountID string
	Number    string
	// HeldBy is the ERP ID of the invoice that has the number; empty if it was deleted meanwhile.
	HeldBy string
}

// Error names the number, the account and the invoice that holds it.
func (e *InvoiceNumberTakenError) Error() string {
	return fmt.Sprintf("portal account %s already has invoice number %q (ERP invoice %q)", e.AccountID, e.Number, e.HeldBy)
}

// Unwrap makes the error an ErrDuplicateInvoice too, as InsertInvoice reports the same case.
func (e *InvoiceNumberTakenError) Unwrap() error { return ErrDuplicateInvoice }

// InsertInvoiceOnce writes a new ERP invoice with its lines and attachment in one transaction, like
// InsertInvoice, unless an invoice with the same ID exists: then it changes nothing and reports false, so
// that a request sent twice is not an error and the caller can compare what it sent with what is stored.
// Another invoice with the same number on the account is an *InvoiceNumberTakenError.
func (s *Store) InsertInvoiceOnce(ctx context.Context, inv Invoice, attachment []byte) (bool, error) {
	inserted := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// ON CONFLICT names only the primary key: a clash on the invoice number must still fail, since it is
		// another invoice, not this one again.
		tag, err := tx.Exec(ctx, `
			INSERT INTO erp_invoices (id, customer_id, account_id, invoice_number, po_number, invoice_date, currency, tax_rate, total, note, attachment_name, attachment, payment_terms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO NOTHING`,
			inv.ID, inv.CustomerID, inv.AccountID, inv.Number, inv.PONumber, inv.Date, inv.Currency, inv.TaxRate, inv.Total,
			inv.Note, inv.AttachmentName, attachment, inv.PaymentTerms)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		b := &pgx.Batch{}
		for _, l := range inv.Lines {
			b.Queue(`
				INSERT INTO erp_invoice_lines (invoice_id, line_no, po_line_no, part_number, description, quantity, uom, unit_price)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				inv.ID, l.LineNo, l.POLineNo, l.PartNumber, l.Description, l.Quantity, l.UOM, l.UnitPrice)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		inserted = true
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == invoiceNumberKey {
		taken := &InvoiceNumberTakenError{AccountID: inv.AccountID, Number: inv.Number}
		// Read after the rollback, outside the failed transaction; a miss only leaves HeldBy empty.
		_ = s.pool.QueryRow(ctx, `SELECT id FROM erp_invoices WHERE account_id = $1 AND invoice_number = $2`,
			inv.AccountID, inv.Number).Scan(&taken.HeldBy)
		if taken.HeldBy == inv.ID {
			// The same invoice, inserted by a concurrent call that committed while this one waited: ON
			// CONFLICT only absorbs a clash on the index it names, and the number's index can report first.
			return false, nil
		}
		return false, taken
	}
	if err != nil {
		return false, fmt.Errorf("store: insert invoice %s: %w", inv.ID, err)
	}
	return inserted, nil
}

// InvoiceAttachmentDigest returns the SHA-256 of the invoice's attachment, or nil when it has none. The
// database hashes it, so comparing a resent attachment does not carry megabytes back over the wire.
func (s *Store) InvoiceAttachmentDigest(ctx context.Context, id string) ([]byte, error) {
	var sum []byte
	err := s.pool.QueryRow(ctx, `SELECT sha256(attachment) FROM erp_invoices WHERE id = $1`, id).Scan(&sum)
	return sum, notFound(err, "invoice "+id)
}

// CustomerAccountIDs lists the IDs of the customer's portal accounts, sorted, so that an invoice that names
// no account can go to the customer's only one (and an ambiguous one can be refused with the choices).
func (s *Store) CustomerAccountIDs(ctx context.Context, customerID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM portal_accounts WHERE customer_id = $1 ORDER BY id`, customerID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return ids, nil
}
