package driver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/internal/driver"
	"portico/internal/evidence"
	"portico/internal/portal"
	"portico/internal/simulator"
)

func inject(t *testing.T, f *fixture, fault simulator.Fault) {
	t.Helper()
	if _, err := f.sim.InjectFault(fault); err != nil {
		t.Fatal(err)
	}
}

// labels are the words each flavor's definition finds the invoice number field and save button by.
func labels(f *fixture) (number, save string) {
	if f.draftWord == "Saved" {
		return "Invoice No.", "Save"
	}
	return "Invoice #", "Save as Draft"
}

// TestCosmeticRedesignNeedsNoDefinitionEdit: new ids and classes, extra wrappers, fields and columns in
// another order, buttons moved — with the labels kept — and the whole flow still works from the same
// definition.
func TestCosmeticRedesignNeedsNoDefinitionEdit(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		inject(t, f, simulator.Fault{Kind: "drift", Drift: &simulator.Drift{Cosmetic: true}})
		s := f.session(t)
		n := 0
		if err := s.ListPurchaseOrders(driver.ListOptions{}, func(_ int, pos []portal.PurchaseOrder) error { n += len(pos); return nil }); err != nil || n != 3 {
			t.Fatalf("list: %d POs, %v", n, err)
		}
		inv, err := s.CreateDraft(draft("INV-C1"))
		if err != nil || inv.Status != portal.StatusDraft || !inv.Total.Equal(dec("220")) {
			t.Fatalf("draft: %+v %v", inv, err)
		}
		got := f.sim.Invoices(user)
		if len(got) != 1 || len(got[0].Lines) != 1 || !got[0].Lines[0].Quantity.Equal(dec("400")) || got[0].Number != "INV-C1" {
			t.Fatalf("portal holds %+v", got)
		}
		if sub, err := s.Submit("INV-C1"); err != nil || sub.Status != portal.StatusWithBuyer {
			t.Fatalf("submit: %+v %v", sub, err)
		}
		if f.sim.Faults()[0].Matched == 0 {
			t.Fatal("the drift was never applied")
		}
	})
}

// TestRenamedLabelStopsWithEvidence: a label the definition relies on is gone; the engine stops with a
// drift error naming the step and the locator, keeps a screenshot and the HTML, and types nothing.
func TestRenamedLabelStopsWithEvidence(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		number, _ := labels(f)
		inject(t, f, simulator.Fault{Kind: "drift", Drift: &simulator.Drift{RenameLabel: &simulator.TextChange{From: number, To: "Supplier Invoice Number"}}})
		s := f.session(t)
		_, err := s.CreateDraft(draft("INV-R1"))
		var drift *portal.DriftError
		if !errors.As(err, &drift) {
			t.Fatalf("want a drift error, got %v", err)
		}
		if !strings.Contains(drift.Step, "create draft INV-R1") || !strings.Contains(drift.Selector, number) || len(drift.Evidence) != 2 {
			t.Fatalf("drift: step %q selector %q evidence %v", drift.Step, drift.Selector, drift.Evidence)
		}
		for _, ref := range drift.Evidence {
			p, err := f.evidence.Path(ref)
			if err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Fatalf("evidence %s: %v", ref, err)
			}
		}
		if html, _ := os.ReadFile(filepath.Join(f.evidence.Dir, drift.Evidence[1])); !strings.Contains(string(html), "Supplier Invoice Number") {
			t.Fatal("the kept HTML is not the drifted page")
		}
		if got := f.sim.Invoices(user); len(got) != 0 {
			t.Fatalf("the portal holds %+v after a drift", got)
		}
	})
}

// TestRemovedButtonAndUnknownStatusWordStop: a missing Save button and a status word the definition does
// not know are both drift errors, never guesses.
func TestRemovedButtonAndUnknownStatusWordStop(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, err := s.CreateDraft(draft("INV-S1")); err != nil {
			t.Fatal(err)
		}
		inject(t, f, simulator.Fault{Kind: "drift", Drift: &simulator.Drift{StatusWord: &simulator.TextChange{From: f.draftWord, To: "Parked"}}})
		_, err := s.InvoiceStatus("INV-S1")
		var drift *portal.DriftError
		if !errors.As(err, &drift) || !strings.Contains(err.Error(), `"Parked"`) {
			t.Fatalf("unknown status word: %v", err)
		}
		f.sim.ClearFaults()
		_, save := labels(f)
		inject(t, f, simulator.Fault{Kind: "drift", Drift: &simulator.Drift{Remove: &simulator.RemoveAction{Text: save}}})
		if _, err := s.CreateDraft(draft("INV-S2")); !errors.As(err, &drift) || !strings.Contains(drift.Selector, save) {
			t.Fatalf("removed button: %v", err)
		}
		if n := len(f.sim.Invoices(user)); n != 1 {
			t.Fatalf("%d invoices in the portal, want 1", n)
		}
	})
}

// TestRetryableFaults: latency only slows the driver; a 5xx burst, a maintenance page and a hung request
// are ErrUnavailable (Temporal retries those with backoff), and the next attempt passes once they end.
func TestRetryableFaults(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		f.drv = driver.New(f.drv.Browser(), driver.Config{Claims: f.claims, StepTimeout: 3 * time.Second, Settle: 3 * time.Second})
		s := f.session(t)
		inject(t, f, simulator.Fault{Kind: "latency", MS: 300})
		start := time.Now()
		if _, _, err := s.FindInvoice("INV-X"); err != nil {
			t.Fatalf("with latency: %v", err)
		}
		if time.Since(start) < 300*time.Millisecond {
			t.Fatal("latency not applied")
		}
		f.sim.ClearFaults()
		for _, fault := range []simulator.Fault{
			{Kind: "error", Status: 503, Count: 2},
			{Kind: "maintenance", Count: 1},
			{Kind: "hang", Count: 1, MS: 10000},
		} {
			inject(t, f, fault)
			_, _, err := s.FindInvoice("INV-X")
			if !errors.Is(err, portal.ErrUnavailable) {
				t.Fatalf("%s: want ErrUnavailable, got %v", fault.Kind, err)
			}
			// Temporal retries; by then the burst is over.
			var last error
			for attempt := 0; attempt < 3; attempt++ {
				if _, _, last = s.FindInvoice("INV-X"); last == nil {
					break
				}
			}
			if last != nil {
				t.Fatalf("%s: retry did not pass: %v", fault.Kind, last)
			}
			f.sim.ClearFaults()
		}
	})
}

// TestKilledSessionLogsInAgainOnce: the portal ends the session; the driver logs in again (once) and goes
// on, with no second draft.
func TestKilledSessionLogsInAgainOnce(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, _, err := s.FindInvoice("INV-K1"); err != nil {
			t.Fatal(err)
		}
		inject(t, f, simulator.Fault{Kind: "kill_session", Account: user})
		if _, err := s.CreateDraft(draft("INV-K1")); err != nil {
			t.Fatal(err)
		}
		if n := f.drv.Stats().Logins; n != 2 {
			t.Fatalf("logins = %d, want 2", n)
		}
		if n := f.sim.CountEvents("draft_created", "INV-K1"); n != 1 {
			t.Fatalf("%d drafts", n)
		}
	})
}

// TestDriverNeverLocksTheAccount: many activities with a wrong password, on a portal that locks after 3
// failures, cost the portal exactly one failed login; the account stays usable once the password is fixed.
func TestDriverNeverLocksTheAccount(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		r := f.sim.Rules()
		r.MaxFailedLogins = 3
		if _, err := f.sim.SetRules(r); err != nil {
			t.Fatal(err)
		}
		good := f.acct.Credentials
		f.acct.Credentials.Password = "wrong password"
		for i := 0; i < 6; i++ {
			s := f.session(t)
			if _, _, err := s.FindInvoice("INV-L"); !errors.Is(err, portal.ErrLoginRejected) {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if n := f.sim.CountEvents("login_failed", ""); n != 1 {
			t.Fatalf("%d failed logins at the portal, want 1", n)
		}
		if n := f.sim.CountEvents("locked", ""); n != 0 {
			t.Fatal("the account got locked")
		}
		f.acct.Credentials = good
		if _, _, err := f.session(t).FindInvoice("INV-L"); err != nil {
			t.Fatalf("after fixing the password: %v", err)
		}
	})
}

// TestLockedAndExpiredAccountsAreNamed: the portal's own words reach the operator as named errors.
func TestLockedAndExpiredAccountsAreNamed(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		if err := f.sim.ExpirePassword(user); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.session(t).FindInvoice("INV-E")
		if !errors.Is(err, portal.ErrPasswordExpired) {
			t.Fatalf("expired: %v", err)
		}
		if f.sim.CountEvents("login_failed", "") != 0 {
			t.Fatal("an expired password counted as a failed login")
		}
	})
}

// TestRememberedBrowserSkipsTheCode: with the buyer's "remember this browser" on, the second login after a
// lost session asks no TOTP code.
func TestRememberedBrowserSkipsTheCode(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		r := f.sim.Rules()
		r.RememberBrowserDays = 30
		if _, err := f.sim.SetRules(r); err != nil {
			t.Fatal(err)
		}
		s := f.session(t)
		if _, _, err := s.FindInvoice("INV-M"); err != nil {
			t.Fatal(err)
		}
		inject(t, f, simulator.Fault{Kind: "kill_session", Account: user})
		if _, _, err := s.FindInvoice("INV-M"); err != nil {
			t.Fatal(err)
		}
		if ok, rem := f.sim.CountEvents("totp_ok", ""), f.sim.CountEvents("totp_remembered", ""); ok != 1 || rem != 1 {
			t.Fatalf("totp_ok %d, totp_remembered %d", ok, rem)
		}
	})
}

var _ = context.Background
var _ evidence.Store
