package matching

import (
	"runtime"
	"testing"
	"time"

	"portico/internal/benchenv"
)

// BenchmarkMatchBatch matches a batch of ERP invoices against one portal account's POs: the index is
// built once per batch (as MatchAfterSync does) and every invoice is matched against it; both are timed.
// Sizes: PORTICO_BENCH_POS (default 1,000,000) and PORTICO_BENCH_INVOICES (default 10,000). The data is
// generated deterministically: 50 customers, 1–3 lines per PO from 20,000 parts, 5% closed POs, 10% in
// EUR; invoices naming their PO in assorted spellings (70%), naming none but billing a PO's remaining
// balance (15%), billing part of a PO's lines (10%), or naming a PO that does not exist (5%).
func BenchmarkMatchBatch(b *testing.B) {
	nPOs := benchenv.Size(b, "PORTICO_BENCH_POS", 1_000_000)
	nInv := benchenv.Size(b, "PORTICO_BENCH_INVOICES", 10_000)
	pos, invs := Generate(nPOs, nInv)
	runtime.GC() // the generator's garbage is not the matcher's
	b.ReportAllocs()
	b.ResetTimer()
	var build, match time.Duration
	var matched, ambiguous int
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ix := NewBatchIndex(pos, invs, Options{})
		t1 := time.Now()
		res := ix.MatchAll(invs)
		t2 := time.Now()
		build, match = build+t1.Sub(t0), match+t2.Sub(t1)
		matched, ambiguous = 0, 0
		for _, r := range res {
			switch r.Status {
			case StatusMatched:
				matched++
			case StatusAmbiguous:
				ambiguous++
			}
		}
	}
	b.StopTimer()
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 1e9
	b.ReportMetric(perOp*10_000/float64(nInv), "s/10k-invoices")
	b.ReportMetric(float64(nPOs), "POs")
	b.ReportMetric(build.Seconds()/float64(b.N), "s-index")
	b.ReportMetric(match.Seconds()/float64(b.N), "s-match")
	b.ReportMetric(100*float64(matched)/float64(nInv), "%matched")
	b.ReportMetric(100*float64(ambiguous)/float64(nInv), "%ambiguous")
}

// BenchmarkMatchOne matches one invoice against an index already built (MatchPO's per-invoice cost once
// the candidates are loaded).
func BenchmarkMatchOne(b *testing.B) {
	pos, invs := Generate(100_000, 1_000)
	ix := NewIndex(pos, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = ix.Match(invs[i%len(invs)])
	}
}
