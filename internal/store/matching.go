package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"portico/internal/matching"
)

// DecidedByPortico is who decided an automatic match (po_customer_matches.decided_by,
// invoice_po_matches.decided_by). Anything else is a person.
const DecidedByPortico = "portico"

// MatchableStages are the stages of ERP invoices that MatchAfterSync matches: not started, matching, failed
// (to be started again) and waiting for changes; none of them is with the buyer.
var MatchableStages = []string{"new", "matching", "failed", "changes_requested"}

// ---- Customers ----

// AddCustomerAlias adds a name under which the customer's buyer entity appears in portals. Adding it again
// changes nothing; an unknown customer is ErrNotFound.
func (s *Store) AddCustomerAlias(ctx context.Context, customerID, alias string) error {
	alias = strings.TrimSpace(alias)
	if alias == "" {
		return errors.New("store: alias is empty")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO customer_aliases (customer_id, alias) VALUES ($1, $2) ON CONFLICT DO NOTHING`, customerID, alias)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	return err
}

// RemoveCustomerAlias removes an alias; removing one that is not there changes nothing.
func (s *Store) RemoveCustomerAlias(ctx context.Context, customerID, alias string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM customer_aliases WHERE customer_id = $1 AND alias = $2`, customerID, strings.TrimSpace(alias))
	return err
}

// MatchingCustomers returns every customer with its aliases, for matching buyer entities.
func (s *Store) MatchingCustomers(ctx context.Context) ([]matching.Customer, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.name, c.buyer_entity, coalesce(array_agg(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), '{}')
		FROM customers c LEFT JOIN customer_aliases a ON a.customer_id = c.id
		GROUP BY c.id ORDER BY c.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []matching.Customer
	for rows.Next() {
		var c matching.Customer
		if err := rows.Scan(&c.ID, &c.Name, &c.BuyerEntity, &c.Aliases); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// BuyerEntities returns the distinct buyer entities of an account's synced POs.
func (s *Store) BuyerEntities(ctx context.Context, accountID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT buyer_entity FROM purchase_orders WHERE account_id = $1 ORDER BY buyer_entity`, accountID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// EntityMatch is the customer of every PO with one buyer entity, as matching decided it.
type EntityMatch struct {
	BuyerEntity string
	CustomerID  string // empty: unmatched
	Reason      string
}

// CustomerMatchCounts count an account's POs by their customer match.
type CustomerMatchCounts struct {
	POs       int // synced POs of the account
	Matched   int // with a customer (automatic or manual)
	Unmatched int // without one: for a person (UnmatchedPurchaseOrders)
	Manual    int // decided by a person, left as they are
	Changed   int // automatic matches written (new or different) by this call
}

// ApplyCustomerMatches writes the customer of every PO of the account from the matches of their buyer
// entities, in one statement. Manual matches are never overwritten; unchanged rows are not rewritten.
func (s *Store) ApplyCustomerMatches(ctx context.Context, accountID string, ms []EntityMatch) (CustomerMatchCounts, error) {
	var c CustomerMatchCounts
	entities := make([]string, len(ms))
	customers := make([]*string, len(ms))
	reasons := make([]string, len(ms))
	for i, m := range ms {
		entities[i], reasons[i] = m.BuyerEntity, m.Reason
		if m.CustomerID != "" {
			customers[i] = &ms[i].CustomerID
		}
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO po_customer_matches AS m (account_id, po_number, customer_id, source, reason)
		SELECT p.account_id, p.po_number, e.customer_id, 'auto', e.reason
		FROM purchase_orders p JOIN unnest($2::text[], $3::text[], $4::text[]) AS e(buyer_entity, customer_id, reason)
		  ON e.buyer_entity = p.buyer_entity
		LEFT JOIN po_customer_matches o ON o.account_id = p.account_id AND o.po_number = p.po_number
		WHERE p.account_id = $1
		  -- Only new POs and automatic matches that change: a sync that changes nothing writes nothing.
		  AND (o.po_number IS NULL OR o.source = 'auto' AND (o.customer_id, o.reason) IS DISTINCT FROM (e.customer_id, e.reason))
		ON CONFLICT (account_id, po_number) DO UPDATE SET
			customer_id = EXCLUDED.customer_id, reason = EXCLUDED.reason, decided_by = 'portico', updated_at = now()
		WHERE m.source = 'auto' AND (m.customer_id, m.reason) IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.reason)`,
		accountID, entities, customers, reasons)
	if err != nil {
		return c, fmt.Errorf("store: customer matches of %s: %w", accountID, err)
	}
	c.Changed = int(tag.RowsAffected())
	err = s.pool.QueryRow(ctx, `
		SELECT count(*), count(m.customer_id), count(*) FILTER (WHERE m.source = 'manual')
		FROM purchase_orders p LEFT JOIN po_customer_matches m ON m.account_id = p.account_id AND m.po_number = p.po_number
		WHERE p.account_id = $1`, accountID).Scan(&c.POs, &c.Matched, &c.Manual)
	c.Unmatched = c.POs - c.Matched
	return c, err
}

// SetPOCustomer records a person's decision of a PO's customer; Portico never overwrites it. The PO (by its
// exact number) and the customer must exist.
func (s *Store) SetPOCustomer(ctx context.Context, accountID, poNumber, customerID, by, note string) error {
	by = strings.TrimSpace(by)
	if by == "" || by == DecidedByPortico {
		return errors.New("store: a manual match needs the name of the person who made it")
	}
	reason := "matched by " + by
	if note = strings.TrimSpace(note); note != "" {
		reason += ": " + note
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO po_customer_matches (account_id, po_number, customer_id, source, reason, decided_by)
		SELECT account_id, po_number, $3, 'manual', $4, $5 FROM purchase_orders WHERE account_id = $1 AND po_number = $2
		ON CONFLICT (account_id, po_number) DO UPDATE SET customer_id = EXCLUDED.customer_id, source = 'manual',
			reason = EXCLUDED.reason, decided_by = EXCLUDED.decided_by, updated_at = now()`,
		accountID, strings.TrimSpace(poNumber), customerID, reason, by)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("purchase order %s of %s: %w", poNumber, accountID, ErrNotFound)
	}
	return nil
}

// POCustomer is the customer match of one PO.
type POCustomer struct {
	CustomerID string // empty: unmatched
	Source     string // auto or manual
	Reason     string
	DecidedBy  string
}

// POCustomer returns the customer match of a PO; ErrNotFound when it was never matched.
func (s *Store) POCustomer(ctx context.Context, accountID, poNumber string) (POCustomer, error) {
	var c POCustomer
	var cust *string
	err := s.pool.QueryRow(ctx, `SELECT customer_id, source, reason, decided_by FROM po_customer_matches WHERE account_id = $1 AND po_number = $2`,
		accountID, poNumber).Scan(&cust, &c.Source, &c.Reason, &c.DecidedBy)
	if cust != nil {
		c.CustomerID = *cust
	}
	return c, notFound(err, "customer match of PO "+poNumber)
}

// UnmatchedPO is a synced PO whose customer is not known, for a person to match (SetPOCustomer) or to
// cover with an alias (AddCustomerAlias).
type UnmatchedPO struct {
	AccountID   string
	PONumber    string
	BuyerEntity string
	Status      string
	Currency    string
	Remaining   decimal.Decimal
	Reason      string // why matching found no customer; empty when it has not run since the PO was synced
}

// UnmatchedPurchaseOrders lists an account's POs without a customer (all accounts when accountID is empty),
// open ones first, at most limit (0: 1000).
func (s *Store) UnmatchedPurchaseOrders(ctx context.Context, accountID string, limit int) ([]UnmatchedPO, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `
		SELECT p.account_id, p.po_number, p.buyer_entity, p.status, p.currency, p.remaining, coalesce(m.reason, '')
		FROM purchase_orders p LEFT JOIN po_customer_matches m ON m.account_id = p.account_id AND m.po_number = p.po_number
		WHERE ($1 = '' OR p.account_id = $1) AND m.customer_id IS NULL
		ORDER BY lower(btrim(p.status)) = ANY($2), p.account_id, p.buyer_entity, p.po_number
		LIMIT $3`, accountID, matching.ClosedStatuses, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UnmatchedPO
	for rows.Next() {
		var u UnmatchedPO
		if err := rows.Scan(&u.AccountID, &u.PONumber, &u.BuyerEntity, &u.Status, &u.Currency, &u.Remaining, &u.Reason); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ---- Invoices ----

// InvoiceMatch is the outcome of matching one ERP invoice to a synced PO (table invoice_po_matches).
type InvoiceMatch struct {
	InvoiceID   string
	AccountID   string
	PONumber    string // the matched PO; see matching.Result.PONumber
	ERPPONumber string // the ERP's po_number the outcome was reached for
	Rule        string
	Score       int
	Reasons     []string
	Status      string // matched, ambiguous or unmatched
	Candidates  []matching.Candidate
	DecidedBy   string // DecidedByPortico, or the person who decided
	DecidedAt   time.Time
}

// Manual reports whether a person decided the match; Portico never overwrites it.
func (m InvoiceMatch) Manual() bool { return m.Rule == matching.RuleManual }

// InvoiceMatchOf is the stored form of a matching result for an invoice whose ERP PO number is erpPONumber.
func InvoiceMatchOf(accountID, erpPONumber string, r matching.Result) InvoiceMatch {
	return InvoiceMatch{InvoiceID: r.InvoiceID, AccountID: accountID, PONumber: r.PONumber, ERPPONumber: erpPONumber,
		Rule: r.Rule, Score: r.Score, Reasons: r.Reasons, Status: r.Status, Candidates: r.Candidates, DecidedBy: DecidedByPortico}
}

// RecordInvoiceMatches stores automatic outcomes in one statement and writes each invoice's matched PO back
// to erp_invoices.matched_po_number (empty unless matched). An invoice matched by a person keeps its match;
// an unchanged outcome is not rewritten. It returns how many outcomes were new or different.
func (s *Store) RecordInvoiceMatches(ctx context.Context, ms []InvoiceMatch) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	n := len(ms)
	ids, accts, pos, erpPOs, rules, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	scores := make([]int32, n)
	reasons, cands := make([]string, n), make([]string, n)
	for i, m := range ms {
		ids[i], accts[i], pos[i], erpPOs[i], rules[i], statuses[i], scores[i] = m.InvoiceID, m.AccountID, m.PONumber, m.ERPPONumber, m.Rule, m.Status, int32(m.Score)
		if m.Rule == matching.RuleManual {
			return 0, fmt.Errorf("store: invoice %s: a manual match is recorded with SetManualInvoiceMatch", m.InvoiceID)
		}
		r, err := json.Marshal(nonNil(m.Reasons))
		if err != nil {
			return 0, err
		}
		c, err := json.Marshal(nonNil(m.Candidates))
		if err != nil {
			return 0, err
		}
		reasons[i], cands[i] = string(r), string(c)
	}
	var written int
	err := s.pool.QueryRow(ctx, `
		WITH v AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::jsonb[], $8::text[], $9::jsonb[])
			  AS v(invoice_id, account_id, po_number, erp_po_number, rule, score, reasons, status, candidates)
		), up AS (
			INSERT INTO invoice_po_matches AS m (invoice_id, account_id, po_number, erp_po_number, rule, score, reasons, status, candidates)
			SELECT invoice_id, account_id, po_number, erp_po_number, rule, score, reasons, status, candidates FROM v
			ON CONFLICT (invoice_id) DO UPDATE SET
				account_id = EXCLUDED.account_id, po_number = EXCLUDED.po_number, erp_po_number = EXCLUDED.erp_po_number,
				rule = EXCLUDED.rule, score = EXCLUDED.score, reasons = EXCLUDED.reasons, status = EXCLUDED.status,
				candidates = EXCLUDED.candidates, decided_by = 'portico', decided_at = now()
			WHERE m.rule <> 'manual'
			  AND (m.account_id, m.po_number, m.erp_po_number, m.rule, m.score, m.reasons, m.status, m.candidates)
			      IS DISTINCT FROM
			      (EXCLUDED.account_id, EXCLUDED.po_number, EXCLUDED.erp_po_number, EXCLUDED.rule, EXCLUDED.score,
			       EXCLUDED.reasons, EXCLUDED.status, EXCLUDED.candidates)
			RETURNING m.invoice_id, m.status, m.po_number
		), back AS (
			UPDATE erp_invoices e SET matched_po_number = CASE WHEN up.status = 'matched' THEN up.po_number ELSE '' END
			FROM up WHERE e.id = up.invoice_id
			  AND e.matched_po_number <> CASE WHEN up.status = 'matched' THEN up.po_number ELSE '' END
		)
		SELECT count(*) FROM up`, ids, accts, pos, erpPOs, rules, scores, reasons, statuses, cands).Scan(&written)
	if isForeignKeyViolation(err) {
		return 0, fmt.Errorf("store: invoice matches: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: invoice matches: %w", err)
	}
	return written, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// SetManualInvoiceMatch records a person's decision that the invoice bills the PO (its number in the
// invoice's portal account, compared ignoring case and surrounding spaces). Portico keys that PO into the
// portal and never overwrites the decision; ClearManualInvoiceMatch hands the invoice back to matching.
func (s *Store) SetManualInvoiceMatch(ctx context.Context, invoiceID, poNumber, by, note string) error {
	by = strings.TrimSpace(by)
	if by == "" || by == DecidedByPortico {
		return errors.New("store: a manual match needs the name of the person who made it")
	}
	reason := "matched by " + by
	if note = strings.TrimSpace(note); note != "" {
		reason += ": " + note
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var accountID, erpPO, po string
		err := tx.QueryRow(ctx, `SELECT account_id, po_number FROM erp_invoices WHERE id = $1`, invoiceID).Scan(&accountID, &erpPO)
		if err != nil {
			return notFound(err, "invoice "+invoiceID)
		}
		err = tx.QueryRow(ctx, `SELECT po_number FROM purchase_orders WHERE account_id = $1 AND upper(po_number) = upper($2) ORDER BY po_number = $2 DESC LIMIT 1`,
			accountID, strings.TrimSpace(poNumber)).Scan(&po)
		if err != nil {
			return notFound(err, fmt.Sprintf("purchase order %s of %s", poNumber, accountID))
		}
		reasons, _ := json.Marshal([]string{reason})
		if _, err := tx.Exec(ctx, `
			INSERT INTO invoice_po_matches (invoice_id, account_id, po_number, erp_po_number, rule, score, reasons, status, candidates, decided_by)
			VALUES ($1, $2, $3, $4, 'manual', 100, $5, 'matched', '[]', $6)
			ON CONFLICT (invoice_id) DO UPDATE SET account_id = EXCLUDED.account_id, po_number = EXCLUDED.po_number,
				erp_po_number = EXCLUDED.erp_po_number, rule = 'manual', score = 100, reasons = EXCLUDED.reasons,
				status = 'matched', decided_by = EXCLUDED.decided_by, decided_at = now()`,
			invoiceID, accountID, po, erpPO, string(reasons), by); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE erp_invoices SET matched_po_number = $2 WHERE id = $1`, invoiceID, po)
		return err
	})
}

// ClearManualInvoiceMatch removes a person's decision, so that the next match decides again.
func (s *Store) ClearManualInvoiceMatch(ctx context.Context, invoiceID string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM invoice_po_matches WHERE invoice_id = $1 AND rule = 'manual'`, invoiceID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE erp_invoices SET matched_po_number = '' WHERE id = $1`, invoiceID)
		return err
	})
}

const invoiceMatchColumns = `invoice_id, account_id, po_number, erp_po_number, rule, score, reasons, status, candidates, decided_by, decided_at`

func scanInvoiceMatch(row pgx.Row) (InvoiceMatch, error) {
	var m InvoiceMatch
	var reasons, cands []byte
	if err := row.Scan(&m.InvoiceID, &m.AccountID, &m.PONumber, &m.ERPPONumber, &m.Rule, &m.Score, &reasons, &m.Status, &cands, &m.DecidedBy, &m.DecidedAt); err != nil {
		return m, err
	}
	if err := json.Unmarshal(reasons, &m.Reasons); err != nil {
		return m, fmt.Errorf("invoice match %s: reasons: %w", m.InvoiceID, err)
	}
	if err := json.Unmarshal(cands, &m.Candidates); err != nil {
		return m, fmt.Errorf("invoice match %s: candidates: %w", m.InvoiceID, err)
	}
	return m, nil
}

// InvoiceMatch returns the stored outcome of matching an invoice; ErrNotFound when it was never matched.
func (s *Store) InvoiceMatch(ctx context.Context, invoiceID string) (InvoiceMatch, error) {
	m, err := scanInvoiceMatch(s.pool.QueryRow(ctx, `SELECT `+invoiceMatchColumns+` FROM invoice_po_matches WHERE invoice_id = $1`, invoiceID))
	return m, notFound(err, "PO match of invoice "+invoiceID)
}

// InvoiceMatchQueue lists the invoices whose match waits for a person (ambiguous or unmatched) of an account
// (all accounts when accountID is empty), ambiguous first, at most limit (0: 1000).
func (s *Store) InvoiceMatchQueue(ctx context.Context, accountID string, limit int) ([]InvoiceMatch, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+invoiceMatchColumns+` FROM invoice_po_matches
		WHERE ($1 = '' OR account_id = $1) AND status <> 'matched'
		ORDER BY status = 'unmatched', account_id, invoice_id LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []InvoiceMatch
	for rows.Next() {
		m, err := scanInvoiceMatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ---- Loaders ----

// MatchableInvoices returns the account's ERP invoices that MatchAfterSync matches (stage in
// MatchableStages) with their lines, ordered by ID, leaving out those a person matched; manual counts them.
func (s *Store) MatchableInvoices(ctx context.Context, accountID string) (invs []matching.Invoice, manual int, err error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, e.customer_id, e.po_number, e.currency, e.total, coalesce(m.rule = 'manual', false)
		FROM erp_invoices e LEFT JOIN invoice_po_matches m ON m.invoice_id = e.id
		WHERE e.account_id = $1 AND e.stage = ANY($2) ORDER BY e.id`, accountID, MatchableStages)
	if err != nil {
		return nil, 0, err
	}
	byID := map[string]int{}
	for rows.Next() {
		var inv matching.Invoice
		var isManual bool
		if err := rows.Scan(&inv.ID, &inv.CustomerID, &inv.PONumber, &inv.Currency, &inv.Total, &isManual); err != nil {
			rows.Close()
			return nil, 0, err
		}
		if isManual {
			manual++
			continue
		}
		byID[inv.ID] = len(invs)
		invs = append(invs, inv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(invs) == 0 {
		return invs, manual, nil
	}
	rows, err = s.pool.Query(ctx, `
		SELECT l.invoice_id, l.line_no, l.po_line_no, l.part_number, l.quantity, l.unit_price
		FROM erp_invoice_lines l JOIN erp_invoices e ON e.id = l.invoice_id
		WHERE e.account_id = $1 AND e.stage = ANY($2) ORDER BY l.invoice_id, l.line_no`, accountID, MatchableStages)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var l matching.InvoiceLine
		if err := rows.Scan(&id, &l.LineNo, &l.POLineNo, &l.PartNumber, &l.Quantity, &l.UnitPrice); err != nil {
			return nil, 0, err
		}
		if i, ok := byID[id]; ok {
			invs[i].Lines = append(invs[i].Lines, l)
		}
	}
	return invs, manual, rows.Err()
}

// MatchPOs returns every synced PO of an account for matching a batch of invoices, with its customer
// (po_customer_matches) and, for open POs matched to a customer (the only ones the balance and lines rules
// look at), its lines. Ordered by PO number. MatchPOsFor loads only what a batch of invoices can find.
func (s *Store) MatchPOs(ctx context.Context, accountID string) ([]matching.PO, error) {
	return s.loadMatchPOs(ctx, accountID, nil)
}

// MatchPOsFor returns the POs of an account that a batch of invoices can find, as MatchPOs does for all of
// them: those whose number has one of the invoices' POKeys, whose remaining balance is one of their totals,
// or which have one of the part numbers of an invoice of their customer. matching.MatchBatch over them gives the same outcomes as over
// MatchPOs, for a fraction of the rows when the account has many more POs than the batch has invoices.
//
// Looking POs up costs about 1.5 ms per invoice in an account with a million POs, reading them all about 6 µs
// per PO; when the batch has more than one invoice for every matchLookupRatio POs, MatchPOsFor reads them all.
func (s *Store) MatchPOsFor(ctx context.Context, accountID string, invs []matching.Invoice) ([]matching.PO, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM purchase_orders WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return nil, err
	}
	if len(invs)*matchLookupRatio >= n {
		return s.MatchPOs(ctx, accountID)
	}
	keys, totals := map[string]bool{}, map[string]decimal.Decimal{}
	type customerPart struct{ customer, part string }
	parts := map[customerPart]bool{}
	for _, inv := range invs {
		if k := matching.POKey(inv.PONumber); k != "" {
			keys[k] = true
		}
		totals[inv.Total.String()] = inv.Total
		for _, l := range inv.Lines {
			if k := matching.PartKey(l.PartNumber); k != "" {
				parts[customerPart{inv.CustomerID, k}] = true
			}
		}
	}
	var partCustomers, partKeys []string
	for cp := range parts {
		partCustomers, partKeys = append(partCustomers, cp.customer), append(partKeys, cp.part)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT po_number FROM purchase_orders WHERE account_id = $1 AND portico_po_key(po_number) = ANY($2)
		UNION
		SELECT po_number FROM purchase_orders WHERE account_id = $1 AND remaining = ANY($3)
		UNION
		SELECT x.po_number FROM unnest($4::text[], $5::text[]) AS k(customer_id, part) CROSS JOIN LATERAL (
			-- OFFSET 0 keeps this a lookup of the part index per (customer, part), never a scan of every line.
			SELECT l.po_number FROM purchase_order_lines l
			  JOIN po_customer_matches m ON m.account_id = l.account_id AND m.po_number = l.po_number
			 WHERE l.account_id = $1 AND portico_part_key(l.part_number) = k.part AND m.customer_id = k.customer_id
			OFFSET 0) x`,
		accountID, setKeys(keys), mapValues(totals), partCustomers, partKeys)
	if err != nil {
		return nil, err
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(numbers) == 0 {
		return nil, nil
	}
	return s.loadMatchPOs(ctx, accountID, numbers)
}

// matchLookupRatio: MatchPOsFor looks POs up for at most one invoice per this many POs, else reads them all.
var matchLookupRatio = 200

func setKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mapValues(m map[string]decimal.Decimal) []decimal.Decimal {
	out := make([]decimal.Decimal, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// loadMatchPOs loads an account's POs for matching: all of them (only nil) or those numbered in only.
// Amounts are read as text and parsed without big-number arithmetic where they fit (parseDecimal); lines
// are read in key order without joins and kept for the open POs matched to a customer only.
func (s *Store) loadMatchPOs(ctx context.Context, accountID string, only []string) (pos []matching.PO, err error) {
	// One snapshot for the POs and their lines (a sync may merge meanwhile), with the memory to sort a large
	// account's rows without spilling to disk.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
			return err
		}
		pos, err = loadMatchPOs(ctx, tx, accountID, only)
		return err
	})
	return pos, err
}

func loadMatchPOs(ctx context.Context, tx pgx.Tx, accountID string, only []string) ([]matching.PO, error) {
	const lineCols = `SELECT po_number, line_no, part_number, quantity::text, unit_price::text FROM purchase_order_lines WHERE account_id = $1`
	var rows pgx.Rows
	var err error
	if only == nil {
		rows, err = tx.Query(ctx, `
			SELECT p.po_number, coalesce(m.customer_id, ''), p.currency, p.total::text, p.remaining::text, p.status
			FROM purchase_orders p LEFT JOIN po_customer_matches m ON m.account_id = p.account_id AND m.po_number = p.po_number
			WHERE p.account_id = $1 ORDER BY p.account_id, p.po_number`, accountID)
	} else {
		rows, err = tx.Query(ctx, `
			SELECT p.po_number,
			       coalesce((SELECT m.customer_id FROM po_customer_matches m WHERE m.account_id = p.account_id AND m.po_number = p.po_number), ''),
			       p.currency, p.total::text, p.remaining::text, p.status
			FROM purchase_orders p WHERE p.account_id = $1 AND p.po_number = ANY($2) ORDER BY p.po_number`, accountID, only)
	}
	if err != nil {
		return nil, err
	}
	var pos []matching.PO
	var po matching.PO
	var total, remaining string
	_, err = pgx.ForEachRow(rows, []any{&po.Number, &po.CustomerID, &po.Currency, &total, &remaining, &po.Status}, func() error {
		var err error
		if po.Total, err = parseDecimal(total); err != nil {
			return err
		}
		if po.Remaining, err = parseDecimal(remaining); err != nil {
			return err
		}
		pos = append(pos, po)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Lines in the same order as the POs (the same ORDER BY): each line's PO is the current one or a later one.
	if only == nil {
		rows, err = tx.Query(ctx, lineCols+` ORDER BY account_id, po_number, line_no`, accountID)
	} else {
		rows, err = tx.Query(ctx, lineCols+` AND po_number = ANY($2) ORDER BY po_number, line_no`, accountID, only)
	}
	if err != nil {
		return nil, err
	}
	var num, qty, price string
	var l matching.POLine
	i := 0
	_, err = pgx.ForEachRow(rows, []any{&num, &l.LineNo, &l.PartNumber, &qty, &price}, func() error {
		for i < len(pos) && pos[i].Number != num {
			i++
		}
		if i == len(pos) {
			return fmt.Errorf("store: line of PO %s out of order", num)
		}
		p := &pos[i]
		if p.CustomerID == "" || !matching.Open(p.Status) {
			return nil // the balance and lines rules never look at it
		}
		var err error
		if l.Quantity, err = parseDecimal(qty); err != nil {
			return err
		}
		if l.UnitPrice, err = parseDecimal(price); err != nil {
			return err
		}
		p.Lines = append(p.Lines, l)
		return nil
	})
	return pos, err
}

// parseDecimal reads a numeric's text ("-1147.450000") into a decimal with one allocation when its digits
// fit an int64, else through decimal.NewFromString.
func parseDecimal(s string) (decimal.Decimal, error) {
	var coef int64
	exp, digits := int32(0), 0
	neg, dot := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 18 {
				return decimal.NewFromString(s)
			}
			coef = coef*10 + int64(c-'0')
			if coef > 0 {
				digits++
			}
			if dot {
				exp--
			}
		case c == '.' && !dot:
			dot = true
		case c == '-' && i == 0:
			neg = true
		default:
			return decimal.NewFromString(s)
		}
	}
	if neg {
		coef = -coef
	}
	return decimal.New(coef, exp), nil
}

const asciiSpace = " \t\n\r\f\v"

// MatchCandidatePOs loads what matching one invoice can find among an account's POs, so that MatchPO reads a
// handful of rows even in an account with a million: the POs whose number has the invoice's POKey, and the
// open POs of the invoice's customer in its currency whose remaining balance equals the total or which have
// one of its part numbers with at least the total remaining (at most fanout+1 per balance and per part,
// enough for matching to see that a part is too common). Matching them gives the same outcome as matching
// against all of the account's POs with the same Options.MaxFanout.
func (s *Store) MatchCandidatePOs(ctx context.Context, accountID string, inv matching.Invoice, fanout int) ([]matching.PO, error) {
	var parts []string
	for _, l := range inv.Lines {
		if k := matching.PartKey(l.PartNumber); k != "" {
			parts = append(parts, k)
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT po_number FROM purchase_orders WHERE account_id = $1 AND $2 <> '' AND portico_po_key(po_number) = $2
		UNION
		(SELECT p.po_number FROM purchase_orders p
		   JOIN po_customer_matches m ON m.account_id = p.account_id AND m.po_number = p.po_number
		  WHERE p.account_id = $1 AND p.remaining = $5 AND m.customer_id = $3
		    AND upper(btrim(p.currency, $8) COLLATE "C") = $4 AND lower(btrim(p.status, $8) COLLATE "C") <> ALL ($7)
		  LIMIT $9)
		UNION
		SELECT x.po_number FROM unnest($6::text[]) AS k(part) CROSS JOIN LATERAL (
			SELECT DISTINCT l.po_number FROM purchase_order_lines l
			  JOIN purchase_orders p ON p.account_id = l.account_id AND p.po_number = l.po_number
			  JOIN po_customer_matches m ON m.account_id = l.account_id AND m.po_number = l.po_number
			 WHERE l.account_id = $1 AND portico_part_key(l.part_number) = k.part AND m.customer_id = $3
			   AND p.remaining >= $5 AND upper(btrim(p.currency, $8) COLLATE "C") = $4
			   AND lower(btrim(p.status, $8) COLLATE "C") <> ALL ($7)
			 LIMIT $9) x`,
		accountID, matching.POKey(inv.PONumber), inv.CustomerID, matching.Currency(inv.Currency), inv.Total, parts,
		matching.ClosedStatuses, asciiSpace, fanout+1)
	if err != nil {
		return nil, err
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(numbers) == 0 {
		return nil, nil
	}
	return s.loadMatchPOs(ctx, accountID, numbers)
}
