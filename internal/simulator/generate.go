package simulator

import (
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Generated is a portal's worth of made-up suppliers and purchase orders (Generate).
type Generated struct {
	Accounts []Account
	// POs holds each account's POs by username, in number order.
	POs map[string][]PO
}

// GenerateSpec says how much to generate.
type GenerateSpec struct {
	Seed     uint64
	Accounts int // supplier accounts, at least 1
	POs      int // purchase orders per account
}

// ParseGenerateSpec reads the simulator's -generate flag: "accounts=N,pos=M[,seed=S]" (M POs per account;
// seed 1 by default).
func ParseGenerateSpec(s string) (GenerateSpec, error) {
	g := GenerateSpec{Seed: 1, Accounts: 1}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return g, fmt.Errorf("generate: %q is not key=value (want accounts=N,pos=M[,seed=S])", part)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return g, fmt.Errorf("generate: %s=%q is not a whole number", k, v)
		}
		switch strings.TrimSpace(k) {
		case "accounts":
			g.Accounts = int(n)
		case "pos":
			g.POs = int(n)
		case "seed":
			g.Seed = n
		default:
			return g, fmt.Errorf("generate: unknown key %q (want accounts, pos, seed)", k)
		}
	}
	if g.Accounts < 1 || g.POs < 0 || g.Accounts > 10_000 || g.POs > 10_000_000 {
		return g, fmt.Errorf("generate: accounts must be 1..10000 and pos 0..10000000")
	}
	return g, nil
}

// The generator's vocabulary: buyer entities with the currency they order in, terms and a parts catalogue.
var (
	genBuyers = []struct{ entity, currency string }{
		{"Acme Corp", "USD"}, {"Acme Corp", "USD"}, {"Acme Corp", "USD"},
		{"Acme Corp Europe GmbH", "EUR"}, {"Acme Corp Europe GmbH", "EUR"}, {"Acme France SAS", "EUR"},
		{"Acme UK Ltd", "GBP"}, {"Acme Canada Inc.", "CAD"}, {"Acme Australia Pty Ltd", "AUD"},
		{"Acme Schweiz AG", "CHF"}, {"Acme Nordic AB", "SEK"}, {"Acme de México S.A. de C.V.", "MXN"},
	}
	genTerms    = []string{"Net 30", "Net 30", "Net 45", "Net 60", "2/10 Net 30", "Due on receipt"}
	genStatuses = []struct {
		status POStatus
		weight int
	}{{POOpen, 45}, {POPartiallyInvoiced, 15}, {POFullyInvoiced, 10}, {POClosed, 20}, {POCancelled, 10}}
	genParts = []struct {
		part, desc, uom string
		cents           [2]int64 // unit price range in cents
	}{
		{"B-100", "Hex bolt M8 x 40, zinc plated", "EA", [2]int64{8, 60}},
		{"N-100", "Hex nut M8, grade 8", "EA", [2]int64{3, 25}},
		{"W-210", "Flat washer M8, stainless", "EA", [2]int64{2, 15}},
		{"S-330", "Compression spring 20 mm", "EA", [2]int64{40, 250}},
		{"BR-12", "Ball bearing 6204-2RS", "EA", [2]int64{250, 1200}},
		{"GK-7", "Gasket kit, nitrile", "KIT", [2]int64{900, 4500}},
		{"CB-2", "Cable 3x2.5 mm², per metre", "M", [2]int64{90, 400}},
		{"PL-44", "Pallet wrap film 500 mm", "ROL", [2]int64{1200, 3500}},
		{"HS-9", "Hydraulic hose 1/2 in, 2 m", "EA", [2]int64{1800, 7900}},
		{"SV-1", "On-site maintenance visit", "HR", [2]int64{6500, 14500}},
		{"FR-1", "Freight, per shipment", "LOT", [2]int64{15000, 90000}},
		{"PK-3", "Carton 600x400x400, double wall", "EA", [2]int64{90, 320}},
	}
	genSuppliers = []string{"Bolt & Nut Ltd", "Northwind Fasteners", "Contoso Industrial Supply", "Fabrikam Components",
		"Tailspin Hydraulics", "Wingtip Packaging", "Adventure Works Tools", "Litware Bearings"}
	genEpoch = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
)

// Generate makes spec.Accounts supplier accounts with spec.POs purchase orders each, deterministically from
// spec.Seed: the same spec always gives the same accounts, numbers, dates, statuses and lines. POs cover
// three years of history (order dates up to 2026-06-30), every PO status (open, partially and fully invoiced,
// closed, cancelled), buyer entities each with their currency, and 1–5 lines from a parts catalogue.
// Usernames are supplier-001, supplier-002, …; PO numbers PO-<account><7 digits>.
func Generate(spec GenerateSpec) Generated {
	r := rand.New(rand.NewPCG(spec.Seed, 0x9e3779b97f4a7c15))
	out := Generated{POs: map[string][]PO{}}
	for a := range max(spec.Accounts, 1) {
		secret := make([]byte, 10)
		for i := range secret {
			secret[i] = byte(r.UintN(256))
		}
		acct := Account{
			Username:   fmt.Sprintf("supplier-%03d", a+1),
			Password:   fmt.Sprintf("Generated-%d-%08x", a+1, r.Uint32()),
			TOTPSecret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret),
			Supplier:   genSuppliers[a%len(genSuppliers)],
		}
		out.Accounts = append(out.Accounts, acct)
		pos := make([]PO, 0, spec.POs)
		for i := range spec.POs {
			pos = append(pos, generatePO(r, fmt.Sprintf("PO-%d%07d", a+1, i+1)))
		}
		out.POs[acct.Username] = pos
	}
	return out
}

func generatePO(r *rand.Rand, number string) PO {
	b := genBuyers[r.IntN(len(genBuyers))]
	po := PO{
		Number: number, BuyerEntity: b.entity, Currency: b.currency,
		OrderDate:    genEpoch.AddDate(0, 0, -r.IntN(3*365)),
		PaymentTerms: genTerms[r.IntN(len(genTerms))],
	}
	w := r.IntN(100)
	for _, s := range genStatuses {
		if w < s.weight {
			po.Status = s.status
			break
		}
		w -= s.weight
	}
	n := 1 + r.IntN(5)
	for l := range n {
		p := genParts[r.IntN(len(genParts))]
		cents := p.cents[0] + r.Int64N(p.cents[1]-p.cents[0]+1)
		price := decimal.New(cents, -2)
		if p.uom == "EA" && r.IntN(4) == 0 {
			price = decimal.New(cents*100+r.Int64N(100), -4) // some piece prices carry 4 decimals
		}
		qty := decimal.NewFromInt(int64(1 + r.IntN(500)))
		switch p.uom {
		case "EA", "M":
			qty = qty.Mul(decimal.NewFromInt(int64(1 + r.IntN(10))))
		case "HR":
			qty = decimal.New(int64(1+r.IntN(32))*5, -1) // half hours
		case "LOT", "KIT", "ROL":
			qty = decimal.NewFromInt(int64(1 + r.IntN(20)))
		}
		po.Lines = append(po.Lines, POLine{LineNo: l + 1, PartNumber: p.part, Description: p.desc, Quantity: qty, UOM: p.uom, UnitPrice: price})
	}
	return po
}

// Seed adds the generated accounts and their POs to the portal.
func (g Generated) Seed(s *Server) error {
	for _, a := range g.Accounts {
		if err := s.AddAccount(a); err != nil {
			return err
		}
		if err := s.AddPurchaseOrders(a.Username, g.POs[a.Username]); err != nil {
			return err
		}
	}
	return nil
}

// ListedPO is a PO as the supplier's PO list shows it in this portal's flavor: the figures derived from its
// invoices and the status word, with its lines as its page shows them.
type ListedPO struct {
	Number, BuyerEntity, Currency, PaymentTerms string
	OrderDate                                   time.Time
	Total, Invoiced, Remaining                  decimal.Decimal // rounded to cents, as shown
	Status                                      string          // the flavor's word
	Lines                                       []POLine
	UpdatedAt                                   time.Time
}

// ListedPOs returns username's POs as the supplier's list shows them, by number (tests and benchmarks use it
// to know what a sync must read).
func (s *Server) ListedPOs(username string) []ListedPO {
	s.mu.Lock()
	defer s.mu.Unlock()
	invoiced := s.invoicedLocked(username)
	out := make([]ListedPO, 0, len(s.pos[username]))
	for _, n := range sortedKeys(s.pos[username]) {
		po := s.pos[username][n]
		l := ledgerFor(po, invoiced[n])
		word := string(l.Status)
		if s.cfg.Flavor == FlavorAriba {
			word = aribaOrderStatus(l.Status)
		}
		out = append(out, ListedPO{
			Number: po.Number, BuyerEntity: po.BuyerEntity, Currency: po.Currency, PaymentTerms: po.PaymentTerms,
			OrderDate: po.OrderDate, Total: roundMoney(l.Total), Invoiced: roundMoney(l.Invoiced), Remaining: roundMoney(l.Remaining),
			Status: word, Lines: append([]POLine(nil), po.Lines...), UpdatedAt: po.UpdatedAt,
		})
	}
	return out
}
