package matching

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/shopspring/decimal"
)

// Generate makes a batch of POs of one portal account and invoices to match against them, deterministically,
// for benchmarks and tests: 50 customers (cust-0 … cust-49; 2% of POs are matched to none), 1–3 lines per
// PO from 20,000 parts, 5% closed and 15% partially invoiced POs, 10% in EUR. Every hundredth PO is a
// recurring order: a twin of the one before (same customer, lines and remaining balance) under its own
// number. Invoices: 60% name their PO, in five spellings ("PO-45000012", "po 45000012", "PO#45000012",
// "P.O. 0045000012", "po_4500 0012"); 15% name none and bill a PO's remaining balance; 10% name none and
// bill half of a PO line; 7% name none and bill a recurring order's balance (ambiguous); 5% name a PO that
// does not exist with lines no PO has (unmatched); 3% name a closed PO (unmatched).
func Generate(nPOs, nInv int) ([]PO, []Invoice) {
	rng := rand.New(rand.NewPCG(42, 2026))
	const customers, parts = 50, 20_000
	pos := make([]PO, nPOs)
	for i := range pos {
		p := &pos[i]
		p.Number = fmt.Sprintf("PO-%08d", 45_000_000+i)
		if i%100 == 1 {
			prev := pos[i-1]
			p.CustomerID, p.Currency, p.Status, p.Lines, p.Total, p.Remaining = prev.CustomerID, prev.Currency, prev.Status, prev.Lines, prev.Total, prev.Remaining
			continue
		}
		if rng.IntN(50) > 0 { // 2% not matched to a customer
			p.CustomerID = "cust-" + strconv.Itoa(rng.IntN(customers))
		}
		p.Currency = "USD"
		if rng.IntN(10) == 0 {
			p.Currency = "EUR"
		}
		p.Status = "Open"
		switch rng.IntN(20) {
		case 0:
			p.Status = "Closed"
		case 1, 2, 3:
			p.Status = "Partially Invoiced"
		}
		if i%100 == 0 {
			p.Status = "Open"
		}
		nl := 1 + rng.IntN(3)
		total := int64(0)
		p.Lines = make([]POLine, nl)
		for j := range p.Lines {
			qty := int64(10 + rng.IntN(5000))
			price := int64(5 + rng.IntN(50_000)) // cents
			p.Lines[j] = POLine{LineNo: j + 1, PartNumber: fmt.Sprintf("P-%05d", rng.IntN(parts)),
				Quantity: decimal.NewFromInt(qty), UnitPrice: decimal.New(price, -2)}
			total += qty * price
		}
		invoiced := total * int64(rng.IntN(4)) / 10
		p.Total = decimal.New(total, -2)
		p.Remaining = decimal.New(total-invoiced, -2)
	}
	pick := func(ok func(i int) bool) *PO {
		for {
			i := rng.IntN(nPOs)
			if pos[i].CustomerID != "" && ok(i) {
				return &pos[i]
			}
		}
	}
	invs := make([]Invoice, nInv)
	for i := range invs {
		k := rng.IntN(100)
		var po *PO
		switch {
		case k < 92:
			po = pick(func(i int) bool { return Open(pos[i].Status) && (k >= 85) == (i%100 == 0) })
		case k < 97:
			po = pick(func(int) bool { return true })
		default:
			po = pick(func(i int) bool { return !Open(pos[i].Status) })
		}
		inv := Invoice{ID: fmt.Sprintf("erp-%06d", i), CustomerID: po.CustomerID, Currency: po.Currency}
		// Bill half of the first line.
		l := po.Lines[0]
		half := l.Quantity.Div(decimal.NewFromInt(2)).Floor()
		inv.Lines = []InvoiceLine{{LineNo: 1, POLineNo: 1, PartNumber: l.PartNumber, Quantity: half, UnitPrice: l.UnitPrice}}
		inv.Total = half.Mul(l.UnitPrice)
		digits := po.Number[3:]
		switch {
		case k < 60: // names its PO, spelled in one of five ways
			inv.PONumber = []string{po.Number, "po " + digits, "PO#" + digits, "P.O. 00" + digits, "po_" + digits[:4] + " " + digits[4:]}[k%5]
		case k < 75, k >= 85 && k < 92: // names no PO and bills its remaining balance (a recurring order's: ambiguous)
			inv.Total = po.Remaining
			inv.Lines[0].Quantity = po.Remaining.Div(l.UnitPrice).Round(0)
		case k < 85: // names no PO and bills part of a line
		case k < 97: // names a PO that does not exist, with lines no PO has
			inv.PONumber = "PO-9" + digits
			inv.Lines[0].PartNumber = "X-" + strconv.Itoa(i)
			inv.Lines[0].UnitPrice = decimal.New(int64(rng.IntN(1000)), -3)
		default: // names a closed PO
			inv.PONumber = po.Number
		}
		invs[i] = inv
	}
	return pos, invs
}
