package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/demo"
	"portico/internal/portal"
	"portico/internal/simulator"
	"portico/internal/store"
)

// chaosInvoice is one invoice of the batch.
type chaosInvoice struct {
	ID, Number, PO string
}

// seedBatch sets up the demo supplier, customer, approvers and portal account (demo.Seed), then n invoices of
// the batch, each on a PO of its own so that no invoice's balance depends on another's: the PO in the
// portal, the same PO already synced into PostgreSQL (so matching needs no portal lookup), and the ERP
// invoice billing part of it, with its PDF. The demo's own three invoices are left alone.
func seedBatch(ctx context.Context, st *store.Store, sim *simulator.Server, simURL string, n int, r *rand.Rand) ([]chaosInvoice, error) {
	if _, err := demo.Seed(ctx, st, sim, simURL, ""); err != nil {
		return nil, err
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	ordered := today.AddDate(0, 0, -20)
	parts := []struct {
		part, desc, uom string
		cents           int64
	}{
		{"HB-M8-40", "Hex bolt M8x40, zinc", "EA", 42},
		{"HN-M8", "Hex nut M8, zinc", "EA", 11},
		{"FW-M8", "Flat washer M8", "EA", 3},
		{"TR-M10-1M", "Threaded rod M10, 1 m", "EA", 385},
		{"SVC-CUT", "Cutting service", "HR", 4500},
	}
	var (
		simPOs  []simulator.PO
		synced  []portal.PurchaseOrder
		batch   []chaosInvoice
		records []store.Invoice
	)
	for i := 1; i <= n; i++ {
		po := simulator.PO{
			Number: fmt.Sprintf("PO-77%05d", i), BuyerEntity: "Acme Corp", OrderDate: ordered, Currency: "USD",
			PaymentTerms: "Net 30", Status: simulator.POOpen,
		}
		inv := store.Invoice{
			ID: fmt.Sprintf("erp-chaos-%03d", i), CustomerID: demo.CustomerID, AccountID: demo.AccountID,
			Number: fmt.Sprintf("INV-CH-%03d", i), PONumber: po.Number, Date: today, Currency: "USD",
			TaxRate: decimal.RequireFromString("8.25"), PaymentTerms: po.PaymentTerms, Note: "Shipment for " + po.Number,
		}
		inv.AttachmentName = inv.Number + ".pdf"
		poTotal, sub := decimal.Zero, decimal.Zero
		for l, k := range r.Perm(len(parts))[:1+r.IntN(2)] {
			p := parts[k]
			qty := decimal.NewFromInt(int64(100 * (1 + r.IntN(40))))
			if p.uom == "HR" {
				qty = decimal.NewFromInt(int64(4 + r.IntN(16)))
			}
			price := decimal.New(p.cents, -2)
			po.Lines = append(po.Lines, simulator.POLine{LineNo: l + 1, PartNumber: p.part, Description: p.desc, Quantity: qty, UOM: p.uom, UnitPrice: price})
			poTotal = poTotal.Add(qty.Mul(price))
			// The invoice bills half of each line: well within the PO's balance, tax included.
			billed := qty.Div(decimal.NewFromInt(2)).Floor()
			inv.Lines = append(inv.Lines, store.InvoiceLine{LineNo: l + 1, POLineNo: l + 1, PartNumber: p.part, Quantity: billed, UnitPrice: price, UOM: p.uom})
			sub = sub.Add(billed.Mul(price).Round(2))
		}
		inv.Total = sub.Add(sub.Mul(inv.TaxRate).Div(decimal.NewFromInt(100)).Round(2))
		simPOs = append(simPOs, po)
		sp := portal.PurchaseOrder{Number: po.Number, BuyerEntity: po.BuyerEntity, OrderDate: po.OrderDate, Currency: po.Currency,
			Total: poTotal, Invoiced: decimal.Zero, Remaining: poTotal, Status: string(simulator.POOpen), PaymentTerms: po.PaymentTerms}
		for _, l := range po.Lines {
			sp.Lines = append(sp.Lines, portal.POLine{LineNo: l.LineNo, PartNumber: l.PartNumber, Description: l.Description, Quantity: l.Quantity, UOM: l.UOM, UnitPrice: l.UnitPrice})
		}
		synced = append(synced, sp)
		records = append(records, inv)
		batch = append(batch, chaosInvoice{ID: inv.ID, Number: inv.Number, PO: po.Number})
	}
	if err := sim.AddPurchaseOrders(demo.Supplier, simPOs); err != nil {
		return nil, err
	}
	if _, err := st.UpsertPurchaseOrders(ctx, demo.AccountID, synced); err != nil {
		return nil, err
	}
	for _, inv := range records {
		pdf := demo.InvoicePDF("Bolt & Nut Ltd", "Invoice "+inv.Number, "To: Acme Corp", "PO: "+inv.PONumber,
			"Date: "+inv.Date.Format("2006-01-02"), fmt.Sprintf("Total: %s %s", inv.Total.StringFixed(2), inv.Currency))
		if err := st.InsertInvoice(ctx, inv, pdf); err != nil {
			return nil, fmt.Errorf("ERP invoice %s: %w", inv.ID, err)
		}
	}
	return batch, nil
}
