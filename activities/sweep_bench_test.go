package activities_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"portico/activities"
	"portico/internal/benchenv"
	"portico/internal/portal"
	"portico/internal/simulator"
)

// BenchmarkStatusSweep measures what reading the status of every open invoice of an account costs the
// portal: the SweepInvoiceStatuses activity on an account with PORTICO_BENCH_SWEEP_INVOICES open invoices
// (default 500: drafts, invoices with the buyer, approved, disputed and partly paid, a fifth each) in
// pages of PORTICO_BENCH_PAGE_SIZE rows (default 25, the simulator's). It reports, per flavor
// (sub-benchmarks coupa and ariba), the driver's page loads per sweep (measured_page_loads) against the
// invoice list's pages (baseline_list_pages): target ≤ 1.2, where opening each invoice instead would cost
// a list search and a page per invoice. requests/list_page counts what the portal served (for the
// Ariba-like app: the app's page and its API calls) per list page.
func BenchmarkStatusSweep(b *testing.B) {
	for _, flavor := range []string{simulator.FlavorCoupa, simulator.FlavorAriba} {
		b.Run(flavor, func(b *testing.B) { benchSweep(b, flavor) })
	}
}

func benchSweep(b *testing.B, flavor string) {
	n := benchenv.Size(b, "PORTICO_BENCH_SWEEP_INVOICES", 500)
	size := benchenv.Size(b, "PORTICO_BENCH_PAGE_SIZE", 25)
	spec := simulator.GenerateSpec{Seed: 19, Accounts: 1, POs: 60}
	state, want := portalWithInvoices(b, flavor, spec, n)
	p := newBenchPortal(b, simulator.Config{Flavor: flavor, PageSize: size, StatePath: state}, spec)
	listPages := (n + size - 1) / size

	sweep := func() activities.SweepResult {
		v, err := newActivityEnv(p.br).ExecuteActivity(p.br.SweepInvoiceStatuses, p.accts[0])
		if err != nil {
			b.Fatal(err)
		}
		var res activities.SweepResult
		if err := v.Get(&res); err != nil {
			b.Fatal(err)
		}
		if res.Pages != listPages || len(res.Statuses) != n {
			b.Fatalf("sweep read %d pages, %d invoices; want %d pages, %d invoices", res.Pages, len(res.Statuses), listPages, n)
		}
		for number, st := range want {
			if res.Statuses[number] != st {
				b.Fatalf("invoice %s swept as %q, want %q", number, res.Statuses[number], st)
			}
		}
		return res
	}
	sweep() // signs in, outside the measurement
	mark, loads := len(p.sim.Requests()), p.drv.Stats().PageLoads
	start := time.Now()
	b.ResetTimer()
	var res activities.SweepResult
	for range b.N {
		res = sweep()
	}
	b.StopTimer()
	took := time.Since(start)
	per := func(v float64) float64 { return v / float64(b.N) }
	pageLoads := per(float64(p.drv.Stats().PageLoads - loads))
	requests := per(float64(len(p.sim.Requests()) - mark))
	report(b, "page_loads", pageLoads, "list_pages", float64(listPages), 1.2)
	b.ReportMetric(requests/float64(listPages), "requests/list_page")
	b.ReportMetric(float64(n), "invoices")
	b.ReportMetric(per(took.Seconds()), "s/sweep")
	b.Logf("%s: %d open invoices, %d per page = %d list pages; a sweep cost %.0f page loads (%.2f per list page; target 1.2) and %.0f portal requests, took %.2f s; statuses %v",
		flavor, n, size, listPages, pageLoads, pageLoads/float64(listPages), requests, per(took.Seconds()), res.ByStatus)
}

// portalWithInvoices writes a simulator state file (in the flavor) with spec's generated accounts and POs
// and n invoices of the first account, numbered SW-00001…, a fifth each Draft, Pending Approval, Approved,
// Disputed and Partially Paid; it returns the file and each invoice's canonical status. Invoices are put
// into the state file because the simulator has no API to make them other than keying them in.
func portalWithInvoices(b testing.TB, flavor string, spec simulator.GenerateSpec, n int) (string, map[string]portal.Status) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "portal.json")
	sim, err := simulator.New(simulator.Config{Flavor: flavor, StatePath: path})
	if err != nil {
		b.Fatal(err)
	}
	g := simulator.Generate(spec)
	if err := g.Seed(sim); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(raw, &state); err != nil {
		b.Fatal(err)
	}
	user := g.Accounts[0].Username
	pos := g.POs[user]
	kinds := []struct {
		st   simulator.InvoiceStatus
		want portal.Status
	}{
		{simulator.StatusDraft, portal.StatusDraft}, {simulator.StatusPendingApproval, portal.StatusWithBuyer},
		{simulator.StatusApproved, portal.StatusApproved}, {simulator.StatusDisputed, portal.StatusDisputed},
		{simulator.StatusPartiallyPaid, portal.StatusPartiallyPaid},
	}
	now := time.Now().UTC()
	want := map[string]portal.Status{}
	invs := make([]simulator.Invoice, 0, n)
	for i := range n {
		po := pos[i%len(pos)]
		l := po.Lines[0]
		amount := l.UnitPrice.Round(2)
		k := kinds[i%len(kinds)]
		inv := simulator.Invoice{
			ID: fmt.Sprintf("INV-%06d", i+1), Number: fmt.Sprintf("SW-%05d", i+1), PONumber: po.Number, Supplier: user,
			InvoiceDate: now.Truncate(24 * time.Hour), Currency: po.Currency, PaymentTerms: po.PaymentTerms,
			Lines:   []simulator.InvoiceLine{{LineNo: 1, PartNumber: l.PartNumber, Description: l.Description, Quantity: dec("1"), UOM: l.UOM, UnitPrice: l.UnitPrice, Amount: amount}},
			TaxRate: dec("0"), Tax: dec("0"), Subtotal: amount, Total: amount, Status: k.st, CreatedAt: now, UpdatedAt: now,
		}
		switch k.st {
		case simulator.StatusDraft:
		case simulator.StatusDisputed:
			inv.SubmittedAt, inv.DisputeReason, inv.RejectionCode = now, "Price does not match", "OTHER"
		case simulator.StatusPartiallyPaid:
			inv.SubmittedAt, inv.PaidAmount, inv.PaymentReference = now, amount.Div(dec("2")).Round(2), fmt.Sprintf("PAY-%d", i+1)
		default:
			inv.SubmittedAt = now
		}
		invs = append(invs, inv)
		want[inv.Number] = k.want
	}
	if state["invoices"], err = json.Marshal(invs); err != nil {
		b.Fatal(err)
	}
	state["next_invoice_seq"] = json.RawMessage(fmt.Sprint(n + 1))
	if raw, err = json.Marshal(state); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, want
}
