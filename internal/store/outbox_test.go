package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"portico/internal/store"
	"portico/internal/testenv"
)

func insertOutbox(t *testing.T, st *store.Store, invoiceID string, payload []byte) int64 {
	t.Helper()
	id, err := st.InsertOutbox(ctx, invoiceID, payload)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func claimedIDs(b *store.OutboxBatch) []int64 {
	var ids []int64
	for _, r := range b.Rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestOutboxClaimSkipsLockedRows(t *testing.T) {
	st := testenv.Store(t)
	for _, inv := range []string{"a", "b", "c"} {
		insertOutbox(t, st, inv, nil)
	}
	first, err := st.ClaimOutbox(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx)
	second, err := st.ClaimOutbox(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Rollback(ctx)
	if a, b := claimedIDs(first), claimedIDs(second); len(a) != 2 || len(b) != 1 || b[0] == a[0] || b[0] == a[1] {
		t.Fatalf("claims %v and %v overlap", a, b)
	}

	// Rolled back, the rows are pending again, oldest first.
	if err := first.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := st.ClaimOutbox(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Rollback(ctx)
	if ids := claimedIDs(again); len(ids) != 2 || ids[0] != first.Rows[0].ID {
		t.Fatalf("after rollback: %v", ids)
	}
}

func TestOutboxOutcomes(t *testing.T) {
	st := testenv.Store(t)
	done := insertOutbox(t, st, "inv-done", []byte(`{"id": "inv-done", "total": 12.50}`))
	dead := insertOutbox(t, st, "inv-dead", nil)
	later := insertOutbox(t, st, "inv-later", nil)

	b, err := st.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rows) != 3 || string(b.Rows[0].Payload) != `{"id": "inv-done", "total": 12.50}` || b.Rows[1].Payload != nil {
		t.Fatalf("claimed %+v", b.Rows)
	}
	waited, err := b.Done(ctx, done, "invoice/inv-done", "run-1")
	if err != nil || waited < 0 || waited > time.Minute {
		t.Fatalf("done: %s, %v", waited, err)
	}
	if err := b.DeadLetter(ctx, dead, "po_number: is required"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Retry(ctx, later, "Temporal is unavailable", time.Hour); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	// Uncommitted, the outcomes are not visible.
	if e, _ := st.OutboxEntry(ctx, done); !e.Pending() {
		t.Fatal("an uncommitted outcome is visible")
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(ctx); err != nil {
		t.Fatalf("rollback after commit: %v", err)
	}

	e, _ := st.OutboxEntry(ctx, done)
	if e.Pending() || e.WorkflowID != "invoice/inv-done" || e.RunID != "run-1" || e.Error != "" || e.Attempts != 0 {
		t.Fatalf("done: %+v", e)
	}
	e, _ = st.OutboxEntry(ctx, dead)
	if e.Pending() || e.Error != "po_number: is required" || e.WorkflowID != "" {
		t.Fatalf("dead letter: %+v", e)
	}
	e, _ = st.OutboxEntry(ctx, later)
	if !e.Pending() || e.Attempts != 1 || e.Error != "Temporal is unavailable" || time.Until(e.NextAttemptAt) < 50*time.Minute {
		t.Fatalf("retry: %+v", e)
	}

	// Nothing is due now; the deferred row is due in about an hour.
	b, err = st.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rows) != 0 {
		t.Fatalf("claimed %+v", b.Rows)
	}
	_ = b.Rollback(ctx)
	in, ok, err := st.NextOutboxAttempt(ctx, b.ClaimedAt)
	if err != nil || !ok || in < 50*time.Minute || in > time.Hour {
		t.Fatalf("next attempt in %s, %v, %v", in, ok, err)
	}
	if _, err := st.OutboxEntry(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing row: %v", err)
	}
}

func TestOutboxNextAttemptLeavesOutRowsDueAtTheClaim(t *testing.T) {
	st := testenv.Store(t)
	if _, ok, err := st.NextOutboxAttempt(ctx, time.Now()); ok || err != nil {
		t.Fatalf("empty table: %v, %v", ok, err)
	}
	// Another dispatcher holds the only due row: nothing for this one to wait for.
	insertOutbox(t, st, "inv-held", nil)
	other, err := st.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	mine, err := st.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	_ = mine.Rollback(ctx)
	if len(mine.Rows) != 0 {
		t.Fatalf("claimed a held row: %+v", mine.Rows)
	}
	if in, ok, err := st.NextOutboxAttempt(ctx, mine.ClaimedAt); ok || err != nil {
		t.Fatalf("the held row counts as due in %s (%v)", in, err)
	}
	// A row that falls due after the claim does count.
	later := insertOutbox(t, st, "inv-later", nil)
	if _, err := st.Pool().Exec(ctx, `UPDATE erp_outbox SET next_attempt_at = now() + interval '1 minute' WHERE id = $1`, later); err != nil {
		t.Fatal(err)
	}
	if in, ok, err := st.NextOutboxAttempt(ctx, mine.ClaimedAt); !ok || err != nil || in < 50*time.Second || in > time.Minute {
		t.Fatalf("later row due in %s, %v, %v", in, ok, err)
	}
}

func TestOutboxInsertNotifies(t *testing.T) {
	st := testenv.Store(t)
	l, err := st.ListenOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)

	// An ERP's insert, in its own transaction: the notification comes with the commit.
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO erp_outbox (invoice_id) VALUES ('inv-1') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	early, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := l.Wait(early); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("notified before the commit: %v", err)
	}
	cancel()
	// The timed-out wait leaves the connection usable.
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := l.Wait(waitCtx)
	if err != nil || got != id {
		t.Fatalf("notification %d, %v; want %d", got, err, id)
	}
}
