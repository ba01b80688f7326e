package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
	"portico/internal/benchenv"
	"portico/internal/portal"
)

// BenchmarkInvoiceHistory measures how long an invoice's Temporal history grows:
//
//   - happy_events: the events of the happy path as the dev server recorded it (testdata/invoice_paid.json:
//     drafted, one refused signal, approved by Update, Pending Approval → Approved → Paid);
//   - a year of polling: the workflow in the SDK's test environment with time skipping, approved an hour
//     after the start, the buyer showing Approved from day 2 and paying only on day PORTICO_BENCH_HISTORY_DAYS
//     (default 365), with the default polling (5 minutes, doubling up to 12 hours) but GiveUpAfter past that
//     day (the default 180 days would escalate first). Every continue-as-new is run on in a fresh
//     environment with the input it carried, as the server would.
//
// The test environment does not write a history, so the events are counted from what the workflow did
// (eventCounter): every command it issued (interceptor) and every activity completion and timer firing
// that woke it (the environment's listeners), at the events the server writes for each, and the count so far
// is what workflow.GetInfo(ctx).GetCurrentHistoryLength() answers, so continue-as-new triggers where it
// would on the server. TestHistoryEventModel checks the method against the recorded histories.
//
// The baseline is the continue-as-new threshold (continueAsNewAfterEvents): max_events/threshold is the
// longest run's history over it, target ≤ 1.
func BenchmarkInvoiceHistory(b *testing.B) {
	happy, err := recordedEventTypes(filepath.Join("testdata", "invoice_paid.json"))
	if err != nil {
		b.Fatal(err)
	}
	days := benchenv.Size(b, "PORTICO_BENCH_HISTORY_DAYS", 365)
	var y yearOfPolling
	b.ResetTimer()
	for range b.N {
		y = pollForDays(b, days)
	}
	b.StopTimer()
	b.ReportMetric(float64(happy.total()), "happy_events")
	b.ReportMetric(float64(y.total), "year_events")
	b.ReportMetric(float64(len(y.runs)), "year_runs")
	b.ReportMetric(float64(y.polls), "year_polls")
	b.ReportMetric(float64(y.total)/float64(y.polls), "events/poll")
	b.ReportMetric(float64(y.max), "max_events")
	b.ReportMetric(float64(continueAsNewAfterEvents), "threshold")
	b.ReportMetric(float64(y.max)/float64(continueAsNewAfterEvents), "max_events/threshold")
	b.Logf("happy path (recorded): %d events. %d days of polling: %d status reads, %d events in %d runs %v (threshold %d): longest run %.3f of the threshold",
		happy.total(), days, y.polls, y.total, len(y.runs), y.runs, continueAsNewAfterEvents, float64(y.max)/float64(continueAsNewAfterEvents))
}

type yearOfPolling struct {
	runs  []int // events per run
	total int
	max   int
	polls int
}

// pollForDays runs an invoice whose buyer pays on day days, continuing as new as the workflow asks.
func pollForDays(tb testing.TB, days int) yearOfPolling {
	tb.Helper()
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	approvedAt, paidAt := start.Add(48*time.Hour), start.Add(time.Duration(days)*24*time.Hour)
	in := InvoiceInput{InvoiceID: invoiceID, Poll: PollPolicy{GiveUpAfter: time.Duration(days+30) * 24 * time.Hour}}
	at := start
	var y yearOfPolling
	for run := 1; ; run++ {
		if run > 1000 {
			tb.Fatal("more than 1000 runs: the workflow keeps continuing as new")
		}
		var ts testsuite.WorkflowTestSuite
		ts.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		env := ts.NewTestWorkflowEnvironment()
		c := countEvents(env)
		env.SetStartTime(at)
		env.RegisterWorkflow(InvoiceWorkflow)
		env.RegisterActivity(&activities.Activities{})
		env.RegisterActivity(&activities.Browser{})
		env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
		env.OnActivity(a.RecordStatus, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.Notify, mock.Anything, mock.Anything).Return(nil).Maybe()
		env.OnActivity(a.LoadInvoice, mock.Anything, invoiceID).Return(summary, nil).Maybe()
		env.OnActivity(a.LoadPolicy, mock.Anything, "acme").Return(activities.Policy{CustomerID: "acme", Approvers: approvers,
			RemindEvery: 24 * time.Hour, EscalateAfter: 72 * time.Hour, MaxResubmissions: 2}, nil).Maybe()
		env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil).Maybe()
		env.OnActivity(a.CheckInvoice, mock.Anything, invoiceID).Return(allPassed(), nil).Maybe()
		env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(activities.DraftResult{Invoice: portalInvoice(portal.StatusDraft, "Draft", ""), Evidence: []string{"ev-values", "ev-shot"}}, nil).Maybe()
		env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(pending, nil).Maybe()
		env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(func(context.Context, string) (portal.Invoice, error) {
			y.polls++
			switch now := env.Now(); {
			case !now.Before(paidAt):
				return paid(), nil
			case !now.Before(approvedAt):
				return portalInvoice(portal.StatusApproved, "Approved", ""), nil
			}
			return pending, nil
		})
		if run == 1 {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(ApprovalSignal, Approval{Decision: DecisionApprove, Approver: approvers[0]})
			}, time.Hour)
		}
		c.started()
		env.ExecuteWorkflow(InvoiceWorkflow, in)
		c.closed()
		y.runs = append(y.runs, c.events)
		y.total += c.events
		y.max = max(y.max, c.events)

		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			in = InvoiceInput{}
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
				tb.Fatal(err)
			}
			at = env.Now()
			continue
		}
		if err != nil {
			tb.Fatalf("run %d: %v", run, err)
		}
		var res InvoiceResult
		if err := env.GetWorkflowResult(&res); err != nil {
			tb.Fatal(err)
		}
		if res.Stage != StagePaid || env.Now().Before(paidAt) {
			tb.Fatalf("run %d ended %s at %s, not paid on day %d", run, res.Stage, env.Now(), days)
		}
		return y
	}
}

// eventCounter counts the events the Temporal server would write into one run's history for what the
// workflow does, as the server writes them (checked on real histories by TestHistoryEventModel):
//
//   - 1 WorkflowExecutionStarted, and 1 for the close (completed, failed, continued as new);
//   - 3 per workflow task (scheduled, started, completed): one to start, and one for each thing that wakes
//     the workflow: an activity completing, a timer firing, a signal, an Update (so a signal that arrives
//     together with another event is counted one task too many: an upper bound for signals and Updates,
//     exact for a workflow woken by its own activities and timers, as when it polls);
//   - 3 per activity (scheduled, started, completed or failed; retries add none);
//   - 2 per timer (started, then fired or canceled);
//   - 1 per search attribute upsert;
//   - 2 per workflow.GetVersion change recorded (the marker and the TemporalChangeVersion upsert);
//   - 1 per signal; 2 per Update accepted (accepted, completed).
//
// With an environment (the SDK's test environment) it also tells the environment the history length as
// each workflow task starts, which is what workflow.GetInfo(ctx).GetCurrentHistoryLength() answers.
type eventCounter struct {
	interceptor.WorkerInterceptorBase
	env *testsuite.TestWorkflowEnvironment

	events                       int
	tasks, activities, completed int
	timers, fired, canceled      int
	upserts, versions            int
	signals, updates             int
	recorded                     map[string]bool
}

func countEvents(env *testsuite.TestWorkflowEnvironment) *eventCounter {
	c := &eventCounter{env: env, recorded: map[string]bool{}}
	if env != nil {
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{c}})
		env.SetOnActivityCompletedListener(func(*activity.Info, converter.EncodedValue, error) {
			c.completed++
			c.events += 2 // started and completed are written when the activity ends
			c.wake()
		})
		env.SetOnTimerFiredListener(func(string) {
			c.fired++
			c.events++
			c.wake()
		})
		env.SetOnTimerCanceledListener(func(string) {
			c.canceled++
			c.events++
		})
	}
	return c
}

// started counts the run's first events and its first workflow task.
func (c *eventCounter) started() {
	c.events++
	c.wake()
}

// closed counts the event that ends the run.
func (c *eventCounter) closed() { c.events++ }

// wake counts a workflow task; the history is as long as its started event when the workflow runs.
func (c *eventCounter) wake() {
	c.tasks++
	c.events += 2
	if c.env != nil {
		c.env.SetCurrentHistoryLength(c.events)
	}
	c.events++
}

func (c *eventCounter) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &countingInbound{c: c}
	i.Next = next
	return i
}

type countingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *eventCounter
}

func (i *countingInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	o := &countingOutbound{c: i.c}
	o.Next = outbound
	return i.Next.Init(o)
}

func (i *countingInbound) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	i.c.signals++
	i.c.events++
	i.c.wake()
	return i.Next.HandleSignal(ctx, in)
}

func (i *countingInbound) ExecuteUpdate(ctx workflow.Context, in *interceptor.UpdateInput) (any, error) {
	i.c.updates++
	i.c.events += 2
	i.c.wake()
	return i.Next.ExecuteUpdate(ctx, in)
}

type countingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	c *eventCounter
}

func (o *countingOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	o.c.activities++
	o.c.events++
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// NewTimer is counted apart from NewTimerWithOptions: the SDK's NewTimer does not go through the chain's
// NewTimerWithOptions (workflow.Sleep does).
func (o *countingOutbound) NewTimer(ctx workflow.Context, d time.Duration) workflow.Future {
	o.c.timers++
	o.c.events++
	return o.Next.NewTimer(ctx, d)
}

func (o *countingOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	o.c.timers++
	o.c.events++
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

func (o *countingOutbound) UpsertSearchAttributes(ctx workflow.Context, attrs map[string]any) error {
	o.c.upserts++
	o.c.events++
	return o.Next.UpsertSearchAttributes(ctx, attrs)
}

func (o *countingOutbound) UpsertTypedSearchAttributes(ctx workflow.Context, attrs ...temporal.SearchAttributeUpdate) error {
	o.c.upserts++
	o.c.events++
	return o.Next.UpsertTypedSearchAttributes(ctx, attrs...)
}

// GetVersion records a marker (and upserts TemporalChangeVersion) the first time a run meets a change it
// runs the new side of; a replayed history without the marker runs DefaultVersion and records nothing.
func (o *countingOutbound) GetVersion(ctx workflow.Context, changeID string, minSupported, maxSupported workflow.Version) workflow.Version {
	v := o.Next.GetVersion(ctx, changeID, minSupported, maxSupported)
	if v != workflow.DefaultVersion && !o.c.recorded[changeID] {
		o.c.recorded[changeID] = true
		o.c.versions++
		o.c.events += 2
	}
	return v
}

// eventTypes counts a recorded history's events by type (without the EVENT_TYPE_ prefix).
type eventTypes map[string]int

func (e eventTypes) total() int {
	n := 0
	for _, v := range e {
		n += v
	}
	return n
}

func recordedEventTypes(path string) (eventTypes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h struct {
		Events []struct {
			EventType string `json:"eventType"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	types := eventTypes{}
	for _, e := range h.Events {
		types[strings.TrimPrefix(e.EventType, "EVENT_TYPE_")]++
	}
	return types, nil
}

// TestHistoryEventModel checks eventCounter against the histories the dev server recorded: replayed, the
// workflow issues exactly the commands the history holds events for, and the count of workflow tasks
// (one to start plus one per activity completion, timer firing, signal and Update) is exact when the
// workflow is woken by its own activities and timers, and over by at most one task per signal or Update
// (those the server delivered together with another event).
func TestHistoryEventModel(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h, err := recordedEventTypes(f)
			if err != nil {
				t.Fatal(err)
			}
			c := countEvents(nil)
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{Interceptors: []interceptor.WorkerInterceptor{c}})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflow(InvoiceWorkflow)
			r.RegisterWorkflow(POSyncWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
			for _, chk := range []struct {
				what     string
				commands int
				recorded int
			}{
				{"activities scheduled", c.activities, h["ACTIVITY_TASK_SCHEDULED"]},
				{"timers started", c.timers, h["TIMER_STARTED"]},
				{"search attribute upserts", c.upserts + c.versions, h["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]},
				{"version markers", c.versions, h["MARKER_RECORDED"]},
				{"signals", c.signals, h["WORKFLOW_EXECUTION_SIGNALED"]},
				{"updates", c.updates, h["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]},
			} {
				if chk.commands != chk.recorded {
					t.Errorf("%s: the workflow did %d, the history has %d", chk.what, chk.commands, chk.recorded)
				}
			}
			// The same arithmetic as eventCounter, on the recorded events that wake the workflow.
			tasks := 1 + h["ACTIVITY_TASK_COMPLETED"] + h["ACTIVITY_TASK_FAILED"] + h["TIMER_FIRED"] + h["WORKFLOW_EXECUTION_SIGNALED"] + h["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
			model := 2 + 3*tasks + 3*h["ACTIVITY_TASK_SCHEDULED"] + 2*h["TIMER_STARTED"] + h["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"] +
				h["MARKER_RECORDED"] + h["WORKFLOW_EXECUTION_SIGNALED"] + 2*h["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
			over := model - h.total()
			external := h["WORKFLOW_EXECUTION_SIGNALED"] + h["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
			if over < 0 || over > 3*external {
				t.Errorf("model %d events, history %d: off by %d (signals and Updates allow 0…%d over)", model, h.total(), over, 3*external)
			}
			t.Logf("%d events recorded, %d by the model (%d workflow tasks recorded, %d modelled)", h.total(), model, h["WORKFLOW_TASK_STARTED"], tasks)
		})
	}
}

// TestYearOfPollingContinuesAsNew runs the benchmark's year of polling shortened to 60 days, with
// the threshold lowered so that it continues as new several times.
func TestYearOfPollingContinuesAsNew(t *testing.T) {
	defer func(n int) { continueAsNewAfterEvents = n }(continueAsNewAfterEvents)
	continueAsNewAfterEvents = 300
	y := pollForDays(t, 60)
	if len(y.runs) < 2 {
		t.Fatalf("60 days of polling in %d run(s) of %v events: expected continue-as-new at %d", len(y.runs), y.runs, continueAsNewAfterEvents)
	}
	t.Logf("%d status reads, %d events in runs %v", y.polls, y.total, y.runs)
}
