package service_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"portico/activities"
	"portico/internal/benchenv"
	"portico/internal/codec"
	"portico/internal/config"
	"portico/internal/devstack"
	"portico/internal/erp"
	"portico/internal/metrics"
	"portico/internal/portal"
	"portico/internal/service"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
	"portico/workflows"
)

// TestMain starts PostgreSQL only when benchmarks run: the package has no tests that need it (a test added
// here that does should drop the condition).
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(testenv.RunWithPostgres(m))
}

// BenchmarkIdleWorkflows measures what parked invoice workflows cost the worker that holds them: the
// memory of a real in-process worker (service.RunWorker, role workflows: the invoice workflow, the
// PostgreSQL activities against a real database, the ERP outbox) on a real Temporal dev server, with
// PORTICO_BENCH_WORKFLOWS invoice workflows (default 10,000) parked, against the same worker with none (the
// baseline, measured in the same run just before the workflows start):
//
//   - waiting: every invoice drafted and waiting for an approver (its reminder and escalation timers
//     pending, the approval signal and Update listened for);
//   - polling: the same invoices, then approved by signal, submitted and sleeping on the timer before
//     their next status read (PollPolicy First = 6 h, so none wakes while it is measured).
//
// The portal side is a stub (a worker on the browser task queue answering SaveDraft, SubmitInvoice and
// CheckStatus at once): drafting 10,000 invoices in Chromium against the simulator would take hours and
// measure the browser, which runs in browser workers of its own in production (role browser), not the
// worker holding the workflows. Everything else is real: each invoice is an ERP row in PostgreSQL with a
// synced PO, loaded, matched, checked and written back by the real activities.
//
// Reported for each: heap in use and RSS after a forced GC (debug.FreeOSMemory; the median of three
// samples a second apart) with N workflows (heap_B, rss_B) and with none (heap0_B, rss0_B), their ratios
// and the bytes per workflow; goroutines; the SDK's sticky cache size (10,000 by default: beyond it parked
// workflows are evicted and replayed when they wake, so the worker's memory stops growing); the dev
// server's RSS (another process, for sizing Temporal); and how long getting there took (waiting: start_s
// until every start call was answered, park_s until every invoice awaited approval; polling: signal_s,
// park_s until every one was with the buyer). Starts and signals go 8 at a time and at most idleWindow
// ahead of the workflows parked, the pace the dev server takes them at: it does most of the work, and on
// 2 shared cores parks a few workflows a second, so 10,000 take a long while (progress goes to stderr
// every minute); PORTICO_BENCH_WORKFLOWS=1000 is a quick run.
func BenchmarkIdleWorkflows(b *testing.B) {
	n := benchenv.Size(b, "PORTICO_BENCH_WORKFLOWS", 10_000)
	e := startIdleEnv(b, n)
	b.Run("waiting", func(b *testing.B) { e.report(b, e.waiting(b)) })
	b.Run("polling", func(b *testing.B) { e.report(b, e.polling(b)) })
}

// idleCustomer and idleAccount are the seeded customer and portal account; idlePOs the POs invoices bill.
const (
	idleCustomer = "idle"
	idleAccount  = "idle-coupa"
	idlePOs      = 100
	idleApprover = "ops@idle.example"
)

// idlePoll parks a submitted invoice on its status timer for the whole measurement.
var idlePoll = workflows.PollPolicy{First: 6 * time.Hour, Max: 12 * time.Hour}

type idleEnv struct {
	n         int
	st        *store.Store
	c         client.Client
	met       *metrics.Metrics
	serverPID int
	ids       []string // the N invoices (the warm-up's is not among them)
	base      memSample

	started      bool
	waitingPhase *idlePhase
	pollingPhase *idlePhase
}

// idlePhase is one measurement: the workflows parked in stage, the memory then, and how long it took.
type idlePhase struct {
	stage           workflows.Stage
	mem             memSample
	calls, park     time.Duration
	callsUnit, what string
}

// startIdleEnv starts the dev server, the database with the invoices, the worker and the portal stub, runs
// one warm-up invoice through to the buyer, and measures the baseline. Everything stops when b ends.
func startIdleEnv(b *testing.B, n int) *idleEnv {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	bin, err := devstack.TemporalBinary()
	if err != nil {
		b.Skip(err)
	}
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Binary: bin, Headless: true, SearchAttributes: workflows.SearchAttributes, Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tmp.Stop() })
	e := &idleEnv{n: n, serverPID: childPID("temporal"), met: metrics.New()}
	e.st = testenv.Store(b)
	ids := seedIdleInvoices(b, e.st, n)

	// Errors only: the SDK logs every workflow and activity at info level.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	entry, err := vault.NewKeyEntry("bench-payload-1")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := vault.NewKeyring(entry)
	if err != nil {
		b.Fatal(err)
	}
	e.c, err = client.DialContext(ctx, codec.ClientOptions(client.Options{HostPort: tmp.HostPort(), Logger: tlog.NewStructuredLogger(quiet), MetricsHandler: e.met.TemporalHandler()}, codec.New(keys)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.c.Close)

	// The portal stub, on the browser task queue.
	bw := worker.New(e.c, workflows.BrowserTaskQueue, worker.Options{})
	bw.RegisterActivity(&stubPortal{})
	if err := bw.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bw.Stop)

	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- service.RunWorker(wctx, config.Config{BrowserSlots: 2}, service.RoleWorkflows, service.Deps{Store: e.st, Client: e.c, Logger: quiet, Metrics: e.met})
	}()
	b.Cleanup(func() {
		stopWorker()
		if err := <-done; err != nil {
			b.Errorf("worker: %v", err)
		}
	})

	// Warm up: one invoice through to the buyer, so the baseline worker has connected, polled and run
	// every code path once. It is not one of the N.
	none := func() (int, error) { return 0, nil }
	if err := each(ctx, ids[:1], none, func(id string) error {
		_, err := erp.StartInvoice(ctx, e.c, e.st, id, idlePoll)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if err := waitParked(ctx, e.st, workflows.StageAwaitingApproval, 1, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	if err := each(ctx, ids[:1], none, func(id string) error { return approve(ctx, e.c, id) }); err != nil {
		b.Fatal(err)
	}
	if err := waitParked(ctx, e.st, workflows.StageWithBuyer, 1, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	e.ids = ids[1:]
	time.Sleep(2 * time.Second)
	e.base = sampleMemory(e.serverPID, e.met)
	return e
}

// waiting starts the N workflows and waits until every one awaits approval.
func (e *idleEnv) waiting(b *testing.B) *idlePhase {
	if e.waitingPhase != nil {
		return e.waitingPhase // a repeated run of the sub-benchmark reports the one measurement
	}
	ctx := context.Background()
	b.ResetTimer()
	began := time.Now()
	parked := func() (int, error) { return countStage(ctx, e.st, workflows.StageAwaitingApproval) }
	if err := each(ctx, e.ids, parked, func(id string) error {
		_, err := erp.StartInvoice(ctx, e.c, e.st, id, idlePoll)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	e.started = true
	calls := time.Since(began)
	if err := waitParked(ctx, e.st, workflows.StageAwaitingApproval, e.n, idleLimit(e.n)); err != nil {
		b.Fatal(err)
	}
	park := time.Since(began)
	// The last workflow task of each (after its stage was written) ends within moments.
	time.Sleep(3 * time.Second)
	b.StopTimer()
	e.waitingPhase = &idlePhase{stage: workflows.StageAwaitingApproval, mem: sampleMemory(e.serverPID, e.met), calls: calls, park: park, callsUnit: "start_s", what: "started"}
	return e.waitingPhase
}

// polling approves the N workflows (started first if the waiting sub-benchmark did not run) and waits
// until every one is with the buyer, sleeping on its status timer.
func (e *idleEnv) polling(b *testing.B) *idlePhase {
	if e.pollingPhase != nil {
		return e.pollingPhase
	}
	ctx := context.Background()
	if !e.started {
		b.StopTimer()
		e.waiting(b)
		b.StartTimer()
	}
	b.ResetTimer()
	began := time.Now()
	parked := func() (int, error) {
		n, err := countStage(ctx, e.st, workflows.StageWithBuyer)
		return n - 1, err // not the warm-up
	}
	if err := each(ctx, e.ids, parked, func(id string) error { return approve(ctx, e.c, id) }); err != nil {
		b.Fatal(err)
	}
	calls := time.Since(began)
	if err := waitParked(ctx, e.st, workflows.StageWithBuyer, e.n+1, idleLimit(e.n)); err != nil {
		b.Fatal(err)
	}
	park := time.Since(began)
	time.Sleep(3 * time.Second)
	b.StopTimer()
	e.pollingPhase = &idlePhase{stage: workflows.StageWithBuyer, mem: sampleMemory(e.serverPID, e.met), calls: calls, park: park, callsUnit: "signal_s", what: "approved"}
	return e.pollingPhase
}

// idleLimit bounds the wait for n workflows to park: generous, for a dev server sharing 2 cores.
func idleLimit(n int) time.Duration { return 5*time.Minute + time.Duration(n)*time.Second }

func (e *idleEnv) report(b *testing.B, p *idlePhase) {
	n, base, full := e.n, e.base, p.mem
	per := func(full, base uint64) float64 { return (float64(full) - float64(base)) / float64(n) }
	b.ReportMetric(float64(n), "workflows")
	b.ReportMetric(float64(full.heap), "heap_B")
	b.ReportMetric(float64(base.heap), "heap0_B")
	b.ReportMetric(float64(full.heap)/float64(base.heap), "heap_B/heap0_B")
	b.ReportMetric(per(full.heap, base.heap), "heap_B/workflow")
	b.ReportMetric(float64(full.rss), "rss_B")
	b.ReportMetric(float64(base.rss), "rss0_B")
	b.ReportMetric(float64(full.rss)/float64(base.rss), "rss_B/rss0_B")
	b.ReportMetric(per(full.rss, base.rss), "rss_B/workflow")
	b.ReportMetric(float64(full.goroutines), "goroutines")
	b.ReportMetric(float64(base.goroutines), "goroutines0")
	b.ReportMetric(float64(full.goroutines)/float64(base.goroutines), "goroutines/goroutines0")
	if full.cached >= 0 {
		b.ReportMetric(float64(full.cached), "sticky_cached")
	}
	if full.serverRSS > 0 && base.serverRSS > 0 {
		b.ReportMetric(float64(full.serverRSS), "server_rss_B")
		b.ReportMetric(float64(base.serverRSS), "server_rss0_B")
		b.ReportMetric(float64(full.serverRSS)/float64(base.serverRSS), "server_rss_B/server_rss0_B")
		b.ReportMetric(per(full.serverRSS, base.serverRSS), "server_rss_B/workflow")
	}
	b.ReportMetric(p.calls.Seconds(), p.callsUnit)
	b.ReportMetric(p.park.Seconds(), "park_s")
	b.ReportMetric(float64(n)/p.park.Seconds(), "parked/s")
	b.Logf("%d workflows %s: worker heap %s → %s (%.0f B/workflow), RSS %s → %s (%.0f B/workflow), goroutines %d → %d, sticky cache %d; "+
		"dev server RSS %s → %s; %s in %s, all %s after %s",
		n, p.stage, mib(base.heap), mib(full.heap), per(full.heap, base.heap), mib(base.rss), mib(full.rss), per(full.rss, base.rss),
		base.goroutines, full.goroutines, full.cached, mib(base.serverRSS), mib(full.serverRSS), p.what, p.calls.Round(time.Second), p.stage, p.park.Round(time.Second))
}

// approve sends the approval signal an approver would.
func approve(ctx context.Context, c client.Client, invoiceID string) error {
	return c.SignalWorkflow(ctx, workflows.InvoiceWorkflowID(invoiceID), "", workflows.ApprovalSignal,
		workflows.Approval{Decision: workflows.DecisionApprove, Approver: idleApprover, Draft: 1})
}

// idleWindow is how many workflows may be started (or approved) and not parked yet: the calls follow the
// pace the dev server parks them at, since a burst of 10,000 on busy cores times out.
const idleWindow = 200

// each calls fn for every id, 8 at a time and at most idleWindow ahead of parked (the number of ids
// done), each call up to 8 times (a dev server on loaded cores now and then times out or answers
// "namespace not found"). It returns the first error with how many failed.
func each(ctx context.Context, ids []string, parked func() (int, error), fn func(string) error) error {
	try := func(id string) error {
		var err error
		for attempt, wait := 1, time.Second; ; attempt, wait = attempt+1, min(2*wait, 30*time.Second) {
			if err = fn(id); err == nil || attempt == 8 || ctx.Err() != nil {
				return err
			}
			time.Sleep(wait)
		}
	}
	var failed atomic.Int64
	var first error
	var once sync.Once
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range work {
				if err := try(id); err != nil {
					failed.Add(1)
					once.Do(func() { first = err })
				}
			}
		})
	}
	done := 0
	var err error
	for i, id := range ids {
		for i-done >= idleWindow && err == nil && ctx.Err() == nil {
			time.Sleep(250 * time.Millisecond)
			done, err = parked()
		}
		if err != nil || ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d failed, the first: %w", failed.Load(), len(ids), first)
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

func mib(v uint64) string { return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20)) }

// seedIdleInvoices writes the customer (its approver, no auto-approval), its portal account, idlePOs open
// POs and n+1 ERP invoices billing them (one for the warm-up), and returns the invoices' IDs.
func seedIdleInvoices(b *testing.B, st *store.Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: idleCustomer, Name: "Idle Manufacturing", BuyerEntity: "Idle Corp"}); err != nil {
		b.Fatal(err)
	}
	pol := store.DefaultPolicy(idleCustomer)
	pol.Approvers = []string{idleApprover}
	if err := st.UpsertPolicy(ctx, pol); err != nil {
		b.Fatal(err)
	}
	if err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: idleAccount, CustomerID: idleCustomer, Portal: "coupa-sim",
		BaseURL: "http://127.0.0.1:9", Username: "billing@idle.example", TimeZone: "UTC"}, "unused-password", "JBSWY3DPEHPK3PXP"); err != nil {
		b.Fatal(err)
	}
	million := decimal.NewFromInt(1_000_000)
	pos := make([]portal.PurchaseOrder, idlePOs)
	for i := range pos {
		pos[i] = portal.PurchaseOrder{Number: fmt.Sprintf("PO-9%05d", i), BuyerEntity: "Idle Corp", OrderDate: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
			Currency: "USD", Total: million, Invoiced: decimal.Zero, Remaining: million, Status: "Open", PaymentTerms: "Net 30",
			Lines: []portal.POLine{{LineNo: 1, PartNumber: "IDLE-1", Description: "Idle part", Quantity: million, UOM: "EA", UnitPrice: decimal.NewFromInt(1)}}}
	}
	if _, err := st.UpsertPurchaseOrders(ctx, idleAccount, pos); err != nil {
		b.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	ids := make([]string, n+1)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i <= n; i += 8 {
				ids[i] = fmt.Sprintf("idle-%06d", i)
				inv := store.Invoice{ID: ids[i], CustomerID: idleCustomer, AccountID: idleAccount, Number: fmt.Sprintf("IDL-%06d", i),
					PONumber: pos[i%idlePOs].Number, Date: today, Currency: "USD", TaxRate: decimal.Zero, Total: decimal.NewFromInt(10),
					PaymentTerms: "Net 30", Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, PartNumber: "IDLE-1", Description: "Idle part",
						Quantity: decimal.NewFromInt(10), UOM: "EA", UnitPrice: decimal.NewFromInt(1)}}}
				if err := st.InsertInvoice(ctx, inv, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return ids
}

// waitParked waits until want ERP invoices are in stage (the workflows' RecordStatus wrote it), failing
// early if one failed instead. A long wait reports its progress on stderr every minute.
func waitParked(ctx context.Context, st *store.Store, stage workflows.Stage, want int, limit time.Duration) error {
	began := time.Now()
	deadline, progress := began.Add(limit), began.Add(time.Minute)
	for {
		parked, err := countStage(ctx, st, stage)
		if err != nil {
			return err
		}
		failed, err := countStage(ctx, st, workflows.StageFailed)
		if err != nil {
			return err
		}
		if failed > 0 {
			var reason string
			_ = st.Pool().QueryRow(ctx, `SELECT status_reason FROM erp_invoices WHERE stage = 'failed' LIMIT 1`).Scan(&reason)
			return fmt.Errorf("%d invoices failed, e.g.: %s", failed, reason)
		}
		if parked >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d invoices reached %s in %s", parked, want, stage, limit)
		}
		if time.Now().After(progress) {
			fmt.Fprintf(os.Stderr, "idle workflows: %d of %d invoices %s after %s\n", parked, want, stage, time.Since(began).Round(time.Second))
			progress = progress.Add(time.Minute)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// countStage counts the seeded invoices in stage.
func countStage(ctx context.Context, st *store.Store, stage workflows.Stage) (int, error) {
	var n int
	err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM erp_invoices WHERE customer_id = $1 AND stage = $2`, idleCustomer, string(stage)).Scan(&n)
	return n, err
}

// stubPortal answers the browser activities the invoice workflow calls, by the same names, at once.
type stubPortal struct{}

func (stubPortal) invoice(invoiceID string, st portal.Status, word string) portal.Invoice {
	return portal.Invoice{PortalID: "P-" + invoiceID, Number: invoiceID, Status: st, PortalStatus: word, Total: decimal.NewFromInt(10)}
}

func (p *stubPortal) SaveDraft(_ context.Context, invoiceID string) (activities.DraftResult, error) {
	return activities.DraftResult{Invoice: p.invoice(invoiceID, portal.StatusDraft, "Draft")}, nil
}

func (p *stubPortal) SubmitInvoice(_ context.Context, invoiceID string) (portal.Invoice, error) {
	return p.invoice(invoiceID, portal.StatusWithBuyer, "Pending Approval"), nil
}

func (p *stubPortal) CheckStatus(_ context.Context, invoiceID string) (portal.Invoice, error) {
	return p.invoice(invoiceID, portal.StatusWithBuyer, "Pending Approval"), nil
}

func (p *stubPortal) DeleteDraft(context.Context, string) error { return nil }

func (p *stubPortal) FetchPurchaseOrder(context.Context, string, string) (bool, error) {
	return false, errors.New("stub portal: every PO is synced")
}

type memSample struct {
	heap, rss, serverRSS uint64
	goroutines           int
	cached               int // the SDK's sticky cache size; -1 unknown
}

// sampleMemory is the median of three samples a second apart, each after a forced GC that returns freed
// memory to the OS.
func sampleMemory(serverPID int, met *metrics.Metrics) memSample {
	var ss []memSample
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		debug.FreeOSMemory() // runs a GC first
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := memSample{heap: ms.HeapInuse, rss: rssOf("self"), goroutines: runtime.NumGoroutine(), cached: stickyCached(met)}
		if serverPID > 0 {
			s.serverRSS = rssOf(strconv.Itoa(serverPID))
		}
		ss = append(ss, s)
	}
	med := func(f func(memSample) uint64) uint64 {
		v := []uint64{f(ss[0]), f(ss[1]), f(ss[2])}
		slices.Sort(v)
		return v[1]
	}
	return memSample{
		heap:       med(func(s memSample) uint64 { return s.heap }),
		rss:        med(func(s memSample) uint64 { return s.rss }),
		serverRSS:  med(func(s memSample) uint64 { return s.serverRSS }),
		goroutines: int(med(func(s memSample) uint64 { return uint64(s.goroutines) })),
		cached:     ss[2].cached,
	}
}

// rssOf reads VmRSS of /proc/<pid>/status in bytes (0 if unreadable).
func rssOf(pid string) uint64 {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// childPID finds this process's child whose command name contains name (the dev server devstack started).
func childPID(name string) int {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) > 1 && fields[1] == self && strings.Contains(s[open+1:closing], name) {
			pid, _ := strconv.Atoi(e.Name())
			return pid
		}
	}
	return 0
}

// stickyCached reads the SDK's sticky cache size gauge (temporal_sticky_cache_size), or -1.
func stickyCached(met *metrics.Metrics) int {
	families, err := met.Registry().Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if strings.HasSuffix(f.GetName(), "sticky_cache_size") {
			total := 0.0
			for _, m := range f.GetMetric() {
				total += m.GetGauge().GetValue()
			}
			return int(total)
		}
	}
	return -1
}
