package demo

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/simulator"
	"portico/internal/store"
)

// The demo's fixed identities.
const (
	CustomerID = "acme"
	AccountID  = "acme-coupa"
	Supplier   = "billing@boltnut.example"
)

// Approvers are the demo customer's approvers: you@example.com is the one the README and `make run` tell
// people to approve as; ops@boltnut.example is the one the end-to-end tests approve as.
var Approvers = []string{"you@example.com", "ops@example.com", "ops@boltnut.example"}

// Data is what Seed set up.
type Data struct {
	AccountID  string
	Supplier   string
	InvoiceIDs []string
}

// Seed gives the simulator a supplier account with POs and the ERP a customer, the portal account (its
// password and TOTP secret encrypted) and invoices each with a PDF. It is idempotent: a second run keeps
// the account's secrets and the invoices that exist, so `make run` can be run again on the same state.
// suffix makes invoice IDs and numbers unique, for tests that share a portal.
func Seed(ctx context.Context, st *store.Store, sim *simulator.Server, portalURL, suffix string) (Data, error) {
	if err := st.UpsertCustomer(ctx, store.Customer{ID: CustomerID, Name: "Acme Manufacturing", BuyerEntity: "Acme Corp"}); err != nil {
		return Data{}, err
	}
	policy := store.DefaultPolicy(CustomerID)
	policy.Approvers = Approvers
	if err := st.UpsertPolicy(ctx, policy); err != nil {
		return Data{}, err
	}
	password, secret, err := accountSecrets(ctx, st)
	if err != nil {
		return Data{}, err
	}
	// Syncs four times a day; the demo also triggers one at start.
	acct := store.PortalAccount{ID: AccountID, CustomerID: CustomerID, Portal: "coupa-sim", BaseURL: portalURL, Username: Supplier, TimeZone: "UTC"}
	if err := st.UpsertPortalAccount(ctx, acct, password, secret); err != nil {
		return Data{}, err
	}
	if err := sim.AddAccount(simulator.Account{Username: Supplier, Password: password, TOTPSecret: secret, Supplier: "Bolt & Nut Ltd"}); err != nil {
		return Data{}, err
	}
	if err := sim.AddPurchaseOrders(Supplier, purchaseOrders()); err != nil {
		return Data{}, err
	}
	data := Data{AccountID: AccountID, Supplier: Supplier}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i, inv := range invoices(suffix, today) {
		pdf := InvoicePDF("Bolt & Nut Ltd", "Invoice "+inv.Number, "To: Acme Corp", "PO: "+inv.PONumber,
			"Date: "+inv.Date.Format("2006-01-02"), fmt.Sprintf("Total: %s %s", inv.Total.StringFixed(2), inv.Currency))
		err := st.InsertInvoice(ctx, inv, pdf)
		if errors.Is(err, store.ErrDuplicateInvoice) {
			// Kept from an earlier run; invoices seeded before payment terms existed get their PO's.
			_, err = st.Pool().Exec(ctx, `UPDATE erp_invoices SET payment_terms = $2 WHERE id = $1 AND payment_terms = ''`, inv.ID, inv.PaymentTerms)
		}
		if err != nil {
			return Data{}, fmt.Errorf("demo invoice %d: %w", i+1, err)
		}
		data.InvoiceIDs = append(data.InvoiceIDs, inv.ID)
	}
	return data, nil
}

// accountSecrets reuses the demo account's secrets if it exists, or makes new random ones.
func accountSecrets(ctx context.Context, st *store.Store) (string, string, error) {
	creds, err := st.Credentials(ctx, AccountID)
	if err == nil {
		return creds.Password, creds.TOTPSecret, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	pw := make([]byte, 12)
	sec := make([]byte, 20)
	if _, err := rand.Read(pw); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec); err != nil {
		return "", "", err
	}
	return "Demo-" + hex.EncodeToString(pw), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sec), nil
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func purchaseOrders() []simulator.PO {
	date := func(m, day int) time.Time { return time.Date(2026, time.Month(m), day, 0, 0, 0, 0, time.UTC) }
	return []simulator.PO{
		{Number: "PO-4500012", BuyerEntity: "Acme Corp", OrderDate: date(9, 14), Currency: "USD", PaymentTerms: "Net 30", Status: simulator.POOpen,
			Lines: []simulator.POLine{
				{LineNo: 1, PartNumber: "HB-M8-40", Description: "Hex bolt M8x40, zinc", Quantity: d("5000"), UOM: "EA", UnitPrice: d("0.42")},
				{LineNo: 2, PartNumber: "HN-M8", Description: "Hex nut M8, zinc", Quantity: d("5000"), UOM: "EA", UnitPrice: d("0.11")},
			}},
		{Number: "PO-4500013", BuyerEntity: "Acme Corp", OrderDate: date(10, 2), Currency: "USD", PaymentTerms: "Net 45", Status: simulator.POOpen,
			Lines: []simulator.POLine{
				{LineNo: 1, PartNumber: "FW-M8", Description: "Flat washer M8", Quantity: d("10000"), UOM: "EA", UnitPrice: d("0.03")},
			}},
		{Number: "PO-4500014", BuyerEntity: "Acme Corp Europe", OrderDate: date(10, 20), Currency: "USD", PaymentTerms: "Net 60", Status: simulator.POOpen,
			Lines: []simulator.POLine{
				{LineNo: 1, PartNumber: "TR-M10-1M", Description: "Threaded rod M10, 1 m", Quantity: d("200"), UOM: "EA", UnitPrice: d("3.85")},
				{LineNo: 2, PartNumber: "SVC-CUT", Description: "Cutting service", Quantity: d("10"), UOM: "HR", UnitPrice: d("45.00")},
			}},
		{Number: "PO-4400990", BuyerEntity: "Acme Corp", OrderDate: date(6, 3), Currency: "USD", PaymentTerms: "Net 30", Status: simulator.POClosed,
			Lines: []simulator.POLine{{LineNo: 1, PartNumber: "HB-M6-20", Description: "Hex bolt M6x20", Quantity: d("1000"), UOM: "EA", UnitPrice: d("0.20")}}},
	}
}

func invoices(suffix string, today time.Time) []store.Invoice {
	terms := map[string]string{}
	for _, po := range purchaseOrders() {
		terms[po.Number] = po.PaymentTerms
	}
	mk := func(n, po string, tax string, lines ...store.InvoiceLine) store.Invoice {
		sub := decimal.Zero
		for _, l := range lines {
			sub = sub.Add(l.Quantity.Mul(l.UnitPrice).Round(2))
		}
		total := sub.Add(sub.Mul(d(tax)).Div(d("100")).Round(2))
		return store.Invoice{ID: "erp-" + n + suffix, CustomerID: CustomerID, AccountID: AccountID, Number: "INV-" + n + suffix, PONumber: po,
			Date: today, Currency: "USD", TaxRate: d(tax), Total: total, Note: "Shipment for " + po,
			AttachmentName: "INV-" + n + suffix + ".pdf", PaymentTerms: terms[po], Lines: lines}
	}
	line := func(no, poLine int, part, qty, price, uom string) store.InvoiceLine {
		return store.InvoiceLine{LineNo: no, POLineNo: poLine, PartNumber: part, Quantity: d(qty), UnitPrice: d(price), UOM: uom}
	}
	return []store.Invoice{
		mk("2026-1101", "PO-4500012", "8.25", line(1, 1, "HB-M8-40", "2000", "0.42", "EA"), line(2, 2, "HN-M8", "2000", "0.11", "EA")),
		mk("2026-1102", "PO-4500013", "8.25", line(1, 1, "FW-M8", "4000", "0.03", "EA")),
		mk("2026-1103", "PO-4500014", "0", line(1, 1, "TR-M10-1M", "50", "3.85", "EA"), line(2, 2, "SVC-CUT", "4", "45.00", "HR")),
	}
}
