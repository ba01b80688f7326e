package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portico/activities"
	"portico/internal/benchenv"
	"portico/internal/driver"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

// BenchmarkResyncPageLoads measures what a re-sync of an account costs the portal, in real Chromium against
// the simulator: PORTICO_BENCH_RESYNC_POS POs (default 10,000) in pages of PORTICO_BENCH_PAGE_SIZE (default
// 100), already synced. It counts the portal's list and PO-page requests of four syncs:
//
//   - full re-read (po_list.url, the weekly one), nothing changed: target = the list pages, no PO page;
//   - changed-only (po_list.changed_url), nothing changed: target = 1 list page;
//   - full re-read after PORTICO_BENCH_CHANGED POs (default 10) got another line: target = list pages + 1
//     PO page per changed PO;
//   - changed-only after as many other POs changed: target = their list pages + 1 PO page each.
//
// The first full sync is seeded through the store (store.BeginSyncRun … FinishSyncRun with the POs as the
// portal lists them) rather than read through 10,000 PO pages.
func BenchmarkResyncPageLoads(b *testing.B) {
	n := benchenv.Size(b, "PORTICO_BENCH_RESYNC_POS", 10_000)
	size := benchenv.Size(b, "PORTICO_BENCH_PAGE_SIZE", 100)
	k := benchenv.Size(b, "PORTICO_BENCH_CHANGED", 10)
	ctx := context.Background()
	st := testenv.Store(b)
	sim, _, g := testenv.GeneratedPortal(b, st, simulator.Config{PageSize: size}, simulator.GenerateSpec{Seed: 1, Accounts: 1, POs: n})
	user := g.Accounts[0].Username
	portals, err := portaldef.NewRegistry("")
	if err != nil {
		b.Fatal(err)
	}
	drv := driver.New(testenv.Browser(b), driver.Config{Claims: st, Guard: st})
	br := &activities.Browser{Store: st, Driver: drv, Portals: portals, SyncOverlap: time.Nanosecond}

	// The first full sync, as the portal lists the POs.
	listed := sim.ListedPOs(user)
	first := make([]portal.PurchaseOrder, len(listed))
	for i, l := range listed {
		first[i] = portalPO(l)
	}
	run, err := st.BeginSyncRun(ctx, testenv.GeneratedAccountID, "bench-seed", store.SyncFull, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.StageSyncPage(ctx, run.ID, 1, first); err != nil {
		b.Fatal(err)
	}
	if run, err = st.FinishSyncRun(ctx, run.ID); err != nil || run.Changed != n {
		b.Fatalf("seed: %+v %v", run, err)
	}
	listPages := (n + size - 1) / size

	sync := func(full bool) (res activities.SyncResult, lists, details int, loads int64) {
		br.FullSyncEvery = 0
		if full {
			br.FullSyncEvery = time.Nanosecond
		}
		env := newActivityEnv(br)
		mark, before := len(sim.Requests()), drv.Stats().PageLoads
		v, err := env.ExecuteActivity(br.SyncPurchaseOrders, testenv.GeneratedAccountID)
		if err != nil {
			b.Fatal(err)
		}
		if err := v.Get(&res); err != nil {
			b.Fatal(err)
		}
		for _, r := range sim.Requests()[mark:] {
			switch {
			case r.Path == "/pos":
				lists++
			case len(r.Path) > 5 && r.Path[:5] == "/pos/":
				details++
			}
		}
		return res, lists, details, drv.Stats().PageLoads - before
	}
	// Sign in once, outside the measurement (a session is reused by later syncs).
	if res, _, _, _ := sync(false); res.Changed != 0 {
		b.Fatalf("warm-up sync changed %d POs: the seeded copy differs from what the portal shows", res.Changed)
	}
	change := func(from int) {
		var pos []simulator.PO
		for _, l := range listed[from : from+k] {
			po := simulator.PO{Number: l.Number, BuyerEntity: l.BuyerEntity, OrderDate: l.OrderDate, Currency: l.Currency,
				PaymentTerms: l.PaymentTerms, Status: simulator.POStatus(l.Status), Lines: append([]simulator.POLine(nil), l.Lines...)}
			po.Lines = append(po.Lines, simulator.POLine{LineNo: 99, PartNumber: "X-99", Description: "Added line", Quantity: decimal.NewFromInt(1), UOM: "EA", UnitPrice: decimal.NewFromInt(1)})
			pos = append(pos, po)
		}
		if err := sim.AddPurchaseOrders(user, pos); err != nil {
			b.Fatal(err)
		}
	}
	if 2*k*(b.N+1) > n {
		b.Fatalf("PORTICO_BENCH_CHANGED=%d is too many for %d POs", k, n)
	}
	var fullLoads, changedLoads, fullKLoads, changedKLoads, fullLists, fullKDetails, changedKDetails, changedKLists float64
	b.ResetTimer()
	for i := range b.N {
		res, lists, details, loads := sync(true)
		if res.Changed != 0 || details != 0 {
			b.Fatalf("full re-sync of unchanged data: %+v, %d PO pages", res, details)
		}
		fullLoads += float64(loads)
		fullLists += float64(lists)
		res, _, details, loads = sync(false)
		if res.Changed != 0 || details != 0 {
			b.Fatalf("changed-only re-sync of unchanged data: %+v, %d PO pages", res, details)
		}
		changedLoads += float64(loads)

		change(2 * k * i)
		res, _, details, loads = sync(true)
		if res.Changed != k {
			b.Fatalf("full re-sync after %d changes: %+v", k, res)
		}
		fullKLoads += float64(loads)
		fullKDetails += float64(details)
		change(2*k*i + k)
		res, lists, details, loads = sync(false)
		if res.Changed != k {
			b.Fatalf("changed-only re-sync after %d changes: %+v", k, res)
		}
		changedKLoads += float64(loads)
		changedKDetails += float64(details)
		changedKLists += float64(lists)
	}
	b.StopTimer()
	per := func(v float64) float64 { return v / float64(b.N) }
	b.ReportMetric(float64(listPages), "list_pages")
	b.ReportMetric(per(fullLoads), "full_unchanged_loads")
	b.ReportMetric(per(fullLoads)/float64(listPages), "full_unchanged_loads/list_page")
	b.ReportMetric(per(changedLoads), "changed_unchanged_loads")
	b.ReportMetric(per(fullKLoads), "full_k_changed_loads")
	b.ReportMetric((per(fullKLoads)-float64(listPages))/float64(k), "full_extra_loads/changed_po")
	b.ReportMetric(per(changedKLoads), "changed_k_changed_loads")
	b.Logf("%d POs, %d per page = %d list pages; %d POs changed per round. Full re-read, nothing changed: %.0f page loads "+
		"(%.0f list requests; target %d). Changed-only, nothing changed: %.0f (target 1). Full re-read, %d changed: %.0f loads, %.0f PO pages "+
		"(target %d + %d). Changed-only, %d changed: %.0f loads, %.0f list, %.0f PO pages (target %d + %d).",
		n, size, listPages, k, per(fullLoads), per(fullLists), listPages, per(changedLoads), k, per(fullKLoads), per(fullKDetails),
		listPages, k, k, per(changedKLoads), per(changedKLists), per(changedKDetails), (k+size-1)/size, k)
}

// portalPO is a listed simulator PO as the driver reads it from the Coupa-like pages.
func portalPO(l simulator.ListedPO) portal.PurchaseOrder {
	po := portal.PurchaseOrder{Number: l.Number, BuyerEntity: l.BuyerEntity, OrderDate: l.OrderDate, Currency: l.Currency,
		Total: l.Total, Invoiced: l.Invoiced, Remaining: l.Remaining, Status: l.Status, PaymentTerms: l.PaymentTerms, Lines: []portal.POLine{}}
	for _, pl := range l.Lines {
		po.Lines = append(po.Lines, portal.POLine{LineNo: pl.LineNo, PartNumber: pl.PartNumber, Description: pl.Description, Quantity: pl.Quantity, UOM: pl.UOM, UnitPrice: pl.UnitPrice})
	}
	return po
}
