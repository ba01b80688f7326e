package activities_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"portico/activities"
	"portico/internal/demo"
	"portico/internal/erp"
	"portico/internal/matching"
	"portico/internal/portal"
	"portico/internal/store"
)

// fetchPOs syncs demo POs into the store through the portal, as FetchPurchaseOrder does for an unsynced PO.
func (e *env) fetchPOs(t *testing.T, numbers ...string) {
	t.Helper()
	for _, n := range numbers {
		v, err := e.act.ExecuteActivity(b.FetchPurchaseOrder, demo.AccountID, n)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		if err := v.Get(&found); err != nil || !found {
			t.Fatalf("fetch %s: %v %v", n, found, err)
		}
	}
}

func (e *env) matchPO(t *testing.T, invoiceID string) activities.MatchResult {
	t.Helper()
	v, err := e.act.ExecuteActivity(a.MatchPO, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	var m activities.MatchResult
	if err := v.Get(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.st.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// An ERP invoice whose PO number is written "po 4500012" matches the portal's PO-4500012, is checked
// against it, and its draft is keyed against it in the portal.
func TestMatchPOFindsAPOWrittenDifferently(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.data.InvoiceIDs[0]
	e.fetchPOs(t, "PO-4500012")
	e.exec(t, `UPDATE erp_invoices SET po_number = 'po 4500012' WHERE id = $1`, id)

	m := e.matchPO(t, id)
	if !m.Matched || m.PONumber != "PO-4500012" || m.Rule != matching.RulePONumber || m.Status != matching.StatusMatched ||
		!m.Remaining.Equal(decimal.RequireFromString("2650")) || m.Reason != "" {
		t.Fatalf("match: %+v", m)
	}
	if len(m.Candidates) == 0 || !strings.Contains(strings.Join(m.Candidates[0].Reasons, "; "), "removing spaces, dashes and prefix PO") {
		t.Fatalf("candidates: %+v", m.Candidates)
	}
	inv, err := e.st.Invoice(ctx, id)
	if err != nil || inv.PONumber != "po 4500012" || inv.PortalPONumber != "PO-4500012" {
		t.Fatalf("invoice: ERP PO %q, portal PO %q, %v", inv.PONumber, inv.PortalPONumber, err)
	}
	stored, err := e.st.InvoiceMatch(ctx, id)
	if err != nil || stored.PONumber != "PO-4500012" || stored.Status != matching.StatusMatched || stored.DecidedBy != store.DecidedByPortico {
		t.Fatalf("stored: %+v %v", stored, err)
	}

	// The checks compare with the matched PO, and the draft is keyed against it.
	v, err := e.act.ExecuteActivity(a.CheckInvoice, id)
	if err != nil {
		t.Fatal(err)
	}
	var rep activities.CheckReport
	if err := v.Get(&rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if c.Name == "po_open" && !c.Passed {
			t.Fatalf("po_open: %s", c.Detail)
		}
	}
	v, err = e.act.ExecuteActivity(b.SaveDraft, id)
	if err != nil {
		t.Fatal(err)
	}
	var d activities.DraftResult
	if err := v.Get(&d); err != nil || d.Invoice.Status != portal.StatusDraft || d.Invoice.PONumber != "PO-4500012" {
		t.Fatalf("draft %+v %v", d, err)
	}
}

func TestMatchPOKeepsAManualMatch(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.data.InvoiceIDs[1] // bills PO-4500013 in the ERP
	e.fetchPOs(t, "PO-4500012", "PO-4500013")
	if err := e.st.SetManualInvoiceMatch(ctx, id, "PO-4500012", "ops@example.com", "the buyer moved it"); err != nil {
		t.Fatal(err)
	}
	m := e.matchPO(t, id)
	if !m.Matched || m.PONumber != "PO-4500012" || m.Rule != matching.RuleManual {
		t.Fatalf("manual: %+v", m)
	}
	if inv, _ := e.st.Invoice(ctx, id); inv.PortalPONumber != "PO-4500012" {
		t.Fatalf("portal PO %q", inv.PortalPONumber)
	}
	// A manual match to a PO that cannot take the invoice says so, and is still not overruled.
	e.exec(t, `UPDATE purchase_orders SET status = 'Closed' WHERE po_number = 'PO-4500012'`)
	m = e.matchPO(t, id)
	if m.Matched || m.PONumber != "PO-4500012" || !strings.Contains(m.Reason, "Closed") || !strings.Contains(m.Reason, "ops@example.com") {
		t.Fatalf("manual to a closed PO: %+v", m)
	}
}

// After a sync, POs are matched to customers and open invoices to POs: by number, ambiguous ones for a person,
// aliases and manual matches taken into account.
func TestMatchAfterSync(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.fetchPOs(t, "PO-4500012", "PO-4500013", "PO-4500014", "PO-4400990")
	// Two recurring orders with the same balance, and a PO of a buyer no customer is.
	recurring := func(n, entity string) portal.PurchaseOrder {
		return portal.PurchaseOrder{Number: n, BuyerEntity: entity, Currency: "USD", Total: decimal.RequireFromString("500"),
			Remaining: decimal.RequireFromString("500"), Status: "Open", PaymentTerms: "Net 30",
			Lines: []portal.POLine{{LineNo: 1, PartNumber: "HB-M8-40", Quantity: decimal.RequireFromString("1000"), UnitPrice: decimal.RequireFromString("0.50")}}}
	}
	if _, err := e.st.UpsertPurchaseOrders(ctx, demo.AccountID, []portal.PurchaseOrder{
		recurring("PO-7001", "ACME CORP."), recurring("PO-7002", "Acme Corp, Inc."), recurring("PO-7003", "Mystery Buyer"),
	}); err != nil {
		t.Fatal(err)
	}
	ids := e.data.InvoiceIDs
	e.exec(t, `UPDATE erp_invoices SET po_number = 'po-0045 00012' WHERE id = $1`, ids[0])
	e.exec(t, `UPDATE erp_invoices SET po_number = '', total = 500 WHERE id = $1`, ids[1])

	run := func() activities.MatchSummary {
		t.Helper()
		v, err := e.act.ExecuteActivity(a.MatchAfterSync, demo.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		var s activities.MatchSummary
		if err := v.Get(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := run()
	// PO-4500014 is "Acme Corp Europe", PO-7003 "Mystery Buyer": no customer's.
	if s.POs != 7 || s.POsMatched != 5 || s.POsUnmatched != 2 || s.Invoices != 3 || s.Matched != 2 || s.Ambiguous != 1 || s.Unmatched != 0 || s.Changed != 3 {
		t.Fatalf("first: %+v", s)
	}
	if m, _ := e.st.InvoiceMatch(ctx, ids[0]); m.PONumber != "PO-4500012" || m.Status != matching.StatusMatched {
		t.Fatalf("invoice 1: %+v", m)
	}
	amb, _ := e.st.InvoiceMatch(ctx, ids[1])
	if amb.Status != matching.StatusAmbiguous || amb.PONumber != "" || len(amb.Candidates) != 2 || !strings.Contains(strings.Join(amb.Reasons, " "), "a person must choose") {
		t.Fatalf("invoice 2: %+v", amb)
	}
	// MatchPO agrees, and does not guess.
	if m := e.matchPO(t, ids[1]); m.Matched || m.PONumber != "" || m.Status != matching.StatusAmbiguous || len(m.Candidates) != 2 {
		t.Fatalf("MatchPO of the ambiguous invoice: %+v", m)
	}
	var out bytes.Buffer
	if err := erp.WriteMatchQueue(ctx, e.st, &out, demo.AccountID, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"POs without a customer: 2", "PO-4500014", "Acme Corp Europe", "Mystery Buyer",
		"Invoices whose PO a person must choose: 1", ids[1], "candidate PO-7001 (balance, score"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("queue lacks %q:\n%s", want, out.String())
		}
	}

	// An alias covers Acme Corp Europe; a person settles the ambiguous invoice; the next sync keeps both.
	if err := e.st.AddCustomerAlias(ctx, demo.CustomerID, "Acme Corp Europe"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetManualInvoiceMatch(ctx, ids[1], "PO-7002", "ops@example.com", ""); err != nil {
		t.Fatal(err)
	}
	s = run()
	if s.POsMatched != 6 || s.POsUnmatched != 1 || s.Invoices != 2 || s.Manual != 1 || s.Matched != 2 || s.Ambiguous != 0 || s.Changed != 0 {
		t.Fatalf("second: %+v", s)
	}
	if m := e.matchPO(t, ids[1]); !m.Matched || m.PONumber != "PO-7002" || m.Rule != matching.RuleManual {
		t.Fatalf("MatchPO after the manual match: %+v", m)
	}
	if q, _ := e.st.InvoiceMatchQueue(ctx, demo.AccountID, 0); len(q) != 0 {
		t.Fatalf("queue after: %+v", q)
	}
	// Invoices with the buyer are not matched again.
	e.exec(t, `UPDATE erp_invoices SET stage = 'with_buyer' WHERE id = $1`, ids[2])
	if s = run(); s.Invoices != 1 {
		t.Fatalf("third: %+v", s)
	}
}
