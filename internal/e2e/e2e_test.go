// Package e2e runs Portico whole on real parts: the Temporal dev server, PostgreSQL, headless Chromium and
// the portal simulator, with the worker in this process.
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"log/slog"

	"portico/activities"
	"portico/internal/codec"
	"portico/internal/config"
	"portico/internal/demo"
	"portico/internal/devstack"
	"portico/internal/erp"
	"portico/internal/metrics"
	"portico/internal/schedules"
	"portico/internal/service"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
	"portico/workflows"
)

type stack struct {
	temporal *devstack.Temporal
	client   client.Client
	codec    *codec.Codec
	metrics  *metrics.Metrics
	// logs holds everything the worker and the clients logged, at debug level, as JSON lines.
	logs   *testenv.Logs
	store  *store.Store
	sim    *simulator.Server
	simURL string
	buyer  demo.Buyer
	data   demo.Data
}

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

func start(t *testing.T, suffix string) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Headless: true, SearchAttributes: workflows.SearchAttributes, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop() })
	logs := &testenv.Logs{}
	log := slog.New(slog.NewMultiHandler(
		slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	entry, err := vault.NewKeyEntry("e2e-payload-1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.NewKeyring(entry)
	if err != nil {
		t.Fatal(err)
	}
	cd := codec.New(keys)
	met := metrics.New()
	c, err := client.DialContext(ctx, codec.ClientOptions(client.Options{HostPort: tmp.HostPort(), Logger: tlog.NewStructuredLogger(log), MetricsHandler: met.TemporalHandler()}, cd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	st := testenv.Store(t)
	sim, simURL, data := testenv.DemoPortal(t, st, suffix)
	done := make(chan error, 1)
	wctx, stopWorker := context.WithCancel(ctx)
	go func() {
		done <- service.RunWorker(wctx, config.Config{BrowserSlots: 2}, service.RoleAll, service.Deps{Store: st, Client: c, Logger: log, Metrics: met})
	}()
	t.Cleanup(func() {
		stopWorker()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &stack{temporal: tmp, client: c, codec: cd, metrics: met, logs: logs, store: st, sim: sim, simURL: simURL, buyer: demo.Buyer{BaseURL: simURL}, data: data}
}

func (s *stack) hasDraft(number string) bool {
	for _, inv := range s.sim.Invoices(demo.Supplier) {
		if inv.Number == number && inv.Status == simulator.StatusDraft {
			return true
		}
	}
	return false
}

func waitStage(t *testing.T, ctx context.Context, c client.Client, invoiceID string, want workflows.Stage) workflows.InvoiceState {
	t.Helper()
	var last workflows.InvoiceState
	for ctx.Err() == nil {
		st, err := erp.State(ctx, c, invoiceID)
		if err == nil && st.Stage == want {
			return st
		}
		last = st
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("invoice %s never reached %s (last %+v)", invoiceID, want, last)
	return last
}

func TestInvoiceFromERPToPaid(t *testing.T) {
	s := start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	invoiceID := s.data.InvoiceIDs[0]
	inv, err := s.store.Invoice(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	started, err := erp.StartInvoice(ctx, s.client, s.store, invoiceID, workflows.PollPolicy{First: time.Second, Max: 2 * time.Second})
	if err != nil || started.Existing {
		t.Fatalf("start: %+v %v", started, err)
	}
	again, err := erp.StartInvoice(ctx, s.client, s.store, invoiceID, workflows.PollPolicy{})
	if err != nil || !again.Existing || again.RunID != started.RunID {
		t.Fatalf("second start made a new workflow: %+v %v", again, err)
	}

	// The draft appears in the portal, and the workflow waits for a person.
	// Buyers never see drafts, so look at the supplier's side of the portal.
	for !s.hasDraft(inv.Number) {
		if ctx.Err() != nil {
			dump(t, s.client, started.WorkflowID)
			t.Fatal("the draft never appeared in the portal")
		}
		time.Sleep(200 * time.Millisecond)
	}
	state := waitStage(t, ctx, s.client, invoiceID, workflows.StageAwaitingApproval)
	t.Logf("start to draft: %s", time.Since(began).Round(time.Millisecond))
	if state.PortalStatus != "Draft" || state.Number != inv.Number || state.DraftVersion != 1 || len(state.Evidence) != 2 || len(state.Checks) < 8 {
		t.Fatalf("state %+v", state)
	}
	// The approver sees what the buyer will see: a screenshot of the draft page and the values keyed in.
	for _, id := range state.Evidence {
		kind, ctype, data, err := s.store.Evidence(ctx, id)
		if err != nil || len(data) == 0 {
			t.Fatalf("evidence %s: %v", id, err)
		}
		if kind == "draft_screenshot" && (ctype != "image/png" || string(data[1:4]) != "PNG") {
			t.Fatalf("screenshot %s is %s", id, ctype)
		}
		if kind == "draft_values" && !strings.Contains(string(data), inv.Number) {
			t.Fatalf("values %s: %s", id, data)
		}
	}
	desc, err := s.client.DescribeWorkflowExecution(ctx, started.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if sum := desc.GetExecutionConfig().GetUserMetadata().GetSummary(); sum == nil {
		t.Fatal("workflow has no static summary")
	}

	// A bad signal is refused; the right one approves.
	if err := s.client.SignalWorkflow(ctx, started.WorkflowID, "", workflows.ApprovalSignal, map[string]string{"decision": "ship it"}); err != nil {
		t.Fatal(err)
	}
	if stage, err := erp.SendApproval(ctx, s.client, invoiceID, workflows.Approval{Decision: "approve", Approver: "ops@boltnut.example", Note: "checked"}); err != nil || stage != workflows.StageSubmitting {
		t.Fatalf("approve: %v %v", stage, err)
	}
	if err := s.buyer.WaitFor(ctx, demo.Supplier, inv.Number, "Pending Approval"); err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, invoiceID, workflows.StageWithBuyer)
	if err := s.buyer.Act(ctx, demo.Supplier, inv.Number, "approve", ""); err != nil {
		t.Fatal(err)
	}
	// Let the workflow see Approved before the buyer pays, so both changes are written back.
	for {
		row, err := s.store.Invoice(ctx, invoiceID)
		if err != nil {
			t.Fatal(err)
		}
		if row.PortalStatus == "Approved" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the ERP row never read Approved (stage %s, portal %q)", row.Stage, row.PortalStatus)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.buyer.Act(ctx, demo.Supplier, inv.Number, "pay", "ACH-20261122-01"); err != nil {
		t.Fatal(err)
	}

	var res workflows.InvoiceResult
	if err := s.client.GetWorkflow(ctx, started.WorkflowID, started.RunID).Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Stage != workflows.StagePaid {
		t.Fatalf("result %+v", res)
	}

	row, err := s.store.Invoice(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Stage != "paid" || row.PortalStatus != "Paid" || row.PortalInvoiceID == "" {
		t.Fatalf("ERP row: stage %q portal %q id %q", row.Stage, row.PortalStatus, row.PortalInvoiceID)
	}
	hist, err := s.store.StatusHistory(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, h := range hist {
		seen = append(seen, h.Stage+"/"+h.PortalStatus)
	}
	want := []string{"matching/", "checking/", "drafting/", "awaiting_approval/Draft", "awaiting_approval/Draft", "submitting/Draft", "with_buyer/Pending Approval", "with_buyer/Approved", "paid/Paid"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("ERP history\n got %q\nwant %q", seen, want)
	}
	if hist[4].Source != "approver:unknown" || hist[5].Source != "approver:ops@boltnut.example" {
		t.Fatalf("sources: %q, %q", hist[4].Source, hist[5].Source)
	}
	if !strings.Contains(hist[1].Reason, "checks passed") {
		t.Fatalf("checking row: %q", hist[1].Reason)
	}
	// One draft and one submission at the portal, whatever retried.
	drafts, submits := s.sim.CountEvents("draft_created", inv.Number), s.sim.CountEvents("submitted", inv.Number)
	if drafts != 1 || submits != 1 {
		t.Fatalf("portal saw %d drafts and %d submissions", drafts, submits)
	}
	recordHistory(t, ctx, s, started.WorkflowID, "invoice_paid.json")
}

func TestScheduledPOSyncPullsEveryPO(t *testing.T) {
	s := start(t, "-s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	accts, err := s.store.PortalAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := schedules.Ensure(ctx, s.client, accts)
	if err != nil || len(res) != 1 || !res[0].Created {
		t.Fatalf("ensure: %+v %v", res, err)
	}
	if res, err = schedules.Ensure(ctx, s.client, accts); err != nil || res[0].Created {
		t.Fatalf("second ensure must update, not create: %+v %v", res, err)
	}
	desc, err := s.client.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(demo.AccountID)).Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The server keeps cron strings as calendar specs.
	if cals := desc.Schedule.Spec.Calendars; len(cals) != 1 || len(cals[0].Hour) != 4 || cals[0].Hour[3].Start != 18 {
		t.Fatalf("calendar spec %+v", cals)
	}
	if act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || act.Workflow != "POSyncWorkflow" {
		t.Fatalf("schedule action %+v", desc.Schedule.Action)
	}
	if err := schedules.Trigger(ctx, s.client, demo.AccountID); err != nil {
		t.Fatal(err)
	}
	first := waitSync(t, ctx, s, 1)
	// The first sync reads everything: the list page and each PO's page; all 4 POs appear at once.
	if first.Mode != "full" || first.Pages != 1 || first.POs != 4 || first.Details != 4 || first.Changed != 4 {
		t.Fatalf("first sync %+v", first)
	}
	if n, err := s.store.CountPurchaseOrders(ctx, demo.AccountID); err != nil || n != 4 {
		t.Fatalf("%d POs synced, %v", n, err)
	}
	po, err := s.store.PurchaseOrder(ctx, demo.AccountID, "PO-4500014")
	if err != nil || len(po.Lines) != 2 || po.BuyerEntity != "Acme Corp Europe" {
		t.Fatalf("synced PO: %+v %v", po, err)
	}
	// The next sync asks the portal only for what changed (coupa-sim has po_list.changed_url) and, nothing
	// having changed, opens no PO page and changes nothing.
	if err := schedules.Trigger(ctx, s.client, demo.AccountID); err != nil {
		t.Fatal(err)
	}
	second := waitSync(t, ctx, s, 2)
	if second.Mode != "changed" || second.Details != 0 || second.Changed != 0 {
		t.Fatalf("second sync %+v", second)
	}
}

// waitSync waits for the n-th PO sync workflow the account's schedule started to finish, and checks that the
// workflow shows its result (query and current details) and that po_sync_runs has it.
func waitSync(t *testing.T, ctx context.Context, s *stack, n int) activities.SyncResult {
	t.Helper()
	h := s.client.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(demo.AccountID))
	var wfID, runID string
	for ctx.Err() == nil && wfID == "" {
		desc, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if acts := desc.Info.RecentActions; len(acts) >= n && acts[n-1].StartWorkflowResult != nil {
			wfID, runID = acts[n-1].StartWorkflowResult.WorkflowID, acts[n-1].StartWorkflowResult.FirstExecutionRunID
		}
		time.Sleep(200 * time.Millisecond)
	}
	var res activities.SyncResult
	if err := s.client.GetWorkflow(ctx, wfID, runID).Get(ctx, &res); err != nil {
		dump(t, s.client, wfID)
		t.Fatalf("sync %d: %v", n, err)
	}
	v, err := s.client.QueryWorkflow(ctx, wfID, runID, workflows.POSyncQuery)
	if err != nil {
		t.Fatal(err)
	}
	var state workflows.POSyncState
	if err := v.Get(&state); err != nil || state.Status != "done" || state.Result.RunID != res.RunID {
		t.Fatalf("query: %+v %v", state, err)
	}
	runs, err := s.store.SyncRuns(ctx, demo.AccountID, 1)
	if err != nil || len(runs) != 1 || runs[0].ID != res.RunID || runs[0].Status != "finished" || runs[0].Changed != res.Changed {
		t.Fatalf("po_sync_runs %+v %v (result %+v)", runs, err, res)
	}
	return res
}

// recordHistory saves the workflow's history for the replay tests when PORTICO_RECORD_HISTORY is set.
func recordHistory(t *testing.T, ctx context.Context, s *stack, workflowID, name string) {
	if os.Getenv("PORTICO_RECORD_HISTORY") == "" {
		return
	}
	data, err := exportHistory(ctx, s.client, s.codec, workflowID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "workflows", "testdata", name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}

// dump logs where a workflow is stuck: its pending activities and their last failures.
func dump(t *testing.T, c client.Client, workflowID string) {
	d, err := c.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		t.Logf("describe %s: %v", workflowID, err)
		return
	}
	t.Logf("%s: status %s", workflowID, d.GetWorkflowExecutionInfo().GetStatus())
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			break
		}
		t.Logf("event %d %s %v", ev.GetEventId(), ev.GetEventType(), ev.GetWorkflowTaskFailedEventAttributes().GetFailure().GetMessage())
	}
	for _, a := range d.GetPendingActivities() {
		t.Logf("pending %s attempt %d: %v", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
	}
}

// TestPortalOutageIsRetriedByTemporal: a 503 from the portal fails the browser activity as
// retryable; Temporal retries it with backoff and the invoice reaches its draft with no person involved.
func TestPortalOutageIsRetriedByTemporal(t *testing.T) {
	s := start(t, "-outage")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := s.sim.InjectFault(simulator.Fault{Kind: simulator.FaultError, Status: 503, Path: "/pos", Count: 1}); err != nil {
		t.Fatal(err)
	}
	invoiceID := s.data.InvoiceIDs[1]
	started, err := erp.StartInvoice(ctx, s.client, s.store, invoiceID, workflows.PollPolicy{First: time.Second, Max: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, invoiceID, workflows.StageAwaitingApproval)
	retried := false
	it := s.client.GetWorkflowHistory(ctx, started.WorkflowID, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			// The message is stored encrypted ("Encoded failure"); the codec opens it.
			fc := codec.FailureConverter(codec.DataConverter(s.codec))
			if msg := fc.FailureToError(a.GetLastFailure()).Error(); !strings.Contains(msg, "portal unavailable") || !strings.Contains(msg, "503") {
				t.Fatalf("attempt %d after %q", a.GetAttempt(), msg)
			}
			retried = true
		}
	}
	if !retried {
		dump(t, s.client, started.WorkflowID)
		t.Fatal("no activity was retried")
	}
	if n := s.sim.CountEvents("fault_error", ""); n != 1 {
		t.Fatalf("%d faulted requests, want 1", n)
	}
}
