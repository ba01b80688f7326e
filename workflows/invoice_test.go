package workflows

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
	"portico/internal/portal"
	"portico/internal/store"
)

type invoiceSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env     *testsuite.TestWorkflowEnvironment
	changes []store.StatusChange
	sa      map[string]string // search attributes as last upserted

	// What the mocked activities answer and what they were given.
	policy activities.Policy
	// metrics counts what the workflow reports through its metrics handler.
	metrics *countingMetrics
	report  activities.CheckReport
	checks  int // CheckInvoice calls
	drafts  int // SaveDraft calls
	number  string
	notes   []activities.Notification
	// notifyTakes is how long Notify runs.
	notifyTakes time.Duration
	fixes       []activities.Fix
}

func TestInvoiceWorkflow(t *testing.T) { suite.Run(t, new(invoiceSuite)) }

const invoiceID = "erp-1001"

var summary = activities.InvoiceSummary{
	InvoiceID: invoiceID, Number: "INV-1001", CustomerID: "acme", AccountID: "acme-coupa",
	PONumber: "PO-4500", Currency: "USD", Total: decimal.RequireFromString("1250.00"), Lines: 2,
}

var approvers = []string{"ops@supplier.example", "lead@supplier.example"}

func allPassed() activities.CheckReport {
	r := activities.CheckReport{Passed: true}
	for _, n := range []string{"po_open", "balance", "tolerance", "currency", "payment_terms", "invoice_date", "required_fields", "attachment"} {
		r.Checks = append(r.Checks, activities.Check{Name: n, Passed: true})
	}
	return r
}

func (s *invoiceSuite) SetupTest() {
	s.changes, s.notes, s.fixes, s.checks, s.drafts, s.number, s.notifyTakes = nil, nil, nil, 0, 0, "INV-1001", 0
	s.sa = map[string]string{}
	s.policy = activities.Policy{CustomerID: "acme", Approvers: approvers, MaxResubmissions: 2}
	s.report = allPassed()
	s.metrics = newCountingMetrics()
	s.SetMetricsHandler(s.metrics)
	s.env = s.newEnv()
	s.env.OnActivity(a.LoadInvoice, mock.Anything, invoiceID).Return(summary, nil)
	s.env.OnActivity(a.LoadPolicy, mock.Anything, "acme").Return(func(context.Context, string) (activities.Policy, error) { return s.policy, nil })
	s.env.OnActivity(a.CheckInvoice, mock.Anything, invoiceID).Return(func(context.Context, string) (activities.CheckReport, error) {
		s.checks++
		return s.report, nil
	}).Maybe()
}

// newEnv is a test environment whose ERP, notification and fix activities write into the suite.
func (s *invoiceSuite) newEnv() *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(InvoiceWorkflow)
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivity(&activities.Browser{})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		attrs := args.Get(0).(temporal.SearchAttributes)
		for _, k := range []temporal.SearchAttributeKeyKeyword{InvoiceNumberKey, CustomerIDKey, PONumberKey, PortalAccountKey, InvoiceStageKey} {
			if v, ok := attrs.GetKeyword(k); ok {
				s.sa[k.GetName()] = v
			}
		}
	}).Return(nil)
	env.OnActivity(a.RecordStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, c store.StatusChange) error {
		s.changes = append(s.changes, c)
		return nil
	})
	env.OnActivity(a.Notify, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return s.notifyTakes }).Return(func(_ context.Context, n activities.Notification) error {
		s.notes = append(s.notes, n)
		return nil
	}).Maybe()
	env.OnActivity(a.ApplyFix, mock.Anything, invoiceID, mock.Anything).Return(func(_ context.Context, _ string, f activities.Fix) error {
		s.fixes = append(s.fixes, f)
		if f.Kind == "renumber" {
			s.number = f.Number
		}
		return nil
	}).Maybe()
	return env
}

// matchedAndDrafted mocks a PO match and a draft saved under the current portal number each time it is asked.
func (s *invoiceSuite) matchedAndDrafted() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(func(context.Context, string) (activities.DraftResult, error) {
		s.drafts++
		inv := portalInvoice(portal.StatusDraft, "Draft", "")
		inv.Number = s.number
		return activities.DraftResult{Invoice: inv, Evidence: []string{fmt.Sprintf("ev-%d-values", s.drafts), fmt.Sprintf("ev-%d-shot", s.drafts)}}, nil
	})
}

// submitted mocks the portal's answers to submissions, one per submission.
func (s *invoiceSuite) submitted(invs ...portal.Invoice) {
	for _, inv := range invs {
		s.env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(inv, nil).Once()
	}
}

func (s *invoiceSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func portalInvoice(st portal.Status, word, reason string) portal.Invoice {
	return portal.Invoice{PortalID: "INV-000001", Number: "INV-1001", PONumber: "PO-4500", Status: st, PortalStatus: word, Reason: reason, Total: decimal.RequireFromString("1250.00")}
}

var pending = portalInvoice(portal.StatusWithBuyer, "Pending Approval", "")

func disputed(code, reason string) portal.Invoice {
	inv := portalInvoice(portal.StatusDisputed, "Disputed", reason)
	inv.Code = code
	return inv
}

func paid() portal.Invoice { return portalInvoice(portal.StatusPaid, "Paid", "") }

// buyerSays mocks the portal's answers to status checks, one per check.
func (s *invoiceSuite) buyerSays(words ...portal.Invoice) {
	for _, w := range words {
		s.env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(w, nil).Once()
	}
}

func (s *invoiceSuite) signalAfterDraft(payloads ...any) {
	for i, p := range payloads {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(ApprovalSignal, p) }, time.Duration(i+1)*time.Minute)
	}
}

func (s *invoiceSuite) signalAt(at time.Duration, name string, payload any) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, payload) }, at)
}

// updateAt sends an approval Update and reports its outcome: the stage it led to, or why it was refused.
func (s *invoiceSuite) updateAt(at time.Duration, ap Approval, got func(Stage, error)) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(ApprovalUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { got("", err) },
			OnComplete: func(v any, err error) {
				st, _ := v.(Stage)
				got(st, err)
			},
		}, ap)
	}, at)
}

func (s *invoiceSuite) queryAt(at time.Duration, check func(InvoiceState)) {
	s.env.RegisterDelayedCallback(func() { check(s.state()) }, at)
}

func (s *invoiceSuite) state() InvoiceState {
	v, err := s.env.QueryWorkflow(StateQuery)
	s.Require().NoError(err)
	var st InvoiceState
	s.Require().NoError(v.Get(&st))
	return st
}

func (s *invoiceSuite) stages() []string {
	var out []string
	for _, c := range s.changes {
		out = append(out, c.Stage)
	}
	return out
}

// withReason returns the ERP rows whose reason contains text.
func (s *invoiceSuite) withReason(text string) []store.StatusChange {
	var out []store.StatusChange
	for _, c := range s.changes {
		if strings.Contains(c.Reason, text) {
			out = append(out, c)
		}
	}
	return out
}

func (s *invoiceSuite) last() store.StatusChange { return s.changes[len(s.changes)-1] }

func (s *invoiceSuite) result() InvoiceResult {
	s.True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res InvoiceResult
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return res
}

// failedWith asserts the workflow ended in an InvoiceFailed error and returns its message.
func (s *invoiceSuite) failedWith() string {
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "%v", err)
	s.Equal(ErrTypeInvoiceFailed, appErr.Type())
	return appErr.Message()
}

func (s *invoiceSuite) assertSeqs() {
	for i, c := range s.changes {
		s.Equal(i+1, c.Seq, "sequence numbers make retried writes idempotent")
	}
}

func approve(by string) Approval { return Approval{Decision: DecisionApprove, Approver: by} }

// approvedAndSubmitted drafts, approves by signal after a minute and submits; the buyer has it pending.
func (s *invoiceSuite) approvedAndSubmitted() {
	s.matchedAndDrafted()
	s.submitted(pending)
	s.signalAfterDraft(approve("ops@supplier.example"))
}

func (s *invoiceSuite) TestHappyPathToPaid() {
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(pending, portalInvoice(portal.StatusApproved, "Approved", ""), paid())
	s.signalAfterDraft(Approval{Decision: "approve", Approver: "OPS@supplier.example", Note: "looks right", Draft: 1})
	s.queryAt(30*time.Second, func(st InvoiceState) {
		s.Equal(StageAwaitingApproval, st.Stage)
		s.Equal("INV-1001", st.Number)
		s.Equal("Draft", st.PortalStatus)
		s.Equal(1, st.DraftVersion)
		s.Equal([]string{"ev-1-values", "ev-1-shot"}, st.Evidence, "evidence IDs, never the bytes")
		s.Equal(approvers, st.Approvers)
		s.Len(st.Checks, 9)
		s.Equal(activities.Check{Name: "number_unused", Passed: true, Detail: "no other invoice in the portal has number INV-1001"}, st.Checks[8])
	})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	res := s.result()
	s.Equal(StagePaid, res.Stage)
	s.Equal("Paid", res.PortalStatus)
	s.Equal([]string{"matching", "checking", "drafting", "awaiting_approval", "submitting", "with_buyer", "with_buyer", "paid"}, s.stages())
	// Pending Approval was seen twice but written once: only changes are written back.
	s.assertSeqs()
	s.Equal("all 8 checks passed", s.changes[1].Reason)
	s.Equal("approver:OPS@supplier.example", s.changes[4].Source, "approvers match without regard to case")
	s.Equal("draft 1 approved by OPS@supplier.example: looks right", s.changes[4].Reason)
	s.Equal(&store.Decision{Kind: store.DecisionKindApproval, Channel: store.ChannelSignal, Decision: DecisionApprove,
		Actor: "OPS@supplier.example", Note: "looks right", NamedDraft: 1, DraftVersion: 1, Accepted: true}, s.changes[4].Decision)
	s.Equal(1, s.audited(), "one decision, one audit entry")
	s.Equal("paid", s.changes[7].Status)
	s.Equal("portal", s.changes[7].Source)
	s.Equal(map[string]string{InvoiceNumberAttr: "INV-1001", CustomerIDAttr: "acme", PONumberAttr: "PO-4500", PortalAccountAttr: "acme-coupa", InvoiceStageAttr: "paid"}, s.sa)
	// Status reads back off from poll.First (5 min) after the submission: +5 min unchanged, +15 Approved, +35 Paid.
	s.Equal(15*time.Minute, s.changes[6].At.Sub(s.changes[5].At))
	s.Equal(20*time.Minute, s.changes[7].At.Sub(s.changes[6].At))
	s.Empty(s.notes)
}

func (s *invoiceSuite) TestFailedCheckStopsBeforeThePortal() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.report.Passed = false
	s.report.Checks[1] = activities.Check{Name: "balance", Detail: "total 1250.00 USD is above the PO's remaining 1000.00"}
	s.report.Checks[4] = activities.Check{Name: "payment_terms", Detail: "Net 60 is not the PO's Net 30"}

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	msg := s.failedWith()
	s.Contains(msg, "balance: total 1250.00 USD")
	s.Equal([]string{"matching", "checking", "failed"}, s.stages())
	s.Equal("failed checks: balance: total 1250.00 USD is above the PO's remaining 1000.00; payment_terms: Net 60 is not the PO's Net 30", s.changes[1].Reason)
	s.Contains(s.last().Reason, "failed while checking: failed checks: balance")
	s.env.AssertNotCalled(s.T(), "SaveDraft", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestNumberUsedInThePortalIsAFailedCheck() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(activities.DraftResult{},
		temporal.NewNonRetryableApplicationError("invoice number INV-1001 is already used in the portal by an invoice on PO PO-9", activities.ErrTypeNumberUsed, nil)).Once()

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Contains(s.failedWith(), "number_unused: invoice number INV-1001 is already used")
	s.Equal([]string{"matching", "checking", "drafting", "checking", "failed"}, s.stages())
	s.Equal("failed checks: number_unused: invoice number INV-1001 is already used in the portal by an invoice on PO PO-9", s.changes[3].Reason)
	st := s.state()
	s.Require().Len(st.Checks, 9)
	s.Equal(activities.Check{Name: "number_unused", Detail: "invoice number INV-1001 is already used in the portal by an invoice on PO PO-9"}, st.Checks[8])
	s.Zero(st.DraftVersion)
}

func (s *invoiceSuite) TestBadSignalPayloadsAreRefusedAndRecorded() {
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(paid())
	for i, p := range []any{
		"approve",                             // not an object
		map[string]any{"decision": "approve"}, // no approver
		map[string]any{"decision": "maybe", "approver": "ops@supplier.example"},
		map[string]any{"decision": "approve", "approver": "ops@supplier.example", "amount": 5}, // unknown field
		approve("mallory@elsewhere.example"),                                                   // not an approver
		Approval{Decision: "approve", Approver: "ops@supplier.example", Draft: 2},              // a draft that does not exist yet
	} {
		s.signalAt(time.Duration(i+1)*10*time.Second, ApprovalSignal, p)
	}
	s.signalAt(2*time.Minute, ApprovalSignal, approve("ops@supplier.example"))
	var refused []RefusedSignal
	s.queryAt(90*time.Second, func(st InvoiceState) {
		refused = st.Refused
		s.Equal(StageAwaitingApproval, st.Stage, "refused signals must not move the invoice")
	})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Require().Len(refused, 6)
	s.Contains(refused[0].Reason, "payload is not")
	s.Contains(refused[1].Reason, "approver is empty")
	s.Contains(refused[2].Reason, `decision "maybe"`)
	s.Contains(refused[3].Reason, "amount")
	s.Equal("mallory@elsewhere.example is not an approver of customer acme", refused[4].Reason)
	s.Equal("draft 2 is stale: the current draft is version 1", refused[5].Reason)
	rows := s.withReason("refused approval signal")
	s.Len(rows, 6, "each refused signal is in the ERP history")
	for _, c := range rows {
		s.Equal("awaiting_approval", c.Stage)
		s.Equal("Draft", c.PortalStatus, "a refusal keeps the ERP row's portal status")
	}
	s.Equal("approver:unknown", rows[0].Source)
	s.Equal("approver:mallory@elsewhere.example", rows[4].Source)
	s.assertSeqs()
}

func (s *invoiceSuite) TestApprovalByUpdate() {
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(pending, paid())
	type outcome struct {
		stage Stage
		err   error
	}
	got := map[string]outcome{}
	record := func(name string) func(Stage, error) {
		return func(st Stage, err error) { got[name] = outcome{st, err} }
	}
	s.updateAt(1*time.Minute, approve("mallory@elsewhere.example"), record("unknown approver"))
	s.updateAt(2*time.Minute, Approval{Decision: DecisionApprove, Approver: "ops@supplier.example", Draft: 3}, record("stale draft"))
	s.updateAt(3*time.Minute, Approval{Decision: "maybe", Approver: "ops@supplier.example"}, record("malformed"))
	s.updateAt(4*time.Minute, Approval{Decision: " Approve ", Approver: "lead@supplier.example", Note: "ok", Draft: 1}, record("valid"))
	s.updateAt(6*time.Minute, approve("ops@supplier.example"), record("wrong state"))
	s.queryAt(3*time.Minute+30*time.Second, func(st InvoiceState) {
		s.Equal(StageAwaitingApproval, st.Stage, "refused Updates must not move the invoice")
		s.Len(st.Refused, 2, "an Update naming an approver is refused in the workflow, and recorded; a malformed one by the validator")
	})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Require().Len(got, 5)
	s.ErrorContains(got["unknown approver"].err, "mallory@elsewhere.example is not an approver of customer acme")
	s.ErrorContains(got["stale draft"].err, "draft 3 is stale: the current draft is version 1")
	s.ErrorContains(got["malformed"].err, `decision "maybe"`)
	s.ErrorContains(got["wrong state"].err, "the invoice is with_buyer, not awaiting approval")
	s.NoError(got["valid"].err)
	s.Equal(StageSubmitting, got["valid"].stage)
	var appErr *temporal.ApplicationError
	s.Require().ErrorAs(got["stale draft"].err, &appErr)
	s.Equal(ErrTypeApprovalRefused, appErr.Type())
	s.Equal([]string{"matching", "checking", "drafting", "awaiting_approval", "awaiting_approval", "awaiting_approval", "submitting", "with_buyer", "with_buyer", "paid"}, s.stages())
	s.Equal("approver:lead@supplier.example", s.changes[6].Source)
	s.Equal("draft 1 approved by lead@supplier.example: ok", s.changes[6].Reason)
	refused := s.withReason("refused approval update")
	s.Require().Len(refused, 3, "unknown approver, stale draft and wrong stage are recorded; the malformed Update is not")
	s.Equal("approver:mallory@elsewhere.example", refused[0].Source)
	s.Equal("with_buyer", refused[2].Stage)
	for i, c := range refused {
		s.Require().NotNil(c.Decision, "refusal %d carries its audit entry", i)
		s.False(c.Decision.Accepted)
		s.Equal(store.ChannelUpdate, c.Decision.Channel)
		s.Equal(strings.TrimPrefix(c.Reason, "refused approval update: "), c.Decision.Refusal)
	}
	s.Equal(3, refused[1].Decision.NamedDraft)
	s.Equal(1, refused[1].Decision.DraftVersion)
	accepted := s.changes[6].Decision
	s.Require().NotNil(accepted, "the accepted decision is audited with the row that records it")
	s.Equal(store.Decision{Kind: store.DecisionKindApproval, Channel: store.ChannelUpdate, Decision: DecisionApprove,
		Actor: "lead@supplier.example", Note: "ok", NamedDraft: 1, DraftVersion: 1, Accepted: true}, *accepted)
	s.assertSeqs()
}

func (s *invoiceSuite) TestOnlyOneOfTwoConcurrentDecisionsActs() {
	s.policy.RemindEvery = time.Hour
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(paid())
	// The reminder at 1h takes 10 minutes to queue; both decisions come in meanwhile, while the draft
	// still awaits approval, so the validator accepts the Update.
	s.notifyTakes = 10 * time.Minute
	var stage Stage
	var err error
	s.signalAt(time.Hour+time.Minute, ApprovalSignal, approve("ops@supplier.example"))
	s.updateAt(time.Hour+2*time.Minute, Approval{Decision: DecisionReject, Approver: "lead@supplier.example"}, func(st Stage, e error) { stage, err = st, e })

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	// Both were valid when they came; the signal was taken first and the Update refused as too late: it
	// was accepted, so its refusal is in the ERP history (an Update the validator refuses never is).
	s.Equal(StagePaid, s.result().Stage)
	s.Empty(stage)
	s.ErrorContains(err, "the invoice is submitting, not awaiting approval")
	rows := s.withReason("refused approval update: the invoice is submitting, not awaiting approval")
	s.Require().Len(rows, 1, "an Update refused after it was accepted is recorded")
	s.Equal("approver:lead@supplier.example", rows[0].Source)
	s.env.AssertNotCalled(s.T(), "DeleteDraft", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestRejectedApprovalDeletesTheDraft() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.DeleteDraft, mock.Anything, invoiceID).Return(nil).Once()
	s.signalAfterDraft(Approval{Decision: "reject", Approver: "lead@supplier.example", Note: "wrong quantity"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	res := s.result()
	s.Equal(StageRejected, res.Stage)
	s.Contains(res.Reason, "wrong quantity")
	s.Equal("rejected", s.last().Stage)
	s.Equal("approver:lead@supplier.example", s.last().Source)
	s.env.AssertNotCalled(s.T(), "SubmitInvoice", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestRequestChangesThenResubmit() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.DeleteDraft, mock.Anything, invoiceID).Return(nil).Once()
	s.submitted(pending)
	s.buyerSays(paid())
	s.signalAt(1*time.Minute, ApprovalSignal, Approval{Decision: "request_changes", Approver: "lead@supplier.example", Note: "quantity is 90, not 100"})
	s.signalAt(2*time.Minute, ResolutionSignal, map[string]any{"action": "resubmit"})                    // nobody named
	s.signalAt(3*time.Minute, ResolutionSignal, Resolution{Action: "void", By: "lead@supplier.example"}) // nothing to void
	s.queryAt(3*time.Minute+30*time.Second, func(st InvoiceState) {
		s.Equal(StageChangesRequested, st.Stage)
		s.Len(st.Refused, 2)
	})
	s.signalAt(4*time.Minute, ResolutionSignal, Resolution{Action: "resubmit", By: "lead@supplier.example", Note: "ERP fixed"})
	s.signalAt(5*time.Minute, ApprovalSignal, Approval{Decision: "approve", Approver: "lead@supplier.example", Draft: 1})
	s.queryAt(5*time.Minute+30*time.Second, func(st InvoiceState) {
		s.Equal(StageAwaitingApproval, st.Stage)
		s.Equal(2, st.DraftVersion)
		s.Equal([]string{"ev-1-values", "ev-1-shot", "ev-2-values", "ev-2-shot"}, st.Evidence)
		s.Len(st.Checks, 9, "checks are of the current draft")
		s.Equal(0, st.Resubmissions, "nothing was resubmitted to the buyer")
	})
	s.signalAt(6*time.Minute, ApprovalSignal, Approval{Decision: "approve", Approver: "lead@supplier.example", Draft: 2})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Equal(2, s.checks, "the checks ran again on the corrected ERP data")
	s.Equal(2, s.drafts)
	s.Equal([]string{
		"matching", "checking", "drafting", "awaiting_approval", "changes_requested", "changes_requested", "changes_requested",
		"checking", "drafting", "awaiting_approval", "awaiting_approval", "submitting", "with_buyer", "paid",
	}, s.stages())
	s.Equal("changes requested by lead@supplier.example: quantity is 90, not 100", s.changes[4].Reason)
	s.Contains(s.changes[5].Reason, "refused resolution signal: by is empty")
	s.Contains(s.changes[6].Reason, `refused resolution signal: action "void" does not apply to an invoice in stage changes_requested`)
	s.Contains(s.changes[10].Reason, "draft 1 is stale: the current draft is version 2")
	s.Equal("draft 2 approved by lead@supplier.example", s.changes[11].Reason)
	s.assertSeqs()
}

func (s *invoiceSuite) TestChangesRequestedThenGivenUp() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.DeleteDraft, mock.Anything, invoiceID).Return(nil).Once()
	s.signalAt(1*time.Minute, ApprovalSignal, Approval{Decision: "request_changes", Approver: "lead@supplier.example"})
	s.signalAt(2*time.Minute, ResolutionSignal, Resolution{Action: "give_up", By: "lead@supplier.example", Note: "customer cancelled"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal("given up by lead@supplier.example: customer cancelled", s.failedWith())
	s.Equal("failed_submission", s.last().Stage)
	s.env.AssertNotCalled(s.T(), "SubmitInvoice", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestRemindersAndEscalation() {
	s.policy.RemindEvery = 2 * time.Hour
	s.policy.EscalateAfter = 5 * time.Hour
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(paid())
	s.signalAt(7*time.Hour+30*time.Minute, ApprovalSignal, approve("ops@supplier.example"))
	s.queryAt(5*time.Hour+time.Minute, func(st InvoiceState) { s.Equal(StageEscalated, st.Stage) })
	s.updateAt(5*time.Hour+2*time.Minute, Approval{Decision: DecisionApprove, Approver: "ops@supplier.example", Draft: 2}, func(_ Stage, err error) {
		s.ErrorContains(err, "stale", "an escalated draft still takes decisions, and still checks them")
	})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	var kinds []string
	for i, n := range s.notes {
		kinds = append(kinds, n.Kind)
		s.Equal(i+1, n.Seq)
		s.Equal(approvers, n.To)
		s.Equal(invoiceID, n.InvoiceID)
	}
	s.Equal([]string{"reminder", "reminder", "escalation", "reminder"}, kinds)
	s.Contains(s.notes[2].Text, "has waited 5h0m0s for a decision on draft 1")
	start := s.changes[3].At // awaiting_approval
	var at []time.Duration
	for _, c := range s.changes {
		if strings.HasPrefix(c.Reason, "reminder ") || strings.HasPrefix(c.Reason, "no decision after") {
			at = append(at, c.At.Sub(start))
		}
	}
	s.Equal([]time.Duration{2 * time.Hour, 4 * time.Hour, 5 * time.Hour, 6 * time.Hour}, at, "each reminder and the escalation is in the ERP history")
	s.Equal("reminder 1 sent to ops@supplier.example, lead@supplier.example", s.changes[4].Reason)
	s.Equal("no decision after 5h0m0s: escalated to ops@supplier.example, lead@supplier.example", s.withReason("escalated to")[0].Reason)
	s.Equal("reminder 3 sent to ops@supplier.example, lead@supplier.example", s.withReason("reminder 3")[0].Reason)
	s.Equal("escalated", s.withReason("reminder 3")[0].Stage)
	s.Equal("submitting", s.withReason("approved by")[0].Stage)
}

func (s *invoiceSuite) TestAutoApproveWhenEveryCheckPassed() {
	s.policy.AutoApprove = true
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(paid())

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Equal([]string{"matching", "checking", "drafting", "awaiting_approval", "submitting", "with_buyer", "paid"}, s.stages())
	s.Equal("approver:portico:auto-approve", s.changes[4].Source)
	s.Equal("draft 1 approved by portico:auto-approve: all 9 checks passed and the customer's policy approves such drafts", s.changes[4].Reason)
	s.Equal(s.changes[3].At, s.changes[4].At, "nobody is waited for")
	s.Require().NotNil(s.changes[4].Decision)
	s.Equal(store.ChannelPolicy, s.changes[4].Decision.Channel, "the policy's approval is audited as the policy's")
	st := s.state()
	s.Equal(AutoApprover, st.Approval.Approver)
}

func (s *invoiceSuite) TestPartialPaymentThenPaid() {
	s.approvedAndSubmitted()
	part := func(amount string) portal.Invoice {
		inv := portalInvoice(portal.StatusPartiallyPaid, "Partially Paid", "")
		inv.PaidAmount, inv.PaymentReference = decimal.RequireFromString(amount), "ACH-1"
		return inv
	}
	s.buyerSays(portalInvoice(portal.StatusApproved, "Approved", ""), part("500.00"), part("500.00"), part("1000.5"), paid())

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Equal([]string{"matching", "checking", "drafting", "awaiting_approval", "submitting", "with_buyer", "with_buyer", "partially_paid", "partially_paid", "paid"}, s.stages())
	s.Equal("paid 500.00 USD of 1250.00 USD so far (ACH-1)", s.changes[7].Reason)
	s.Equal("paid 1000.50 USD of 1250.00 USD so far (ACH-1)", s.changes[8].Reason)
	s.Equal("partially_paid", s.changes[7].Status)
}

func (s *invoiceSuite) TestDuplicateNumberIsRenumberedAndResubmittedThenPaid() {
	s.matchedAndDrafted()
	failed := disputed("INVOICE_DUPLICATE", "Invoice number INV-1001 has already been used.")
	failed.PortalStatus, failed.RoutingStatus = "Failed", "Failed"
	s.submitted(pending, portalInvoice(portal.StatusWithBuyer, "Sent", ""))
	s.buyerSays(failed, paid())
	s.signalAfterDraft(approve("ops@supplier.example"))

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.Equal([]activities.Fix{{Kind: "renumber", Number: "INV-1001-01"}}, s.fixes)
	s.Equal(2, s.drafts)
	s.Equal([]string{
		"matching", "checking", "drafting", "awaiting_approval", "submitting", "with_buyer",
		"disputed", "resubmitting", "drafting", "submitting", "with_buyer", "paid",
	}, s.stages())
	s.Equal("INVOICE_DUPLICATE: Invoice number INV-1001 has already been used.", s.changes[6].Reason)
	s.Equal(`resubmission 1 (renumber): the portal said INVOICE_DUPLICATE "Invoice number INV-1001 has already been used."; resubmit as INV-1001-01`, s.changes[7].Reason)
	s.Equal("portico", s.changes[7].Source)
	s.Equal("draft 2 (INV-1001-01) submitted without a new approval: the approved content changed only by renumber", s.changes[9].Reason)
	// The resubmission is read 5 minutes later again, as automatic rejections come quickly.
	s.Equal(5*time.Minute, s.changes[11].At.Sub(s.changes[10].At))
	st := s.state()
	s.Equal("INV-1001-01", st.PortalNumber)
	s.Equal(1, st.Resubmissions)
	s.Equal(2, st.DraftVersion)
	s.assertSeqs()
	s.Equal(int64(1), s.metrics.get(RejectionsMetric+"{reason=INVOICE_DUPLICATE}"), "the rejection is counted once, by reason")
}

func (s *invoiceSuite) TestBackDatedInvoiceIsRedatedAndRenumbered() {
	s.approvedAndSubmitted()
	s.submitted(pending)
	s.buyerSays(disputed("DATE_INVALID", "Invoice date is more than 30 days in the past"), paid())
	start := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	// Approved at 23:01, read at 23:06: still 22 November in UTC.
	s.Equal([]activities.Fix{{Kind: "redate", Date: "2026-11-22"}, {Kind: "renumber", Number: "INV-1001-01"}}, s.fixes,
		"a disputed invoice keeps its number in the portal: the resubmission needs a new one too")
	s.Contains(s.withReason("resubmission 1")[0].Reason, "resubmission 1 (redate, renumber)")
}

func (s *invoiceSuite) TestRoundsUsedUpFailTheSubmission() {
	s.policy.MaxResubmissions = 1
	s.approvedAndSubmitted()
	s.submitted(pending)
	dup := disputed("DUPLICATE_NUMBER", "Duplicate")
	s.buyerSays(dup, dup)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	msg := s.failedWith()
	s.Contains(msg, "the policy's 1 automatic resubmissions are used up")
	s.Equal("failed_submission", s.last().Stage)
	s.Equal(msg, s.last().Reason)
	s.Equal([]activities.Fix{{Kind: "renumber", Number: "INV-1001-01"}}, s.fixes, "one round only")
}

// unfixable sets up an invoice the buyer disputes for a reason only a person can resolve.
func (s *invoiceSuite) unfixable() {
	s.approvedAndSubmitted()
	s.buyerSays(disputed("OTHER", "Price does not match contract"))
}

func (s *invoiceSuite) assertNeedsAttention() {
	rows := s.withReason(`the portal said OTHER "Price does not match contract"; Portico cannot fix this on its own`)
	s.Require().NotEmpty(rows)
	s.Equal("needs_attention", rows[len(rows)-1].Stage)
	s.Require().NotEmpty(s.notes)
	n := s.notes[0]
	s.Equal("needs_attention", n.Kind)
	s.Contains(n.Text, "Price does not match contract")
	s.Contains(n.Text, "Evidence: ev-1-values, ev-1-shot.")
}

func (s *invoiceSuite) TestUnfixableDisputeResolvedByResubmission() {
	s.unfixable()
	s.submitted(pending)
	s.buyerSays(paid())
	at := 5*time.Minute + time.Minute + time.Hour // after the dispute is read at 1 min + 5 min
	s.signalAt(at, ResolutionSignal, map[string]any{"action": "resubmit", "by": "lead@supplier.example", "date": "22/11/2026"})
	s.signalAt(at+time.Minute, ResolutionSignal, Resolution{Action: "resubmit", By: "lead@supplier.example", Note: "price agreed", Date: "2026-11-20", TaxReference: "EX-9"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
	s.assertNeedsAttention()
	s.Contains(s.withReason("refused resolution signal")[0].Reason, `date "22/11/2026" is not YYYY-MM-DD`)
	s.Equal([]activities.Fix{{Kind: "redate", Date: "2026-11-20"}, {Kind: "tax_reference", TaxReference: "EX-9"}, {Kind: "renumber", Number: "INV-1001-01"}}, s.fixes)
	row := s.withReason("resubmission 1")[0]
	s.Equal("resubmission 1 (redate, tax_reference, renumber): resolved by lead@supplier.example: price agreed", row.Reason)
	s.Equal("approver:lead@supplier.example", row.Source)
	s.Equal(&store.Decision{Kind: store.DecisionKindResolution, Channel: store.ChannelSignal, Decision: ActionResubmit,
		Actor: "lead@supplier.example", Note: "price agreed", DraftVersion: 1, Accepted: true}, row.Decision,
		"the resolution is audited with the row it leads to")
	refused := s.withReason("refused resolution signal")[0].Decision
	s.Require().NotNil(refused)
	s.False(refused.Accepted)
	s.Contains(refused.Refusal, "is not YYYY-MM-DD")
	s.Equal(1, s.state().Resubmissions)
}

func (s *invoiceSuite) TestUnfixableDisputeVoided() {
	s.unfixable()
	s.signalAt(time.Hour, ResolutionSignal, Resolution{Action: "void", By: "lead@supplier.example", Note: "credit note instead"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	res := s.result()
	s.Equal(StageVoided, res.Stage)
	s.Equal("voided by lead@supplier.example: credit note instead", res.Reason)
	s.assertNeedsAttention()
	s.Equal("voided", s.last().Stage)
	s.env.AssertNotCalled(s.T(), "ApplyFix", mock.Anything, mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestUnfixableDisputeGivenUp() {
	s.unfixable()
	s.signalAt(time.Hour, ApprovalSignal, approve("ops@supplier.example")) // nothing to approve now
	s.signalAt(2*time.Hour, ResolutionSignal, Resolution{Action: "give_up", By: "lead@supplier.example"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal("given up by lead@supplier.example", s.failedWith())
	s.assertNeedsAttention()
	s.Equal("failed_submission", s.last().Stage)
	s.Len(s.withReason("refused approval signal: the invoice is needs_attention, not awaiting approval"), 1)
	s.Equal(3, s.audited(), "the approval, the refused approval and the give-up")
	s.Equal(ActionGiveUp, s.last().Decision.Decision)
}

func (s *invoiceSuite) TestCustomerWithoutApproversRefusesEveryDecision() {
	s.policy.Approvers = nil
	s.policy.ApproversRequired = true
	s.matchedAndDrafted()
	s.signalAfterDraft(approve("ops@supplier.example"))
	var updateErr error
	s.updateAt(time.Hour, approve("lead@supplier.example"), func(_ Stage, err error) { updateErr = err })
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 2*time.Hour)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.ErrorContains(updateErr, "customer acme has no approvers configured")
	rows := s.withReason("has no approvers configured")
	s.Require().Len(rows, 2, "the signal and the Update are refused and recorded")
	s.Equal("approver:ops@supplier.example", rows[0].Source)
	s.Equal(store.ChannelUpdate, rows[1].Decision.Channel)
	s.env.AssertNotCalled(s.T(), "SubmitInvoice", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestEmptyApproverListFromBeforeTheChangeStillMeansAnyone() {
	// A policy recorded in a history from before ApproversRequired existed decodes without it.
	s.policy.Approvers = nil
	s.matchedAndDrafted()
	s.submitted(pending)
	s.buyerSays(paid())
	s.signalAfterDraft(approve("ops@supplier.example"))

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StagePaid, s.result().Stage)
}

// audited counts the ERP rows that carry a decision for the audit.
func (s *invoiceSuite) audited() int {
	n := 0
	for _, c := range s.changes {
		if c.Decision != nil {
			n++
		}
	}
	return n
}

func (s *invoiceSuite) TestVoidedByTheBuyerEnds() {
	s.approvedAndSubmitted()
	s.buyerSays(portalInvoice(portal.StatusVoided, "Voided", ""))

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Equal(StageVoided, s.result().Stage)
	s.Equal("voided", s.last().Stage)
}

func (s *invoiceSuite) TestBuyerThatNeverPaysIsEscalated() {
	s.approvedAndSubmitted()
	s.env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusApproved, "Approved", ""), nil)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID, Poll: PollPolicy{First: time.Hour, Max: 24 * time.Hour, GiveUpAfter: 30 * 24 * time.Hour}})

	res := s.result()
	s.Equal(StageEscalated, res.Stage)
	s.Equal("Approved", res.PortalStatus)
	s.Contains(res.Reason, "neither paid nor voided 720h0m0s after the last submission")
	last := s.last()
	s.Equal("escalated", last.Stage)
	s.Equal(30*24*time.Hour, last.At.Sub(s.withReason("approved by")[0].At), "given up exactly at the deadline")
	s.Require().Len(s.notes, 1)
	s.Equal("escalation", s.notes[0].Kind)
	s.Contains(s.notes[0].Text, "Portico has stopped reading its status")
}

func (s *invoiceSuite) TestPortalLayoutChangeFailsWithTheReason() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(activities.DraftResult{},
		temporal.NewNonRetryableApplicationError("portal layout changed: step save draft: missing #invoice-number", activities.ErrTypePortalLayoutChanged, nil))

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.failedWith()
	last := s.last()
	s.Equal("failed", last.Stage)
	s.Contains(last.Reason, "PortalLayoutChanged")
	s.Contains(last.Reason, "#invoice-number")
}

func (s *invoiceSuite) TestUnknownPOIsLookedUpInThePortalThenFails() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Reason: "PO PO-4500 is not among the POs synced from the portal"}, nil).Once()
	s.env.OnActivity(b.FetchPurchaseOrder, mock.Anything, "acme-coupa", "PO-4500").Return(false, nil).Once()

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Error(s.env.GetWorkflowError())
	s.Contains(s.last().Reason, "PO PO-4500 is not in the portal")
}

// continuedAs returns the input of the run the workflow continued as.
func (s *invoiceSuite) continuedAs() InvoiceInput {
	err := s.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(err, &can)
	s.Equal("InvoiceWorkflow", can.WorkflowType.Name)
	var in InvoiceInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	return in
}

// resume runs the continued workflow in a fresh environment, as the server would start the next run.
func (s *invoiceSuite) resume(in InvoiceInput, at time.Time, statuses ...portal.Invoice) *testsuite.TestWorkflowEnvironment {
	env := s.newEnv()
	env.SetStartTime(at)
	for _, st := range statuses {
		env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(st, nil).Once()
	}
	return env
}

func (s *invoiceSuite) TestContinueAsNewCarriesTheStateAndTheERPNumbering() {
	defer func(n int) { continueAsNewAfterEvents = n }(continueAsNewAfterEvents)
	continueAsNewAfterEvents = 100
	s.approvedAndSubmitted()
	s.buyerSays(pending, portalInvoice(portal.StatusApproved, "Approved", ""))
	// Approved at 1 min; reads at 1h01 and 3h01. The history "grows" past the threshold at 2h.
	s.env.RegisterDelayedCallback(func() { s.env.SetCurrentHistoryLength(150) }, 2*time.Hour)
	poll := PollPolicy{First: time.Hour, Max: 6 * time.Hour}

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID, Poll: poll})

	in := s.continuedAs()
	s.Equal(invoiceID, in.InvoiceID)
	s.Equal(poll, in.Poll)
	r := in.Resume
	s.Require().NotNil(r)
	s.Equal(StageWithBuyer, r.State.Stage)
	s.Equal("Approved", r.Current.PortalStatus)
	s.Equal(len(s.changes), r.Seq)
	s.Equal(4*time.Hour, r.Interval, "1h, 2h, then 4h")
	s.Equal(s.withReason("approved by")[0].At.Add(DefaultPollPolicy.GiveUpAfter), r.Deadline)
	s.Equal(1, r.State.DraftVersion)
	s.Equal([]string{"ev-1-values", "ev-1-shot"}, r.State.Evidence)
	s.Len(r.State.Checks, 9)
	s.Equal(approvers, r.Policy.Approvers)
	s.Equal("ops@supplier.example", r.State.Approval.Approver)
	seqBefore, end := r.Seq, s.env.Now()

	// The next run goes straight to following the buyer and continues the ERP numbering.
	s.changes = nil
	env := s.resume(in, end, paid())
	env.ExecuteWorkflow(InvoiceWorkflow, in)
	s.Require().NoError(env.GetWorkflowError())
	var res InvoiceResult
	s.Require().NoError(env.GetWorkflowResult(&res))
	s.Equal(StagePaid, res.Stage)
	s.Require().Len(s.changes, 1)
	s.Equal(seqBefore+1, s.changes[0].Seq)
	s.Equal(4*time.Hour, s.changes[0].At.Sub(end), "the interval carries over")
	s.Equal("paid", s.sa[InvoiceStageAttr])
	s.Equal("INV-1001", s.sa[InvoiceNumberAttr])
	env.AssertExpectations(s.T())
}

func (s *invoiceSuite) TestSignalsDuringContinueAsNewAreNotLost() {
	defer func(n int) { continueAsNewAfterEvents = n }(continueAsNewAfterEvents)
	continueAsNewAfterEvents = 100
	s.approvedAndSubmitted()
	// The second read takes 10 minutes; the signals come while it runs, after the last look for late approvals.
	s.env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(pending, nil).Once()
	s.env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).After(10*time.Minute).Return(pending, nil).Once()
	s.env.RegisterDelayedCallback(func() { s.env.SetCurrentHistoryLength(150) }, 2*time.Hour)
	s.signalAt(3*time.Hour+5*time.Minute, ApprovalSignal, approve("lead@supplier.example"))
	s.signalAt(3*time.Hour+6*time.Minute, ResolutionSignal, Resolution{Action: "void", By: "lead@supplier.example", Note: "buyer asked"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID, Poll: PollPolicy{First: time.Hour, Max: 6 * time.Hour}})

	in := s.continuedAs()
	r := in.Resume
	s.Empty(r.Resolutions, "a resolution sent while the invoice is with the buyer is refused, not kept")
	s.Require().Len(r.State.Refused, 2, "both late signals are refused, and recorded, before the run ends")
	s.Equal("the invoice is with_buyer, not awaiting approval", r.State.Refused[0].Reason)
	s.Equal("resolution signal", r.State.Refused[1].Signal)
	s.Equal("the invoice is with_buyer, not waiting for a resolution", r.State.Refused[1].Reason)
	last := s.last()
	s.Equal("refused resolution signal: the invoice is with_buyer, not waiting for a resolution", last.Reason)
	s.Equal(r.Seq, last.Seq)

	// The next run goes on from there: a dispute now waits for a fresh resolution.
	env := s.resume(in, s.env.Now(), disputed("", "Price does not match contract"))
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(ResolutionSignal, Resolution{Action: "void", By: "lead@supplier.example", Note: "buyer asked"})
	}, 24*time.Hour)
	env.ExecuteWorkflow(InvoiceWorkflow, in)
	s.Require().NoError(env.GetWorkflowError())
	var res InvoiceResult
	s.Require().NoError(env.GetWorkflowResult(&res))
	s.Equal(StageVoided, res.Stage)
	s.Equal("voided by lead@supplier.example: buyer asked", res.Reason)
	s.assertSeqs()
	env.AssertExpectations(s.T())
}

func TestParseApproval(t *testing.T) {
	ap, err := ParseApproval([]byte(`{"decision":" Request_Changes ","approver":"a@b","note":"ok","draft":2}`))
	require.NoError(t, err)
	require.Equal(t, Approval{Decision: "request_changes", Approver: "a@b", Note: "ok", Draft: 2}, ap)
	for _, bad := range []string{``, `null`, `[]`, `{"decision":"approve"}`, `{"decision":"yes","approver":"a"}`, `{"decision":"approve","approver":"a","x":1}`, `{"decision":"approve","approver":"a","draft":-1}`} {
		_, err := ParseApproval([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestParseResolution(t *testing.T) {
	r, err := ParseResolution([]byte(`{"action":"Resubmit","by":" a@b ","number":"INV-7-A","date":"2026-11-20","tax_reference":"EX","remit_to":"Box 9"}`))
	require.NoError(t, err)
	require.Equal(t, Resolution{Action: "resubmit", By: "a@b", Number: "INV-7-A", Date: "2026-11-20", TaxReference: "EX", RemitTo: "Box 9"}, r)
	for _, bad := range []string{``, `"void"`, `{"action":"void"}`, `{"action":"retry","by":"a"}`, `{"action":"void","by":"a","number":"X"}`, `{"action":"resubmit","by":"a","date":"20.11.2026"}`, `{"action":"void","by":"a","why":"x"}`} {
		_, err := ParseResolution([]byte(bad))
		require.Error(t, err, bad)
	}
}

// countingMetrics is a client.MetricsHandler that adds up counters by name and tags. The SDK calls it from
// its own goroutines too, so every handler WithTags makes shares the one lock of the counts.
type countingMetrics struct {
	tags map[string]string
	c    *counts
}

type counts struct {
	mu sync.Mutex
	n  map[string]int64
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{c: &counts{n: map[string]int64{}}}
}

func (m *countingMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(m.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return &countingMetrics{tags: merged, c: m.c}
}

func (m *countingMetrics) key(name string) string {
	if len(m.tags) == 0 {
		return name
	}
	var kv []string
	for k, v := range m.tags {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

func (m *countingMetrics) Counter(name string) client.MetricsCounter {
	return counterFunc(func(d int64) {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		m.c.n[m.key(name)] += d
	})
}

func (m *countingMetrics) Gauge(string) client.MetricsGauge {
	return client.MetricsNopHandler.Gauge("")
}

func (m *countingMetrics) Timer(string) client.MetricsTimer {
	return client.MetricsNopHandler.Timer("")
}

func (m *countingMetrics) get(key string) int64 {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	return m.c.n[key]
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }
