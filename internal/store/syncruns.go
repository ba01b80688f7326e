package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"portico/internal/portal"
)

// A PO sync is a run (table po_sync_runs): BeginSyncRun starts it, StageSyncPage commits each list page the
// portal showed (COPY into the unlogged po_sync_staged) and moves the run's progress, and FinishSyncRun
// merges the whole run into purchase_orders in ONE transaction, so readers see all of a sync or none of it.
// A sync that dies half-way is picked up by ResumeSyncRun and continues at PagesDone+1.

// Sync modes.
const (
	SyncFull    = "full"    // every PO, the portal's whole list
	SyncChanged = "changed" // only the POs the portal says changed since SyncRun.Since
)

// Sync run statuses.
const (
	SyncRunning   = "running"
	SyncFinished  = "finished"
	SyncAbandoned = "abandoned" // a newer run of the account started while it was unfinished
)

// ErrSyncRunGone is returned when a sync run that was being staged was abandoned or finished meanwhile.
var ErrSyncRunGone = errors.New("sync run is no longer running")

// SyncRun is one sync of an account's POs and its progress.
type SyncRun struct {
	ID          string
	AccountID   string
	TemporalKey string
	Mode        string
	Since       time.Time // SyncChanged: POs changed since then
	Status      string
	StartedAt   time.Time
	UpdatedAt   time.Time
	PagesDone   int
	RowsDone    int
	DetailsRead int // PO pages read for their lines
	FinishedAt  time.Time
	Changed     int // POs new or changed by the merge (finished runs)
}

const syncRunCols = `run_id::text, account_id, temporal_key, mode, since, status, started_at, updated_at, pages_done, rows_done, details_read, finished_at, coalesce(changed, 0)`

func scanSyncRun(row pgx.Row) (SyncRun, error) {
	var r SyncRun
	var since, finished pgtype.Timestamptz
	err := row.Scan(&r.ID, &r.AccountID, &r.TemporalKey, &r.Mode, &since, &r.Status, &r.StartedAt, &r.UpdatedAt,
		&r.PagesDone, &r.RowsDone, &r.DetailsRead, &finished, &r.Changed)
	r.Since, r.FinishedAt = since.Time, finished.Time
	return r, err
}

// BeginSyncRun starts a sync run of the account. Any other unfinished run of the account is abandoned and its
// staged rows deleted: syncs of one account never run side by side (the schedule buffers overlaps), so an
// unfinished one is dead. key is the Temporal identity of the activity (see ResumeSyncRun).
func (s *Store) BeginSyncRun(ctx context.Context, accountID, key, mode string, since time.Time) (SyncRun, error) {
	if mode != SyncFull && mode != SyncChanged {
		return SyncRun{}, fmt.Errorf("sync mode %q", mode)
	}
	if mode == SyncChanged && since.IsZero() {
		return SyncRun{}, errors.New("a changed-only sync needs a since time")
	}
	var run SyncRun
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := abandonRuns(ctx, tx, accountID); err != nil {
			return err
		}
		var err error
		run, err = scanSyncRun(tx.QueryRow(ctx, `
			INSERT INTO po_sync_runs (account_id, temporal_key, mode, since) VALUES ($1, $2, $3, $4)
			RETURNING `+syncRunCols, accountID, key, mode, nullTime(since)))
		return err
	})
	return run, err
}

func abandonRuns(ctx context.Context, tx pgx.Tx, accountID string) error {
	rows, err := tx.Query(ctx, `
		UPDATE po_sync_runs SET status = 'abandoned', updated_at = now()
		WHERE account_id = $1 AND status = 'running' RETURNING run_id`, accountID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.UUID])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteStaged(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

func deleteStaged(ctx context.Context, tx pgx.Tx, run pgtype.UUID) error {
	if _, err := tx.Exec(ctx, `DELETE FROM po_sync_staged WHERE run_id = $1`, run); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM po_sync_staged_lines WHERE run_id = $1`, run)
	return err
}

// ResumeSyncRun finds the run a retried sync activity continues: the run runID names (from the activity's
// heartbeat details), or else the running run started under the same Temporal key (the same activity, whose
// heartbeat did not reach Temporal). It reports false when there is none, or when it is abandoned; a finished
// run named by runID is returned as it is (the activity finished it but died before reporting). A running run
// whose staged rows were lost (a PostgreSQL crash empties unlogged tables) is started over: its progress goes
// back to 0.
func (s *Store) ResumeSyncRun(ctx context.Context, accountID, runID, key string) (SyncRun, bool, error) {
	var run SyncRun
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var row pgx.Row
		switch {
		case runID != "":
			var id pgtype.UUID
			if err := id.Scan(runID); err != nil {
				return nil // not a run id of ours: start a new run
			}
			row = tx.QueryRow(ctx, `SELECT `+syncRunCols+` FROM po_sync_runs WHERE run_id = $1 AND account_id = $2 FOR UPDATE`, id, accountID)
		case key != "":
			row = tx.QueryRow(ctx, `SELECT `+syncRunCols+` FROM po_sync_runs WHERE temporal_key = $1 AND account_id = $2
				AND status = 'running' FOR UPDATE`, key, accountID)
		default:
			return nil
		}
		var err error
		run, err = scanSyncRun(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		switch run.Status {
		case SyncAbandoned:
			return nil
		case SyncFinished:
			found = true
			return nil
		}
		found = true
		var staged int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM po_sync_staged WHERE run_id = $1::uuid`, run.ID).Scan(&staged); err != nil {
			return err
		}
		if staged == run.RowsDone {
			return nil
		}
		id := mustUUID(run.ID)
		if err := deleteStaged(ctx, tx, id); err != nil {
			return err
		}
		run, err = scanSyncRun(tx.QueryRow(ctx, `
			UPDATE po_sync_runs SET pages_done = 0, rows_done = 0, details_read = 0, updated_at = now()
			WHERE run_id = $1 RETURNING `+syncRunCols, id))
		return err
	})
	return run, found, err
}

// StageSyncPage commits one list page of a running sync: its POs (with the lines read for some of them;
// Lines nil keeps the stored lines) are COPYed into the staging tables and the run's progress moves to this
// page, in one transaction. Staging a page again (a retry that read it twice) replaces it and every page
// after it. The run's DetailsRead counts the POs that came with their lines.
func (s *Store) StageSyncPage(ctx context.Context, runID string, page int, pos []portal.PurchaseOrder) (SyncRun, error) {
	var run SyncRun
	id, err := parseUUID(runID)
	if err != nil {
		return run, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status string
		var done int
		if err := tx.QueryRow(ctx, `SELECT status, pages_done FROM po_sync_runs WHERE run_id = $1 FOR UPDATE`, id).Scan(&status, &done); err != nil {
			return notFound(err, "sync run "+runID)
		}
		if status != SyncRunning {
			return fmt.Errorf("sync run %s is %s: %w", runID, status, ErrSyncRunGone)
		}
		if page < 1 || page > done+1 {
			return fmt.Errorf("sync run %s: page %d staged after page %d", runID, page, done)
		}
		removed := int64(0)
		if page <= done {
			tag, err := tx.Exec(ctx, `DELETE FROM po_sync_staged WHERE run_id = $1 AND page >= $2`, id, page)
			if err != nil {
				return err
			}
			removed = tag.RowsAffected()
			if _, err := tx.Exec(ctx, `DELETE FROM po_sync_staged_lines WHERE run_id = $1 AND page >= $2`, id, page); err != nil {
				return err
			}
		}
		details, err := copyStaged(ctx, tx, pgx.Identifier{"po_sync_staged"}, pgx.Identifier{"po_sync_staged_lines"}, id, page, pos)
		if err != nil {
			return err
		}
		run, err = scanSyncRun(tx.QueryRow(ctx, `
			UPDATE po_sync_runs SET pages_done = $2, rows_done = rows_done - $3 + $4,
				details_read = CASE WHEN $2 = 1 THEN 0 ELSE details_read END + $5, updated_at = now()
			WHERE run_id = $1 RETURNING `+syncRunCols, id, page, removed, len(pos), details))
		return err
	})
	return run, err
}

// FinishSyncRun merges every staged page of the run into purchase_orders and purchase_order_lines and marks
// the run finished, in ONE transaction: readers see the whole sync at once. Finishing a finished run returns
// it unchanged.
func (s *Store) FinishSyncRun(ctx context.Context, runID string) (SyncRun, error) {
	var run SyncRun
	id, err := parseUUID(runID)
	if err != nil {
		return run, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		run, err = scanSyncRun(tx.QueryRow(ctx, `SELECT `+syncRunCols+` FROM po_sync_runs WHERE run_id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err, "sync run "+runID)
		}
		switch run.Status {
		case SyncFinished:
			return nil
		case SyncAbandoned:
			return fmt.Errorf("sync run %s is abandoned: %w", runID, ErrSyncRunGone)
		}
		changed := 0
		if run.RowsDone > 0 {
			if changed, err = mergeStaged(ctx, tx, run.AccountID, id, "po_sync_staged", "po_sync_staged_lines", run.DetailsRead > 0); err != nil {
				return err
			}
		}
		if err := deleteStaged(ctx, tx, id); err != nil {
			return err
		}
		run, err = scanSyncRun(tx.QueryRow(ctx, `
			UPDATE po_sync_runs SET status = 'finished', finished_at = now(), updated_at = now(), changed = $2
			WHERE run_id = $1 RETURNING `+syncRunCols, id, changed))
		return err
	})
	return run, err
}

// SyncRuns returns the account's latest sync runs, newest first, for people to see how syncs went.
func (s *Store) SyncRuns(ctx context.Context, accountID string, limit int) ([]SyncRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+syncRunCols+` FROM po_sync_runs WHERE account_id = $1 ORDER BY started_at DESC LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SyncRun, error) { return scanSyncRun(r) })
}

// LastSyncStarts returns when the account's last finished sync started, and its last finished full sync
// (zero if none). A changed-only sync asks the portal for what changed since the former.
func (s *Store) LastSyncStarts(ctx context.Context, accountID string) (last, lastFull time.Time, err error) {
	var l, f pgtype.Timestamptz
	err = s.pool.QueryRow(ctx, `
		SELECT max(started_at), max(started_at) FILTER (WHERE mode = 'full')
		FROM po_sync_runs WHERE account_id = $1 AND status = 'finished'`, accountID).Scan(&l, &f)
	return l.Time, f.Time, err
}

func parseUUID(s string) (pgtype.UUID, error) {
	var id pgtype.UUID
	if err := id.Scan(s); err != nil {
		return id, fmt.Errorf("sync run id %q: %w", s, err)
	}
	return id, nil
}

func mustUUID(s string) pgtype.UUID {
	id, err := parseUUID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
