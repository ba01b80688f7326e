package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// SettledStages are the stages in which an invoice is no longer money the buyer owes: paid, voided in the
// portal, or rejected by the supplier's own approver (its draft was deleted and never reached the buyer).
// Every other stage is an open receivable for the AR aging report, including the ones where the invoice has
// not reached the buyer yet (new, drafting, awaiting approval, needs attention, failed submission): the
// buyer cannot pay those, which is exactly what AR must see.
var SettledStages = []string{"paid", "voided", "rejected"}

// Receivable is an ERP invoice open on a given day, with the stage and portal status it had at the end of
// that day.
type Receivable struct {
	InvoiceID    string
	CustomerID   string
	AccountID    string
	Number       string
	PONumber     string
	Date         time.Time // the ERP's invoice date, which the ERP's own ledger ages from
	PaymentTerms string
	Currency     string
	Total        decimal.Decimal
	Stage        string
	PortalStatus string
	Reason       string
	// StatusAt is when Stage was recorded; zero for an invoice Portico has written nothing about.
	StatusAt time.Time
}

// ReceivablesFilter selects the receivables of the aging report.
type ReceivablesFilter struct {
	// AsOf is the report's day (UTC date; zero: today). Invoices dated after it are left out, and each
	// invoice's stage is the one it had at the end of that day, so a month-end report run later still
	// shows what was open at month end.
	AsOf       time.Time
	CustomerID string // empty: every customer
	AccountID  string // empty: every portal account
}

// Receivables lists the invoices not in a SettledStages stage at the end of the filter's day, oldest
// invoice first.
func (s *Store) Receivables(ctx context.Context, f ReceivablesFilter) ([]Receivable, error) {
	day := f.AsOf
	if day.IsZero() {
		day = time.Now()
	}
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	end := day.AddDate(0, 0, 1)
	// The stage at the end of the day is the last history row before it. An invoice without such a row is
	// new, unless its ERP row was written before then by something that kept no history.
	rows, err := s.pool.Query(ctx, `
		SELECT id, customer_id, account_id, invoice_number, po_number, invoice_date, payment_terms, currency, total,
		       stage, portal_status, reason, at
		FROM (
			SELECT e.id, e.customer_id, e.account_id, e.invoice_number, e.po_number, e.invoice_date, e.payment_terms,
			       e.currency, e.total,
			       coalesce(h.stage, CASE WHEN e.status_updated_at < $1 THEN e.stage END, 'new') AS stage,
			       coalesce(h.portal_status, CASE WHEN e.status_updated_at < $1 THEN e.portal_status END, '') AS portal_status,
			       coalesce(h.reason, CASE WHEN e.status_updated_at < $1 THEN e.status_reason END, '') AS reason,
			       coalesce(h.at, CASE WHEN e.status_updated_at < $1 THEN e.status_updated_at END) AS at
			FROM erp_invoices e
			LEFT JOIN LATERAL (
				SELECT stage, portal_status, reason, at FROM invoice_status_history
				WHERE invoice_id = e.id AND at < $1 ORDER BY seq DESC LIMIT 1
			) h ON true
			WHERE e.invoice_date <= $2 AND ($3 = '' OR e.customer_id = $3) AND ($4 = '' OR e.account_id = $4)
		) r
		WHERE stage <> ALL($5)
		ORDER BY invoice_date, customer_id, id`,
		end, pgtype.Date{Time: day, Valid: true}, f.CustomerID, f.AccountID, SettledStages)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Receivable, error) {
		var v Receivable
		var at pgtype.Timestamptz
		err := r.Scan(&v.InvoiceID, &v.CustomerID, &v.AccountID, &v.Number, &v.PONumber, &v.Date, &v.PaymentTerms,
			&v.Currency, &v.Total, &v.Stage, &v.PortalStatus, &v.Reason, &at)
		v.StatusAt = at.Time
		return v, err
	})
}
