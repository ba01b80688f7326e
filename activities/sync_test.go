package activities_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"portico/activities"
	"portico/internal/driver"
	"portico/internal/portaldef"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

const genAcct = testenv.GeneratedAccountID

// syncEnv is a generated portal of 8 POs in 4 list pages, a store and the sync activity, with the heartbeats
// of every attempt recorded.
type syncEnv struct {
	st     *store.Store
	sim    *simulator.Server
	drv    *driver.Driver
	br     *activities.Browser
	act    *testsuite.TestActivityEnvironment
	user   string
	flavor string

	mu    sync.Mutex
	beats []activities.SyncProgress
}

func newSyncEnv(t *testing.T, flavor string) *syncEnv {
	t.Helper()
	st := testenv.Store(t)
	sim, _, g := testenv.GeneratedPortal(t, st, simulator.Config{Flavor: flavor, PageSize: 2}, simulator.GenerateSpec{Seed: 42, Accounts: 1, POs: 8})
	portals, err := portaldef.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	drv := driver.New(testenv.Browser(t), driver.Config{Claims: st, Guard: st})
	e := &syncEnv{st: st, sim: sim, drv: drv, user: g.Accounts[0].Username, flavor: flavor,
		br: &activities.Browser{Store: st, Driver: drv, Portals: portals, SyncOverlap: time.Nanosecond}}
	e.fresh()
	return e
}

// fresh is a new activity environment: a new attempt, with no heartbeat details unless set.
func (e *syncEnv) fresh() {
	var s testsuite.WorkflowTestSuite
	e.act = s.NewTestActivityEnvironment()
	e.act.RegisterActivity(e.br)
	e.act.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p activities.SyncProgress
		if details.Get(&p) == nil {
			e.mu.Lock()
			e.beats = append(e.beats, p)
			e.mu.Unlock()
		}
	})
	e.mu.Lock()
	e.beats = nil
	e.mu.Unlock()
}

func (e *syncEnv) sync(t *testing.T) (activities.SyncResult, error) {
	t.Helper()
	v, err := e.act.ExecuteActivity(e.br.SyncPurchaseOrders, genAcct)
	if err != nil {
		return activities.SyncResult{}, err
	}
	var res activities.SyncResult
	return res, v.Get(&res)
}

// lastBeat is the attempt's last heartbeat details (Temporal keeps them for the retry).
func (e *syncEnv) lastBeat() activities.SyncProgress {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.beats) == 0 {
		return activities.SyncProgress{}
	}
	return e.beats[len(e.beats)-1]
}

// mark is where the portal's request log stands, for reads.
func (e *syncEnv) mark() int { return len(e.sim.Requests()) }

// reads returns what the portal served since mark: the PO list pages by number (a sign-in redirect that
// repeats a page counts once) and how many PO pages were read for lines.
func (e *syncEnv) reads(mark int) (lists []string, details int) {
	list := "/pos"
	if e.flavor == simulator.FlavorAriba {
		list = "/api/orders" // the app's data; its shell pages (/app/...) carry nothing
	}
	for _, r := range e.sim.Requests()[mark:] {
		switch {
		case r.Path == list:
			q, _ := url.ParseQuery(r.Query)
			lists = append(lists, q.Get("page"))
		case strings.HasPrefix(r.Path, list+"/"):
			details++
		}
	}
	return slices.Compact(lists), details
}

func (e *syncEnv) count(t *testing.T) int {
	t.Helper()
	n, err := e.st.CountPurchaseOrders(context.Background(), genAcct)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func xmins(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `
		SELECT po_number || ':' || xmin::text FROM purchase_orders
		UNION ALL SELECT po_number || '/' || line_no || ':' || xmin::text FROM purchase_order_lines ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestInterruptedSyncResumesAtTheNextPage: the portal fails list page 3 of 4. The attempt ends retryable,
// purchase_orders is untouched (pages 1–2 are staged, not visible), and its heartbeat says run, 2 pages, 4
// rows. The retry, given those heartbeat details, loads pages 3 and 4 only (and the PO pages of their POs)
// and then all 8 POs appear at once.
func TestInterruptedSyncResumesAtTheNextPage(t *testing.T) {
	t.Parallel()
	for _, flavor := range []struct{ name, path string }{{simulator.FlavorCoupa, "/pos"}, {simulator.FlavorAriba, "/api/orders"}} {
		t.Run(flavor.name, func(t *testing.T) {
			t.Parallel()
			e := newSyncEnv(t, flavor.name)
			if _, err := e.sim.InjectFault(simulator.Fault{Kind: simulator.FaultError, Path: flavor.path, Query: "page=3", Count: 1}); err != nil {
				t.Fatal(err)
			}
			mark := e.mark()
			_, err := e.sync(t)
			var appErr *temporal.ApplicationError
			if err == nil || !strings.Contains(err.Error(), "unavailable") || (errors.As(err, &appErr) && appErr.NonRetryable()) {
				t.Fatalf("the failed page must end the attempt retryable: %v", err)
			}
			lists, details := e.reads(mark)
			last := e.lastBeat()
			if !slices.Equal(lists, []string{"1", "2", "3"}) || details != 4 {
				t.Fatalf("first attempt: list pages %v, %d PO pages", lists, details)
			}
			if last.RunID == "" || last.PagesDone != 2 || last.RowsDone != 4 {
				t.Fatalf("last heartbeat %+v", last)
			}
			if n := e.count(t); n != 0 {
				t.Fatalf("half a sync is visible: %d POs", n)
			}
			runs, err := e.st.SyncRuns(context.Background(), genAcct, 5)
			if err != nil || len(runs) != 1 || runs[0].Status != store.SyncRunning || runs[0].PagesDone != 2 || runs[0].RowsDone != 4 {
				t.Fatalf("runs %+v %v", runs, err)
			}

			// Temporal's retry: a new attempt (another activity identity here) with the last heartbeat details.
			e.fresh()
			e.act.SetHeartbeatDetails(last)
			loads, mark := e.drv.Stats().PageLoads, e.mark()
			res, err := e.sync(t)
			if err != nil {
				t.Fatal(err)
			}
			lists, details = e.reads(mark)
			if !slices.Equal(lists, []string{"3", "4"}) || details != 4 {
				t.Fatalf("retry: list pages %v, %d PO pages (want pages 3 and 4, 4 PO pages)", lists, details)
			}
			if n := e.drv.Stats().PageLoads - loads; n > 6+2 { // 2 list + 4 PO pages, and at most a sign-in
				t.Fatalf("the retry cost %d page loads", n)
			}
			if res.RunID != last.RunID || res.ResumedAt != 3 || res.Pages != 4 || res.POs != 8 || res.Details != 8 || res.Changed != 8 || res.Mode != store.SyncFull {
				t.Fatalf("result %+v", res)
			}
			if n := e.count(t); n != 8 {
				t.Fatalf("%d POs after the retry", n)
			}
		})
	}
}

// TestResyncReadsOnlyWhatChanged: a second sync of unchanged portal data asks the portal for the POs changed
// since the first (one empty list page), reads no PO page and rewrites nothing; a full re-read (the weekly
// one) loads the list pages only. After changes, only the POs whose lines may have changed (new, or another
// total) have their page read; a header-only change is stored without it. Closed and cancelled POs are kept.
func TestResyncReadsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t, simulator.FlavorCoupa)
	ctx := context.Background()
	res, err := e.sync(t)
	if err != nil || res.Mode != store.SyncFull || res.Pages != 4 || res.Details != 8 || res.Changed != 8 {
		t.Fatalf("first sync %+v %v", res, err)
	}
	before := xmins(t, e.st)

	e.fresh()
	mark := e.mark()
	res, err = e.sync(t)
	lists, details := e.reads(mark)
	if err != nil || res.Mode != store.SyncChanged || res.POs != 0 || res.Changed != 0 || details != 0 || len(lists) != 1 {
		t.Fatalf("changed-only re-sync: %+v lists %v details %d, %v", res, lists, details, err)
	}
	e.br.FullSyncEvery = time.Nanosecond // due for a full read
	e.fresh()
	mark = e.mark()
	res, err = e.sync(t)
	lists, details = e.reads(mark)
	if err != nil || res.Mode != store.SyncFull || res.POs != 8 || res.Changed != 0 || details != 0 || len(lists) != 4 {
		t.Fatalf("full re-sync: %+v lists %v details %d, %v", res, lists, details, err)
	}
	e.br.FullSyncEvery = 0
	if after := xmins(t, e.st); !slices.Equal(before, after) {
		t.Fatalf("re-syncs of unchanged data rewrote rows:\n%v\n%v", before, after)
	}

	// Changes: one PO gets another line (another total), one only other terms, one is new.
	listed := e.sim.ListedPOs(e.user)
	var linesPO, termsPO simulator.PO
	for _, lp := range listed {
		po := simulator.PO{Number: lp.Number, BuyerEntity: lp.BuyerEntity, OrderDate: lp.OrderDate, Currency: lp.Currency, PaymentTerms: lp.PaymentTerms, Lines: lp.Lines}
		switch {
		case linesPO.Number == "" && (lp.Status == "Open"):
			po.Status = simulator.POOpen
			po.Lines = append(po.Lines, simulator.POLine{LineNo: 9, PartNumber: "X-9", Description: "Extra", Quantity: decimal.NewFromInt(3), UOM: "EA", UnitPrice: decimal.RequireFromString("2.50")})
			linesPO = po
		case termsPO.Number == "" && lp.Status == "Closed":
			po.Status = simulator.POClosed
			po.PaymentTerms = "Net 90"
			termsPO = po
		}
	}
	if linesPO.Number == "" || termsPO.Number == "" {
		t.Fatalf("the generated data has no open or no closed PO: %+v", listed)
	}
	newPO := linesPO
	newPO.Number, newPO.Status = "PO-19999999", simulator.POCancelled
	if err := e.sim.AddPurchaseOrders(e.user, []simulator.PO{linesPO, termsPO, newPO}); err != nil {
		t.Fatal(err)
	}
	e.fresh()
	mark = e.mark()
	res, err = e.sync(t)
	lists, details = e.reads(mark)
	if err != nil || res.Mode != store.SyncChanged || res.POs != 3 || res.Details != 2 || details != 2 || res.Changed != 3 || len(lists) != 2 {
		t.Fatalf("sync after changes: %+v lists %v details %d, %v", res, lists, details, err)
	}
	if got, err := e.st.PurchaseOrder(ctx, genAcct, linesPO.Number); err != nil || len(got.Lines) != len(linesPO.Lines) || got.Lines[len(got.Lines)-1].PartNumber != "X-9" {
		t.Fatalf("changed lines not stored: %+v %v", got, err)
	}
	if got, err := e.st.PurchaseOrder(ctx, genAcct, termsPO.Number); err != nil || got.PaymentTerms != "Net 90" || len(got.Lines) != len(termsPO.Lines) || got.Status != "Closed" {
		t.Fatalf("header change: %+v %v", got, err)
	}
	if got, err := e.st.PurchaseOrder(ctx, genAcct, newPO.Number); err != nil || got.Status != "Cancelled" || len(got.Lines) != len(newPO.Lines) {
		t.Fatalf("new cancelled PO: %+v %v", got, err)
	}
	if n := e.count(t); n != 9 {
		t.Fatalf("%d POs", n)
	}
}

// newActivityEnv is an activity environment running br's activities, as one attempt, logging warnings only.
func newActivityEnv(br *activities.Browser) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(br)
	return env
}
