package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"portico/internal/portal"
)

// Synced POs are written in bulk: a batch is COPYed into a staging table (a temporary one for a one-off
// batch, the unlogged po_sync_staged for a sync run), then merged into purchase_orders with ONE
// INSERT … SELECT … ON CONFLICT DO UPDATE that skips unchanged rows, and the lines of POs whose page was
// read are reconciled line by line. Closed and cancelled POs are kept with their history: nothing here
// ever deletes a PO.

// stagedCols are the columns of po_sync_staged, in COPY order.
var stagedCols = []string{"run_id", "page", "seq", "po_number", "buyer_entity", "order_date", "currency", "total",
	"invoiced", "remaining", "status", "payment_terms", "lines_read"}

// stagedLineCols are the columns of po_sync_staged_lines, in COPY order.
var stagedLineCols = []string{"run_id", "page", "seq", "po_number", "line_no", "part_number", "description", "quantity", "uom", "unit_price"}

// UpsertPurchaseOrders writes a batch of POs in one transaction: the batch is COPYed into a temporary staging
// table and merged (see mergeStaged), so the batch is either wholly visible or not at all. A PO listed twice
// counts once, the last one wins. A PO whose Lines is nil keeps the lines already stored; a PO with Lines
// (even empty) gets exactly those lines, rewriting only lines that differ. It returns how many POs were new
// or changed (header or lines).
func (s *Store) UpsertPurchaseOrders(ctx context.Context, accountID string, pos []portal.PurchaseOrder) (int, error) {
	if len(pos) == 0 {
		return 0, nil
	}
	changed := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`CREATE TEMP TABLE po_ingest (LIKE po_sync_staged) ON COMMIT DROP`,
			`CREATE TEMP TABLE po_ingest_lines (LIKE po_sync_staged_lines) ON COMMIT DROP`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		withLines, err := copyStaged(ctx, tx, pgx.Identifier{"po_ingest"}, pgx.Identifier{"po_ingest_lines"}, ingestRun, 1, pos)
		if err != nil {
			return err
		}
		changed, err = mergeStaged(ctx, tx, accountID, ingestRun, "po_ingest", "po_ingest_lines", withLines > 0)
		return err
	})
	return changed, err
}

// ingestRun is the run id of a one-off batch in its temporary staging table.
var ingestRun = pgtype.UUID{Valid: true}

// copyStaged COPYs one page of POs (and the lines of those whose lines were read) into staging tables and
// returns how many POs came with lines.
func copyStaged(ctx context.Context, tx pgx.Tx, staged, stagedLines pgx.Identifier, run pgtype.UUID, page int, pos []portal.PurchaseOrder) (int, error) {
	withLines, nLines := 0, 0
	for _, po := range pos {
		if po.Lines != nil {
			withLines++
			nLines += len(po.Lines)
		}
	}
	_, err := tx.CopyFrom(ctx, staged, stagedCols, pgx.CopyFromSlice(len(pos), func(i int) ([]any, error) {
		po := &pos[i]
		return []any{run, page, i, strings.TrimSpace(po.Number), po.BuyerEntity, nullDate(po.OrderDate), po.Currency,
			po.Total, po.Invoiced, po.Remaining, po.Status, po.PaymentTerms, po.Lines != nil}, nil
	}))
	if err != nil {
		return 0, fmt.Errorf("stage POs: %w", err)
	}
	if nLines == 0 {
		return withLines, nil
	}
	rows := make([][]any, 0, nLines)
	for i, po := range pos {
		for _, l := range po.Lines {
			rows = append(rows, []any{run, page, i, strings.TrimSpace(po.Number), l.LineNo, l.PartNumber, l.Description, l.Quantity, l.UOM, l.UnitPrice})
		}
	}
	if _, err := tx.CopyFrom(ctx, stagedLines, stagedLineCols, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("stage PO lines: %w", err)
	}
	return withLines, nil
}

// mergeStaged merges the rows of run in the staging tables staged and stagedLines into purchase_orders and
// purchase_order_lines, in the caller's transaction, and returns how many POs were new or changed.
//
//  1. Headers: ONE INSERT … SELECT DISTINCT ON (po_number) (the last staged row of a PO wins) … ON CONFLICT
//     DO UPDATE … WHERE (stored) IS DISTINCT FROM (staged): an unchanged PO is not rewritten.
//  2. Lines, only of POs whose page was read (their last staged row that read lines): lines that differ are
//     upserted, lines the portal no longer shows are deleted, unchanged lines are not touched; a PO whose lines
//     changed but whose header did not gets synced_at moved, so it counts as changed.
func mergeStaged(ctx context.Context, tx pgx.Tx, accountID string, run pgtype.UUID, staged, stagedLines string, withLines bool) (int, error) {
	// The DISTINCT ON sorts the whole run; give it the memory to do so without spilling (this transaction only).
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf(`
		INSERT INTO purchase_orders AS p (account_id, po_number, buyer_entity, order_date, currency, total, invoiced, remaining, status, payment_terms)
		SELECT DISTINCT ON (s.po_number) $1, s.po_number, s.buyer_entity, s.order_date, s.currency, s.total, s.invoiced, s.remaining, s.status, s.payment_terms
		FROM %s s WHERE s.run_id = $2
		ORDER BY s.po_number, s.page DESC, s.seq DESC
		ON CONFLICT (account_id, po_number) DO UPDATE SET
			buyer_entity = EXCLUDED.buyer_entity, order_date = EXCLUDED.order_date, currency = EXCLUDED.currency,
			total = EXCLUDED.total, invoiced = EXCLUDED.invoiced, remaining = EXCLUDED.remaining,
			status = EXCLUDED.status, payment_terms = EXCLUDED.payment_terms, synced_at = now()
		WHERE (p.buyer_entity, p.order_date, p.currency, p.total, p.invoiced, p.remaining, p.status, p.payment_terms)
		      IS DISTINCT FROM
		      (EXCLUDED.buyer_entity, EXCLUDED.order_date, EXCLUDED.currency, EXCLUDED.total, EXCLUDED.invoiced,
		       EXCLUDED.remaining, EXCLUDED.status, EXCLUDED.payment_terms)`, staged), accountID, run)
	if err != nil {
		return 0, fmt.Errorf("merge POs: %w", err)
	}
	changed := int(tag.RowsAffected())
	if !withLines {
		return changed, nil
	}
	for _, q := range []string{
		// The POs whose page was read, with the staged row whose lines count (the last one that read them).
		fmt.Sprintf(`CREATE TEMP TABLE po_merge_read ON COMMIT DROP AS
			SELECT DISTINCT ON (po_number) po_number, page, seq FROM %s
			WHERE run_id = $1 AND lines_read ORDER BY po_number, page DESC, seq DESC`, staged),
		fmt.Sprintf(`CREATE TEMP TABLE po_merge_lines ON COMMIT DROP AS
			SELECT DISTINCT ON (l.po_number, l.line_no) l.po_number, l.line_no, l.part_number, l.description, l.quantity, l.uom, l.unit_price
			FROM %s l JOIN po_merge_read r ON r.po_number = l.po_number AND r.page = l.page AND r.seq = l.seq
			WHERE l.run_id = $1 ORDER BY l.po_number, l.line_no`, stagedLines),
	} {
		if _, err := tx.Exec(ctx, q, run); err != nil {
			return 0, fmt.Errorf("merge PO lines: %w", err)
		}
	}
	tag, err = tx.Exec(ctx, `
		WITH up AS (
			INSERT INTO purchase_order_lines AS t (account_id, po_number, line_no, part_number, description, quantity, uom, unit_price)
			SELECT $1, po_number, line_no, part_number, description, quantity, uom, unit_price FROM po_merge_lines
			ON CONFLICT (account_id, po_number, line_no) DO UPDATE SET
				part_number = EXCLUDED.part_number, description = EXCLUDED.description, quantity = EXCLUDED.quantity,
				uom = EXCLUDED.uom, unit_price = EXCLUDED.unit_price
			WHERE (t.part_number, t.description, t.quantity, t.uom, t.unit_price)
			      IS DISTINCT FROM (EXCLUDED.part_number, EXCLUDED.description, EXCLUDED.quantity, EXCLUDED.uom, EXCLUDED.unit_price)
			RETURNING t.po_number
		), gone AS (
			DELETE FROM purchase_order_lines t USING po_merge_read r
			WHERE t.account_id = $1 AND t.po_number = r.po_number
			  AND NOT EXISTS (SELECT 1 FROM po_merge_lines m WHERE m.po_number = t.po_number AND m.line_no = t.line_no)
			RETURNING t.po_number
		)
		-- Headers written by step 1 carry this transaction's now(): they are counted already.
		UPDATE purchase_orders p SET synced_at = now()
		WHERE p.account_id = $1 AND p.synced_at <> now()
		  AND p.po_number IN (SELECT po_number FROM up UNION SELECT po_number FROM gone)`, accountID)
	if err != nil {
		return 0, fmt.Errorf("merge PO lines: %w", err)
	}
	changed += int(tag.RowsAffected())
	if _, err := tx.Exec(ctx, `DROP TABLE po_merge_read, po_merge_lines`); err != nil {
		return 0, err
	}
	return changed, nil
}

// POHeader is what a sync compares with a listed PO to decide whether to read the PO's page for its lines.
type POHeader struct {
	Currency string
	Total    decimal.Decimal
	Status   string
	HasLines bool
}

// PurchaseOrderHeaders returns the stored headers of those of the numbers the account has, by number (exact).
func (s *Store) PurchaseOrderHeaders(ctx context.Context, accountID string, numbers []string) (map[string]POHeader, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT p.po_number, p.currency, p.total, p.status,
		       EXISTS (SELECT 1 FROM purchase_order_lines l WHERE l.account_id = p.account_id AND l.po_number = p.po_number)
		FROM purchase_orders p WHERE p.account_id = $1 AND p.po_number = ANY($2)`, accountID, numbers)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]POHeader, len(numbers))
	for rows.Next() {
		var n string
		var h POHeader
		if err := rows.Scan(&n, &h.Currency, &h.Total, &h.Status, &h.HasLines); err != nil {
			return nil, err
		}
		out[n] = h
	}
	return out, rows.Err()
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
