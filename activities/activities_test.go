package activities_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"portico/activities"
	"portico/internal/demo"
	"portico/internal/driver"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

type env struct {
	st   *store.Store
	sim  *simulator.Server
	act  *testsuite.TestActivityEnvironment
	data demo.Data
}

func setup(t *testing.T) *env {
	t.Helper()
	st := testenv.Store(t)
	sim, _, data := testenv.DemoPortal(t, st, "")
	var s testsuite.WorkflowTestSuite
	act := s.NewTestActivityEnvironment()
	act.RegisterActivity(&activities.Activities{Store: st})
	portals, err := portaldef.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	act.RegisterActivity(&activities.Browser{Store: st, Driver: driver.New(testenv.Browser(t), driver.Config{Claims: st, Guard: st}), Portals: portals})
	return &env{st: st, sim: sim, act: act, data: data}
}

var (
	a *activities.Activities
	b *activities.Browser
)

func TestDraftAndSubmitAreIdempotent(t *testing.T) {
	e := setup(t)
	id := e.data.InvoiceIDs[1]
	inv, err := e.st.Invoice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var first, second activities.DraftResult
	v, err := e.act.ExecuteActivity(b.SaveDraft, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&first); err != nil || first.Reused || first.Invoice.Status != portal.StatusDraft || !first.Invoice.Total.Equal(inv.Total) {
		t.Fatalf("first draft %+v %v", first, err)
	}
	// A retry (or a worker that died after saving) finds the draft instead of making another.
	v, err = e.act.ExecuteActivity(b.SaveDraft, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&second); err != nil || !second.Reused || second.Invoice.PortalID != first.Invoice.PortalID {
		t.Fatalf("second draft %+v %v", second, err)
	}
	if n := e.sim.CountEvents("draft_created", inv.Number); n != 1 {
		t.Fatalf("%d drafts in the portal", n)
	}
	for range 2 {
		v, err := e.act.ExecuteActivity(b.SubmitInvoice, id)
		if err != nil {
			t.Fatal(err)
		}
		var got portal.Invoice
		if err := v.Get(&got); err != nil || got.Status != portal.StatusWithBuyer {
			t.Fatalf("submit %+v %v", got, err)
		}
	}
	if n := e.sim.CountEvents("submitted", inv.Number); n != 1 {
		t.Fatalf("%d submissions in the portal", n)
	}
	v, err = e.act.ExecuteActivity(b.CheckStatus, id)
	if err != nil {
		t.Fatal(err)
	}
	var st portal.Invoice
	if err := v.Get(&st); err != nil || st.PortalStatus != "Pending Approval" {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestMatchFetchesAnUnsyncedPO(t *testing.T) {
	e := setup(t)
	id := e.data.InvoiceIDs[0]
	var m activities.MatchResult
	v, err := e.act.ExecuteActivity(a.MatchPO, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&m); err != nil || m.Matched || !strings.Contains(m.Reason, "not among the POs synced") {
		t.Fatalf("before sync: %+v %v", m, err)
	}
	v, err = e.act.ExecuteActivity(b.FetchPurchaseOrder, demo.AccountID, "PO-4500012")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := v.Get(&found); err != nil || !found {
		t.Fatalf("fetch: %v %v", found, err)
	}
	v, err = e.act.ExecuteActivity(a.MatchPO, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&m); err != nil || !m.Matched || !m.Remaining.Equal(decimal.RequireFromString("2650")) {
		t.Fatalf("after fetch: %+v %v", m, err)
	}
	v, err = e.act.ExecuteActivity(b.FetchPurchaseOrder, demo.AccountID, "PO-0000000")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&found); err != nil || found {
		t.Fatalf("unknown PO found: %v %v", found, err)
	}
}

func TestMalformedERPInvoiceNamesTheField(t *testing.T) {
	e := setup(t)
	if _, err := e.st.Pool().Exec(context.Background(), `UPDATE erp_invoices SET currency = 'XYZ', total = 10.005 WHERE id = $1`, e.data.InvoiceIDs[2]); err != nil {
		t.Fatal(err)
	}
	_, err := e.act.ExecuteActivity(a.LoadInvoice, e.data.InvoiceIDs[2])
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeInvalidInvoice || !appErr.NonRetryable() {
		t.Fatalf("want non-retryable InvalidInvoice, got %v", err)
	}
	if !strings.Contains(err.Error(), `currency "XYZ"`) {
		t.Fatalf("error does not name the field: %v", err)
	}
	_, err = e.act.ExecuteActivity(a.LoadInvoice, "no-such-invoice")
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeInvoiceNotFound {
		t.Fatalf("missing invoice: %v", err)
	}
}

func TestWrongPasswordEndsNonRetryable(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	acct, err := e.st.PortalAccount(ctx, demo.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.st.Credentials(ctx, demo.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpsertPortalAccount(context.Background(), acct, "not-the-password", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	_, err = e.act.ExecuteActivity(b.CheckStatus, e.data.InvoiceIDs[0])
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypePortalLogin || !appErr.NonRetryable() {
		t.Fatalf("want non-retryable PortalLoginFailed, got %v", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Fatal("the password is in the error")
	}

	// Another worker process (its own driver, nothing in memory) does not try the refused password again:
	// the refusal is remembered in PostgreSQL, so the portal sees one failed login, not one per worker.
	var s testsuite.WorkflowTestSuite
	other := s.NewTestActivityEnvironment()
	portals, _ := portaldef.NewRegistry("")
	other.RegisterActivity(&activities.Browser{Store: e.st, Driver: driver.New(testenv.Browser(t), driver.Config{Claims: e.st, Guard: e.st}), Portals: portals})
	_, err = other.ExecuteActivity(b.CheckStatus, e.data.InvoiceIDs[0])
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypePortalLogin || !strings.Contains(err.Error(), "not tried again") {
		t.Fatalf("second worker: %v", err)
	}
	if n := e.sim.CountEvents("login_failed", ""); n != 1 {
		t.Fatalf("%d failed logins at the portal, want 1", n)
	}
	// Updating the credentials lifts the block.
	if err := e.st.UpsertPortalAccount(ctx, acct, good.Password, good.TOTPSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecuteActivity(b.FetchPurchaseOrder, demo.AccountID, "PO-4500012"); err != nil {
		t.Fatalf("after the fix: %v", err)
	}
}
