// Package outbox starts the workflows of invoices an ERP hands over through the erp_outbox table
// (migration 009): an ERP that cannot call the HTTP API inserts a row, in the same transaction as its own
// change, and a Dispatcher takes the row's invoice in and starts its workflow, once.
//
// A Dispatcher keeps one connection LISTENing on store.OutboxChannel, so a row is picked up as soon as the
// ERP commits it, and also scans the table at start, after every reconnect and every ScanEvery, so rows
// whose notification was missed (no dispatcher running, the database restarted) are caught up. Any number
// of Dispatchers, in any number of processes, may share the table: rows are claimed with SELECT ... FOR
// UPDATE SKIP LOCKED, so each is worked on by one at a time, and the invoice's workflow ID makes a second
// start of the same invoice (a duplicate row, a crash before the row was marked) return the first run.
//
// To run one in a worker process, next to the Temporal client and the store:
//
//	d := outbox.New(st, c, log) // c made with codec.ClientOptions, like every Portico client
//	d.Limits, err = erp.LimitsFromEnv()
//	go func() {
//		if err := d.Run(ctx); err != nil {
//			log.Error("outbox dispatcher", "err", err)
//		}
//	}()
//
// Run returns when ctx ends; database and Temporal outages are waited out, never returned.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"portico/internal/erp"
	"portico/internal/store"
	"portico/workflows"
)

// Defaults of the Dispatcher's tunables.
const (
	// DefaultScanEvery bounds how long a row whose notification was lost waits: notifications do the
	// prompt work, the scan is only the safety net.
	DefaultScanEvery = 30 * time.Second
	// DefaultBatchSize keeps a claim transaction, which holds its rows' locks while their workflows are
	// started, to a fraction of a second when Temporal answers.
	DefaultBatchSize = 20
	// DefaultCallTimeout matches the HTTP API's bound on a call to Temporal.
	DefaultCallTimeout = 15 * time.Second
	// DefaultRetryMin is the first wait after a failure: long enough not to hammer, short enough that a
	// blip costs a second.
	DefaultRetryMin = time.Second
	// DefaultRetryMax caps the backoff, so a row is tried again within minutes of an outage ending.
	DefaultRetryMax = 5 * time.Minute
)

// Dispatcher takes in the invoices of erp_outbox rows and starts their workflows. Set Store and Client
// (New does), adjust the rest if needed, then call Run. A Dispatcher runs once at a time.
type Dispatcher struct {
	Store  *store.Store
	Client client.Client
	// Logger gets an info line per row processed (with the time from insert to workflow started), a warn
	// line per failed attempt and per dead letter; nil means slog.Default().
	Logger *slog.Logger
	// Poll is the polling policy of the workflows started; the zero value means the workflow's defaults.
	Poll workflows.PollPolicy
	// ScanEvery is how often the table is scanned besides notifications; zero means DefaultScanEvery.
	ScanEvery time.Duration
	// Limits bound the invoices taken in from payloads, as for the HTTP API.
	Limits erp.Limits
	// BatchSize is how many rows one transaction claims; zero means DefaultBatchSize. Smaller batches
	// spread a burst over more dispatchers; larger ones cost fewer transactions.
	BatchSize int
	// CallTimeout bounds the work on one row (the intake's queries and the start in Temporal), so an
	// unreachable Temporal delays the row, not the dispatcher; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts of a row that failed for a passing reason,
	// between reconnects of the LISTEN connection, and of the whole dispatcher after a failed pass; zero
	// means DefaultRetryMin and DefaultRetryMax.
	RetryMin time.Duration
	RetryMax time.Duration

	running sync.Mutex
}

// New returns a Dispatcher over the store and the Temporal client, with the defaults.
func New(st *store.Store, c client.Client, log *slog.Logger) *Dispatcher {
	return &Dispatcher{Store: st, Client: c, Logger: log}
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (d *Dispatcher) scanEvery() time.Duration   { return orDefault(d.ScanEvery, DefaultScanEvery) }
func (d *Dispatcher) batchSize() int             { return orDefault(d.BatchSize, DefaultBatchSize) }
func (d *Dispatcher) callTimeout() time.Duration { return orDefault(d.CallTimeout, DefaultCallTimeout) }
func (d *Dispatcher) retryMin() time.Duration    { return orDefault(d.RetryMin, DefaultRetryMin) }

func (d *Dispatcher) retryMax() time.Duration {
	return max(orDefault(d.RetryMax, DefaultRetryMax), d.retryMin())
}

// backoff is the wait before attempt n+1 after n failures: doubling from RetryMin up to RetryMax, with a
// tenth of jitter so that rows failed together (Temporal was down) do not all come back in the same instant.
func (d *Dispatcher) backoff(n int) time.Duration {
	wait := d.retryMin()
	for i := 1; i < n && wait < d.retryMax(); i++ {
		wait *= 2
	}
	wait = min(wait, d.retryMax())
	return wait + rand.N(wait/10+1)
}

// Run processes pending rows at start, on each notification, every ScanEvery and when a deferred row falls
// due, until ctx ends; then it returns nil. It returns an error only when the Dispatcher is not set up.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.Store == nil || d.Client == nil {
		return errors.New("outbox: the dispatcher needs a Store and a Client")
	}
	if !d.running.TryLock() {
		return errors.New("outbox: the dispatcher is already running")
	}
	defer d.running.Unlock()
	log := d.log()

	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { d.listen(ctx, wake) })
	defer wg.Wait()

	scan := time.NewTicker(d.scanEvery())
	defer scan.Stop()
	next := time.NewTimer(0) // the start-up scan
	defer next.Stop()
	log.Info("outbox dispatcher running", "scan_every", d.scanEvery().String(), "batch_size", d.batchSize())

	failures := 0
	var pausedUntil time.Time
	for {
		select {
		case <-ctx.Done():
			log.Info("outbox dispatcher stopped")
			return nil
		case <-wake:
		case <-scan.C:
		case <-next.C:
		}
		// After a failed pass, notifications and scans wait for the backoff: rows are safe in the table,
		// and hammering a database or Temporal that just failed helps neither.
		if time.Now().Before(pausedUntil) {
			continue
		}
		claimedAt, err := d.drain(ctx)
		if ctx.Err() != nil {
			continue
		}
		if err != nil {
			failures++
			wait := d.backoff(failures)
			pausedUntil = time.Now().Add(wait)
			next.Reset(wait)
			if !errors.Is(err, errDeferred) {
				log.Warn("outbox: pass failed; rows stay pending", "err", err, "retry_in", wait.String(), "failures", failures)
			}
			continue
		}
		failures = 0
		d.scheduleDue(ctx, next, claimedAt)
	}
}

// scheduleDue sets next to fire when the earliest deferred row falls due, if that is before the next scan.
func (d *Dispatcher) scheduleDue(ctx context.Context, next *time.Timer, claimedAt time.Time) {
	in, ok, err := d.Store.NextOutboxAttempt(ctx, claimedAt)
	if err != nil {
		if ctx.Err() == nil {
			d.log().Warn("outbox: could not read when the next row is due", "err", err)
		}
		return
	}
	if ok && in < d.scanEvery() {
		next.Reset(max(in, 10*time.Millisecond))
	}
}

// errDeferred ends a pass in which a row failed for a passing reason (already logged with the row): the
// rows after it would most likely fail the same way.
var errDeferred = errors.New("outbox: a row was deferred")

// drain processes due rows, batch after batch, until a batch comes back short. It returns when the last
// batch was claimed, by the database clock.
func (d *Dispatcher) drain(ctx context.Context) (time.Time, error) {
	for ctx.Err() == nil {
		n, at, err := d.pass(ctx)
		if err != nil || n < d.batchSize() {
			return at, err
		}
	}
	return time.Time{}, nil
}

// pass claims a batch, processes its rows and commits their outcomes. If the commit fails the rows stay
// pending and are processed again: taking in the same invoice twice is harmless (the second time finds it
// and its workflow), so a row can be processed more than once but starts its workflow once.
func (d *Dispatcher) pass(ctx context.Context) (int, time.Time, error) {
	b, err := d.Store.ClaimOutbox(ctx, d.batchSize())
	if err != nil {
		return 0, time.Time{}, err
	}
	defer func() { _ = b.Rollback(context.WithoutCancel(ctx)) }()
	var deferred bool
	for _, row := range b.Rows {
		if ctx.Err() != nil {
			return 0, b.ClaimedAt, ctx.Err()
		}
		if deferred, err = d.process(ctx, b, row); err != nil || deferred {
			break
		}
	}
	if err != nil {
		return 0, b.ClaimedAt, err
	}
	if err := b.Commit(ctx); err != nil {
		return 0, b.ClaimedAt, err
	}
	if deferred {
		return len(b.Rows), b.ClaimedAt, errDeferred
	}
	return len(b.Rows), b.ClaimedAt, nil
}

// process takes one claimed row in and writes its outcome into the batch. It reports whether the row was
// deferred (a passing failure); an error means the batch itself failed.
func (d *Dispatcher) process(ctx context.Context, b *store.OutboxBatch, row store.OutboxRow) (bool, error) {
	log := d.log().With("outbox_id", row.ID, "invoice_id", row.InvoiceID)
	callCtx, cancel := context.WithTimeout(ctx, d.callTimeout())
	started, err := d.takeIn(callCtx, row)
	cancel()
	if ctx.Err() != nil {
		// Stopping: the row stays as it was, for the next dispatcher.
		return false, ctx.Err()
	}
	if reason, final := permanent(err); final {
		if err := b.DeadLetter(ctx, row.ID, reason); err != nil {
			return false, err
		}
		log.Warn("outbox row refused; it will not be retried", "reason", reason)
		return false, nil
	}
	if err != nil {
		wait := d.backoff(row.Attempts + 1)
		attempts, uerr := b.Retry(ctx, row.ID, err.Error(), wait)
		if uerr != nil {
			return false, uerr
		}
		log.Warn("outbox row failed; retrying later", "err", err, "attempts", attempts, "retry_in", wait.String())
		return true, nil
	}
	waited, err := b.Done(ctx, row.ID, started.WorkflowID, started.RunID)
	if err != nil {
		return false, err
	}
	log.Info("outbox row processed", "workflow_id", started.WorkflowID, "run_id", started.RunID,
		"existing", started.Existing, "attempts", row.Attempts+1, "since_insert_ms", waited.Milliseconds())
	return false, nil
}

// takeIn intakes the row's payload, or starts the invoice the ERP wrote itself.
func (d *Dispatcher) takeIn(ctx context.Context, row store.OutboxRow) (erp.Started, error) {
	if row.Payload == nil {
		return erp.StartInvoice(ctx, d.Client, d.Store, row.InvoiceID, d.Poll)
	}
	var req erp.InvoiceRequest
	if err := json.Unmarshal(row.Payload, &req); err != nil {
		// jsonb always holds JSON; this is a payload that is not an object of any kind.
		return erp.Started{}, &erp.ValidationError{InvoiceID: row.InvoiceID, Malformed: true,
			Problems: []*erp.FieldError{{Reason: "the payload is not an invoice: " + err.Error()}}}
	}
	// The row names its invoice; the payload need not repeat it, and must not contradict it.
	switch req.ID {
	case "":
		req.ID = row.InvoiceID
	case row.InvoiceID:
	default:
		return erp.Started{}, &erp.ValidationError{InvoiceID: row.InvoiceID, Problems: []*erp.FieldError{{Field: "id",
			Reason: fmt.Sprintf("is %q, but the outbox row is for invoice %q", req.ID, row.InvoiceID)}}}
	}
	return d.Limits.Intake(ctx, d.Store, d.Client, req, d.Poll)
}

// permanent tells the failures that another attempt cannot cure, with the reason the ERP reads: the payload
// is refused, conflicts with the invoice taken in before, or names an invoice the ERP never wrote.
func permanent(err error) (string, bool) {
	var invalid *erp.ValidationError
	var conflict *erp.ConflictError
	switch {
	case err == nil:
		return "", false
	case errors.As(err, &invalid), errors.As(err, &conflict):
		return err.Error(), true
	case errors.Is(err, store.ErrNotFound):
		return "invoice_id: erp_invoices has no such invoice; write the invoice before its outbox row (or in the same transaction), or send it as the payload", true
	}
	return "", false
}

// listen keeps a LISTEN connection open until ctx ends, waking the dispatcher on each notification and
// after each (re)connect, since notifications sent while it was not listening are lost.
func (d *Dispatcher) listen(ctx context.Context, wake chan<- struct{}) {
	log := d.log()
	signal := func() {
		select {
		case wake <- struct{}{}:
		default: // a wake-up is already pending; one pass serves both
		}
	}
	failures := 0
	connected := false
	for ctx.Err() == nil {
		l, err := d.Store.ListenOutbox(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait := d.backoff(failures)
			log.Warn("outbox: cannot LISTEN; retrying", "err", err, "retry_in", wait.String(), "failures", failures)
			sleep(ctx, wait)
			continue
		}
		if connected {
			log.Info("outbox: LISTEN connection restored", "after_failures", failures)
		} else {
			log.Debug("outbox: listening", "channel", store.OutboxChannel)
		}
		connected, failures = true, 0
		signal()
		err = d.wait(ctx, l, signal)
		_ = l.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return
		}
		log.Warn("outbox: lost the LISTEN connection; reconnecting", "err", err)
	}
}

// wait relays notifications until the connection fails. Every ScanEvery without one it pings the server: a
// connection whose server vanished without closing it would otherwise wait in silence for ever.
func (d *Dispatcher) wait(ctx context.Context, l *store.OutboxListener, signal func()) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, d.scanEvery())
		id, err := l.Wait(waitCtx)
		cancel()
		switch {
		case err == nil:
			d.log().Debug("outbox: notified", "outbox_id", id)
			signal()
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, d.callTimeout())
			err := l.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
