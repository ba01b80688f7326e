package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"portico/internal/demo"
	"portico/internal/erp"
	"portico/internal/metrics/metricstest"
	"portico/internal/service"
	"portico/internal/store"
	"portico/workflows"
)

// fastPoll reads status every second or two, so the buyer's moves are seen at once.
var fastPoll = workflows.PollPolicy{First: time.Second, Max: 2 * time.Second}

// approved starts an invoice, approves its draft as a configured approver and waits until it is with the
// buyer. It returns the ERP invoice number and the workflow's run.
func approved(t *testing.T, ctx context.Context, s *stack, invoiceID string, poll workflows.PollPolicy) (string, string) {
	t.Helper()
	inv, err := s.store.Invoice(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	started, err := erp.StartInvoice(ctx, s.client, s.store, invoiceID, poll)
	if err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, invoiceID, workflows.StageAwaitingApproval)
	if _, err := erp.SendApproval(ctx, s.client, invoiceID, workflows.Approval{Decision: "approve", Approver: "ops@boltnut.example"}); err != nil {
		t.Fatal(err)
	}
	if err := s.buyer.WaitFor(ctx, demo.Supplier, inv.Number, "Pending Approval"); err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, invoiceID, workflows.StageWithBuyer)
	return inv.Number, started.RunID
}

// resubmittedAndPaid waits for the invoice to reach the buyer again under its new number, plays a buyer
// that approves and pays it, and checks the workflow ends paid.
func resubmittedAndPaid(t *testing.T, ctx context.Context, s *stack, invoiceID, number string) {
	t.Helper()
	if err := s.buyer.WaitFor(ctx, demo.Supplier, number, "Pending Approval"); err != nil {
		t.Fatal(err)
	}
	waitPortalStatus(t, ctx, s, invoiceID, "Pending Approval")
	approveAndPay(t, ctx, s, invoiceID, number)
	if res := result(t, ctx, s, invoiceID); res.Stage != workflows.StagePaid {
		t.Fatalf("result %+v", res)
	}
}

// approveAndPay plays a buyer that approves and pays, waiting for Portico to see each step.
func approveAndPay(t *testing.T, ctx context.Context, s *stack, invoiceID, number string) {
	t.Helper()
	if err := s.buyer.Act(ctx, demo.Supplier, number, "approve", ""); err != nil {
		t.Fatal(err)
	}
	waitPortalStatus(t, ctx, s, invoiceID, "Approved")
	if err := s.buyer.Act(ctx, demo.Supplier, number, "pay", "ACH-"+number); err != nil {
		t.Fatal(err)
	}
}

func waitPortalStatus(t *testing.T, ctx context.Context, s *stack, invoiceID, status string) {
	t.Helper()
	for ctx.Err() == nil {
		row, err := s.store.Invoice(ctx, invoiceID)
		if err != nil {
			t.Fatal(err)
		}
		if row.PortalStatus == status {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the ERP row never read %s", status)
}

// waitNotification waits for the outbox to hold a notification of the kind (the stage is set before the
// notification is written).
func waitNotification(t *testing.T, ctx context.Context, s *stack, invoiceID, kind string) {
	t.Helper()
	for ctx.Err() == nil {
		notes, err := s.store.Notifications(ctx, invoiceID)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range notes {
			if n.Kind == kind && len(n.Recipients) > 0 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s notification in the outbox", kind)
}

func result(t *testing.T, ctx context.Context, s *stack, invoiceID string) workflows.InvoiceResult {
	t.Helper()
	var res workflows.InvoiceResult
	if err := s.client.GetWorkflow(ctx, workflows.InvoiceWorkflowID(invoiceID), "").Get(ctx, &res); err != nil {
		dump(t, s.client, workflows.InvoiceWorkflowID(invoiceID))
		t.Fatal(err)
	}
	return res
}

// sources lists who made each ERP status change of the invoice.
func sources(t *testing.T, ctx context.Context, s *stack, invoiceID string) (stages, who []string) {
	t.Helper()
	hist, err := s.store.StatusHistory(ctx, invoiceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		stages = append(stages, h.Stage)
		who = append(who, h.Source)
	}
	return stages, who
}

// TestDuplicateNumberRenumberedAndPaid: the buyer rejects the invoice as a duplicate number; Portico
// renumbers it with the customer's suffix rule, drafts and submits it again, and follows it to Paid with
// no person involved after the first approval.
func TestDuplicateNumberRenumberedAndPaid(t *testing.T) {
	s := start(t, "-dup")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := s.data.InvoiceIDs[0]
	number, _ := approved(t, ctx, s, id, fastPoll)
	if err := s.buyer.Dispute(ctx, demo.Supplier, number, "DUPLICATE_NUMBER", "Invoice number already used for this supplier"); err != nil {
		t.Fatal(err)
	}
	renumbered := number + "-01"
	resubmittedAndPaid(t, ctx, s, id, renumbered)
	stages, who := sources(t, ctx, s, id)
	if !slices.Contains(stages, string(workflows.StageResubmitting)) || stages[len(stages)-1] != "paid" {
		t.Fatalf("ERP stages %v", stages)
	}
	people := 0
	for _, w := range who {
		if strings.HasPrefix(w, "approver:") {
			people++
		}
	}
	if people != 1 {
		t.Fatalf("%d changes made by people, want 1 (the first approval): %v", people, who)
	}
	if d, sub := s.sim.CountEvents("draft_created", renumbered), s.sim.CountEvents("submitted", renumbered); d != 1 || sub != 1 {
		t.Fatalf("renumbered invoice: %d drafts, %d submissions", d, sub)
	}
	if row, _ := s.store.Invoice(ctx, id); row.Number != number || row.PortalNumber != renumbered {
		t.Fatalf("ERP keeps number %q, portal number %q", row.Number, row.PortalNumber)
	}
	recordHistory(t, ctx, s, workflows.InvoiceWorkflowID(id), "invoice_renumbered.json")

	// After the run, the worker's /metrics serves Portico's own metrics and the SDK's.
	h, err := service.HTTPHandler(service.HTTPDeps{Client: s.client, Store: s.store, Codec: s.codec, Metrics: s.metrics.Handler(), OpsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	page := metricstest.Scrape(t, h)
	for _, m := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"portico_drafts_saved_total", []string{"portal", "coupa-sim"}, 2},
		{"portico_submissions_total", []string{"portal", "coupa-sim"}, 2},
		{"portico_rejections_total", []string{"reason", "DUPLICATE_NUMBER"}, 1},
		{"portico_portal_logins_total", []string{"outcome", "ok"}, 1},
		{"portico_portal_step_seconds_count", []string{"step", "create_draft"}, 2},
		{"portico_portal_step_seconds_count", []string{"step", "submit"}, 2},
		{"portico_chromium_processes", nil, 1},
		{"portico_chromium_memory_bytes", nil, 1},
		{"temporal_workflow_task_execution_latency_seconds_count", []string{"workflow_type", "InvoiceWorkflow"}, 1},
		{"temporal_activity_execution_latency_seconds_count", []string{"activity_type", "SaveDraft"}, 2},
	} {
		if v, ok := page.Value(m.name, m.labels...); !ok || v < m.min {
			t.Errorf("/metrics: %s%v = %v (present %v), want at least %v", m.name, m.labels, v, ok, m.min)
		}
	}
	if v, _ := page.Value("portico_rejections_total", "reason", "DUPLICATE_NUMBER"); v != 1 {
		t.Errorf("one rejection counted %v times", v)
	}
}

// TestDisputeHandedToPersonAndResolved: a dispute Portico cannot fix goes to a person, with the reason and
// the evidence; their resolution signal resubmits it, and it is paid.
func TestDisputeHandedToPersonAndResolved(t *testing.T) {
	s := start(t, "-disp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := s.data.InvoiceIDs[1]
	number, _ := approved(t, ctx, s, id, fastPoll)
	if err := s.buyer.Dispute(ctx, demo.Supplier, number, "LINE_MISMATCH", "Quantity exceeds goods received"); err != nil {
		t.Fatal(err)
	}
	st := waitStage(t, ctx, s.client, id, workflows.StageNeedsAttention)
	if !strings.Contains(st.Reason, "Quantity exceeds goods received") || len(st.Evidence) == 0 {
		t.Fatalf("state for the person: %+v", st)
	}
	waitNotification(t, ctx, s, id, "needs_attention")
	// A resolution that makes no sense is refused, and recorded; the person's real one is acted on.
	if err := erp.SendResolution(ctx, s.client, id, workflows.Resolution{Action: "retry", By: "ops@boltnut.example"}); err != nil {
		t.Fatal(err)
	}
	if err := erp.SendResolution(ctx, s.client, id, workflows.Resolution{Action: "resubmit", By: "ops@boltnut.example", Note: "agreed with the buyer's receiving clerk"}); err != nil {
		t.Fatal(err)
	}
	resubmitted := number + "-01"
	resubmittedAndPaid(t, ctx, s, id, resubmitted)
	stages, who := sources(t, ctx, s, id)
	if !slices.Contains(stages, string(workflows.StageNeedsAttention)) || !slices.Contains(who, "approver:ops@boltnut.example") {
		t.Fatalf("ERP history %v by %v", stages, who)
	}
	recordHistory(t, ctx, s, workflows.InvoiceWorkflowID(id), "invoice_dispute_resolved.json")
}

// TestUnknownApproverIsRefused: a decision from someone who is not one of the customer's approvers is
// refused — as a signal it is recorded in the ERP history, as an Update the caller is told at once — and
// nothing happens to the draft.
func TestUnknownApproverIsRefused(t *testing.T) {
	s := start(t, "-unk")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id := s.data.InvoiceIDs[2]
	inv, err := s.store.Invoice(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := erp.StartInvoice(ctx, s.client, s.store, id, fastPoll); err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, id, workflows.StageAwaitingApproval)
	mallory := workflows.Approval{Decision: "approve", Approver: "mallory@example.com"}
	if err := s.client.SignalWorkflow(ctx, workflows.InvoiceWorkflowID(id), "", workflows.ApprovalSignal, mallory); err != nil {
		t.Fatal(err)
	}
	if _, err := erp.SendApproval(ctx, s.client, id, mallory); err == nil || !strings.Contains(err.Error(), "mallory@example.com") {
		t.Fatalf("update from an unknown approver: %v", err)
	}
	st, err := erp.State(ctx, s.client, id)
	if err != nil || st.Stage != workflows.StageAwaitingApproval || len(st.Refused) != 2 {
		t.Fatalf("state %+v %v", st, err)
	}
	// The signal and the Update race to the workflow; either may be refused first.
	kinds := []string{st.Refused[0].Signal, st.Refused[1].Signal}
	slices.Sort(kinds)
	if st.Refused[0].Approver != "mallory@example.com" || st.Refused[1].Approver != "mallory@example.com" || !slices.Equal(kinds, []string{"approval signal", "approval update"}) {
		t.Fatalf("refused %+v", st.Refused)
	}
	hist, err := s.store.StatusHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	refusedRows := 0
	for _, c := range hist {
		if c.Source == "approver:mallory@example.com" && strings.Contains(c.Reason, "refused approval") {
			refusedRows++
		}
	}
	if refusedRows != 2 {
		t.Fatalf("want the refused signal and Update in the ERP history, got %d rows: %+v", refusedRows, hist)
	}
	if n := s.sim.CountEvents("submitted", inv.Number); n != 0 {
		t.Fatal("the refused approval submitted the invoice")
	}
	// A real approver rejects it; the draft is deleted.
	if stage, err := erp.SendApproval(ctx, s.client, id, workflows.Approval{Decision: "reject", Approver: "you@example.com", Note: "wrong quantities"}); err != nil || stage != workflows.StageRejected {
		t.Fatalf("reject: %v %v", stage, err)
	}
	if res := result(t, ctx, s, id); res.Stage != workflows.StageRejected {
		t.Fatalf("result %+v", res)
	}
	if n := s.sim.CountEvents("draft_deleted", inv.Number); n != 1 {
		t.Fatalf("%d drafts deleted", n)
	}
	// The audit has every decision: Mallory's two, refused, and the rejection that was acted on.
	audit, err := s.store.Decisions(ctx, store.AuditFilter{InvoiceID: id})
	if err != nil || len(audit) != 3 {
		t.Fatalf("audit %+v %v", audit, err)
	}
	if audit[1].Channel == "signal" { // the refused signal and Update raced; compare them in one order
		audit[1], audit[2] = audit[2], audit[1]
	}
	want := []struct {
		actor, channel, decision string
		accepted                 bool
	}{{"you@example.com", "update", "reject", true}, {"mallory@example.com", "update", "approve", false}, {"mallory@example.com", "signal", "approve", false}}
	for i, w := range want { // newest first
		got := audit[i]
		if got.Actor != w.actor || got.Channel != w.channel || got.Decision.Decision != w.decision || got.Accepted != w.accepted || got.DraftVersion != 1 {
			t.Errorf("audit row %d: %+v, want %+v", i, got, w)
		}
		if !w.accepted && !strings.Contains(got.Refusal, "mallory@example.com is not an approver of customer") {
			t.Errorf("audit row %d refusal %q", i, got.Refusal)
		}
	}
	recordHistory(t, ctx, s, workflows.InvoiceWorkflowID(id), "invoice_refused_audited.json")
}

// TestBuyerThatNeverPaysEscalates: the buyer approves and never pays; at the give-up deadline Portico
// escalates to the approvers and stops, instead of polling for ever.
func TestBuyerThatNeverPaysEscalates(t *testing.T) {
	s := start(t, "-esc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := s.data.InvoiceIDs[0]
	poll := workflows.PollPolicy{First: time.Second, Max: 2 * time.Second, GiveUpAfter: 12 * time.Second}
	number, _ := approved(t, ctx, s, id, poll)
	if err := s.buyer.Act(ctx, demo.Supplier, number, "approve", ""); err != nil {
		t.Fatal(err)
	}
	res := result(t, ctx, s, id)
	if res.Stage != workflows.StageEscalated || res.PortalStatus != "Approved" {
		t.Fatalf("result %+v", res)
	}
	row, err := s.store.Invoice(ctx, id)
	if err != nil || row.Stage != string(workflows.StageEscalated) || row.StatusReason == "" {
		t.Fatalf("ERP row %+v %v", row, err)
	}
	waitNotification(t, ctx, s, id, "escalation")
	// Events per status read, measured on the real server, bound a year of polling (see the closing note).
	events, reads := 0, 0
	it := s.client.GetWorkflowHistory(ctx, workflows.InvoiceWorkflowID(id), "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "CheckStatus" {
			reads++
		}
	}
	t.Logf("history: %d events with %d status reads", events, reads)
	recordHistory(t, ctx, s, workflows.InvoiceWorkflowID(id), "invoice_escalated.json")
}
