package store_test

import (
	"bytes"
	"context"
	"errors"
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

func seedAccount(t *testing.T, st *store.Store) {
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
