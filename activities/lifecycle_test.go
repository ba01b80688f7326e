package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"portico/activities"
	"portico/internal/demo"
	"portico/internal/portal"
	"portico/internal/simulator"
	"portico/internal/store"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// syncPO stores the demo's PO-4500012 as a PO sync would, changed by edit.
func syncPO(t *testing.T, e *env, edit func(*portal.PurchaseOrder)) {
	t.Helper()
	po := portal.PurchaseOrder{
		Number: "PO-4500012", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC), Currency: "USD",
		Total: dec("2650"), Invoiced: dec("0"), Remaining: dec("2650"), Status: "Open", PaymentTerms: "Net 30",
		Lines: []portal.POLine{
			{LineNo: 1, PartNumber: "HB-M8-40", Quantity: dec("5000"), UOM: "EA", UnitPrice: dec("0.42")},
			{LineNo: 2, PartNumber: "HN-M8", Quantity: dec("5000"), UOM: "EA", UnitPrice: dec("0.11")},
		},
	}
	if edit != nil {
		edit(&po)
	}
	if _, err := e.st.UpsertPurchaseOrders(context.Background(), demo.AccountID, []portal.PurchaseOrder{po}); err != nil {
		t.Fatal(err)
	}
}

func editPolicy(t *testing.T, e *env, edit func(*store.Policy)) {
	t.Helper()
	p, err := e.st.Policy(context.Background(), demo.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	edit(&p)
	if err := e.st.UpsertPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func sql(t *testing.T, e *env, query string, args ...any) {
	t.Helper()
	if _, err := e.st.Pool().Exec(context.Background(), query, args...); err != nil {
		t.Fatal(err)
	}
}

func appErrType(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("want an application error, got %v", err)
	}
	return appErr
}

var allChecks = []string{"po_open", "balance", "tolerance", "currency", "payment_terms", "invoice_date", "required_fields", "attachment"}

// TestCheckInvoice passes and fails every check. The demo invoice INV-2026-1101 bills 1,147.45 USD on
// PO-4500012 (2,650.00 USD remaining, Net 30), dated today, with a PDF.
func TestCheckInvoice(t *testing.T) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	cases := []struct {
		name   string
		prep   func(t *testing.T, e *env, id string)
		want   map[string]bool   // outcome of these checks; every other one passes
		detail map[string]string // text each named check's detail contains
	}{
		{name: "all pass", prep: func(t *testing.T, e *env, id string) { syncPO(t, e, nil) },
			detail: map[string]string{"po_open": "PO-4500012 is Open", "balance": "within", "payment_terms": "Net 30"}},
		{name: "PO not synced", prep: func(t *testing.T, e *env, id string) {},
			want:   map[string]bool{"po_open": false, "balance": false, "tolerance": false, "currency": false, "payment_terms": false},
			detail: map[string]string{"po_open": "not among the POs synced", "balance": "no synced PO"}},
		{name: "PO closed", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) { po.Status = "Closed" })
		}, want: map[string]bool{"po_open": false}, detail: map[string]string{"po_open": `PO-4500012 is "Closed"`}},
		{name: "PO partially invoiced", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) {
				po.Status, po.Invoiced, po.Remaining = "Partially Invoiced", dec("1000"), dec("1650")
			})
		}},
		{name: "over the balance, no tolerance", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) { po.Remaining = dec("1100") })
		}, want: map[string]bool{"balance": false, "tolerance": false},
			detail: map[string]string{"balance": "47.45 USD above PO-4500012's remaining balance of 1100.00 USD", "tolerance": "no tolerance"}},
		{name: "over the balance, within the tolerance", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) { po.Remaining = dec("1100") })
			editPolicy(t, e, func(p *store.Policy) { p.ToleranceAmount = dec("50") })
		}, want: map[string]bool{"balance": false, "tolerance": true}, detail: map[string]string{"tolerance": "within the buyer's tolerance of 50.00 USD"}},
		{name: "over the tolerance (the smaller applies)", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) { po.Remaining = dec("1100") })
			editPolicy(t, e, func(p *store.Policy) { p.ToleranceAmount, p.TolerancePercent = dec("100"), dec("1") })
		}, want: map[string]bool{"balance": false, "tolerance": false}, detail: map[string]string{"tolerance": "tolerance of 26.50 USD"}},
		{name: "currency", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, func(po *portal.PurchaseOrder) { po.Currency = "EUR" })
		}, want: map[string]bool{"currency": false, "balance": false, "tolerance": false},
			detail: map[string]string{"currency": "the invoice is in USD but PO-4500012 is in EUR"}},
		{name: "terms differ, exact required", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET payment_terms = 'Net 15' WHERE id = $1`, id)
		}, want: map[string]bool{"payment_terms": false}, detail: map[string]string{"payment_terms": `requires the PO's exactly: invoice with "Net 30"`}},
		{name: "terms written differently", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET payment_terms = ' NET  30 ' WHERE id = $1`, id)
		}},
		{name: "no terms in the ERP", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET payment_terms = '' WHERE id = $1`, id)
		}, want: map[string]bool{"payment_terms": false}, detail: map[string]string{"payment_terms": "no payment terms"}},
		{name: "shorter terms allowed", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.Terms = store.TermsBetterAllowed })
			sql(t, e, `UPDATE erp_invoices SET payment_terms = '15 days' WHERE id = $1`, id)
		}, detail: map[string]string{"payment_terms": "(15 days) are no longer than"}},
		{name: "longer terms refused", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.Terms = store.TermsBetterAllowed })
			sql(t, e, `UPDATE erp_invoices SET payment_terms = 'NET60' WHERE id = $1`, id)
		}, want: map[string]bool{"payment_terms": false}, detail: map[string]string{"payment_terms": "(60 days) are longer than PO-4500012's \"Net 30\" (30 days)"}},
		{name: "unreadable terms", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.Terms = store.TermsBetterAllowed })
			sql(t, e, `UPDATE erp_invoices SET payment_terms = 'Net 10 EOM' WHERE id = $1`, id)
		}, want: map[string]bool{"payment_terms": false}, detail: map[string]string{"payment_terms": `cannot read a number of payment days from the invoice's terms "Net 10 EOM"`}},
		{name: "future date", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET invoice_date = $2 WHERE id = $1`, id, today.AddDate(0, 0, 3))
		}, want: map[string]bool{"invoice_date": false}, detail: map[string]string{"invoice_date": "is in the future"}},
		{name: "future date redated", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET invoice_date = $2 WHERE id = $1`, id, today.AddDate(0, 0, 3))
			if _, err := e.act.ExecuteActivity(a.ApplyFix, id, activities.Fix{Kind: "redate", Date: today.Format("2006-01-02")}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "backdated too far", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.MaxBackdateDays = 30 })
			sql(t, e, `UPDATE erp_invoices SET invoice_date = $2 WHERE id = $1`, id, today.AddDate(0, 0, -40))
		}, want: map[string]bool{"invoice_date": false}, detail: map[string]string{"invoice_date": "is 40 days ago; the buyer accepts invoices dated at most 30 days back"}},
		{name: "backdated within the limit", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.MaxBackdateDays = 30 })
			sql(t, e, `UPDATE erp_invoices SET invoice_date = $2 WHERE id = $1`, id, today.AddDate(0, 0, -30))
		}},
		{name: "required fields", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET currency = '' WHERE id = $1`, id)
			sql(t, e, `UPDATE erp_invoice_lines SET quantity = 0 WHERE invoice_id = $1`, id)
		}, want: map[string]bool{"required_fields": false, "currency": false, "balance": false, "tolerance": false},
			detail: map[string]string{"required_fields": "lacks: lines (at least one with a positive quantity), currency"}},
		{name: "required attachment missing", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			editPolicy(t, e, func(p *store.Policy) { p.AttachmentRequired = true })
			sql(t, e, `UPDATE erp_invoices SET attachment = NULL WHERE id = $1`, id)
		}, want: map[string]bool{"attachment": false}, detail: map[string]string{"attachment": "requires the legal invoice PDF"}},
		{name: "no attachment, not required", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET attachment = NULL WHERE id = $1`, id)
		}, detail: map[string]string{"attachment": "not required"}},
		{name: "attachment not a PDF", prep: func(t *testing.T, e *env, id string) {
			syncPO(t, e, nil)
			sql(t, e, `UPDATE erp_invoices SET attachment = 'GIF89a...' WHERE id = $1`, id)
		}, want: map[string]bool{"attachment": false}, detail: map[string]string{"attachment": "is not a PDF"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t)
			id := e.data.InvoiceIDs[0]
			c.prep(t, e, id)
			v, err := e.act.ExecuteActivity(a.CheckInvoice, id)
			if err != nil {
				t.Fatal(err)
			}
			var rep activities.CheckReport
			if err := v.Get(&rep); err != nil {
				t.Fatal(err)
			}
			var names []string
			allPassed := true
			for _, ch := range rep.Checks {
				names = append(names, ch.Name)
				want, listed := c.want[ch.Name]
				if !listed {
					want = true
				}
				allPassed = allPassed && want
				if ch.Passed != want {
					t.Errorf("%s: passed=%v, want %v (%s)", ch.Name, ch.Passed, want, ch.Detail)
				}
				if !ch.Passed && ch.Detail == "" {
					t.Errorf("%s failed without a detail", ch.Name)
				}
				if d := c.detail[ch.Name]; d != "" && !strings.Contains(ch.Detail, d) {
					t.Errorf("%s detail %q does not say %q", ch.Name, ch.Detail, d)
				}
			}
			if !slices.Equal(names, allChecks) {
				t.Fatalf("checks %v, want %v", names, allChecks)
			}
			if rep.Passed != allPassed {
				t.Fatalf("report passed=%v, want %v", rep.Passed, allPassed)
			}
			// The ERP can read the latest outcome of each check.
			stored, err := e.st.Checks(context.Background(), id)
			if err != nil || len(stored) != len(allChecks) {
				t.Fatalf("stored checks %+v %v", stored, err)
			}
			for _, s := range stored {
				for _, ch := range rep.Checks {
					if ch.Name == s.Name && (ch.Passed != s.Passed || ch.Detail != s.Detail) {
						t.Errorf("stored %+v, reported %+v", s, ch)
					}
				}
			}
		})
	}
	t.Run("unknown invoice", func(t *testing.T) {
		e := setup(t)
		_, err := e.act.ExecuteActivity(a.CheckInvoice, "no-such-invoice")
		if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypeInvoiceNotFound || !appErr.NonRetryable() {
			t.Fatalf("unknown invoice: %v", err)
		}
	})
}

func TestLoadPolicy(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	load := func(customer string) (activities.Policy, error) {
		v, err := e.act.ExecuteActivity(a.LoadPolicy, customer)
		if err != nil {
			return activities.Policy{}, err
		}
		var p activities.Policy
		return p, v.Get(&p)
	}
	// The demo seeds the approvers the README and `make run` tell people to approve as.
	p, err := load(demo.CustomerID)
	if err != nil || !slices.Contains(p.Approvers, "you@example.com") || !slices.Contains(p.Approvers, "ops@example.com") || p.Terms != "exact" {
		t.Fatalf("demo policy %+v %v", p, err)
	}

	if err := e.st.UpsertCustomer(ctx, store.Customer{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	p, err = load("globex")
	if err != nil {
		t.Fatal(err)
	}
	want := activities.Policy{CustomerID: "globex", Approvers: []string{}, ApproversRequired: true, RemindEvery: 24 * time.Hour, EscalateAfter: 72 * time.Hour,
		MaxResubmissions: 2, RenumberSuffix: "-%02d", Terms: "exact", TolerancePercent: decimal.Zero, ToleranceAmount: decimal.Zero}
	if !policyEqual(p, want) || !policyEqual(activities.DefaultPolicy("globex"), want) {
		t.Fatalf("default policy\n got %+v\nwant %+v", p, want)
	}

	sp := store.DefaultPolicy("globex")
	sp.Approvers, sp.AutoApprove, sp.RemindEvery, sp.EscalateAfter = []string{"AP@Globex.example"}, true, 4*time.Hour, 8*time.Hour
	sp.MaxResubmissions, sp.RenumberSuffix, sp.Terms, sp.TolerancePercent = 1, "R%d", store.TermsBetterAllowed, dec("5")
	sp.ToleranceAmount, sp.MaxBackdateDays, sp.AttachmentRequired, sp.RemitTo, sp.TaxReference = dec("25.50"), 60, true, "PO Box 1", "EX-9"
	if err := e.st.UpsertPolicy(ctx, sp); err != nil {
		t.Fatal(err)
	}
	p, err = load("globex")
	if err != nil {
		t.Fatal(err)
	}
	want = activities.Policy{CustomerID: "globex", Approvers: []string{"ap@globex.example"}, ApproversRequired: true, AutoApprove: true, RemindEvery: 4 * time.Hour,
		EscalateAfter: 8 * time.Hour, MaxResubmissions: 1, RenumberSuffix: "R%d", Terms: "better_allowed", TolerancePercent: dec("5"),
		ToleranceAmount: dec("25.5"), MaxBackdateDays: 60, AttachmentRequired: true, RemitTo: "PO Box 1", TaxReference: "EX-9"}
	if !policyEqual(p, want) {
		t.Fatalf("stored policy\n got %+v\nwant %+v", p, want)
	}

	_, err = load("nobody")
	if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypeMisconfigured || !appErr.NonRetryable() {
		t.Fatalf("unknown customer: %v", err)
	}
}

func policyEqual(a, b activities.Policy) bool {
	if !a.TolerancePercent.Equal(b.TolerancePercent) || !a.ToleranceAmount.Equal(b.ToleranceAmount) || !slices.Equal(a.Approvers, b.Approvers) {
		return false
	}
	a.TolerancePercent, a.ToleranceAmount, a.Approvers = b.TolerancePercent, b.ToleranceAmount, b.Approvers
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestNotifyInsertsOnce(t *testing.T) {
	e := setup(t)
	id := e.data.InvoiceIDs[0]
	n := activities.Notification{InvoiceID: id, Kind: "reminder", To: []string{"you@example.com", "ops@example.com"}, Text: "INV-2026-1101 waits for your approval", Seq: 1}
	for range 2 { // the second is a retry of the same activity
		if _, err := e.act.ExecuteActivity(a.Notify, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.act.ExecuteActivity(a.Notify, activities.Notification{InvoiceID: id, Kind: "escalation", To: []string{"ops@example.com"}, Text: "still waiting", Seq: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.Notifications(context.Background(), id)
	if err != nil || len(got) != 2 {
		t.Fatalf("outbox %+v %v", got, err)
	}
	if got[0].Seq != 1 || got[0].Kind != "reminder" || !slices.Equal(got[0].Recipients, n.To) || got[0].Text != n.Text || !got[0].SentAt.IsZero() || got[1].Kind != "escalation" {
		t.Fatalf("outbox %+v", got)
	}
	_, err = e.act.ExecuteActivity(a.Notify, activities.Notification{InvoiceID: "no-such-invoice", Kind: "reminder", Seq: 1})
	if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypeInvoiceNotFound || !appErr.NonRetryable() {
		t.Fatalf("unknown invoice: %v", err)
	}
}

func TestApplyFixRefusesWhatItCannotApply(t *testing.T) {
	e := setup(t)
	id := e.data.InvoiceIDs[0]
	for _, fix := range []activities.Fix{{Kind: "rename"}, {Kind: "renumber"}, {Kind: "redate", Date: "22.11.2026"}, {Kind: "remit_to", Number: "X"}} {
		_, err := e.act.ExecuteActivity(a.ApplyFix, id, fix)
		if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypeInvalidFix || !appErr.NonRetryable() {
			t.Fatalf("%+v: %v", fix, err)
		}
	}
	_, err := e.act.ExecuteActivity(a.ApplyFix, "no-such-invoice", activities.Fix{Kind: "renumber", Number: "X-1"})
	if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypeInvoiceNotFound {
		t.Fatalf("unknown invoice: %v", err)
	}
	// Only the field the kind names is applied.
	if _, err := e.act.ExecuteActivity(a.ApplyFix, id, activities.Fix{Kind: "renumber", Number: "INV-2026-1101-01", RemitTo: "ignored"}); err != nil {
		t.Fatal(err)
	}
	inv, err := e.st.Invoice(context.Background(), id)
	if err != nil || inv.PortalNumber != "INV-2026-1101-01" || inv.Number != "INV-2026-1101" || inv.RemitTo != "" {
		t.Fatalf("after renumber: %+v %v", inv, err)
	}
}

func saveDraft(t *testing.T, e *env, id string) (activities.DraftResult, error) {
	t.Helper()
	v, err := e.act.ExecuteActivity(b.SaveDraft, id)
	if err != nil {
		return activities.DraftResult{}, err
	}
	var res activities.DraftResult
	return res, v.Get(&res)
}

func TestRenumberFixDraftsUnderTheNewNumber(t *testing.T) {
	e := setup(t)
	id := e.data.InvoiceIDs[1]
	first, err := saveDraft(t, e, id)
	if err != nil || first.Reused || first.Invoice.Number != "INV-2026-1102" {
		t.Fatalf("first draft %+v %v", first, err)
	}
	if _, err := e.act.ExecuteActivity(a.ApplyFix, id, activities.Fix{Kind: "renumber", Number: "INV-2026-1102-01"}); err != nil {
		t.Fatal(err)
	}
	second, err := saveDraft(t, e, id)
	if err != nil || second.Reused || second.Invoice.Number != "INV-2026-1102-01" || second.Invoice.PortalID == first.Invoice.PortalID ||
		second.Invoice.Status != portal.StatusDraft {
		t.Fatalf("renumbered draft %+v %v", second, err)
	}
	if n := e.sim.CountEvents("draft_created", "INV-2026-1102-01"); n != 1 {
		t.Fatalf("%d drafts under the new number", n)
	}
	// Every later activity finds the invoice under its portal number.
	again, err := saveDraft(t, e, id)
	if err != nil || !again.Reused || again.Invoice.PortalID != second.Invoice.PortalID {
		t.Fatalf("retried draft %+v %v", again, err)
	}
	v, err := e.act.ExecuteActivity(b.CheckStatus, id)
	if err != nil {
		t.Fatal(err)
	}
	var st portal.Invoice
	if err := v.Get(&st); err != nil || st.Number != "INV-2026-1102-01" || st.PortalID != second.Invoice.PortalID || st.Status != portal.StatusDraft {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := e.act.ExecuteActivity(b.DeleteDraft, id); err != nil {
		t.Fatal(err)
	}
	var numbers []string
	for _, inv := range e.sim.Invoices(demo.Supplier) {
		numbers = append(numbers, inv.Number)
	}
	if !slices.Equal(numbers, []string{"INV-2026-1102"}) {
		t.Fatalf("portal holds %v after deleting the renumbered draft", numbers)
	}
	// The ERP keeps its own number.
	if inv, _ := e.st.Invoice(context.Background(), id); inv.Number != "INV-2026-1102" {
		t.Fatalf("ERP number changed to %q", inv.Number)
	}
}

func TestNumberUsedOnAnotherPO(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := saveDraft(t, e, e.data.InvoiceIDs[0]); err != nil { // INV-2026-1101 on PO-4500012
		t.Fatal(err)
	}
	id := e.data.InvoiceIDs[1] // bills PO-4500013
	if _, err := e.act.ExecuteActivity(a.ApplyFix, id, activities.Fix{Kind: "renumber", Number: "INV-2026-1101"}); err != nil {
		t.Fatal(err)
	}
	_, err := saveDraft(t, e, id)
	appErr := appErrType(t, err)
	if appErr.Type() != activities.ErrTypeNumberUsed || !appErr.NonRetryable() || !strings.Contains(err.Error(), "on PO-4500012 (Draft") {
		t.Fatalf("want non-retryable %s naming PO-4500012, got %v", activities.ErrTypeNumberUsed, err)
	}
	if n := e.sim.CountEvents("draft_created", "INV-2026-1101"); n != 1 {
		t.Fatalf("%d drafts numbered INV-2026-1101", n)
	}
	checks, err := e.st.Checks(ctx, id)
	if err != nil || len(checks) != 1 || checks[0].Name != "number_unused" || checks[0].Passed || !strings.Contains(checks[0].Detail, "PO-4500012") {
		t.Fatalf("number_unused check %+v %v", checks, err)
	}
}

func TestDraftEvidenceIsKept(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id := e.data.InvoiceIDs[0]
	res, err := saveDraft(t, e, id)
	if err != nil || len(res.Evidence) != 2 {
		t.Fatalf("draft %+v %v", res, err)
	}
	pdf, err := e.st.InvoiceAttachment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, evID := range res.Evidence {
		kind, ct, data, err := e.st.Evidence(ctx, evID)
		if err != nil {
			t.Fatal(err)
		}
		kinds[kind] = true
		switch kind {
		case store.EvidenceDraftScreenshot:
			if ct != "image/png" || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 1000 {
				t.Fatalf("screenshot %s, %d bytes", ct, len(data))
			}
		case store.EvidenceDraftValues:
			var v struct {
				Draft      portal.Draft
				Attachment struct {
					Name   string
					Size   int
					SHA256 string
				}
				Portal portal.Invoice
			}
			if err := json.Unmarshal(data, &v); err != nil || ct != "application/json" {
				t.Fatalf("values %s: %v", ct, err)
			}
			sum := sha256.Sum256(pdf)
			if v.Draft.Number != "INV-2026-1101" || v.Draft.PONumber != "PO-4500012" || len(v.Draft.Lines) != 2 ||
				!v.Draft.Lines[0].UnitPrice.Equal(dec("0.42")) || !v.Draft.ExpectedTotal.Equal(dec("1147.45")) ||
				v.Attachment.Name != "INV-2026-1101.pdf" || v.Attachment.Size != len(pdf) || v.Attachment.SHA256 != hex.EncodeToString(sum[:]) ||
				v.Portal.PortalID != res.Invoice.PortalID {
				t.Fatalf("values %s", data)
			}
			if bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(pdf)[:40])) {
				t.Fatal("the attachment's bytes are in the values")
			}
		default:
			t.Fatalf("evidence kind %q", kind)
		}
	}
	if !kinds[store.EvidenceDraftScreenshot] || !kinds[store.EvidenceDraftValues] {
		t.Fatalf("kinds %v", kinds)
	}
	// A draft found again (a retry) is shown to the approver again.
	again, err := saveDraft(t, e, id)
	if err != nil || !again.Reused || len(again.Evidence) != 2 || slices.Contains(res.Evidence, again.Evidence[0]) {
		t.Fatalf("reused draft %+v %v", again, err)
	}
}

// TestFixesAreKeyedIntoThePortal: a buyer that requires a remit-to address and refuses lines at zero
// rejects the draft; with the remit_to, drop_zero_lines and redate fixes it is saved with them.
func TestFixesAreKeyedIntoThePortal(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	remit := []string{"Bolt & Nut Ltd, 1 Mill Lane, Leeds", "Bolt & Nut Ltd, PO Box 9, York"}
	if _, err := e.sim.SetRules(simulator.Rules{RemitTo: remit, ZeroLines: simulator.ZeroLinesReject, TaxExemptionNeedsReference: true}); err != nil {
		t.Fatal(err)
	}
	id := e.data.InvoiceIDs[0] // two lines on PO-4500012; the second now bills nothing
	sql(t, e, `UPDATE erp_invoice_lines SET quantity = 0 WHERE invoice_id = $1 AND line_no = 2`, id)
	sql(t, e, `UPDATE erp_invoices SET total = 909.30 WHERE id = $1`, id)
	if _, err := e.act.ExecuteActivity(a.LoadInvoice, id); err != nil {
		t.Fatalf("an invoice with a zero line is valid: %v", err)
	}
	_, err := saveDraft(t, e, id)
	if appErr := appErrType(t, err); appErr.Type() != activities.ErrTypePortalRejected || !strings.Contains(err.Error(), "Remit-To Address is required") {
		t.Fatalf("want the portal's refusal, got %v", err)
	}
	yesterday := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for _, fix := range []activities.Fix{
		{Kind: "remit_to", RemitTo: remit[1]},
		{Kind: "drop_zero_lines", DropZeroLines: true},
		{Kind: "redate", Date: yesterday.Format("2006-01-02")},
	} {
		if _, err := e.act.ExecuteActivity(a.ApplyFix, id, fix); err != nil {
			t.Fatal(err)
		}
	}
	res, err := saveDraft(t, e, id)
	if err != nil || res.Reused || !res.Invoice.Total.Equal(dec("909.30")) {
		t.Fatalf("fixed draft %+v %v", res, err)
	}
	invs := e.sim.Invoices(demo.Supplier)
	if len(invs) != 1 || invs[0].RemitTo != remit[1] || len(invs[0].Lines) != 1 || invs[0].Lines[0].LineNo != 1 || !invs[0].InvoiceDate.Equal(yesterday) {
		t.Fatalf("portal holds %+v", invs)
	}
	if inv, _ := e.st.Invoice(ctx, id); !inv.Date.Equal(time.Now().UTC().Truncate(24 * time.Hour)) {
		t.Fatalf("ERP date changed to %s", inv.Date)
	}

	// A tax exemption reference marks the invoice exempt (INV-2026-1103 has no tax).
	id = e.data.InvoiceIDs[2]
	for _, fix := range []activities.Fix{{Kind: "remit_to", RemitTo: remit[0]}, {Kind: "tax_reference", TaxReference: "EX-2026-7"}} {
		if _, err := e.act.ExecuteActivity(a.ApplyFix, id, fix); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := saveDraft(t, e, id); err != nil {
		t.Fatal(err)
	}
	for _, inv := range e.sim.Invoices(demo.Supplier) {
		if inv.Number == "INV-2026-1103" && (inv.TaxTreatment != simulator.TaxExempt || inv.TaxReference != "EX-2026-7" || inv.RemitTo != remit[0]) {
			t.Fatalf("exempt invoice %+v", inv)
		}
	}
}
