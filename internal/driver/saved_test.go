package driver_test

import (
	"testing"

	"portico/internal/portal"
	"portico/internal/simulator"
)

// TestDraftIsReadFromTheSavePage: the draft is read from the page the portal answers its save with, so
// saving and capturing it costs no invoice list search and no second load of its page.
func TestDraftIsReadFromTheSavePage(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, _, err := s.FindInvoice("INV-R0"); err != nil { // signs in
			t.Fatal(err)
		}
		loads := f.drv.Stats().PageLoads
		inv, err := s.CreateDraft(draft("INV-R1"))
		if err != nil {
			t.Fatal(err)
		}
		held := f.sim.Invoices(user)
		if len(held) != 1 || inv.PortalID != held[0].ID || inv.Number != "INV-R1" || inv.PONumber != "PO-1001" ||
			inv.Status != portal.StatusDraft || inv.PortalStatus != f.draftWord || !inv.Total.Equal(dec("220")) {
			t.Fatalf("draft read as %+v; the portal holds %+v", inv, held)
		}
		if _, err := s.CaptureInvoice(inv); err != nil {
			t.Fatal(err)
		}
		// Coupa: the PO page, the form, the save (its answer is the draft's page). Ariba: the order page;
		// the wizard and the save do not navigate.
		want := int64(3)
		if f.draftWord == "Saved" {
			want = 1
		}
		if n := f.drv.Stats().PageLoads - loads; n != want {
			t.Errorf("draft and capture cost %d page loads, want %d", n, want)
		}
		// Once the tab has moved on, a capture loads the draft's page again.
		if _, _, err := s.FindInvoice("INV-R1"); err != nil {
			t.Fatal(err)
		}
		loads = f.drv.Stats().PageLoads
		if _, err := s.CaptureInvoice(inv); err != nil {
			t.Fatal(err)
		}
		if n := f.drv.Stats().PageLoads - loads; n != 1 {
			t.Errorf("a capture from elsewhere cost %d page loads, want 1", n)
		}
	})
}

// TestDraftNotShownOnTheSavePageIsLookedUp: where the page the save lands on does not name the draft (its
// heading changed), the draft is looked up in the invoice list instead, as before: one page load more.
func TestDraftNotShownOnTheSavePageIsLookedUp(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, _, err := s.FindInvoice("INV-F0"); err != nil { // signs in
			t.Fatal(err)
		}
		drift := &simulator.Drift{RenameLabel: &simulator.TextChange{From: "Invoice INV-F1", To: "Saved invoice"}}
		if _, err := f.sim.InjectFault(simulator.Fault{Kind: simulator.FaultDrift, Drift: drift}); err != nil {
			t.Fatal(err)
		}
		loads := f.drv.Stats().PageLoads
		inv, err := s.CreateDraft(draft("INV-F1"))
		if err != nil {
			t.Fatal(err)
		}
		held := f.sim.Invoices(user)
		if len(held) != 1 || inv.PortalID != held[0].ID || inv.Number != "INV-F1" || inv.Status != portal.StatusDraft || !inv.Total.Equal(dec("220")) {
			t.Fatalf("draft read as %+v; the portal holds %+v", inv, held)
		}
		want := int64(4) // Coupa: PO page, form, save, invoice list
		if f.draftWord == "Saved" {
			want = 2 // Ariba: order page, invoice list
		}
		if n := f.drv.Stats().PageLoads - loads; n != want {
			t.Errorf("the draft cost %d page loads, want %d (with the list look-up)", n, want)
		}
	})
}
