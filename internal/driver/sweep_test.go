package driver_test

import (
	"context"
	"testing"

	"portico/internal/portal"
)

// TestSweepStatusesReadsTheListOnly: a status sweep reads every invoice's status from the invoice list's
// pages (2 per page here), mapped through the definition, at one page load per list page and without
// opening an invoice.
func TestSweepStatusesReadsTheListOnly(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		for _, n := range []string{"INV-S1", "INV-S2", "INV-S3"} {
			if _, err := s.CreateDraft(draft(n)); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []string{"INV-S2", "INV-S3"} {
			if _, err := s.Submit(n); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.buyer.Act(context.Background(), user, "INV-S3", "dispute", "Wrong price"); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, inv := range f.sim.Invoices(user) {
			ids[inv.Number] = inv.ID
		}

		loads, mark := f.drv.Stats().PageLoads, len(f.sim.Requests())
		var pages []int
		got := map[string]portal.Invoice{}
		err := s.SweepStatuses(func(page int, invs []portal.Invoice) error {
			pages = append(pages, page)
			for _, inv := range invs {
				got[inv.Number] = inv
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) != 2 || pages[0] != 1 || pages[1] != 2 || len(got) != 3 {
			t.Fatalf("pages %v, invoices %+v", pages, got)
		}
		want := map[string]portal.Status{"INV-S1": portal.StatusDraft, "INV-S2": portal.StatusWithBuyer, "INV-S3": portal.StatusDisputed}
		for n, st := range want {
			inv := got[n]
			if inv.Status != st || inv.PortalID != ids[n] || inv.PONumber != "PO-1001" || !inv.Total.Equal(dec("220")) || inv.PortalStatus == "" {
				t.Errorf("%s read as %+v, want status %s, portal ID %s", n, inv, st, ids[n])
			}
		}
		if n := f.drv.Stats().PageLoads - loads; n != 2 {
			t.Errorf("the sweep cost %d page loads, want 2 (one per list page)", n)
		}
		for _, r := range f.sim.Requests()[mark:] {
			if r.Path == "/invoices/"+ids["INV-S1"] || r.Path == "/api/invoices/"+ids["INV-S1"] {
				t.Errorf("the sweep opened an invoice: %s", r.Path)
			}
		}
	})
}
