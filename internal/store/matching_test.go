package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"portico/internal/matching"
	"portico/internal/store"
	"portico/internal/testenv"
)

// The SQL functions behind MatchPO's indexes compute the same keys as the matcher.
func TestSQLKeysMatchGo(t *testing.T) {
	st := testenv.Store(t)
	for _, s := range []string{
		"PO-4500012", "po-0045 00012", "PO#4500012", "P.O. 4500012", "PO No. 4500012", "Purchase Order 0012", "POLAND-7",
		"PO-A12", "A-0012", "PO-0000", "", "#-/", "pö-12", "ıi-ß-12", "PONR7", "PONUMBER 8", "po\t12", "HB-m8/40", "K-12",
	} {
		var po, part string
		if err := st.Pool().QueryRow(ctx, `SELECT portico_po_key($1), portico_part_key($1)`, s).Scan(&po, &part); err != nil {
			t.Fatal(err)
		}
		if po != matching.POKey(s) || part != matching.PartKey(s) {
			t.Errorf("%q: SQL keys %q %q, Go %q %q", s, po, part, matching.POKey(s), matching.PartKey(s))
		}
	}
}

// insertPOs writes POs of the account with raw SQL (COPY), as a sync leaves them, with a buyer entity each.
func insertPOs(t testing.TB, st *store.Store, accountID string, pos []matching.PO, entity func(matching.PO) string) {
	t.Helper()
	_, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"purchase_orders"},
		[]string{"account_id", "po_number", "buyer_entity", "currency", "total", "invoiced", "remaining", "status"},
		pgx.CopyFromSlice(len(pos), func(i int) ([]any, error) {
			p := &pos[i]
			return []any{accountID, p.Number, entity(*p), p.Currency, p.Total, p.Total.Sub(p.Remaining), p.Remaining, p.Status}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for _, p := range pos {
		for _, l := range p.Lines {
			rows = append(rows, []any{accountID, p.Number, l.LineNo, l.PartNumber, l.Quantity, l.UnitPrice})
		}
	}
	if _, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"purchase_order_lines"},
		[]string{"account_id", "po_number", "line_no", "part_number", "quantity", "unit_price"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// insertInvoices writes ERP invoices of the account with raw SQL (COPY).
func insertInvoices(t testing.TB, st *store.Store, accountID string, invs []matching.Invoice) {
	t.Helper()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	_, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"erp_invoices"},
		[]string{"id", "customer_id", "account_id", "invoice_number", "po_number", "invoice_date", "currency", "total"},
		pgx.CopyFromSlice(len(invs), func(i int) ([]any, error) {
			v := &invs[i]
			return []any{v.ID, v.CustomerID, accountID, "INV-" + v.ID, v.PONumber, day, v.Currency, v.Total}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for _, v := range invs {
		for _, l := range v.Lines {
			rows = append(rows, []any{v.ID, l.LineNo, l.POLineNo, l.PartNumber, l.Quantity, l.UnitPrice})
		}
	}
	if _, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"erp_invoice_lines"},
		[]string{"invoice_id", "line_no", "po_line_no", "part_number", "quantity", "unit_price"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// matchCustomers does what activities.MatchCustomers does, with the store's functions only.
func matchCustomers(t testing.TB, st *store.Store, accountID, accountCustomer string) store.CustomerMatchCounts {
	t.Helper()
	customers, err := st.MatchingCustomers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entities, err := st.BuyerEntities(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	ix := matching.NewCustomerIndex(customers)
	var ms []store.EntityMatch
	for _, e := range entities {
		m := ix.Match(e, accountCustomer)
		ms = append(ms, store.EntityMatch{BuyerEntity: e, CustomerID: m.CustomerID, Reason: m.Reason})
	}
	c, err := st.ApplyCustomerMatches(ctx, accountID, ms)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCustomerMatchesAliasesManualAndUnmatched(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "globex", Name: "Globex Corporation"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCustomerAlias(ctx, "globex", "Globex International"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCustomerAlias(ctx, "nobody", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alias of an unknown customer: %v", err)
	}
	entities := map[string]string{"PO-1": "ACME CORP.", "PO-2": "Globex International GmbH", "PO-3": "Umbrella Holdings", "PO-4": "", "PO-5": "Umbrella Holdings"}
	var pos []matching.PO
	for _, n := range []string{"PO-1", "PO-2", "PO-3", "PO-4", "PO-5"} {
		pos = append(pos, matching.PO{Number: n, Currency: "USD", Total: dec("10"), Remaining: dec("10"), Status: "Open"})
	}
	insertPOs(t, st, "acme-coupa", pos, func(p matching.PO) string { return entities[p.Number] })

	c := matchCustomers(t, st, "acme-coupa", "acme")
	if c != (store.CustomerMatchCounts{POs: 5, Matched: 3, Unmatched: 2, Changed: 5}) {
		t.Fatalf("first match: %+v", c)
	}
	for n, want := range map[string]string{"PO-1": "acme", "PO-2": "globex", "PO-3": "", "PO-4": "acme"} {
		got, err := st.POCustomer(ctx, "acme-coupa", n)
		if err != nil || got.CustomerID != want || got.Source != "auto" || got.Reason == "" {
			t.Errorf("%s: %+v %v, want %q", n, got, err, want)
		}
	}
	un, err := st.UnmatchedPurchaseOrders(ctx, "acme-coupa", 0)
	if err != nil || len(un) != 2 || un[0].PONumber != "PO-3" || un[0].BuyerEntity != "Umbrella Holdings" || !strings.Contains(un[0].Reason, "is no customer's") {
		t.Fatalf("unmatched: %+v %v", un, err)
	}
	// Again: nothing changes, nothing is rewritten.
	if c := matchCustomers(t, st, "acme-coupa", "acme"); c.Changed != 0 || c.Matched != 3 {
		t.Fatalf("second match: %+v", c)
	}

	// A person matches PO-3 and, wrongly, overrules PO-1: both stick.
	if err := st.SetPOCustomer(ctx, "acme-coupa", "PO-3", "globex", "ops@example.com", "Umbrella is Globex's buying arm"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPOCustomer(ctx, "acme-coupa", "PO-1", "globex", "ops@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPOCustomer(ctx, "acme-coupa", "PO-9", "globex", "ops@example.com", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown PO: %v", err)
	}
	if err := st.SetPOCustomer(ctx, "acme-coupa", "PO-3", "globex", "", ""); err == nil {
		t.Fatal("a manual match without a name")
	}
	// The alias goes: PO-2 is unmatched now; the manual matches stay.
	if err := st.RemoveCustomerAlias(ctx, "globex", "Globex International"); err != nil {
		t.Fatal(err)
	}
	c = matchCustomers(t, st, "acme-coupa", "acme")
	if c.Manual != 2 || c.Matched != 3 || c.Unmatched != 2 || c.Changed != 1 {
		t.Fatalf("after the manual matches: %+v", c)
	}
	for n, want := range map[string]string{"PO-1": "globex", "PO-3": "globex", "PO-2": ""} {
		got, _ := st.POCustomer(ctx, "acme-coupa", n)
		if got.CustomerID != want {
			t.Errorf("%s: %+v, want %q", n, got, want)
		}
	}
	if got, _ := st.POCustomer(ctx, "acme-coupa", "PO-3"); got.Source != "manual" || got.DecidedBy != "ops@example.com" || !strings.Contains(got.Reason, "buying arm") {
		t.Errorf("manual row: %+v", got)
	}
	un, _ = st.UnmatchedPurchaseOrders(ctx, "", 0)
	if len(un) != 2 || un[0].PONumber != "PO-2" || un[1].PONumber != "PO-5" {
		t.Fatalf("unmatched after: %+v", un)
	}
}

func TestInvoiceMatchManualSticks(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	pos := []matching.PO{
		{Number: "PO-4500012", Currency: "USD", Total: dec("100"), Remaining: dec("100"), Status: "Open"},
		{Number: "PO-4500013", Currency: "USD", Total: dec("100"), Remaining: dec("100"), Status: "Open"},
	}
	insertPOs(t, st, "acme-coupa", pos, func(matching.PO) string { return "Acme Corp" })
	inv := insertInvoice(t, st, "inv-1", "INV-1")
	if _, err := st.Pool().Exec(ctx, `UPDATE erp_invoices SET po_number = 'po 4500012' WHERE id = 'inv-1'`); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Invoice(ctx, inv.ID)
	if got.PortalPONumber != "po 4500012" {
		t.Fatalf("unmatched invoice keys the ERP's PO: %q", got.PortalPONumber)
	}
	auto := store.InvoiceMatch{InvoiceID: inv.ID, AccountID: "acme-coupa", PONumber: "PO-4500012", ERPPONumber: "po 4500012",
		Rule: matching.RulePONumber, Score: 90, Reasons: []string{"PO number matches after removing prefix"}, Status: matching.StatusMatched,
		Candidates: []matching.Candidate{{PONumber: "PO-4500012", Rule: matching.RulePONumber, Score: 90, Remaining: dec("100"), Reasons: []string{"r"}}}}
	if n, err := st.RecordInvoiceMatches(ctx, []store.InvoiceMatch{auto}); err != nil || n != 1 {
		t.Fatalf("record: %d %v", n, err)
	}
	if n, err := st.RecordInvoiceMatches(ctx, []store.InvoiceMatch{auto}); err != nil || n != 0 {
		t.Fatalf("the same outcome again is not rewritten: %d %v", n, err)
	}
	got, _ = st.Invoice(ctx, inv.ID)
	var column string
	_ = st.Pool().QueryRow(ctx, `SELECT matched_po_number FROM erp_invoices WHERE id = $1`, inv.ID).Scan(&column)
	if got.PortalPONumber != "PO-4500012" || got.PONumber != "po 4500012" || column != "PO-4500012" {
		t.Fatalf("matched: portal PO %q, ERP PO %q, column %q", got.PortalPONumber, got.PONumber, column)
	}
	m, err := st.InvoiceMatch(ctx, inv.ID)
	if err != nil || m.Manual() || m.DecidedBy != store.DecidedByPortico || len(m.Candidates) != 1 || !m.Candidates[0].Remaining.Equal(dec("100")) {
		t.Fatalf("stored match: %+v %v", m, err)
	}

	// A person decides for the other PO; automatic matching never overwrites it.
	if err := st.SetManualInvoiceMatch(ctx, inv.ID, " po-4500013 ", "ops@example.com", "buyer confirmed"); err != nil {
		t.Fatal(err)
	}
	if n, err := st.RecordInvoiceMatches(ctx, []store.InvoiceMatch{auto}); err != nil || n != 0 {
		t.Fatalf("auto over manual: %d %v", n, err)
	}
	m, _ = st.InvoiceMatch(ctx, inv.ID)
	got, _ = st.Invoice(ctx, inv.ID)
	if !m.Manual() || m.PONumber != "PO-4500013" || m.DecidedBy != "ops@example.com" || got.PortalPONumber != "PO-4500013" ||
		!strings.Contains(strings.Join(m.Reasons, ""), "buyer confirmed") {
		t.Fatalf("manual: %+v, portal PO %q", m, got.PortalPONumber)
	}
	// Even when the ERP changes its PO number, the person's decision holds.
	if _, err := st.Pool().Exec(ctx, `UPDATE erp_invoices SET po_number = 'PO-1' WHERE id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.Invoice(ctx, inv.ID); got.PortalPONumber != "PO-4500013" {
		t.Fatalf("manual after an ERP change: %q", got.PortalPONumber)
	}
	if err := st.SetManualInvoiceMatch(ctx, inv.ID, "PO-0000", "ops@example.com", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("manual match to an unknown PO: %v", err)
	}
	if err := st.SetManualInvoiceMatch(ctx, inv.ID, "PO-4500012", store.DecidedByPortico, ""); err == nil {
		t.Fatal("a manual match by portico")
	}

	// Cleared, the invoice is matched automatically again; an automatic match made for an older ERP PO
	// number no longer applies.
	if err := st.ClearManualInvoiceMatch(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := st.RecordInvoiceMatches(ctx, []store.InvoiceMatch{auto}); err != nil || n != 1 {
		t.Fatalf("auto after clearing: %d %v", n, err)
	}
	if got, _ = st.Invoice(ctx, inv.ID); got.PortalPONumber != "PO-1" {
		t.Fatalf("stale automatic match applied: %q", got.PortalPONumber)
	}

	// Ambiguous and unmatched outcomes wait for a person.
	inv2 := insertInvoice(t, st, "inv-2", "INV-2")
	amb := store.InvoiceMatch{InvoiceID: inv2.ID, AccountID: "acme-coupa", ERPPONumber: inv2.PONumber, Status: matching.StatusAmbiguous,
		Reasons: []string{"2 POs fit"}}
	if _, err := st.RecordInvoiceMatches(ctx, []store.InvoiceMatch{amb}); err != nil {
		t.Fatal(err)
	}
	q, err := st.InvoiceMatchQueue(ctx, "acme-coupa", 0)
	if err != nil || len(q) != 1 || q[0].InvoiceID != inv2.ID || q[0].Status != matching.StatusAmbiguous {
		t.Fatalf("queue: %+v %v", q, err)
	}
	if got, _ := st.Invoice(ctx, inv2.ID); got.PortalPONumber != inv2.PONumber {
		t.Fatalf("ambiguous keys %q", got.PortalPONumber)
	}
	if _, err := st.InvoiceMatch(ctx, "inv-none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("never matched: %v", err)
	}
}

// seedGenerated loads matching.Generate's data into the store: customers cust-0 … cust-49, the POs on
// account acme-coupa with buyer entities ("Cust 7 Inc." is customer cust-7 by its ID; POs of no customer
// have "Umbrella Holdings"), matched to customers as after a sync, and the invoices.
func seedGenerated(t testing.TB, st *store.Store, nPOs, nInv int) ([]matching.PO, []matching.Invoice) {
	t.Helper()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "acme", Name: "Acme Manufacturing", BuyerEntity: "Acme Corp"}); err != nil {
		t.Fatal(err)
	}
	err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-coupa", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "supplier1"},
		"S3cret-Passw0rd!", "jbsw y3dp ehpk 3pxp")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := st.UpsertCustomer(ctx, store.Customer{ID: fmt.Sprintf("cust-%d", i), Name: fmt.Sprintf("Customer number %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	pos, invs := matching.Generate(nPOs, nInv)
	insertPOs(t, st, "acme-coupa", pos, func(p matching.PO) string {
		if p.CustomerID == "" {
			return "Umbrella Holdings"
		}
		return strings.Replace(strings.ToUpper(p.CustomerID[:1])+p.CustomerID[1:], "-", " ", 1) + " Inc."
	})
	insertInvoices(t, st, "acme-coupa", invs)
	matchCustomers(t, st, "acme-coupa", "acme")
	return pos, invs
}

// MatchPO's per-invoice loader (MatchCandidatePOs, a handful of rows) gives the same outcome as matching the
// whole batch against all of the account's POs, including where a part or a balance is too common.
func TestMatchCandidatePOsAgreesWithTheBatch(t *testing.T) {
	st := testenv.Store(t)
	seedGenerated(t, st, 5_000, 400)
	// A part on five POs and a balance on three, and invoices that bill them.
	var extra []matching.PO
	for i := range 8 {
		p := matching.PO{Number: fmt.Sprintf("XP-%d", i), CustomerID: "cust-1", Currency: "USD", Total: dec("500"), Remaining: dec("500"), Status: "Open",
			Lines: []matching.POLine{{LineNo: 1, PartNumber: "COMMON-1", Quantity: dec("500"), UnitPrice: dec("1")}}}
		if i >= 5 {
			p.Remaining, p.Lines[0].PartNumber = dec("77.7"), fmt.Sprintf("RARE-%d", i)
		}
		extra = append(extra, p)
	}
	insertPOs(t, st, "acme-coupa", extra, func(matching.PO) string { return "Cust 1 Inc." })
	matchCustomers(t, st, "acme-coupa", "acme")
	insertInvoices(t, st, "acme-coupa", []matching.Invoice{
		{ID: "x-common", CustomerID: "cust-1", Currency: "USD", Total: dec("20"),
			Lines: []matching.InvoiceLine{{LineNo: 1, POLineNo: 1, PartNumber: "common 1", Quantity: dec("20"), UnitPrice: dec("1")}}},
		{ID: "x-balance", CustomerID: "cust-1", Currency: "usd", Total: dec("77.70"),
			Lines: []matching.InvoiceLine{{LineNo: 1, POLineNo: 1, PartNumber: "RARE-6", Quantity: dec("77.7"), UnitPrice: dec("1")}}},
	})
	all, err := st.MatchPOs(ctx, "acme-coupa")
	if err != nil || len(all) != 5_008 {
		t.Fatalf("MatchPOs: %d %v", len(all), err)
	}
	invs, manual, err := st.MatchableInvoices(ctx, "acme-coupa")
	if err != nil || len(invs) != 402 || manual != 0 {
		t.Fatalf("MatchableInvoices: %d %d %v", len(invs), manual, err)
	}
	defer func(r int) { *store.MatchLookupRatio = r }(*store.MatchLookupRatio)
	*store.MatchLookupRatio = 1 // look the batch's POs up, although the account is small
	some, err := st.MatchPOsFor(ctx, "acme-coupa", invs)
	if err != nil || len(some) == 0 || len(some) >= len(all) {
		t.Fatalf("MatchPOsFor: %d of %d POs, %v", len(some), len(all), err)
	}
	t.Logf("MatchPOsFor loads %d of %d POs", len(some), len(all))
	for _, fanout := range []int{1, 200} {
		opts := matching.Options{MaxFanout: fanout}
		batch := matching.MatchBatch(all, invs, opts)
		if got := matching.MatchBatch(some, invs, opts); !reflect.DeepEqual(got, batch) {
			t.Fatalf("fanout %d: matching against MatchPOsFor's POs differs from matching against all", fanout)
		}
		counts, loaded := map[string]int{}, 0
		for i, inv := range invs {
			pos, err := st.MatchCandidatePOs(ctx, "acme-coupa", inv, fanout)
			if err != nil {
				t.Fatal(err)
			}
			loaded += len(pos)
			one := matching.NewIndex(pos, opts).Match(inv)
			if !reflect.DeepEqual(one, batch[i]) {
				t.Fatalf("fanout %d, invoice %s (PO %q):\nalone %+v\nbatch %+v", fanout, inv.ID, inv.PONumber, one, batch[i])
			}
			counts[one.Status]++
			if inv.ID == "x-common" || inv.ID == "x-balance" {
				t.Logf("fanout %d, %s: %s %s: %s", fanout, inv.ID, one.Status, one.PONumber, one.Reason())
			}
		}
		t.Logf("fanout %d: %v, %.1f POs loaded per invoice", fanout, counts, float64(loaded)/float64(len(invs)))
		if counts[matching.StatusMatched] == 0 || counts[matching.StatusAmbiguous] == 0 || counts[matching.StatusUnmatched] == 0 {
			t.Fatalf("outcomes %v", counts)
		}
	}
}
