package driver_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/demo"
	"portico/internal/driver"
	"portico/internal/evidence"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/simulator"
	"portico/internal/testenv"
	"portico/internal/vault"
)

const (
	user   = "supplier1"
	pass   = "correct horse battery"
	secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
)

// claims is an in-memory StepClaimer (the store's is tested against PostgreSQL).
type claims struct {
	mu   sync.Mutex
	last map[string]int64
}

func (c *claims) ClaimTOTPStep(_ context.Context, id string, step int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last[id] >= step {
		return false, nil
	}
	c.last[id] = step
	return true, nil
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// flavors are the two simulator flavors and the built-in definition that drives each: every driver test
// runs against both, from the definitions alone.
var flavors = []struct{ flavor, portal, draftWord, sentWord string }{
	{simulator.FlavorCoupa, "coupa-sim", "Draft", "Pending Approval"},
	{simulator.FlavorAriba, "ariba-sim", "Saved", "Sent"},
}

// eachFlavor runs fn as a subtest per flavor.
// Tests run in parallel: each has its own simulator and driver, and most of their time is spent waiting
// (for a fresh TOTP step, for a page) rather than computing.
func eachFlavor(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Parallel()
	for _, fl := range flavors {
		t.Run(fl.flavor, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, fl.flavor, fl.portal, fl.draftWord, fl.sentWord))
		})
	}
}

type fixture struct {
	draftWord, sentWord string
	claims              *claims
	evidence            *evidence.FileStore
	sim                 *simulator.Server
	url                 string
	drv                 *driver.Driver
	acct                driver.Account
	buyer               demo.Buyer
}

func newFixture(t *testing.T, flavor, portalName, draftWord, sentWord string) *fixture {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Flavor: flavor, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.AddAccount(simulator.Account{Username: user, Password: pass, TOTPSecret: secret, Supplier: "Bolt & Nut Ltd"}); err != nil {
		t.Fatal(err)
	}
	pos := []simulator.PO{
		{Number: "PO-1001", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Currency: "USD", PaymentTerms: "Net 30", Status: simulator.POOpen,
			Lines: []simulator.POLine{
				{LineNo: 1, PartNumber: "B-100", Description: "Hex bolt M8", Quantity: dec("1000"), UOM: "EA", UnitPrice: dec("0.50")},
				{LineNo: 2, PartNumber: "N-100", Description: "Hex nut M8", Quantity: dec("1000"), UOM: "EA", UnitPrice: dec("0.25")},
			}},
		{Number: "PO-1002", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), Currency: "USD", PaymentTerms: "Net 45", Status: simulator.POOpen,
			Lines: []simulator.POLine{{LineNo: 1, PartNumber: "W-1", Description: "Washer", Quantity: dec("10"), UOM: "EA", UnitPrice: dec("1.00")}}},
		{Number: "PO-1003", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC), Currency: "USD", PaymentTerms: "Net 30", Status: simulator.POClosed,
			Lines: []simulator.POLine{{LineNo: 1, PartNumber: "W-2", Description: "Spring", Quantity: dec("5"), UOM: "EA", UnitPrice: dec("2.00")}}},
	}
	if err := sim.AddPurchaseOrders(user, pos); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cl := &claims{last: map[string]int64{}}
	ev := &evidence.FileStore{Dir: t.TempDir()}
	return &fixture{
		draftWord: draftWord, sentWord: sentWord,
		sim: sim, url: srv.URL,
		drv:    driver.New(testenv.Browser(t), driver.Config{Claims: cl, StepTimeout: 10 * time.Second, Evidence: ev}),
		claims: cl, evidence: ev,
		acct:  driver.Account{ID: "acct-1", BaseURL: srv.URL, Portal: definition(t, portalName), Credentials: vault.Credentials{Username: user, Password: pass, TOTPSecret: secret}},
		buyer: demo.Buyer{BaseURL: srv.URL},
	}
}

func definition(t *testing.T, name string) *portaldef.Definition {
	t.Helper()
	reg, err := portaldef.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) session(t *testing.T) *driver.Session {
	t.Helper()
	s, err := f.drv.Open(context.Background(), f.acct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func draft(number string) portal.Draft {
	return portal.Draft{
		Number: number, PONumber: "PO-1001", Date: time.Now().UTC().Truncate(24 * time.Hour), TaxRate: dec("10"), Note: "Delivery 4711",
		Lines:          []portal.DraftLine{{POLineNo: 1, Quantity: dec("400")}}, // line 2 not billed: set to zero
		ExpectedTotal:  dec("220.00"),
		AttachmentName: number + ".pdf", Attachment: demo.InvoicePDF("Invoice " + number),
	}
}

func TestListPurchaseOrdersPagesAndReadsLines(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		var pages []int
		var all []portal.PurchaseOrder
		err := s.ListPurchaseOrders(driver.ListOptions{Lines: driver.AllLines}, func(page int, pos []portal.PurchaseOrder) error {
			pages = append(pages, page)
			all = append(all, pos...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) != 2 || len(all) != 3 {
			t.Fatalf("pages %v, %d POs", pages, len(all))
		}
		byNum := map[string]portal.PurchaseOrder{}
		for _, po := range all {
			byNum[po.Number] = po
		}
		po := byNum["PO-1001"]
		if !po.Total.Equal(dec("750")) || !po.Remaining.Equal(dec("750")) || po.Currency != "USD" || po.PaymentTerms != "Net 30" || len(po.Lines) != 2 {
			t.Fatalf("PO-1001 read as %+v", po)
		}
		if l := po.Lines[1]; l.PartNumber != "N-100" || !l.UnitPrice.Equal(dec("0.25")) || !l.Quantity.Equal(dec("1000")) || l.UOM != "EA" {
			t.Fatalf("line 2 read as %+v", l)
		}
		if byNum["PO-1003"].Status != "Closed" {
			t.Fatalf("PO-1003 status %q", byNum["PO-1003"].Status)
		}
		if f.drv.Stats().Logins != 1 {
			t.Fatalf("logins = %d", f.drv.Stats().Logins)
		}
	})
}

// TestListPurchaseOrdersResumesFiltersAndReadsOnlyWantedLines: a list read can start at a later page (a
// resumed sync), ask the portal for only the POs changed since a time (po_list.changed_url), and opens only
// the PO pages the caller asks for.
func TestListPurchaseOrdersResumesFiltersAndReadsOnlyWantedLines(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if !s.ListsChanged() {
			t.Fatal("the built-in definition has no changed_url")
		}
		// Log in first, so page loads below count list and PO pages only.
		if err := s.ListPurchaseOrders(driver.ListOptions{}, func(int, []portal.PurchaseOrder) error { return nil }); err != nil {
			t.Fatal(err)
		}
		loads := f.drv.Stats().PageLoads
		var pages []int
		var got []portal.PurchaseOrder
		err := s.ListPurchaseOrders(driver.ListOptions{StartPage: 2, Lines: driver.AllLines}, func(page int, pos []portal.PurchaseOrder) error {
			pages = append(pages, page)
			got = append(got, pos...)
			return nil
		})
		if err != nil || len(pages) != 1 || pages[0] != 2 || len(got) != 1 || got[0].Number != "PO-1003" || len(got[0].Lines) != 1 {
			t.Fatalf("from page 2: pages %v, %+v, %v", pages, got, err)
		}
		if n := f.drv.Stats().PageLoads - loads; n != 2 {
			t.Fatalf("page 2 with its one PO cost %d page loads, want 2", n)
		}

		// Only PO-1002 changes after `since`.
		since := time.Now()
		time.Sleep(5 * time.Millisecond)
		changed := simulator.PO{Number: "PO-1002", BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), Currency: "USD", PaymentTerms: "Net 45",
			Lines: []simulator.POLine{{LineNo: 1, PartNumber: "W-1", Description: "Washer", Quantity: dec("20"), UOM: "EA", UnitPrice: dec("1.00")}}}
		if err := f.sim.AddPurchaseOrders(user, []simulator.PO{changed}); err != nil {
			t.Fatal(err)
		}
		loads = f.drv.Stats().PageLoads
		got = nil
		var asked []string
		err = s.ListPurchaseOrders(driver.ListOptions{Since: since, Lines: func(_ int, pos []portal.PurchaseOrder) ([]bool, error) {
			for _, po := range pos {
				asked = append(asked, po.Number)
			}
			return []bool{false}, nil // keep the stored lines
		}}, func(_ int, pos []portal.PurchaseOrder) error { got = append(got, pos...); return nil })
		if err != nil || len(got) != 1 || got[0].Number != "PO-1002" || !got[0].Total.Equal(dec("20")) || got[0].Lines != nil || len(asked) != 1 {
			t.Fatalf("changed since: %+v asked %v, %v", got, asked, err)
		}
		if n := f.drv.Stats().PageLoads - loads; n != 1 {
			t.Fatalf("the changed-only list cost %d page loads, want 1 (no PO page)", n)
		}
	})
}

func TestDraftSubmitAndStatusEndToEnd(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, found, err := s.FindInvoice("INV-1"); err != nil || found {
			t.Fatalf("before: found=%v err=%v", found, err)
		}
		inv, err := s.CreateDraft(draft("INV-1"))
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status != portal.StatusDraft || inv.PortalStatus != f.draftWord || !inv.Total.Equal(dec("220")) || inv.Number != "INV-1" || inv.PortalID == "" {
			t.Fatalf("draft read as %+v", inv)
		}
		got := f.sim.Invoices(user)
		if len(got) != 1 || len(got[0].Lines) != 1 || got[0].Note != "Delivery 4711" || got[0].AttachmentName != "INV-1.pdf" || got[0].AttachmentSize == 0 {
			t.Fatalf("simulator holds %+v", got)
		}

		// A second session reuses the first one's portal session: no second login.
		s2 := f.session(t)
		found, ok, err := s2.FindInvoice("INV-1")
		if err != nil || !ok || found.Status != portal.StatusDraft {
			t.Fatalf("find: %+v %v %v", found, ok, err)
		}
		if n := f.drv.Stats().Logins; n != 1 {
			t.Fatalf("logins = %d, want 1 (session reused)", n)
		}

		// The portal refuses a duplicate number, and the driver names it.
		var rej *portal.RejectedError
		if _, err := s2.CreateDraft(draft("INV-1")); !errors.As(err, &rej) {
			t.Fatalf("duplicate: %v", err)
		}

		sub, err := s2.Submit("INV-1")
		if err != nil || sub.Status != portal.StatusWithBuyer || sub.PortalStatus != f.sentWord {
			t.Fatalf("submit: %+v %v", sub, err)
		}
		again, err := s2.Submit("INV-1")
		if err != nil || again.Status != portal.StatusWithBuyer {
			t.Fatalf("second submit: %+v %v", again, err)
		}
		if n := f.sim.CountEvents("submitted", ""); n != 1 {
			t.Fatalf("%d submissions recorded by the portal, want 1", n)
		}

		ctx := context.Background()
		if err := f.buyer.Act(ctx, user, "INV-1", "dispute", "Price does not match contract"); err != nil {
			t.Fatal(err)
		}
		st, err := s2.InvoiceStatus("INV-1")
		if err != nil || st.Status != portal.StatusDisputed || st.Reason != "Price does not match contract" {
			t.Fatalf("status: %+v %v", st, err)
		}
	})
}

func TestPaidInvoiceShowsPaymentReference(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		if _, err := s.CreateDraft(draft("INV-2")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Submit("INV-2"); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := f.buyer.Act(ctx, user, "INV-2", "approve", ""); err != nil {
			t.Fatal(err)
		}
		if err := f.buyer.Act(ctx, user, "INV-2", "pay", "PAY-778"); err != nil {
			t.Fatal(err)
		}
		st, err := s.InvoiceStatus("INV-2")
		if err != nil || st.Status != portal.StatusPaid || st.PaymentReference != "PAY-778" {
			t.Fatalf("status: %+v %v", st, err)
		}
	})
}

func TestDeleteDraft(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		saved, err := s.CreateDraft(draft("INV-3"))
		if err != nil {
			t.Fatal(err)
		}
		// The draft's page, as an approver would see it.
		png, err := s.CaptureInvoice(saved)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("screenshot: %d bytes, %v", len(png), err)
		}
		if err := s.DeleteDraft("INV-3"); err != nil {
			t.Fatal(err)
		}
		if len(f.sim.Invoices(user)) != 0 {
			t.Fatal("draft still in the portal")
		}
		if _, err := s.CaptureInvoice(portal.Invoice{Number: "INV-3"}); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("screenshot of a deleted draft: %v", err)
		}
		if err := s.DeleteDraft("INV-3"); err != nil {
			t.Fatalf("deleting a deleted draft: %v", err)
		}
	})
}

func TestPortalRefusalsAreNamed(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		s := f.session(t)
		over := draft("INV-4")
		over.Lines = []portal.DraftLine{{POLineNo: 1, Quantity: dec("1000")}, {POLineNo: 2, Quantity: dec("1000")}} // 750 + 10% tax > 750
		var rej *portal.RejectedError
		if _, err := s.CreateDraft(over); !errors.As(err, &rej) {
			t.Fatalf("over balance: %v", err)
		}
		closed := draft("INV-5")
		closed.PONumber = "PO-1003"
		if _, err := s.CreateDraft(closed); !errors.Is(err, portal.ErrNotInvoiceable) {
			t.Fatalf("closed PO: %v", err)
		}
		missing := draft("INV-6")
		missing.PONumber = "PO-9999"
		if _, err := s.CreateDraft(missing); !errors.Is(err, portal.ErrNotFound) {
			t.Fatalf("missing PO: %v", err)
		}
		wrongTotal := draft("INV-7")
		wrongTotal.ExpectedTotal = dec("219.99")
		var mm *portal.MismatchError
		if _, err := s.CreateDraft(wrongTotal); !errors.As(err, &mm) {
			t.Fatalf("total mismatch: %v", err)
		}
	})
}

func TestWrongPasswordIsNeverRetried(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		f.acct.Credentials.Password = "wrong"
		s := f.session(t)
		_, _, err := s.FindInvoice("INV-1")
		if !errors.Is(err, portal.ErrLoginRejected) {
			t.Fatalf("want ErrLoginRejected, got %v", err)
		}
		if n := f.sim.CountEvents("login_failed", ""); n != 1 {
			t.Fatalf("%d failed logins at the portal, want exactly 1", n)
		}
		if errors.Is(err, portal.ErrAccountLocked) || len(err.Error()) == 0 || containsSecret(err.Error()) {
			t.Fatalf("error %q", err)
		}
	})
}

func containsSecret(s string) bool {
	for _, x := range []string{pass, "wrong", secret} {
		if len(x) > 3 && contains(s, x) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
