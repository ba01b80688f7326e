package activities_test

import (
	"maps"
	"testing"

	"portico/activities"
	"portico/internal/portal"
	"portico/internal/simulator"
)

// TestSweepInvoiceStatuses: the sweep activity reads every invoice's status from the invoice list's pages,
// in both portal flavors, and opens no invoice.
func TestSweepInvoiceStatuses(t *testing.T) {
	for _, flavor := range []string{simulator.FlavorCoupa, simulator.FlavorAriba} {
		t.Run(flavor, func(t *testing.T) {
			spec := simulator.GenerateSpec{Seed: 5, Accounts: 1, POs: 4}
			state, want := portalWithInvoices(t, flavor, spec, 7)
			p := newBenchPortal(t, simulator.Config{Flavor: flavor, PageSize: 3, StatePath: state}, spec)
			v, err := newActivityEnv(p.br).ExecuteActivity(p.br.SweepInvoiceStatuses, p.accts[0])
			if err != nil {
				t.Fatal(err)
			}
			var res activities.SweepResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if res.Pages != 3 || !maps.Equal(res.Statuses, want) {
				t.Fatalf("swept %d pages: %v; want 3 pages: %v", res.Pages, res.Statuses, want)
			}
			byStatus := map[portal.Status]int{}
			for _, st := range want {
				byStatus[st]++
			}
			if !maps.Equal(res.ByStatus, byStatus) {
				t.Fatalf("by status %v, want %v", res.ByStatus, byStatus)
			}
			for _, r := range p.sim.Requests() {
				if r.Path == "/invoices/INV-000001" || r.Path == "/api/invoices/INV-000001" {
					t.Fatalf("the sweep opened an invoice: %s", r.Path)
				}
			}
		})
	}
}
