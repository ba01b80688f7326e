package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"portico/internal/benchenv"
	"portico/internal/portal"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

// benchPOs are n PO headers as a portal lists them, from the simulator's generator (seed 1).
func benchPOs(n int) []portal.PurchaseOrder {
	g := simulator.Generate(simulator.GenerateSpec{Seed: 1, Accounts: 1, POs: n})
	gen := g.POs[g.Accounts[0].Username]
	out := make([]portal.PurchaseOrder, len(gen))
	for i := range gen {
		po := &gen[i]
		total := po.Total()
		out[i] = portal.PurchaseOrder{Number: po.Number, BuyerEntity: po.BuyerEntity, OrderDate: po.OrderDate, Currency: po.Currency,
			Total: total, Invoiced: total.Sub(total), Remaining: total, Status: string(po.Status), PaymentTerms: po.PaymentTerms}
		gen[i] = simulator.PO{} // let the lines go
	}
	return out
}

// BenchmarkIngestPOs compares Portico's ingest of PORTICO_BENCH_POS PO rows (default 1,000,000) with a raw COPY
// of the same rows into the same, truncated, purchase_orders table, in the same run:
//
//   - raw: COPY straight into purchase_orders (no staging, no dedup, no change detection: the floor);
//   - ingest: store.UpsertPurchaseOrders (COPY into a staging table, one INSERT … SELECT DISTINCT ON …
//     ON CONFLICT DO UPDATE … WHERE IS DISTINCT FROM);
//   - staged: a sync run, store.BeginSyncRun, StageSyncPage per page of PORTICO_BENCH_PAGE (default 1000)
//     rows, each its own transaction, and FinishSyncRun's merge;
//   - reingest: the same rows again through the ingest, onto the full table (nothing changes).
//
// The target is an ingest at least half as fast as the raw COPY (ingest/raw ≥ 0.5).
func BenchmarkIngestPOs(b *testing.B) {
	n := benchenv.Size(b, "PORTICO_BENCH_POS", 1_000_000)
	pageSize := benchenv.Size(b, "PORTICO_BENCH_PAGE", 1000)
	st := testenv.Store(b)
	seedAccount(b, st)
	const acct = "acme-coupa"
	pos := benchPOs(n)
	pool := st.Pool()
	truncate := func() {
		if _, err := pool.Exec(ctx, `TRUNCATE purchase_orders CASCADE`); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE purchase_orders`); err != nil {
			b.Fatal(err)
		}
	}
	var raw, ingest, staged, reingest time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		truncate()
		b.StartTimer()
		start := time.Now()
		copied, err := pool.CopyFrom(ctx, pgx.Identifier{"purchase_orders"},
			[]string{"account_id", "po_number", "buyer_entity", "order_date", "currency", "total", "invoiced", "remaining", "status", "payment_terms"},
			pgx.CopyFromSlice(len(pos), func(i int) ([]any, error) {
				po := &pos[i]
				return []any{acct, po.Number, po.BuyerEntity, pgtype.Date{Time: po.OrderDate, Valid: true}, po.Currency, po.Total, po.Invoiced, po.Remaining, po.Status, po.PaymentTerms}, nil
			}))
		raw += time.Since(start)
		if err != nil || copied != int64(n) {
			b.Fatalf("raw COPY: %d rows, %v", copied, err)
		}

		b.StopTimer()
		truncate()
		b.StartTimer()
		start = time.Now()
		changed, err := st.UpsertPurchaseOrders(ctx, acct, pos)
		ingest += time.Since(start)
		if err != nil || changed != n {
			b.Fatalf("ingest: %d changed, %v", changed, err)
		}

		start = time.Now()
		changed, err = st.UpsertPurchaseOrders(ctx, acct, pos)
		reingest += time.Since(start)
		if err != nil || changed != 0 {
			b.Fatalf("reingest: %d changed, %v", changed, err)
		}

		b.StopTimer()
		truncate()
		b.StartTimer()
		start = time.Now()
		run, err := st.BeginSyncRun(ctx, acct, fmt.Sprintf("bench-%d", time.Now().UnixNano()), store.SyncFull, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		for p := 0; p*pageSize < n; p++ {
			if _, err := st.StageSyncPage(ctx, run.ID, p+1, pos[p*pageSize:min(n, (p+1)*pageSize)]); err != nil {
				b.Fatal(err)
			}
		}
		run, err = st.FinishSyncRun(ctx, run.ID)
		staged += time.Since(start)
		if err != nil || run.Changed != n {
			b.Fatalf("staged sync: %+v %v", run, err)
		}
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(raw), "raw_rows/s")
	b.ReportMetric(rate(ingest), "ingest_rows/s")
	b.ReportMetric(rate(staged), "staged_rows/s")
	b.ReportMetric(rate(reingest), "reingest_rows/s")
	ratio := raw.Seconds() / ingest.Seconds()
	b.ReportMetric(ratio, "ingest/raw")
	b.ReportMetric(raw.Seconds()/staged.Seconds(), "staged/raw")
	verdict := "met"
	if ratio < 0.5 {
		verdict = "NOT met"
	}
	b.Logf("%d rows: raw COPY %s, ingest %s (%.2f of raw: target ≥ 0.5 %s), staged sync run in pages of %d %s, unchanged re-ingest %s",
		n, raw/time.Duration(b.N), ingest/time.Duration(b.N), ratio, verdict, pageSize, staged/time.Duration(b.N), reingest/time.Duration(b.N))
}
