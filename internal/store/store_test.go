package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/portal"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

var ctx = context.Background()

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func seedAccount(t testing.TB, st *store.Store) {
	t.Helper()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "acme", Name: "Acme Manufacturing", BuyerEntity: "Acme Corp"}); err != nil {
		t.Fatal(err)
	}
	err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-coupa", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "supplier1"},
		"S3cret-Passw0rd!", "jbsw y3dp ehpk 3pxp")
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	st := testenv.Store(t)
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestCredentialsAreEncryptedAtRest(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	c, err := st.Credentials(ctx, "acme-coupa")
	if err != nil {
		t.Fatal(err)
	}
	if c.Password != "S3cret-Passw0rd!" || c.TOTPSecret != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("credentials round trip: %q", c.TOTPSecret)
	}
	var pw, ts []byte
	if err := st.Pool().QueryRow(ctx, `SELECT password_enc, totp_secret_enc FROM portal_accounts`).Scan(&pw, &ts); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pw, []byte("S3cret")) || bytes.Contains(ts, []byte("JBSWY3DP")) {
		t.Fatal("plaintext secret in the table")
	}
	// A ciphertext moved to another column does not open.
	if _, err := st.Pool().Exec(ctx, `UPDATE portal_accounts SET password_enc = totp_secret_enc`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Credentials(ctx, "acme-coupa"); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("swapped ciphertext: %v", err)
	}
}

func TestBadTOTPSecretIsRefusedAtStore(t *testing.T) {
	st := testenv.Store(t)
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "a", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://x", Username: "u"}, "pw", "not a secret!")
	if !errors.Is(err, vault.ErrInvalidTOTPSecret) {
		t.Fatalf("want ErrInvalidTOTPSecret, got %v", err)
	}
}

func TestClaimTOTPStepOnce(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	ok, err := st.ClaimTOTPStep(ctx, "acme-coupa", 100)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	for _, step := range []int64{100, 99} {
		if ok, _ := st.ClaimTOTPStep(ctx, "acme-coupa", step); ok {
			t.Fatalf("step %d claimed twice", step)
		}
	}
	if ok, _ := st.ClaimTOTPStep(ctx, "acme-coupa", 101); !ok {
		t.Fatal("next step refused")
	}
}

func TestPurchaseOrdersUpsertSkipsUnchangedAndKeepsDecimals(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	po := portal.PurchaseOrder{
		Number: "PO-4500012", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Currency: "USD",
		Total: dec("1000.10"), Invoiced: dec("0"), Remaining: dec("1000.10"), Status: "Open", PaymentTerms: "Net 30",
		Lines: []portal.POLine{{LineNo: 1, PartNumber: "P-1", Description: "Bolts", Quantity: dec("1000"), UOM: "EA", UnitPrice: dec("1.0001")}},
	}
	n, err := st.UpsertPurchaseOrders(ctx, "acme-coupa", []portal.PurchaseOrder{po})
	if err != nil || n != 1 {
		t.Fatalf("insert: %d %v", n, err)
	}
	if n, _ = st.UpsertPurchaseOrders(ctx, "acme-coupa", []portal.PurchaseOrder{po}); n != 0 {
		t.Fatalf("unchanged PO counted as changed: %d", n)
	}
	po.Invoiced, po.Remaining, po.Status = dec("500.05"), dec("500.05"), "Partially Invoiced"
	if n, _ = st.UpsertPurchaseOrders(ctx, "acme-coupa", []portal.PurchaseOrder{po}); n != 1 {
		t.Fatalf("changed PO not counted: %d", n)
	}
	got, err := st.PurchaseOrder(ctx, "acme-coupa", " po-4500012 ")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Remaining.Equal(dec("500.05")) || got.Status != "Partially Invoiced" || len(got.Lines) != 1 || !got.Lines[0].UnitPrice.Equal(dec("1.0001")) {
		t.Fatalf("read back %+v", got)
	}
	if _, err := st.PurchaseOrder(ctx, "acme-coupa", "PO-nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing PO: %v", err)
	}
}

func TestInvoiceStatusHistoryIsIdempotentAndOrdered(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	inv := store.Invoice{ID: "erp-1", CustomerID: "acme", AccountID: "acme-coupa", Number: "INV-1", PONumber: "PO-1",
		Date: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Currency: "USD", TaxRate: dec("8.25"), Total: dec("108.25"),
		AttachmentName: "INV-1.pdf", Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, Quantity: dec("100"), UnitPrice: dec("1"), UOM: "EA"}}}
	if err := st.InsertInvoice(ctx, inv, []byte("%PDF-1.4")); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertInvoice(ctx, inv, nil); !errors.Is(err, store.ErrDuplicateInvoice) {
		t.Fatalf("duplicate insert: %v", err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	changes := []store.StatusChange{
		{InvoiceID: "erp-1", Seq: 1, At: t0, Stage: "drafting", Source: "portico"},
		{InvoiceID: "erp-1", Seq: 2, At: t0.Add(time.Minute), Stage: "with_buyer", Status: "with_buyer", PortalStatus: "Pending Approval", PortalInvoiceID: "INV-000001", Source: "portal"},
	}
	for _, c := range append(changes, changes[1], changes[0]) { // retried writes, out of order
		if err := st.RecordStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := st.StatusHistory(ctx, "erp-1")
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %d rows, %v", len(hist), err)
	}
	got, err := st.Invoice(ctx, "erp-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stage != "with_buyer" || got.PortalStatus != "Pending Approval" || got.PortalInvoiceID != "INV-000001" || !got.Total.Equal(dec("108.25")) || len(got.Lines) != 1 {
		t.Fatalf("ERP row: %+v", got)
	}
	if err := st.RecordStatus(ctx, store.StatusChange{InvoiceID: "nope", Seq: 1, At: t0, Stage: "x", Source: "y"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown invoice: %v", err)
	}
}

func insertInvoice(t *testing.T, st *store.Store, id, number string) store.Invoice {
	t.Helper()
	inv := store.Invoice{ID: id, CustomerID: "acme", AccountID: "acme-coupa", Number: number, PONumber: "PO-1",
		Date: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Currency: "USD", TaxRate: dec("0"), Total: dec("100"), PaymentTerms: "Net 30",
		AttachmentName: number + ".pdf", Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, Quantity: dec("100"), UnitPrice: dec("1"), UOM: "EA"}}}
	if err := st.InsertInvoice(ctx, inv, []byte("%PDF-1.4")); err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestPolicyDefaultsAndUpsert(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	got, err := st.Policy(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	def := store.DefaultPolicy("acme")
	if got.CustomerID != "acme" || len(got.Approvers) != 0 || got.Approvers == nil || got.AutoApprove || got.RemindEvery != 24*time.Hour ||
		got.EscalateAfter != 72*time.Hour || got.MaxResubmissions != 2 || got.RenumberSuffix != "-%02d" || got.Terms != store.TermsExact ||
		!got.TolerancePercent.IsZero() || !got.ToleranceAmount.IsZero() || got.MaxBackdateDays != 0 || got.AttachmentRequired ||
		got.RemitTo != "" || got.TaxReference != "" || def.RemindEvery != got.RemindEvery {
		t.Fatalf("default policy %+v", got)
	}

	p := store.DefaultPolicy("acme")
	p.Approvers = []string{" You@Example.com ", "ops@example.com", "you@example.com", ""}
	p.AutoApprove, p.RemindEvery, p.EscalateAfter, p.MaxResubmissions = true, 90*time.Minute, 49*time.Hour, 0
	p.RenumberSuffix, p.Terms, p.TolerancePercent, p.ToleranceAmount = "/R%d", "Better_Allowed", dec("2.5"), dec("100.25")
	p.MaxBackdateDays, p.AttachmentRequired, p.RemitTo, p.TaxReference = 30, true, "Bolt & Nut Ltd, PO Box 1", "EX-77"
	if err := st.UpsertPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err = st.Policy(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Approvers) != "[you@example.com ops@example.com]" || !got.AutoApprove || got.RemindEvery != 90*time.Minute ||
		got.EscalateAfter != 49*time.Hour || got.MaxResubmissions != 0 || got.RenumberSuffix != "/R%d" || got.Terms != store.TermsBetterAllowed ||
		!got.TolerancePercent.Equal(dec("2.5")) || !got.ToleranceAmount.Equal(dec("100.25")) || got.MaxBackdateDays != 30 ||
		!got.AttachmentRequired || got.RemitTo != "Bolt & Nut Ltd, PO Box 1" || got.TaxReference != "EX-77" {
		t.Fatalf("stored policy %+v", got)
	}
	// Upserting again replaces the whole policy.
	p = store.DefaultPolicy("acme")
	if err := st.UpsertPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.Policy(ctx, "acme"); got.AutoApprove || len(got.Approvers) != 0 || got.Terms != store.TermsExact {
		t.Fatalf("replaced policy %+v", got)
	}

	for name, bad := range map[string]func(*store.Policy){
		"terms":    func(p *store.Policy) { p.Terms = "lenient" },
		"remind":   func(p *store.Policy) { p.RemindEvery = 0 },
		"suffix":   func(p *store.Policy) { p.RenumberSuffix = "-x" },
		"negative": func(p *store.Policy) { p.ToleranceAmount = dec("-1") },
	} {
		p := store.DefaultPolicy("acme")
		bad(&p)
		if err := st.UpsertPolicy(ctx, p); err == nil {
			t.Errorf("%s: bad policy stored", name)
		}
	}
	if err := st.UpsertPolicy(ctx, store.DefaultPolicy("nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("policy of an unknown customer: %v", err)
	}
	if _, err := st.Policy(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
}

func TestApplyFixMergesPortalOverrides(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	insertInvoice(t, st, "erp-1", "INV-1")
	got, err := st.Invoice(ctx, "erp-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.PaymentTerms != "Net 30" || got.PortalNumber != "INV-1" || !got.PortalDate.Equal(got.Date) || got.RemitTo != "" || got.TaxReference != "" || got.DropZeroLines {
		t.Fatalf("no overrides: %+v", got)
	}
	fixes := []store.PortalOverrides{
		{Number: "INV-1-01"},
		{Date: "2026-11-20"},
		{RemitTo: "PO Box 1"},
		{TaxReference: "EX-1"},
		{DropZeroLines: true},
		{Number: " INV-1-02 "}, // a later renumber replaces the earlier one
		{Number: "INV-1-02"},   // and a retried one changes nothing
	}
	for _, f := range fixes {
		if err := st.ApplyFix(ctx, "erp-1", f); err != nil {
			t.Fatal(err)
		}
	}
	got, err = st.Invoice(ctx, "erp-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != "INV-1" || got.PortalNumber != "INV-1-02" || !got.Date.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) ||
		!got.PortalDate.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) || got.RemitTo != "PO Box 1" || got.TaxReference != "EX-1" || !got.DropZeroLines {
		t.Fatalf("overrides: %+v", got)
	}
	var raw string
	if err := st.Pool().QueryRow(ctx, `SELECT portal_overrides::text FROM erp_invoices WHERE id = 'erp-1'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != `{"date": "2026-11-20", "number": "INV-1-02", "remit_to": "PO Box 1", "tax_reference": "EX-1", "drop_zero_lines": true}` {
		t.Fatalf("stored overrides %s", raw)
	}
	if err := st.ApplyFix(ctx, "erp-1", store.PortalOverrides{Date: "20/11/2026"}); err == nil {
		t.Fatal("bad date stored")
	}
	if err := st.ApplyFix(ctx, "erp-1", store.PortalOverrides{}); err == nil {
		t.Fatal("empty fix accepted")
	}
	if err := st.ApplyFix(ctx, "nope", store.PortalOverrides{Number: "X"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown invoice: %v", err)
	}
}

func TestEvidenceNotificationsAndChecks(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	insertInvoice(t, st, "erp-1", "INV-1")

	png := []byte("\x89PNG\r\n\x1a\nrest")
	id, err := st.PutEvidence(ctx, "erp-1", store.EvidenceDraftScreenshot, "image/png", png)
	if err != nil || id == "" {
		t.Fatalf("put evidence: %q %v", id, err)
	}
	id2, err := st.PutEvidence(ctx, "erp-1", store.EvidenceDraftValues, "application/json", []byte(`{}`))
	if err != nil || id2 == id {
		t.Fatalf("second evidence: %q %v", id2, err)
	}
	kind, ct, data, err := st.Evidence(ctx, id)
	if err != nil || kind != store.EvidenceDraftScreenshot || ct != "image/png" || !bytes.Equal(data, png) {
		t.Fatalf("evidence read back: %q %q %q %v", kind, ct, data, err)
	}
	if _, _, _, err := st.Evidence(ctx, "ev_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown evidence: %v", err)
	}
	if _, err := st.PutEvidence(ctx, "nope", store.EvidenceDraftValues, "application/json", []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("evidence of an unknown invoice: %v", err)
	}
	if _, err := st.PutEvidence(ctx, "erp-1", "selfie", "image/png", png); err == nil {
		t.Fatal("unknown evidence kind stored")
	}

	n := store.Notification{InvoiceID: "erp-1", Seq: 1, Kind: "reminder", Recipients: []string{"you@example.com"}, Text: "INV-1 waits for approval"}
	for i, want := range []bool{true, false} { // the second is a retried activity
		ok, err := st.InsertNotification(ctx, n)
		if err != nil || ok != want {
			t.Fatalf("insert %d: %v %v", i, ok, err)
		}
	}
	if ok, err := st.InsertNotification(ctx, store.Notification{InvoiceID: "erp-1", Seq: 2, Kind: "escalation", Text: "still waiting"}); err != nil || !ok {
		t.Fatalf("second notification: %v %v", ok, err)
	}
	ns, err := st.Notifications(ctx, "erp-1")
	if err != nil || len(ns) != 2 || ns[0].Kind != "reminder" || fmt.Sprint(ns[0].Recipients) != "[you@example.com]" || ns[0].Text != n.Text ||
		ns[0].CreatedAt.IsZero() || !ns[0].SentAt.IsZero() || ns[1].Seq != 2 || len(ns[1].Recipients) != 0 {
		t.Fatalf("notifications %+v %v", ns, err)
	}
	if _, err := st.InsertNotification(ctx, store.Notification{InvoiceID: "nope", Seq: 1, Kind: "reminder"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("notification of an unknown invoice: %v", err)
	}

	if err := st.RecordChecks(ctx, "erp-1", []store.CheckResult{{Name: "balance", Passed: false, Detail: "over"}, {Name: "currency", Passed: true}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordChecks(ctx, "erp-1", []store.CheckResult{{Name: "balance", Passed: true, Detail: "within"}}); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Checks(ctx, "erp-1")
	if err != nil || len(cs) != 2 || cs[0].Name != "balance" || !cs[0].Passed || cs[0].Detail != "within" || cs[0].CheckedAt.IsZero() || cs[1].Name != "currency" {
		t.Fatalf("checks %+v %v", cs, err)
	}
	if err := st.RecordChecks(ctx, "nope", []store.CheckResult{{Name: "balance"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("checks of an unknown invoice: %v", err)
	}
}
