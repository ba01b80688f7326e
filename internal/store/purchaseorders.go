package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"portico/internal/portal"
)

// UpsertPurchaseOrders writes one page of synced POs in a transaction: headers are upserted (unchanged rows
// are not rewritten) and lines replaced, so a page is either wholly visible or not at all. It returns how
// many POs were new or changed.
func (s *Store) UpsertPurchaseOrders(ctx context.Context, accountID string, pos []portal.PurchaseOrder) (int, error) {
	changed := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, po := range pos {
			tag, err := tx.Exec(ctx, `
				INSERT INTO purchase_orders (account_id, po_number, buyer_entity, order_date, currency, total, invoiced, remaining, status, payment_terms)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (account_id, po_number) DO UPDATE SET
					buyer_entity = EXCLUDED.buyer_entity, order_date = EXCLUDED.order_date, currency = EXCLUDED.currency,
					total = EXCLUDED.total, invoiced = EXCLUDED.invoiced, remaining = EXCLUDED.remaining,
					status = EXCLUDED.status, payment_terms = EXCLUDED.payment_terms, synced_at = now()
				WHERE (purchase_orders.buyer_entity, purchase_orders.order_date, purchase_orders.currency, purchase_orders.total,
				       purchase_orders.invoiced, purchase_orders.remaining, purchase_orders.status, purchase_orders.payment_terms)
				   IS DISTINCT FROM
				      (EXCLUDED.buyer_entity, EXCLUDED.order_date, EXCLUDED.currency, EXCLUDED.total,
				       EXCLUDED.invoiced, EXCLUDED.remaining, EXCLUDED.status, EXCLUDED.payment_terms)`,
				accountID, po.Number, po.BuyerEntity, nullDate(po.OrderDate), po.Currency, po.Total, po.Invoiced, po.Remaining, po.Status, po.PaymentTerms)
			if err != nil {
				return err
			}
			changed += int(tag.RowsAffected())
			if po.Lines == nil {
				continue // header-only page: keep the lines we have
			}
			if _, err := tx.Exec(ctx, `DELETE FROM purchase_order_lines WHERE account_id = $1 AND po_number = $2`, accountID, po.Number); err != nil {
				return err
			}
			for _, l := range po.Lines {
				if _, err := tx.Exec(ctx, `
					INSERT INTO purchase_order_lines (account_id, po_number, line_no, part_number, description, quantity, uom, unit_price)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					accountID, po.Number, l.LineNo, l.PartNumber, l.Description, l.Quantity, l.UOM, l.UnitPrice); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return changed, err
}

// PurchaseOrder returns a synced PO with its lines. The number is matched ignoring case and surrounding
// spaces, the way ERPs and portals differ in practice.
func (s *Store) PurchaseOrder(ctx context.Context, accountID, number string) (portal.PurchaseOrder, error) {
	var po portal.PurchaseOrder
	var orderDate pgtype.Date
	err := s.pool.QueryRow(ctx, `
		SELECT po_number, buyer_entity, order_date, currency, total, invoiced, remaining, status, payment_terms
		FROM purchase_orders WHERE account_id = $1 AND upper(po_number) = upper($2)`,
		accountID, strings.TrimSpace(number)).
		Scan(&po.Number, &po.BuyerEntity, &orderDate, &po.Currency, &po.Total, &po.Invoiced, &po.Remaining, &po.Status, &po.PaymentTerms)
	if err != nil {
		return po, notFound(err, "purchase order "+number)
	}
	if orderDate.Valid {
		po.OrderDate = orderDate.Time
	}
	rows, err := s.pool.Query(ctx, `
		SELECT line_no, part_number, description, quantity, uom, unit_price
		FROM purchase_order_lines WHERE account_id = $1 AND po_number = $2 ORDER BY line_no`, accountID, po.Number)
	if err != nil {
		return po, err
	}
	defer rows.Close()
	for rows.Next() {
		var l portal.POLine
		if err := rows.Scan(&l.LineNo, &l.PartNumber, &l.Description, &l.Quantity, &l.UOM, &l.UnitPrice); err != nil {
			return po, err
		}
		po.Lines = append(po.Lines, l)
	}
	return po, rows.Err()
}

// CountPurchaseOrders returns how many POs are synced for an account.
func (s *Store) CountPurchaseOrders(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM purchase_orders WHERE account_id = $1`, accountID).Scan(&n)
	return n, err
}
