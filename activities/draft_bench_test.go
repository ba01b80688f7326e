package activities_test

// Benchmarks of what drafting costs a portal and the worker, in real Chromium against the simulator, for
// `make bench`'s table. Each headline benchmark (or sub-benchmark) line reports one figure as these
// metrics, which the table printer reads by their units:
//
//	measured_<unit>  the figure measured in this run
//	baseline_<unit>  what it is compared with, measured or derived in the same run
//	ratio            measured / baseline
//	target           the ratio must be at most this (a cost); absent where there is no target
//
// Other metrics on
// the same line are details (delay_ms, loadavg_1m, page_loads/draft, …), not part of the table; so is
// ns/op, which for BenchmarkBrowserSlots' sub-benchmarks (figures of runs made before them) means nothing.
// The figures:
//
//	BenchmarkDraftWaste               measured_s (one SaveDraft, mean) vs baseline_s (the delay added to
//	                                  each portal request × the requests a draft needs); target 1.5
//	BenchmarkLoginsPerInvoice         measured_logins vs baseline_invoices (drafts of one account); the
//	                                  ratio is logins per invoice (also as logins/invoice); target 0.02
//	BenchmarkBrowserSlots/drafts_per_min/slots=N
//	                                  measured_drafts/min at N slots vs baseline_drafts/min at 1 slot, in
//	                                  the same run; no target (N would be linear scaling, not expected on
//	                                  a 2-core machine)
//	BenchmarkBrowserSlots/pss_per_slot/slots=N, …/rss_per_slot/slots=N
//	                                  measured_MB/slot (Chromium's peak PSS or RSS during that run, divided
//	                                  by N) vs baseline_MB/slot (the same at 1 slot); no target
//	BenchmarkChromiumProcessesLeft    measured_procs (Chromium's processes once 500 activities' tabs are
//	                                  closed) vs baseline_procs (before them); target 1 (none left; also
//	                                  as procs_left, whose target is 0)
//	BenchmarkStatusSweep/{coupa,ariba} (sweep_bench_test.go)
//	                                  measured_page_loads of one sweep vs baseline_list_pages; target 1.2
//
// Wall-clock figures (DraftWaste, BrowserSlots) depend on the machine's load: loadavg_1m beside them says
// how busy it was. Sizes come from the environment (benchenv.Size); run each once:
// go test -run '^$' -bench X -benchtime 1x ./activities/.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/temporal"

	"portico/activities"
	"portico/internal/benchenv"
	"portico/internal/demo"
	"portico/internal/driver"
	"portico/internal/metrics"
	"portico/internal/portaldef"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

// benchPortal is a generated portal with its suppliers as portal accounts in a store, and the browser
// activities on a driver configured as a worker's (claims, guard and saved sessions in PostgreSQL).
type benchPortal struct {
	st    *store.Store
	sim   *simulator.Server
	g     simulator.Generated
	drv   *driver.Driver
	br    *activities.Browser
	accts []string // portal account IDs, one per generated supplier
	users []string // their usernames at the portal
	steps *stepTimes
}

// stepTimes adds up the driver's step times (driver.Observer), to show where a draft's time goes.
type stepTimes struct {
	mu   sync.Mutex
	took map[string]time.Duration
	n    map[string]int
}

func (o *stepTimes) Login(string, string) {}

func (o *stepTimes) Step(_, step string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.took[step] += took
	o.n[step]++
}

// reset forgets the steps so far.
func (o *stepTimes) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.took)
	clear(o.n)
}

// per lists each step's total time per draft, for n drafts.
func (o *stepTimes) per(n float64) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for step, d := range o.took {
		out = append(out, fmt.Sprintf("%s %.3f s (%.2g×)", step, d.Seconds()/n, float64(o.n[step])/n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func newBenchPortal(b testing.TB, cfg simulator.Config, spec simulator.GenerateSpec) *benchPortal {
	b.Helper()
	st := testenv.Store(b)
	sim, url, g := testenv.GeneratedPortal(b, st, cfg, spec)
	p := &benchPortal{st: st, sim: sim, g: g}
	portalName := "coupa-sim"
	if cfg.Flavor == simulator.FlavorAriba {
		portalName = "ariba-sim"
	}
	for i, a := range g.Accounts {
		id := testenv.GeneratedAccountID
		if i > 0 {
			id = fmt.Sprintf("gen-%d", i+1)
			acct := store.PortalAccount{ID: id, CustomerID: "gen-customer", Portal: portalName, BaseURL: url, Username: a.Username, TimeZone: "UTC"}
			if err := st.UpsertPortalAccount(context.Background(), acct, a.Password, a.TOTPSecret); err != nil {
				b.Fatal(err)
			}
		}
		p.accts = append(p.accts, id)
		p.users = append(p.users, a.Username)
	}
	portals, err := portaldef.NewRegistry("")
	if err != nil {
		b.Fatal(err)
	}
	p.steps = &stepTimes{took: map[string]time.Duration{}, n: map[string]int{}}
	p.drv = driver.New(testenv.Browser(b), driver.Config{Claims: st, Guard: st, Sessions: st, Observer: p.steps})
	p.br = &activities.Browser{Store: st, Driver: p.drv, Portals: portals}
	return p
}

// invoices makes n ERP invoices of the i-th account, each billing one unit of line 1 of another of its
// open POs (one whose line 1 orders at least one unit, at a price in whole cents, so the ERP's total is
// the portal's), with a PDF; prefix keeps their IDs and numbers apart from other batches.
func (p *benchPortal) invoices(b *testing.B, i, n int, prefix string) []string {
	b.Helper()
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	pos := p.g.POs[p.users[i]]
	var ids []string
	for used := 0; len(ids) < n; used++ {
		if used >= len(pos) {
			b.Fatalf("account %s has too few open POs for %d invoices: generate more POs", p.accts[i], n)
		}
		po := pos[used]
		l := po.Lines[0]
		if po.Status != simulator.POOpen || !l.UnitPrice.Equal(l.UnitPrice.Round(2)) || l.Quantity.LessThan(dec("1")) {
			continue
		}
		k := len(ids) + 1
		number := fmt.Sprintf("%s-%d-%04d", prefix, i+1, k)
		inv := store.Invoice{
			ID: "bench-" + number, CustomerID: "gen-customer", AccountID: p.accts[i], Number: number, PONumber: po.Number,
			Date: today, Currency: po.Currency, TaxRate: dec("0"), Total: l.UnitPrice, Note: "Bench " + number,
			AttachmentName: number + ".pdf", PaymentTerms: po.PaymentTerms,
			Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, PartNumber: l.PartNumber, Description: l.Description, Quantity: dec("1"), UOM: l.UOM, UnitPrice: l.UnitPrice}},
		}
		if err := p.st.InsertInvoice(ctx, inv, demo.InvoicePDF("Invoice "+number, "PO "+po.Number)); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, inv.ID)
	}
	return ids
}

// loadAvg is the machine's load average over the last minute (/proc/loadavg), reported beside wall-clock
// figures: on a shared machine other processes' load slows Chromium down, and the figures with it.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// latencyMS is the delay the simulator adds to each request of the measured accounts, as a real portal's
// round trip: PORTICO_BENCH_LATENCY_MS, default 300.
func latencyMS(b *testing.B) int { return benchenv.Size(b, "PORTICO_BENCH_LATENCY_MS", 300) }

// delayAccount makes the simulator add ms to every request of the account's sessions and sign-ins (its
// pages, form posts and API calls; not static files).
func (p *benchPortal) delayAccount(b *testing.B, i, ms int) {
	b.Helper()
	if _, err := p.sim.InjectFault(simulator.Fault{Kind: simulator.FaultLatency, Account: p.users[i], MS: ms}); err != nil {
		b.Fatal(err)
	}
}

// runDraft runs SaveDraft for one ERP invoice as one activity attempt and fails unless it saved a new draft.
func runDraft(br *activities.Browser, id string) error {
	env := newActivityEnv(br)
	v, err := env.ExecuteActivity(br.SaveDraft, id)
	if err != nil {
		return fmt.Errorf("SaveDraft %s: %w", id, err)
	}
	var res activities.DraftResult
	if err := v.Get(&res); err != nil {
		return err
	}
	if res.Reused || res.Invoice.PortalID == "" {
		return fmt.Errorf("SaveDraft %s: %+v, want a new draft", id, res)
	}
	return nil
}

// retryable tells whether Temporal would retry an activity's error.
func retryable(err error) bool {
	var appErr *temporal.ApplicationError
	return !errors.As(err, &appErr) || !appErr.NonRetryable()
}

// report writes a headline figure: measured (unit measured_<unit>), baseline (baseline_<baseUnit>), their
// ratio and, if > 0, the target the ratio must not exceed.
func report(b *testing.B, unit string, measured float64, baseUnit string, baseline, target float64) {
	b.ReportMetric(measured, "measured_"+unit)
	b.ReportMetric(baseline, "baseline_"+baseUnit)
	ratio := math.NaN()
	if baseline != 0 {
		ratio = measured / baseline
	}
	b.ReportMetric(ratio, "ratio")
	if target > 0 {
		b.ReportMetric(target, "target")
	}
}

// draftFloorRequests is the fewest portal requests a SaveDraft on the Coupa-like portal (coupa-sim.yaml)
// needs, each paying the portal's round trip:
//
//  1. GET  /invoices?q=N           the look-up that keeps a retried SaveDraft from keying a second draft
//  2. GET  /pos/PO                 create_draft step 1: navigate to the PO
//  3. GET  /pos/PO/invoices/new    step 2: click "Create Invoice" (a link: a page load)
//  4. POST /pos/PO/invoices        "Save as Draft" posts the form…
//  5. GET  /invoices/ID            …and the portal answers with a redirect to the draft's page, which
//     shows "Draft saved." (the wait step), the draft's status and total, and is what the approver's
//     screenshot shows.
//
// The fields, lines, tax and attachment are keyed in the form page without a request.
const draftFloorRequests = 5

// BenchmarkDraftWaste measures how long the SaveDraft activity takes in Chromium when every request of
// the account's portal pages takes PORTICO_BENCH_LATENCY_MS (default 300 ms) more, as a real portal's
// round trip, against the floor: the delay × draftFloorRequests. The ratio is what the driver and the
// activity (Chromium, PostgreSQL, the evidence screenshot) add on top of the portal's own time; target ≤
// 1.5. Each op saves PORTICO_BENCH_WASTE_DRAFTS drafts (default 10), one after the other on one signed-in
// account, and the figure is their mean. It also reports page_loads/draft (the driver's navigations and
// navigating clicks) and requests/draft (the portal's request log: what the latency was paid on).
func BenchmarkDraftWaste(b *testing.B) {
	k := benchenv.Size(b, "PORTICO_BENCH_WASTE_DRAFTS", 10)
	ms := latencyMS(b)
	p := newBenchPortal(b, simulator.Config{}, simulator.GenerateSpec{Seed: 7, Accounts: 1, POs: 6 * (k*b.N + 1)})
	ids := p.invoices(b, 0, k*b.N+1, "W")
	p.delayAccount(b, 0, ms)
	// Sign in (and warm Chromium up) outside the measurement: a worker's session outlives one draft.
	if err := runDraft(p.br, ids[0]); err != nil {
		b.Fatal(err)
	}
	ids = ids[1:]
	mark, loads := len(p.sim.Requests()), p.drv.Stats().PageLoads
	logins := p.drv.Stats().Logins
	p.steps.reset()
	var took time.Duration
	b.ResetTimer()
	for _, id := range ids {
		start := time.Now()
		if err := runDraft(p.br, id); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
	}
	b.StopTimer()
	n := float64(len(ids))
	reqs := p.sim.Requests()[mark:]
	byKind := map[string]int{}
	for _, r := range reqs {
		byKind[requestKind(r)]++
	}
	measured := took.Seconds() / n
	baseline := float64(draftFloorRequests*ms) / 1000
	report(b, "s", measured, "s", baseline, 1.5)
	b.ReportMetric(float64(p.drv.Stats().PageLoads-loads)/n, "page_loads/draft")
	b.ReportMetric(float64(len(reqs))/n, "requests/draft")
	b.ReportMetric(draftFloorRequests, "floor_requests/draft")
	b.ReportMetric(float64(ms), "delay_ms")
	b.ReportMetric(loadAvg(), "loadavg_1m")
	if l := p.drv.Stats().Logins - logins; l != 0 {
		b.Errorf("%d sign-ins during the measurement: the session was not reused", l)
	}
	b.Logf("%d drafts at %d ms per request: %.3f s each against a floor of %d requests × %d ms = %.3f s (ratio %.2f; target 1.5). "+
		"Requests per draft: %s. Driver steps per draft (a step includes its page loads): %s",
		len(ids), ms, measured, draftFloorRequests, ms, baseline, measured/baseline, kinds(byKind, n), p.steps.per(n))
}

// requestKind names a portal request by method and path, with IDs and numbers left out.
func requestKind(r simulator.Request) string {
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	for i := range segs {
		if i > 0 && (segs[i-1] == "pos" || segs[i-1] == "invoices" || segs[i-1] == "orders") && segs[i] != "new" {
			segs[i] = "{id}"
		}
	}
	k := r.Method + " /" + strings.Join(segs, "/")
	if r.Query != "" {
		q, _, _ := strings.Cut(r.Query, "=")
		k += "?" + q + "=…"
	}
	return k
}

func kinds(m map[string]int, n float64) string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s %.2g", k, float64(v)/n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// BenchmarkLoginsPerInvoice counts the portal sign-ins of PORTICO_BENCH_LOGIN_DRAFTS drafts (default 100)
// of one account, run as a worker runs them: each SaveDraft activity in its own tab, on a driver that
// keeps sessions in memory and in PostgreSQL, PORTICO_BENCH_LOGIN_SLOTS (default 1) at a time. The first
// draft signs in; every later one should reuse that session. Target: ≤ 0.02 sign-ins per invoice.
// portal_logins counts the sign-ins the portal saw (its login_ok events).
//
// With 2 slots (a worker's default BrowserSlots) the first two drafts both start without a session; the
// second waits for the first one's sign-in and takes its session, so a batch still signs in once.
func BenchmarkLoginsPerInvoice(b *testing.B) {
	n := benchenv.Size(b, "PORTICO_BENCH_LOGIN_DRAFTS", 100)
	slots := benchenv.Size(b, "PORTICO_BENCH_LOGIN_SLOTS", 1)
	p := newBenchPortal(b, simulator.Config{}, simulator.GenerateSpec{Seed: 11, Accounts: 1, POs: 6 * n * b.N})
	ids := p.invoices(b, 0, n*b.N, "L")
	before, okBefore := p.drv.Stats().Logins, p.sim.CountEvents("login_ok", "")
	b.ResetTimer()
	if err := drain(ids, slots, func(int) *activities.Browser { return p.br }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	logins := float64(p.drv.Stats().Logins - before)
	report(b, "logins", logins, "invoices", float64(len(ids)), 0.02)
	b.ReportMetric(logins/float64(len(ids)), "logins/invoice")
	b.ReportMetric(float64(p.sim.CountEvents("login_ok", "")-okBefore), "portal_logins")
	b.Logf("%d drafts, %d at a time, on one account: %.0f sign-ins (%.3f per invoice; target 0.02)", len(ids), slots, logins, logins/float64(len(ids)))
}

// drain runs SaveDraft for every invoice in ids, slots at a time: each slot takes the next invoice from
// the queue, as a worker's activity slots do. br gives a slot's activities.
func drain(ids []string, slots int, br func(slot int) *activities.Browser) error {
	return eachSlot(len(ids), slots, func(slot, i int) error { return runDraft(br(slot), ids[i]) })
}

// each runs fn(0) … fn(n-1), slots at a time, and returns the first error (a slot stops at its first).
func each(n, slots int, fn func(i int) error) error {
	return eachSlot(n, slots, func(_, i int) error { return fn(i) })
}

func eachSlot(n, slots int, fn func(slot, i int) error) error {
	var next atomic.Int64
	errs := make([]error, slots)
	var wg sync.WaitGroup
	for s := range slots {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(s, i); err != nil {
					errs[s] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// chromium samples the size of the benchmark's Chromium with the worker's own collector
// (metrics.WatchChromium: the browser process and all its descendants, from /proc).
type chromium struct {
	reg *prometheus.Registry
}

func newChromium(b *testing.B) *chromium {
	b.Helper()
	m := metrics.New()
	if err := m.WatchChromium(testenv.Browser(b)); err != nil {
		b.Fatal(err)
	}
	return &chromium{reg: m.Registry()}
}

// sample returns Chromium's process count, RSS and PSS (bytes) now.
func (c *chromium) sample() (procs, rss, pss float64) {
	fams, _ := c.reg.Gather()
	for _, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		v := f.GetMetric()[0].GetGauge().GetValue()
		switch f.GetName() {
		case metrics.ChromiumProcs:
			procs = v
		case metrics.ChromiumMemory:
			rss = v
		case metrics.ChromiumPSS:
			pss = v
		}
	}
	return procs, rss, pss
}

// peaks samples c every interval until stop is closed and returns the highest readings.
func (c *chromium) peaks(interval time.Duration, stop <-chan struct{}) (procs, rss, pss float64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p, r, s := c.sample()
		procs, rss, pss = max(procs, p), max(rss, r), max(pss, s)
		select {
		case <-stop:
			return procs, rss, pss
		case <-t.C:
		}
	}
}

// settled waits until Chromium's process count has stayed the same for a second (tabs' renderers exit
// shortly after their tabs close), at most limit, and returns it.
func (c *chromium) settled(limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	last, since := -1.0, time.Now()
	for time.Now().Before(deadline) {
		p, _, _ := c.sample()
		if p != last {
			last, since = p, time.Now()
		} else if time.Since(since) >= time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// BenchmarkBrowserSlots measures drafting throughput and Chromium's memory with 1, 2 and 4 browser slots
// on the one shared Chromium: each slot is a goroutine running SaveDraft activities (each in its own tab)
// from a queue of invoices, as a worker's activity slots do. There are four accounts and each slot count
// works one queue per account, slot i draining account i's queue: slots never work the same account at
// once. (Two tabs of one account share its portal session, and the simulator, like real server-rendered
// portals, keeps the "Draft saved." notice in the session, where another tab's page load can take it;
// a worker serialising one account's drafts is what that calls for.) Every account signs in once before
// the runs, and every request takes PORTICO_BENCH_LATENCY_MS (default 300) more, as a real portal's round
// trip: slots overlap that wait, and share the machine's cores for the rest.
//
// Each slot count saves PORTICO_BENCH_SLOT_DRAFTS drafts (default 24, a multiple of 4 keeps the slots
// even), sampling Chromium's RSS and PSS every 250 ms. The figures, as sub-benchmarks:
//
//	drafts_per_min/slots=N: drafts per minute at N slots, against 1 slot (N would be linear); no target.
//	pss_per_slot/slots=N, rss_per_slot/slots=N: Chromium's peak PSS / RSS during the run, divided by N, in
//	MB, against the same at 1 slot.
func BenchmarkBrowserSlots(b *testing.B) {
	perRun := benchenv.Size(b, "PORTICO_BENCH_SLOT_DRAFTS", 24)
	ms := latencyMS(b)
	slotCounts := []int{1, 2, 4}
	const accounts = 4
	// Per account: one invoice to sign in with, then its share of each run's drafts.
	need := func(i int) int {
		n := 1
		for _, slots := range slotCounts {
			if i < slots {
				n += perRun / slots
			}
		}
		return n
	}
	p := newBenchPortal(b, simulator.Config{}, simulator.GenerateSpec{Seed: 13, Accounts: accounts, POs: 6 * need(0)})
	queues := make([][][]string, len(slotCounts)) // run → account → invoice IDs
	for i := range accounts {
		ids := p.invoices(b, i, need(i), "T")
		if err := runDraft(p.br, ids[0]); err != nil { // sign in; not measured
			b.Fatal(err)
		}
		p.delayAccount(b, i, ms)
		ids = ids[1:]
		for r, slots := range slotCounts {
			if i < slots {
				share := perRun / slots
				queues[r] = append(queues[r], ids[:share])
				ids = ids[share:]
			}
		}
	}
	c := newChromium(b)
	type result struct {
		rate, rss, pss, procs, load float64
		note                        string
	}
	results := make([]result, len(slotCounts))
	for r, n := range slotCounts {
		logins := p.drv.Stats().Logins
		stop := make(chan struct{})
		peak := make(chan result, 1)
		go func() {
			procs, rss, pss := c.peaks(250*time.Millisecond, stop)
			peak <- result{procs: procs, rss: rss, pss: pss}
		}()
		start := time.Now()
		var wg sync.WaitGroup
		var errs [4]error
		done := 0
		for i := range n {
			done += len(queues[r][i])
			wg.Go(func() { errs[i] = drain(queues[r][i], 1, func(int) *activities.Browser { return p.br }) })
		}
		wg.Wait()
		took := time.Since(start)
		close(stop)
		pk := <-peak
		if err := errors.Join(errs[:]...); err != nil {
			b.Fatal(err)
		}
		if l := p.drv.Stats().Logins - logins; l != 0 {
			b.Errorf("%d slots: %d sign-ins during the run", n, l)
		}
		res := result{rate: float64(done) / took.Minutes(), rss: pk.rss, pss: pk.pss, procs: pk.procs, load: loadAvg()}
		res.note = fmt.Sprintf("%d slots: %d drafts in %s = %.1f drafts/min; Chromium peak %.0f processes, RSS %.0f MB, PSS %.0f MB; load average %.1f",
			n, done, took.Round(time.Millisecond), res.rate, pk.procs, pk.rss/1e6, pk.pss/1e6, res.load)
		results[r] = res
	}
	base := results[0]
	for r, n := range slotCounts {
		res := results[r]
		b.Run(fmt.Sprintf("drafts_per_min/slots=%d", n), func(b *testing.B) {
			b.Log(res.note)
			report(b, "drafts/min", res.rate, "drafts/min", base.rate, 0)
			b.ReportMetric(float64(ms), "delay_ms")
			b.ReportMetric(res.load, "loadavg_1m")
		})
	}
	for r, n := range slotCounts {
		res := results[r]
		b.Run(fmt.Sprintf("pss_per_slot/slots=%d", n), func(b *testing.B) {
			report(b, "MB/slot", res.pss/1e6/float64(n), "MB/slot", base.pss/1e6, 0)
			b.ReportMetric(res.pss/1e6, "peak_MB")
			b.ReportMetric(res.procs, "peak_procs")
		})
	}
	for r, n := range slotCounts {
		res := results[r]
		b.Run(fmt.Sprintf("rss_per_slot/slots=%d", n), func(b *testing.B) {
			report(b, "MB/slot", res.rss/1e6/float64(n), "MB/slot", base.rss/1e6, 0)
			b.ReportMetric(res.rss/1e6, "peak_MB")
		})
	}
}

// BenchmarkChromiumProcessesLeft runs PORTICO_BENCH_ACTIVITIES browser activities (default 500), each
// opening and closing its own tab: first SaveDraft for a tenth of them, one at a time, then CheckStatus
// of those drafts for the rest, 4 at a time. Once every tab is closed and Chromium's process count has
// settled, it compares that count with the count before the activities (after one sign-in, with no tab
// open): a process left over per tab would grow without bound in a worker. Target: none left (ratio ≤ 1).
func BenchmarkChromiumProcessesLeft(b *testing.B) {
	n := benchenv.Size(b, "PORTICO_BENCH_ACTIVITIES", 500)
	drafts := max(1, n/10)
	p := newBenchPortal(b, simulator.Config{}, simulator.GenerateSpec{Seed: 17, Accounts: 1, POs: 6 * (drafts + 1)})
	ids := p.invoices(b, 0, drafts+1, "P")
	if err := runDraft(p.br, ids[0]); err != nil { // sign in; not counted
		b.Fatal(err)
	}
	ids = ids[1:]
	c := newChromium(b)
	if tabs := testenv.Browser(b).OpenTabs(); tabs != 0 {
		b.Fatalf("%d tabs open before the activities", tabs)
	}
	before := c.settled(15 * time.Second)
	stop := make(chan struct{})
	peak := make(chan float64, 1)
	go func() { procs, _, _ := c.peaks(250*time.Millisecond, stop); peak <- procs }()
	b.ResetTimer()
	// First the drafts, one at a time (two saves of one account at once can lose the portal's "Draft
	// saved." notice to each other: see BenchmarkBrowserSlots), then status checks of them, 4 at a time.
	// A status check the portal did not answer in time (a retryable error, on a loaded machine) is tried
	// again, as Temporal would: each attempt is an activity with its own tab, and counts toward n.
	var retries atomic.Int64
	err := drain(ids, 1, func(int) *activities.Browser { return p.br })
	if err == nil {
		var attempts atomic.Int64
		err = each(n-len(ids), 4, func(i int) error {
			for {
				_, err := newActivityEnv(p.br).ExecuteActivity(p.br.CheckStatus, ids[i%len(ids)])
				if err == nil || !retryable(err) || attempts.Add(1) > int64(n) {
					return err
				}
				retries.Add(1)
			}
		})
	}
	b.StopTimer()
	close(stop)
	peakProcs := <-peak
	if err != nil {
		b.Fatal(err)
	}
	if tabs := testenv.Browser(b).OpenTabs(); tabs != 0 {
		b.Errorf("%d tabs still open after the activities", tabs)
	}
	after := c.settled(30 * time.Second)
	report(b, "procs", after, "procs", before, 1)
	b.ReportMetric(after-before, "procs_left")
	b.ReportMetric(peakProcs, "peak_procs")
	b.ReportMetric(float64(n)+float64(retries.Load()), "activities")
	b.ReportMetric(float64(retries.Load()), "retries")
	b.Logf("%d activities (%d SaveDraft, %d CheckStatus 4 at a time, %d of them retries): Chromium had %.0f processes before, %.0f at the peak, %.0f after (%+.0f; target 0)",
		n+int(retries.Load()), len(ids), n-len(ids)+int(retries.Load()), retries.Load(), before, peakProcs, after, after-before)
}
