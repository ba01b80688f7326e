package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"portico/internal/portal"
	"portico/internal/store"
	"portico/internal/testenv"
)

func testPO(n int, status string, lines ...portal.POLine) portal.PurchaseOrder {
	return portal.PurchaseOrder{
		Number: fmt.Sprintf("PO-%04d", n), BuyerEntity: "Acme Corp", OrderDate: time.Date(2026, 1, n%28+1, 0, 0, 0, 0, time.UTC), Currency: "EUR",
		Total: dec("100.50"), Invoiced: dec("0"), Remaining: dec("100.50"), Status: status, PaymentTerms: "Net 30", Lines: lines,
	}
}

func line(no int, qty, price string) portal.POLine {
	return portal.POLine{LineNo: no, PartNumber: fmt.Sprintf("P-%d", no), Description: "Part", Quantity: dec(qty), UOM: "EA", UnitPrice: dec(price)}
}

// rowVersions returns the xmin (the writing transaction) of every PO and line of the account: a rewrite of an
// unchanged row changes it.
func rowVersions(t *testing.T, st *store.Store, account string) map[string]string {
	t.Helper()
	rows, err := st.Pool().Query(ctx, `
		SELECT 'po ' || po_number, xmin::text FROM purchase_orders WHERE account_id = $1
		UNION ALL SELECT 'line ' || po_number || '/' || line_no, xmin::text FROM purchase_order_lines WHERE account_id = $1`, account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

func rewritten(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if before[k] != v {
			out = append(out, k)
		}
	}
	return out
}

// TestBulkIngestDedupsSkipsUnchangedAndKeepsClosedPOs: one COPY and one merge per batch; within a batch the
// last copy of a PO wins; an unchanged PO or line is not rewritten; lines are replaced only for POs whose
// lines came with the batch, and only where they differ; POs missing from a batch (closed, cancelled) stay.
func TestBulkIngestDedupsSkipsUnchangedAndKeepsClosedPOs(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	const acct = "acme-coupa"
	first := testPO(1, "Open", line(1, "10", "1.0001"), line(2, "5", "20"))
	second := first
	second.Status, second.Invoiced, second.Remaining = "Partially Invoiced", dec("50"), dec("50.50")
	batch := []portal.PurchaseOrder{first, testPO(2, "Closed", line(1, "1", "100.50")), testPO(3, "Cancelled", line(1, "1", "100.50")), second}
	n, err := st.UpsertPurchaseOrders(ctx, acct, batch)
	if err != nil || n != 3 {
		t.Fatalf("first batch: %d changed, %v (want 3: PO-0001 listed twice counts once)", n, err)
	}
	got, err := st.PurchaseOrder(ctx, acct, "PO-0001")
	if err != nil || got.Status != "Partially Invoiced" || !got.Remaining.Equal(dec("50.50")) || len(got.Lines) != 2 || !got.Lines[0].UnitPrice.Equal(dec("1.0001")) {
		t.Fatalf("the last copy of PO-0001 must win: %+v %v", got, err)
	}
	before := rowVersions(t, st, acct)
	if n, err := st.UpsertPurchaseOrders(ctx, acct, batch); err != nil || n != 0 {
		t.Fatalf("same batch again: %d changed, %v", n, err)
	}
	if w := rewritten(before, rowVersions(t, st, acct)); len(w) != 0 {
		t.Fatalf("unchanged rows were rewritten: %v", w)
	}

	// Header only (Lines nil) keeps the lines; the closed and cancelled POs, absent from this batch, stay.
	headerOnly := second
	headerOnly.Lines = nil
	headerOnly.PaymentTerms = "Net 45"
	if n, err := st.UpsertPurchaseOrders(ctx, acct, []portal.PurchaseOrder{headerOnly}); err != nil || n != 1 {
		t.Fatalf("header change: %d %v", n, err)
	}
	if got, _ := st.PurchaseOrder(ctx, acct, "PO-0001"); len(got.Lines) != 2 || got.PaymentTerms != "Net 45" {
		t.Fatalf("header-only ingest lost the lines: %+v", got)
	}
	for _, num := range []string{"PO-0002", "PO-0003"} {
		if got, err := st.PurchaseOrder(ctx, acct, num); err != nil || len(got.Lines) != 1 {
			t.Fatalf("%s: %+v %v", num, got, err)
		}
	}

	// Only the lines changed: line 2 re-priced, line 3 added; line 1 is not rewritten. Then line 3 removed.
	before = rowVersions(t, st, acct)
	linesChanged := headerOnly
	linesChanged.Lines = []portal.POLine{line(1, "10", "1.0001"), line(2, "5", "21"), line(3, "1", "1")}
	if n, err := st.UpsertPurchaseOrders(ctx, acct, []portal.PurchaseOrder{linesChanged}); err != nil || n != 1 {
		t.Fatalf("lines change: %d %v", n, err)
	}
	w := rewritten(before, rowVersions(t, st, acct))
	if len(w) != 3 || before["line PO-0001/1"] == "" {
		t.Fatalf("rewritten %v, want line 2, line 3 and the PO's synced_at", w)
	}
	linesChanged.Lines = linesChanged.Lines[:2]
	if n, err := st.UpsertPurchaseOrders(ctx, acct, []portal.PurchaseOrder{linesChanged}); err != nil || n != 1 {
		t.Fatalf("line removed: %d %v", n, err)
	}
	if got, _ := st.PurchaseOrder(ctx, acct, "PO-0001"); len(got.Lines) != 2 || !got.Lines[1].UnitPrice.Equal(dec("21")) {
		t.Fatalf("lines %+v", got.Lines)
	}
	if n, _ := st.CountPurchaseOrders(ctx, acct); n != 3 {
		t.Fatalf("%d POs", n)
	}
}

// TestSyncRunIsInvisibleUntilFinishedAndResumes: staged pages are committed but not visible; a resumed run
// goes on from its last page; finishing merges everything in one transaction; a second identical run changes
// nothing.
func TestSyncRunIsInvisibleUntilFinishedAndResumes(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	const acct = "acme-coupa"
	if _, err := st.UpsertPurchaseOrders(ctx, acct, []portal.PurchaseOrder{testPO(1, "Open", line(1, "1", "100.50"))}); err != nil {
		t.Fatal(err)
	}
	pages := [][]portal.PurchaseOrder{
		{testPO(1, "Open", line(1, "1", "100.50")), testPO(2, "Open", line(1, "1", "100.50"))},
		{testPO(3, "Closed", line(1, "1", "100.50")), testPO(4, "Cancelled", line(1, "1", "100.50"))},
		{testPO(5, "Open", line(1, "1", "100.50"))},
	}
	run, err := st.BeginSyncRun(ctx, acct, "wf/run/5", store.SyncFull, time.Time{})
	if err != nil || run.Status != store.SyncRunning || run.PagesDone != 0 {
		t.Fatalf("begin: %+v %v", run, err)
	}
	for i, p := range pages[:2] {
		if run, err = st.StageSyncPage(ctx, run.ID, i+1, p); err != nil {
			t.Fatal(err)
		}
	}
	if run.PagesDone != 2 || run.RowsDone != 4 || run.DetailsRead != 4 {
		t.Fatalf("after 2 pages: %+v", run)
	}
	if n, _ := st.CountPurchaseOrders(ctx, acct); n != 1 {
		t.Fatalf("staged pages are visible: %d POs", n)
	}
	// The retry finds the run by its id (heartbeat) or by the activity's identity.
	for _, by := range [][2]string{{run.ID, ""}, {"", "wf/run/5"}} {
		got, found, err := st.ResumeSyncRun(ctx, acct, by[0], by[1])
		if err != nil || !found || got.ID != run.ID || got.PagesDone != 2 || got.RowsDone != 4 {
			t.Fatalf("resume by %v: %+v %v %v", by, got, found, err)
		}
	}
	if _, err := st.StageSyncPage(ctx, run.ID, 4, pages[2]); err == nil {
		t.Fatal("a page after a gap was staged")
	}
	// Staging a page again replaces it (a retry that read page 2 twice).
	if run, err = st.StageSyncPage(ctx, run.ID, 2, pages[1]); err != nil || run.RowsDone != 4 {
		t.Fatalf("page 2 again: %+v %v", run, err)
	}
	if run, err = st.StageSyncPage(ctx, run.ID, 3, pages[2]); err != nil {
		t.Fatal(err)
	}
	run, err = st.FinishSyncRun(ctx, run.ID)
	if err != nil || run.Status != store.SyncFinished || run.Changed != 4 || run.FinishedAt.IsZero() {
		t.Fatalf("finish: %+v %v (want 4 changed: PO-0001 was there already)", run, err)
	}
	if n, _ := st.CountPurchaseOrders(ctx, acct); n != 5 {
		t.Fatalf("%d POs after the merge", n)
	}
	if again, err := st.FinishSyncRun(ctx, run.ID); err != nil || again.Changed != 4 {
		t.Fatalf("finishing twice: %+v %v", again, err)
	}
	var staged int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM po_sync_staged) + (SELECT count(*) FROM po_sync_staged_lines)`).Scan(&staged); err != nil || staged != 0 {
		t.Fatalf("%d staged rows left, %v", staged, err)
	}
	last, lastFull, err := st.LastSyncStarts(ctx, acct)
	if err != nil || !last.Equal(run.StartedAt) || !lastFull.Equal(run.StartedAt) {
		t.Fatalf("last sync starts %v %v %v", last, lastFull, err)
	}

	// The same data again: nothing changes, nothing is rewritten.
	before := rowVersions(t, st, acct)
	run2, err := st.BeginSyncRun(ctx, acct, "wf/run2/5", store.SyncChanged, run.StartedAt)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pages {
		if _, err := st.StageSyncPage(ctx, run2.ID, i+1, p); err != nil {
			t.Fatal(err)
		}
	}
	if run2, err = st.FinishSyncRun(ctx, run2.ID); err != nil || run2.Changed != 0 || run2.Mode != store.SyncChanged {
		t.Fatalf("identical run: %+v %v", run2, err)
	}
	if w := rewritten(before, rowVersions(t, st, acct)); len(w) != 0 {
		t.Fatalf("an identical run rewrote %v", w)
	}

	// A new run abandons an unfinished one; its staged rows go.
	dead, err := st.BeginSyncRun(ctx, acct, "wf/run3/5", store.SyncFull, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StageSyncPage(ctx, dead.ID, 1, pages[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.BeginSyncRun(ctx, acct, "wf/run4/5", store.SyncFull, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, found, err := st.ResumeSyncRun(ctx, acct, dead.ID, ""); err != nil || found {
		t.Fatalf("an abandoned run was resumed: %v %v", found, err)
	}
	if _, err := st.StageSyncPage(ctx, dead.ID, 2, pages[1]); !errors.Is(err, store.ErrSyncRunGone) {
		t.Fatalf("staging into an abandoned run: %v", err)
	}
	runs, err := st.SyncRuns(ctx, acct, 10)
	if err != nil || len(runs) != 4 || runs[1].Status != store.SyncAbandoned || runs[0].Status != store.SyncRunning {
		t.Fatalf("runs %+v %v", runs, err)
	}
}

// TestResumeStartsOverWhenStagedRowsWereLost: the staging tables are unlogged; after a PostgreSQL crash they
// are empty and a resumed run starts again at page 1 instead of merging half a sync.
func TestResumeStartsOverWhenStagedRowsWereLost(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	run, err := st.BeginSyncRun(ctx, "acme-coupa", "k", store.SyncFull, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StageSyncPage(ctx, run.ID, 1, []portal.PurchaseOrder{testPO(1, "Open")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `TRUNCATE po_sync_staged, po_sync_staged_lines`); err != nil {
		t.Fatal(err)
	}
	got, found, err := st.ResumeSyncRun(ctx, "acme-coupa", run.ID, "")
	if err != nil || !found || got.PagesDone != 0 || got.RowsDone != 0 || got.Status != store.SyncRunning {
		t.Fatalf("resume after lost staging: %+v %v %v", got, found, err)
	}
}
