package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxChannel is the channel erp_outbox's trigger notifies with the new row's id.
const OutboxChannel = "portico_erp_outbox"

// OutboxRow is a pending erp_outbox row, as a dispatcher claims it.
type OutboxRow struct {
	ID        int64
	InvoiceID string
	// Payload is the InvoiceRequest JSON to take in, or nil when the ERP wrote the invoice itself.
	Payload   []byte
	Attempts  int
	CreatedAt time.Time
}

// OutboxEntry is a whole erp_outbox row, for the ERP's view of what became of it and for tests.
type OutboxEntry struct {
	OutboxRow
	ProcessedAt   time.Time // zero while pending
	WorkflowID    string
	RunID         string
	Error         string
	NextAttemptAt time.Time
}

// Pending reports whether the row still waits to be processed.
func (e OutboxEntry) Pending() bool { return e.ProcessedAt.IsZero() }

// OutboxBatch is a set of claimed outbox rows and the transaction that holds their row locks. Other
// dispatchers skip locked rows, so a row is worked on by one of them at a time; the outcome written through
// the batch becomes visible, and the rows unlocked, at Commit. Rolling back (or losing the connection)
// leaves the rows pending, to be claimed again.
type OutboxBatch struct {
	tx   pgx.Tx
	Rows []OutboxRow
	// ClaimedAt is the database time the rows were claimed at: rows due by then were either claimed or
	// held by another dispatcher (see NextOutboxAttempt).
	ClaimedAt time.Time
}

// ClaimOutbox locks up to limit pending rows that are due (by the database clock, which every worker
// shares), oldest first, skipping rows another dispatcher holds. The caller must Commit or Rollback.
func (s *Store) ClaimOutbox(ctx context.Context, limit int) (*OutboxBatch, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox rows: %w", err)
	}
	var at time.Time
	if err = tx.QueryRow(ctx, `SELECT now()`).Scan(&at); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: claim outbox rows: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT id, invoice_id, payload, attempts, created_at FROM erp_outbox
		WHERE processed_at IS NULL AND next_attempt_at <= now()
		ORDER BY next_attempt_at, id
		LIMIT $1
		FOR UPDATE SKIP LOCKED`, limit)
	if err == nil {
		var claimed []OutboxRow
		claimed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxRow, error) {
			var o OutboxRow
			return o, r.Scan(&o.ID, &o.InvoiceID, &o.Payload, &o.Attempts, &o.CreatedAt)
		})
		if err == nil {
			return &OutboxBatch{tx: tx, Rows: claimed, ClaimedAt: at}, nil
		}
	}
	_ = tx.Rollback(context.WithoutCancel(ctx))
	return nil, fmt.Errorf("store: claim outbox rows: %w", err)
}

// Done marks a claimed row processed by the workflow run, clearing the error of earlier attempts. It returns
// how long the row waited since it was inserted, by the database clock.
func (b *OutboxBatch) Done(ctx context.Context, id int64, workflowID, runID string) (time.Duration, error) {
	var micros int64
	err := b.tx.QueryRow(ctx, `
		UPDATE erp_outbox SET processed_at = clock_timestamp(), workflow_id = $2, run_id = $3, error = NULL
		WHERE id = $1
		RETURNING `+microsSince("created_at"), id, workflowID, runID).Scan(&micros)
	if err != nil {
		return 0, fmt.Errorf("store: outbox row %d: %w", id, err)
	}
	return time.Duration(micros) * time.Microsecond, nil
}

// DeadLetter marks a claimed row processed without a workflow: its payload or invoice can never be taken
// in as it is, so retrying it would only repeat the refusal. reason is what the ERP reads in the error column.
func (b *OutboxBatch) DeadLetter(ctx context.Context, id int64, reason string) error {
	_, err := b.tx.Exec(ctx, `UPDATE erp_outbox SET processed_at = clock_timestamp(), error = $2 WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("store: outbox row %d: %w", id, err)
	}
	return nil
}

// Retry leaves a claimed row pending, counts the attempt, records why it failed and makes it due again after
// the given delay (from the database clock). It returns the attempts so far.
func (b *OutboxBatch) Retry(ctx context.Context, id int64, reason string, after time.Duration) (int, error) {
	var attempts int
	err := b.tx.QueryRow(ctx, `
		UPDATE erp_outbox SET attempts = attempts + 1, error = $2,
			next_attempt_at = clock_timestamp() + make_interval(secs => $3)
		WHERE id = $1
		RETURNING attempts`, id, reason, after.Seconds()).Scan(&attempts)
	if err != nil {
		return 0, fmt.Errorf("store: outbox row %d: %w", id, err)
	}
	return attempts, nil
}

// Commit writes the outcomes and releases the rows.
func (b *OutboxBatch) Commit(ctx context.Context) error {
	if err := b.tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit outbox rows: %w", err)
	}
	return nil
}

// Rollback releases the rows unchanged; after Commit it does nothing.
func (b *OutboxBatch) Rollback(ctx context.Context) error {
	err := b.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// NextOutboxAttempt returns how long until the earliest pending row falls due that was not yet due at
// after (zero or less: it is due now), and false when there is none. Rows due by after are left out: a
// dispatcher passes its last ClaimedAt, and the rows due then that it did not get are another dispatcher's,
// which it must not poll for while that one works on them.
func (s *Store) NextOutboxAttempt(ctx context.Context, after time.Time) (time.Duration, bool, error) {
	var micros *int64
	err := s.pool.QueryRow(ctx, `SELECT -`+microsSince("min(next_attempt_at)")+`
		FROM erp_outbox WHERE processed_at IS NULL AND next_attempt_at > $1`, after).Scan(&micros)
	if err != nil {
		return 0, false, fmt.Errorf("store: next outbox attempt: %w", err)
	}
	if micros == nil {
		return 0, false, nil
	}
	return time.Duration(*micros) * time.Microsecond, true, nil
}

// microsSince is the SQL for the whole microseconds from the timestamp expression t to now.
func microsSince(t string) string {
	return "(extract(epoch FROM clock_timestamp() - " + t + ") * 1000000)::bigint"
}

// InsertOutbox inserts an outbox row as an ERP does (payload nil: the invoice is already in erp_invoices),
// and returns its id.
func (s *Store) InsertOutbox(ctx context.Context, invoiceID string, payload []byte) (int64, error) {
	var id int64
	var p any
	if payload != nil {
		// As text, so PostgreSQL parses it as jsonb and the numbers keep their digits.
		p = string(payload)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO erp_outbox (invoice_id, payload) VALUES ($1, $2::jsonb) RETURNING id`, invoiceID, p).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: insert outbox row: %w", err)
	}
	return id, nil
}

// OutboxEntry returns one outbox row, processed or not.
func (s *Store) OutboxEntry(ctx context.Context, id int64) (OutboxEntry, error) {
	var e OutboxEntry
	var processed *time.Time
	var workflowID, runID, reason *string
	err := s.pool.QueryRow(ctx, `
		SELECT id, invoice_id, payload, attempts, created_at, processed_at, workflow_id, run_id, error, next_attempt_at
		FROM erp_outbox WHERE id = $1`, id).
		Scan(&e.ID, &e.InvoiceID, &e.Payload, &e.Attempts, &e.CreatedAt, &processed, &workflowID, &runID, &reason, &e.NextAttemptAt)
	if err != nil {
		return e, notFound(err, "outbox row "+strconv.FormatInt(id, 10))
	}
	if processed != nil {
		e.ProcessedAt = *processed
	}
	e.WorkflowID, e.RunID, e.Error = deref(workflowID), deref(runID), deref(reason)
	return e, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OutboxListener is a connection that LISTENs on OutboxChannel. It is taken out of the pool for good, since
// a pooled connection would be handed to other queries and its LISTEN lost when the pool recycles it.
type OutboxListener struct {
	conn *pgx.Conn
}

// ListenOutbox opens a connection that LISTENs on OutboxChannel. Notifications sent before it returns are
// not delivered: scan the table after it returns to catch up on them.
func (s *Store) ListenOutbox(ctx context.Context) (*OutboxListener, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: listen on %s: %w", OutboxChannel, err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: listen on %s: %w", OutboxChannel, err)
	}
	return &OutboxListener{conn: conn}, nil
}

// Wait blocks until a notification arrives and returns the outbox id it carries (0 if it is not a number).
// When ctx's deadline passes first it returns an error that is context.DeadlineExceeded, and the connection
// stays usable; any other error means the connection is lost.
func (l *OutboxListener) Wait(ctx context.Context) (int64, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return 0, err
	}
	id, _ := strconv.ParseInt(n.Payload, 10, 64)
	return id, nil
}

// Ping checks that the connection still reaches the server: a connection whose peer vanished without
// closing it would otherwise wait for a notification for ever.
func (l *OutboxListener) Ping(ctx context.Context) error { return l.conn.Ping(ctx) }

// Close closes the connection, which ends the LISTEN.
func (l *OutboxListener) Close(ctx context.Context) error { return l.conn.Close(ctx) }
