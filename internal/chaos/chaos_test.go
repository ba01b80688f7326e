package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"portico/internal/demo"
	"portico/internal/erp"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/workflows"
)

// plan is how hard a run shakes Portico.
type plan struct {
	name     string
	invoices int
	kills    int
	faults   []faultSpec
	// killGap is how long the worker runs, at least and at most, between its restart and the next kill;
	// pause how long it stays dead.
	killGap, pause [2]time.Duration
	// PostgreSQL is restarted once this many drafts are in the portal, Temporal once this many submissions
	// are; the faults come one by one as the batch goes from nothing to faultsBy of its drafts and
	// submissions. The short plan crowds its chaos into the first minute, so that the stalls it causes
	// (a killed browser activity is retried only after its one-minute heartbeat timeout) overlap.
	pgAfterDrafts, temporalAfterSubmits int
	faultsBy                            float64
	// crowd does whatever restart or fault is still due right after the last kill.
	crowd bool
	slots int
	poll  workflows.PollPolicy
	// deadline bounds the whole run; a run that needs it has found a stuck invoice.
	deadline time.Duration
}

// faultSpec is one simulator fault the run injects.
type faultSpec struct {
	name  string
	fault simulator.Fault
}

var (
	fault503 = faultSpec{"503 burst", simulator.Fault{Kind: simulator.FaultError, Status: 503, Count: 4}}
	// Only supplier pages are faulted (the buyer's side, which the test plays, never is).
	faultLatency     = faultSpec{"latency 1.5 s", simulator.Fault{Kind: simulator.FaultLatency, MS: 1500, Count: 20}}
	faultKillSession = faultSpec{"kill_session", simulator.Fault{Kind: simulator.FaultKillSession, Account: demo.Supplier}}
	// POST /invoices/{id}/submit answered 502 before the portal acts: the submission must be retried.
	faultSubmit502  = faultSpec{"502 on POST /invoices", simulator.Fault{Kind: simulator.FaultError, Status: 502, Path: "/invoices", Method: "POST", Count: 2}}
	faultMaintenace = faultSpec{"maintenance page", simulator.Fault{Kind: simulator.FaultMaintenance, Count: 3}}
)

// shortPlan runs in `make test`: a few invoices, every kind of chaos once or more, a few minutes.
var shortPlan = plan{
	name: "short", invoices: 6, kills: 4,
	faults:  []faultSpec{fault503, faultKillSession},
	killGap: [2]time.Duration{2 * time.Second, 5 * time.Second}, pause: [2]time.Duration{500 * time.Millisecond, 2 * time.Second},
	pgAfterDrafts: 1, temporalAfterSubmits: 1, faultsBy: 0.4, crowd: true,
	slots: 2, poll: workflows.PollPolicy{First: time.Second, Max: 2 * time.Second},
	deadline: 8 * time.Minute,
}

// fullPlan is `make chaos`.
var fullPlan = plan{
	name: "full", invoices: 40, kills: 24,
	faults:  []faultSpec{fault503, faultLatency, faultKillSession, faultSubmit502, faultMaintenace, faultKillSession, fault503, faultLatency},
	killGap: [2]time.Duration{3 * time.Second, 10 * time.Second}, pause: [2]time.Duration{500 * time.Millisecond, 3 * time.Second},
	pgAfterDrafts: 14, temporalAfterSubmits: 20, faultsBy: 0.9,
	slots: 2, poll: workflows.PollPolicy{First: 2 * time.Second, Max: 5 * time.Second},
	deadline: 25 * time.Minute,
}

// approver is one of the demo customer's approvers.
const approver = "ops@boltnut.example"

// TestChaos drives a batch of invoices to Paid while the worker is killed with SIGKILL at random points
// of drafting and submitting, PostgreSQL and Temporal are restarted and the portal fails, then checks from
// the simulator's own records and the ERP tables that nothing was done twice or lost.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs real services for minutes")
	}
	p := shortPlan
	switch m := os.Getenv("PORTICO_CHAOS"); m {
	case "", "short":
	case "full":
		p = fullPlan
	default:
		t.Fatalf("PORTICO_CHAOS=%q: want short or full", m)
	}
	if v := os.Getenv("PORTICO_CHAOS_INVOICES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PORTICO_CHAOS_INVOICES=%q", v)
		}
		p.invoices = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PORTICO_CHAOS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("PORTICO_CHAOS_SEED=%q", v)
		}
	}
	t.Logf("chaos %s: %d invoices, %d kills, seed %d (PORTICO_CHAOS_SEED replays the choices, not the timing)", p.name, p.invoices, p.kills, seed)

	began := time.Now()
	load := loadAverage()
	ctx, cancel := context.WithTimeout(context.Background(), p.deadline)
	defer cancel()
	s := startStack(t, ctx, p.slots)
	r := &run{t: t, s: s, plan: p, rng: rand.New(rand.NewPCG(seed, 0xc4a05)), seed: seed, began: began, load: load}
	var err error
	if r.batch, err = seedBatch(ctx, s.store, s.sim, s.simURL, p.invoices, r.rng); err != nil {
		t.Fatal(err)
	}
	r.byNumber = map[string]string{}
	for _, inv := range r.batch {
		r.byNumber[inv.Number] = inv.ID
	}
	if err := s.worker.start(); err != nil {
		t.Fatal(err)
	}
	r.began = time.Now() // the clock of the report starts with the worker

	// The ERP, the approver and the buyer, one goroutine per invoice; the chaos alongside.
	r.outcomes = make([]outcome, len(r.batch))
	var drivers sync.WaitGroup
	for i, inv := range r.batch {
		drivers.Go(func() { r.outcomes[i] = r.drive(ctx, inv) })
	}
	allDone := make(chan struct{})
	go func() { drivers.Wait(); close(allDone) }()
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); r.chaos(ctx, allDone) }()
	<-chaosDone
	<-allDone
	s.sim.ClearFaults()
	r.paidAfter = time.Since(r.began)

	// Every workflow must close, whatever its invoice's driver saw.
	r.results = r.waitClosed(ctx)
	r.wall = time.Since(r.began)
	checks := r.verify(context.Background())
	failed := false
	for _, c := range checks {
		t.Logf("%s %s: %s", mark(c.ok), c.name, c.detail)
		if !c.ok {
			t.Errorf("%s: %s", c.name, c.detail)
			failed = true
		}
	}
	t.Log("when the portal saw each invoice drafted, submitted, approved and paid (from the worker's first start):\n" + r.timeline())
	report := r.markdown(checks)
	t.Log("\n" + report)
	if failed || t.Failed() {
		if path := s.worker.keepLog(); path != "" {
			t.Logf("worker log kept in %s; its end:\n%s", path, s.worker.logTail(60))
		}
	}
	if p.name == "full" || os.Getenv("PORTICO_CHAOS_RECORD") == "1" {
		if err := record(p.name, report); err != nil {
			t.Errorf("bench/chaos.md: %v", err)
		}
	}
}

// run is one chaos run: what was planned, what happened, and the batch's outcomes.
type run struct {
	t     *testing.T
	s     *stack
	plan  plan
	rng   *rand.Rand // used by the chaos goroutine only
	seed  uint64
	batch []chaosInvoice
	// byNumber finds a batch invoice's ERP ID by its number.
	byNumber map[string]string
	began    time.Time
	load     string

	outcomes []outcome
	results  []closedResult

	mu       sync.Mutex
	kills    []killRecord
	events   []chaosEvent // restarts and faults
	finished atomic.Int32 // drivers done

	paidAfter, wall time.Duration
}

// outcome is what the driver of one invoice saw.
type outcome struct {
	err              error
	approvalAttempts int
}

// killRecord is one kill of the worker.
type killRecord struct {
	at      time.Duration
	trigger string
	landed  []landing // the activities the dead worker had started and not finished
	report  killReport
	err     error
}

// chaosEvent is a restart of PostgreSQL or Temporal, or an injected fault.
type chaosEvent struct {
	at   time.Duration
	kind string // postgres, temporal or fault
	what string
	took time.Duration
	err  error
}

func (r *run) since() time.Duration { return time.Since(r.began).Round(100 * time.Millisecond) }

func (r *run) between(span [2]time.Duration) time.Duration {
	return span[0] + time.Duration(r.rng.Int64N(int64(span[1]-span[0])+1))
}

// retry calls fn until it succeeds, each call bounded, backing off: the services it talks to are
// restarted under it.
func retry(ctx context.Context, fn func(context.Context) error) error {
	wait := 200 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := fn(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		sleep(ctx, wait)
		wait = min(wait*2, 3*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// stageRank orders the stages of an invoice that goes straight to Paid, from the ERP's "new" (no workflow
// has written yet); any other stage is -1.
func stageRank(stage string) int {
	for i, s := range []workflows.Stage{"new", workflows.StageMatching, workflows.StageChecking, workflows.StageDrafting, workflows.StageAwaitingApproval,
		workflows.StageSubmitting, workflows.StageWithBuyer, workflows.StagePaid} {
		if string(s) == stage {
			return i
		}
	}
	return -1
}

// waitRow polls the ERP row until ok; a stage off the straight path to Paid ends the wait with an error.
func (r *run) waitRow(ctx context.Context, inv chaosInvoice, what string, ok func(store.Invoice) bool) (store.Invoice, error) {
	var last store.Invoice
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		row, err := r.s.store.Invoice(qctx, inv.ID)
		cancel()
		if err == nil {
			last = row
			if ok(row) {
				return row, nil
			}
			if row.Stage != "" && stageRank(row.Stage) < 0 {
				return row, fmt.Errorf("waiting for %s, the invoice went to stage %s: %s", what, row.Stage, row.StatusReason)
			}
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return last, fmt.Errorf("never %s (last: stage %q, portal status %q)", what, last.Stage, last.PortalStatus)
}

// drive plays the ERP, the approver and the buyer for one invoice: start its workflow, approve the draft
// as soon as it awaits approval, then approve and pay it as the buyer once submitted, each step retried
// through the restarts. It waits for Portico to see each buyer step before the next, so that the ERP must
// show every one.
func (r *run) drive(ctx context.Context, inv chaosInvoice) (out outcome) {
	defer r.finished.Add(1)
	fail := func(step string, err error) outcome {
		out.err = fmt.Errorf("%s: %w", step, err)
		return out
	}
	if err := retry(ctx, func(c context.Context) error {
		_, err := erp.StartInvoice(c, r.s.client, r.s.store, inv.ID, r.plan.poll)
		return err
	}); err != nil {
		return fail("start", err)
	}
	awaiting := stageRank(string(workflows.StageAwaitingApproval))
	if _, err := r.waitRow(ctx, inv, "awaiting approval", func(row store.Invoice) bool { return stageRank(row.Stage) >= awaiting }); err != nil {
		return fail("draft", err)
	}
	for {
		out.approvalAttempts++
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := erp.SendApproval(actx, r.s.client, inv.ID, workflows.Approval{Decision: workflows.DecisionApprove, Approver: approver, Note: "chaos"})
		cancel()
		if err == nil || strings.Contains(err.Error(), "has been decided on already") {
			break // an attempt cut off by a restart may have been taken: the workflow says so
		}
		if ctx.Err() != nil {
			return fail("approve", err)
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		row, qerr := r.s.store.Invoice(qctx, inv.ID)
		cancel()
		if qerr == nil && stageRank(row.Stage) > awaiting {
			break
		}
		sleep(ctx, time.Second)
	}
	withBuyer := stageRank(string(workflows.StageWithBuyer))
	if _, err := r.waitRow(ctx, inv, "with the buyer", func(row store.Invoice) bool { return stageRank(row.Stage) >= withBuyer }); err != nil {
		return fail("submit", err)
	}
	buyer := demo.Buyer{BaseURL: r.s.simURL}
	act := func(from, action, arg string) error {
		return retry(ctx, func(c context.Context) error {
			_, status, err := buyer.Find(c, demo.Supplier, inv.Number)
			if err != nil || status != from {
				return err // nil: done already (a retry whose first call got through)
			}
			return buyer.Act(c, demo.Supplier, inv.Number, action, arg)
		})
	}
	if err := act("Pending Approval", "approve", ""); err != nil {
		return fail("buyer approval", err)
	}
	if _, err := r.waitRow(ctx, inv, "Approved in the ERP", func(row store.Invoice) bool {
		return row.PortalStatus == "Approved" || row.Stage == string(workflows.StagePaid)
	}); err != nil {
		return fail("buyer approval", err)
	}
	if err := act("Approved", "pay", "ACH-"+inv.Number); err != nil {
		return fail("payment", err)
	}
	if _, err := r.waitRow(ctx, inv, "paid in the ERP", func(row store.Invoice) bool { return row.Stage == string(workflows.StagePaid) }); err != nil {
		return fail("payment", err)
	}
	return out
}

// chaos kills the worker, restarts PostgreSQL and Temporal and injects faults, as the plan says, until it
// is carried out or every invoice is done. Kills are biased to the moments a draft or a submission is in
// flight, read from the simulator's request log: the form of a new invoice opened, a draft or a
// submission posted; a kill follows such a request after a random delay, so it lands before the post,
// after the portal acted but before the activity reported, or later.
func (r *run) chaos(ctx context.Context, allDone <-chan struct{}) {
	n := len(r.batch)
	pgAt, temporalAt := min(r.plan.pgAfterDrafts, n), min(r.plan.temporalAfterSubmits, n)
	pgDone, temporalDone := false, false
	faultsDone := 0
	nextKill := time.Now().Add(r.between(r.plan.killGap))
	aims := []string{"draft, before the save", "draft, after the save", "submission, before it", "submission, after it"}
	aim := aims[r.rng.IntN(len(aims))]
	seen := len(r.s.sim.Requests())
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-allDone:
			return
		case <-tick.C:
		}
		reqs := r.s.sim.Requests()
		if len(reqs) < seen {
			seen = 0 // the log was trimmed
		}
		fresh := reqs[seen:]
		seen = len(reqs)
		drafts, submits := r.s.sim.CountEvents("draft_created", ""), r.s.sim.CountEvents("submitted", "")
		r.mu.Lock()
		kills := len(r.kills)
		r.mu.Unlock()
		crowded := r.plan.crowd && kills >= r.plan.kills

		switch {
		case !pgDone && (drafts >= pgAt || crowded):
			pgDone = true
			took, err := r.s.restartPostgres(ctx, r.between([2]time.Duration{time.Second, 3 * time.Second}))
			r.note(chaosEvent{kind: "postgres", what: "PostgreSQL restarted", took: took, err: err})
			continue
		case !temporalDone && (submits >= temporalAt || crowded):
			temporalDone = true
			took, err := r.s.restartTemporal(ctx, r.between([2]time.Duration{time.Second, 3 * time.Second}))
			r.note(chaosEvent{kind: "temporal", what: "Temporal restarted", took: took, err: err})
			continue
		case faultsDone < len(r.plan.faults) && (crowded ||
			float64(drafts+submits) >= r.plan.faultsBy*float64(2*n)*float64(faultsDone+1)/float64(len(r.plan.faults)+1)):
			f := r.plan.faults[faultsDone]
			faultsDone++
			_, err := r.s.sim.InjectFault(f.fault)
			r.note(chaosEvent{kind: "fault", what: f.name, err: err})
			continue
		}

		if kills >= r.plan.kills {
			if pgDone && temporalDone && faultsDone == len(r.plan.faults) {
				return
			}
			continue
		}
		pid, uptime := r.s.worker.up()
		if pid == 0 || time.Now().Before(nextKill) || uptime < time.Second {
			continue
		}
		// Each kill aims at one moment: a draft or a submission, before the portal acts or just after
		// (the activity has not reported yet). After 6 s any draft or submission will do, after 12 s any
		// moment (the batch may be past drafting, or stalled on earlier kills).
		overdue := time.Since(nextKill)
		trigger := ""
		for _, q := range fresh {
			target, what := r.hot(ctx, q)
			if target != "" && (target == aim || overdue > 6*time.Second) {
				trigger = what
				break
			}
		}
		if trigger == "" && overdue > 12*time.Second {
			trigger = "unbiased (no draft or submission seen for 12 s)"
		}
		if trigger == "" {
			continue
		}
		sleep(ctx, time.Duration(r.rng.Int64N(int64(900*time.Millisecond))))
		r.kill(ctx, trigger)
		nextKill = time.Now().Add(r.between(r.plan.pause) + r.between(r.plan.killGap))
		aim = aims[r.rng.IntN(len(aims))]
	}
}

// hot tells whether a portal request belongs to a draft or a submission under way, and at which moment
// (an aim of the chaos loop): the pages and posts only they make, or a look-up of an invoice whose ERP row
// says it is being drafted or submitted (the first thing SaveDraft and SubmitInvoice do). A kill follows
// after a random delay under a second: after a look-up or the form it lands before the portal acts, after
// a post once the portal has acted but before the activity has reported.
func (r *run) hot(ctx context.Context, q simulator.Request) (target, what string) {
	switch {
	case q.Method == "GET" && strings.HasPrefix(q.Path, "/pos/") && strings.HasSuffix(q.Path, "/invoices/new"):
		return "draft, before the save", "draft form opened"
	case q.Method == "POST" && strings.HasPrefix(q.Path, "/pos/") && strings.HasSuffix(q.Path, "/invoices"):
		return "draft, after the save", "draft posted"
	case q.Method == "POST" && strings.HasPrefix(q.Path, "/invoices/") && strings.HasSuffix(q.Path, "/submit"):
		return "submission, after it", "submission posted"
	case q.Method == "GET" && q.Path == "/invoices":
		v, _ := url.ParseQuery(q.Query)
		id, ok := r.byNumber[v.Get("q")]
		if !ok {
			return "", ""
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		row, err := r.s.store.Invoice(qctx, id)
		cancel()
		switch {
		case err != nil:
		case row.Stage == string(workflows.StageDrafting):
			return "draft, before the save", "draft: invoice looked up"
		case row.Stage == string(workflows.StageSubmitting):
			return "submission, before it", "submission: invoice looked up"
		}
	}
	return "", ""
}

// kill SIGKILLs the worker, has it restarted after a random pause, and records which activities it had
// in flight: those its identity had started that are still pending, with their last heartbeat (the portal
// step they were at).
func (r *run) kill(ctx context.Context, trigger string) {
	pause := r.between(r.plan.pause)
	rec := killRecord{at: r.since(), trigger: trigger}
	rec.report, rec.err = r.s.worker.kill(pause)
	if rec.report.PID != 0 {
		rec.landed = r.inFlight(ctx, rec.report.PID)
	}
	r.mu.Lock()
	r.kills = append(r.kills, rec)
	r.mu.Unlock()
	r.t.Logf("%s kill %d (%s): worker %d after %s, %d Chromium processes; in flight: %s",
		rec.at, len(r.kills), trigger, rec.report.PID, rec.report.Uptime.Round(100*time.Millisecond), rec.report.Chromium, rec.landedText())
	if rec.err != nil {
		r.t.Errorf("kill: %v", rec.err)
	}
}

// timeline is, per invoice, when the portal logged it drafted, submitted, approved by the buyer and paid.
func (r *run) timeline() string {
	at := map[string]map[string]time.Duration{}
	for _, e := range r.s.sim.Events() {
		if at[e.InvoiceNumber] == nil {
			at[e.InvoiceNumber] = map[string]time.Duration{}
		}
		if _, seen := at[e.InvoiceNumber][e.Kind]; !seen {
			at[e.InvoiceNumber][e.Kind] = e.Time.Sub(r.began).Round(100 * time.Millisecond)
		}
	}
	var b strings.Builder
	for _, inv := range r.batch {
		fmt.Fprintf(&b, "%s:", inv.Number)
		for _, k := range []string{"draft_created", "submitted", "approved", "paid"} {
			if d, ok := at[inv.Number][k]; ok {
				fmt.Fprintf(&b, " %s %s", k, d)
			} else {
				fmt.Fprintf(&b, " %s -", k)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// landedText lists what the kill cut short.
func (k killRecord) landedText() string {
	var parts []string
	for _, l := range k.landed {
		parts = append(parts, l.String())
	}
	return orNone(parts)
}

func (r *run) note(e chaosEvent) {
	e.at = r.since()
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if e.err != nil {
		r.t.Errorf("%s: %v", e.what, e.err)
		return
	}
	if e.took > 0 {
		r.t.Logf("%s %s (down %s)", e.at, e.what, e.took.Round(100*time.Millisecond))
	} else {
		r.t.Logf("%s fault injected: %s", e.at, e.what)
	}
}

// landing is an activity a kill cut short.
type landing struct {
	activity, number string
	// heartbeat is the step the activity last heartbeated: the SDK sends the first at once and throttles the
	// rest (to 80% of the heartbeat timeout), so it is often the activity's first step.
	heartbeat string
	// portalDone says the portal had already done the activity's work (the draft saved, the invoice
	// submitted) when the worker died: only the result was lost, and the retry must find it.
	portalDone bool
}

func (l landing) String() string {
	s := l.activity + " " + l.number
	switch {
	case l.activity == "SaveDraft" && l.portalDone:
		s += ", after the portal saved the draft"
	case l.activity == "SaveDraft":
		s += ", before the portal saved a draft"
	case l.activity == "SubmitInvoice" && l.portalDone:
		s += ", after the portal took the submission"
	case l.activity == "SubmitInvoice":
		s += ", before the portal took the submission"
	}
	if l.heartbeat != "" {
		s += " (last heartbeat " + strconv.Quote(l.heartbeat) + ")"
	}
	return s
}

// kind names the landing for the summary: the activity, and for drafts and submissions whether the
// portal had acted.
func (l landing) kind() string {
	switch l.activity {
	case "SaveDraft", "SubmitInvoice":
		if l.portalDone {
			return l.activity + " (portal had acted)"
		}
		return l.activity + " (portal had not acted)"
	}
	return l.activity
}

// inFlight lists the activities the worker with pid had started and not finished: the pending activities
// its identity started (they stay pending until their heartbeat timeout), checked against what the
// portal had done by the kill.
func (r *run) inFlight(ctx context.Context, pid int) []landing {
	prefix := fmt.Sprintf("%d@", pid)
	var out []landing
	for _, inv := range r.batch {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		d, err := r.s.client.DescribeWorkflowExecution(dctx, workflows.InvoiceWorkflowID(inv.ID), "")
		cancel()
		if err != nil {
			continue
		}
		for _, pa := range d.GetPendingActivities() {
			if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED || !strings.HasPrefix(pa.GetLastWorkerIdentity(), prefix) {
				continue
			}
			l := landing{activity: pa.GetActivityType().GetName(), number: inv.Number}
			if hb := pa.GetHeartbeatDetails(); hb != nil {
				_ = r.s.dc.FromPayloads(hb, &l.heartbeat)
			}
			switch l.activity {
			case "SaveDraft":
				l.portalDone = r.s.sim.CountEvents("draft_created", inv.Number) > 0
			case "SubmitInvoice":
				l.portalDone = r.s.sim.CountEvents("submitted", inv.Number) > 0
			}
			out = append(out, l)
		}
	}
	return out
}

// closedResult is how an invoice's workflow ended.
type closedResult struct {
	status enumspb.WorkflowExecutionStatus
	result workflows.InvoiceResult
	err    error
}

// waitClosed waits until every invoice's workflow has closed and returns how each ended.
func (r *run) waitClosed(ctx context.Context) []closedResult {
	out := make([]closedResult, len(r.batch))
	for i, inv := range r.batch {
		id := workflows.InvoiceWorkflowID(inv.ID)
		for {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			d, err := r.s.client.DescribeWorkflowExecution(dctx, id, "")
			cancel()
			if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				out[i].status = d.GetWorkflowExecutionInfo().GetStatus()
				break
			}
			if ctx.Err() != nil {
				out[i].status, out[i].err = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, fmt.Errorf("still running at the deadline: %s", r.pending(id))
				break
			}
			sleep(ctx, 500*time.Millisecond)
		}
		if out[i].status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		gctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out[i].err = r.s.client.GetWorkflow(gctx, id, "").Get(gctx, &out[i].result)
		cancel()
	}
	return out
}

// pending describes where a stuck workflow waits.
func (r *run) pending(workflowID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := r.s.client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, pa := range d.GetPendingActivities() {
		parts = append(parts, fmt.Sprintf("%s attempt %d %s", pa.GetActivityType().GetName(), pa.GetAttempt(), pa.GetState()))
	}
	return "pending: " + orNone(parts)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, "; ")
}

func mark(ok bool) string {
	if ok {
		return "✔"
	}
	return "✘"
}
