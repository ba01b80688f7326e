package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

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
}

func TestInvoiceWorkflow(t *testing.T) { suite.Run(t, new(invoiceSuite)) }

const invoiceID = "erp-1001"

var summary = activities.InvoiceSummary{
	InvoiceID: invoiceID, Number: "INV-1001", CustomerID: "acme", AccountID: "acme-coupa",
	PONumber: "PO-4500", Currency: "USD", Total: decimal.RequireFromString("1250.00"), Lines: 2,
}

func (s *invoiceSuite) SetupTest() {
	s.changes = nil
	s.sa = map[string]string{}
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflow(InvoiceWorkflow)
	s.env.RegisterActivity(&activities.Activities{})
	s.env.RegisterActivity(&activities.Browser{})
	s.env.OnActivity(a.LoadInvoice, mock.Anything, invoiceID).Return(summary, nil)
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		attrs := args.Get(0).(temporal.SearchAttributes)
		for _, k := range []temporal.SearchAttributeKeyKeyword{InvoiceNumberKey, CustomerIDKey, PONumberKey, PortalAccountKey, InvoiceStageKey} {
			if v, ok := attrs.GetKeyword(k); ok {
				s.sa[k.GetName()] = v
			}
		}
	}).Return(nil)
	s.env.OnActivity(a.RecordStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, c store.StatusChange) error {
		s.changes = append(s.changes, c)
		return nil
	})
}

// matchedAndDrafted mocks a PO match and a saved draft.
func (s *invoiceSuite) matchedAndDrafted() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(activities.DraftResult{Invoice: portalInvoice(portal.StatusDraft, "Draft", "")}, nil)
}

func (s *invoiceSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func portalInvoice(st portal.Status, word, reason string) portal.Invoice {
	return portal.Invoice{PortalID: "INV-000001", Number: "INV-1001", PONumber: "PO-4500", Status: st, PortalStatus: word, Reason: reason, Total: decimal.RequireFromString("1250.00")}
}

// statuses returns the portal status words the portal mock answers with, one per status check.
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

func (s *invoiceSuite) stages() []string {
	var out []string
	for _, c := range s.changes {
		out = append(out, c.Stage)
	}
	return out
}

func (s *invoiceSuite) TestHappyPathToPaid() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusWithBuyer, "Pending Approval", ""), nil).Once()
	s.buyerSays(
		portalInvoice(portal.StatusWithBuyer, "Pending Approval", ""),
		portalInvoice(portal.StatusApproved, "Approved", ""),
		portalInvoice(portal.StatusPaid, "Paid", ""),
	)
	s.signalAfterDraft(Approval{Decision: "approve", Approver: "ops@supplier.example", Note: "looks right"})
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(StateQuery)
		s.NoError(err)
		var st InvoiceState
		s.NoError(v.Get(&st))
		s.Equal(StageAwaitingApproval, st.Stage)
		s.Equal("INV-1001", st.Number)
		s.Equal("Draft", st.PortalStatus)
	}, 30*time.Second)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var res InvoiceResult
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(StagePaid, res.Stage)
	s.Equal("Paid", res.PortalStatus)
	s.Equal([]string{"matching", "drafting", "awaiting_approval", "submitting", "with_buyer", "with_buyer", "paid"}, s.stages())
	// Pending Approval was seen twice but written once: only changes are written back.
	for i, c := range s.changes {
		s.Equal(i+1, c.Seq, "sequence numbers make retried writes idempotent")
	}
	s.Equal("approver:ops@supplier.example", s.changes[3].Source)
	s.Equal("paid", s.changes[6].Status)
	s.Equal(map[string]string{InvoiceNumberAttr: "INV-1001", CustomerIDAttr: "acme", PONumberAttr: "PO-4500", PortalAccountAttr: "acme-coupa", InvoiceStageAttr: "paid"}, s.sa)
}

func (s *invoiceSuite) TestRejectedApprovalDeletesTheDraft() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.DeleteDraft, mock.Anything, invoiceID).Return(nil).Once()
	s.signalAfterDraft(Approval{Decision: "reject", Approver: "lead@supplier.example", Note: "wrong quantity"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.NoError(s.env.GetWorkflowError())
	var res InvoiceResult
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(StageRejected, res.Stage)
	s.Contains(res.Reason, "wrong quantity")
	s.Equal("rejected", s.stages()[len(s.changes)-1])
	s.env.AssertNotCalled(s.T(), "SubmitInvoice", mock.Anything, mock.Anything)
}

func (s *invoiceSuite) TestDisputeEndsDisputedWithTheReason() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusWithBuyer, "Pending Approval", ""), nil).Once()
	s.buyerSays(portalInvoice(portal.StatusDisputed, "Disputed", "Price does not match contract"))
	s.signalAfterDraft(Approval{Decision: "approve", Approver: "ops@supplier.example"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.NoError(s.env.GetWorkflowError())
	var res InvoiceResult
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(StageDisputed, res.Stage)
	s.Equal("Price does not match contract", res.Reason)
	last := s.changes[len(s.changes)-1]
	s.Equal("disputed", last.Stage)
	s.Equal("Price does not match contract", last.Reason)
}

func (s *invoiceSuite) TestBadSignalPayloadsAreRefusedAndRecorded() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusWithBuyer, "Pending Approval", ""), nil).Once()
	s.buyerSays(portalInvoice(portal.StatusPaid, "Paid", ""))
	s.signalAfterDraft(
		"approve",                             // not an object
		map[string]any{"decision": "approve"}, // no approver
		map[string]any{"decision": "maybe", "approver": "x@y"},
		map[string]any{"decision": "approve", "approver": "x@y", "amount": 5}, // unknown field
		Approval{Decision: "approve", Approver: "ops@supplier.example"},
	)
	var refused []RefusedSignal
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(StateQuery)
		s.NoError(err)
		var st InvoiceState
		s.NoError(v.Get(&st))
		refused = st.Refused
		s.Equal(StageAwaitingApproval, st.Stage, "bad signals must not move the invoice")
	}, 4*time.Minute+30*time.Second)

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(refused, 4)
	s.Contains(refused[0].Reason, "payload is not")
	s.Contains(refused[1].Reason, "approver is empty")
	s.Contains(refused[2].Reason, `decision "maybe"`)
	s.Contains(refused[3].Reason, "amount")
	var recorded int
	for _, c := range s.changes {
		if c.Stage == "awaiting_approval" && c.Source != "portal" {
			recorded++
			s.Contains(c.Reason, "refused approval signal")
		}
	}
	s.Equal(4, recorded, "each refused signal is in the ERP history")
}

func (s *invoiceSuite) TestPortalLayoutChangeFailsWithTheReason() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Matched: true, PONumber: "PO-4500"}, nil)
	s.env.OnActivity(b.SaveDraft, mock.Anything, invoiceID).Return(activities.DraftResult{},
		temporal.NewNonRetryableApplicationError("portal layout changed: step save draft: missing #invoice-number", activities.ErrTypePortalLayoutChanged, nil))

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr))
	s.Equal(ErrTypeInvoiceFailed, appErr.Type())
	last := s.changes[len(s.changes)-1]
	s.Equal("failed", last.Stage)
	s.Contains(last.Reason, "PortalLayoutChanged")
	s.Contains(last.Reason, "#invoice-number")
}

func (s *invoiceSuite) TestUnknownPOIsLookedUpInThePortalThenFails() {
	s.env.OnActivity(a.MatchPO, mock.Anything, invoiceID).Return(activities.MatchResult{Reason: "PO PO-4500 is not among the POs synced from the portal"}, nil).Once()
	s.env.OnActivity(b.FetchPurchaseOrder, mock.Anything, "acme-coupa", "PO-4500").Return(false, nil).Once()

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID})

	s.Error(s.env.GetWorkflowError())
	s.Contains(s.changes[len(s.changes)-1].Reason, "PO PO-4500 is not in the portal")
}

func (s *invoiceSuite) TestBuyerThatNeverPaysIsGivenUpOn() {
	s.matchedAndDrafted()
	s.env.OnActivity(b.SubmitInvoice, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusWithBuyer, "Pending Approval", ""), nil).Once()
	s.env.OnActivity(b.CheckStatus, mock.Anything, invoiceID).Return(portalInvoice(portal.StatusApproved, "Approved", ""), nil)
	s.signalAfterDraft(Approval{Decision: "approve", Approver: "ops@supplier.example"})

	s.env.ExecuteWorkflow(InvoiceWorkflow, InvoiceInput{InvoiceID: invoiceID, Poll: PollPolicy{First: time.Hour, Max: 24 * time.Hour, GiveUpAfter: 30 * 24 * time.Hour}})

	s.Error(s.env.GetWorkflowError())
	last := s.changes[len(s.changes)-1]
	s.Equal("failed", last.Stage)
	s.Contains(last.Reason, "no final status after 720h")
}

func TestParseApproval(t *testing.T) {
	ap, err := ParseApproval([]byte(`{"decision":" Approve ","approver":"a@b","note":"ok"}`))
	require.NoError(t, err)
	require.Equal(t, Approval{Decision: "approve", Approver: "a@b", Note: "ok"}, ap)
	for _, bad := range []string{``, `null`, `[]`, `{"decision":"approve"}`, `{"decision":"yes","approver":"a"}`, `{"decision":"approve","approver":"a","x":1}`} {
		_, err := ParseApproval([]byte(bad))
		require.Error(t, err, bad)
	}
}
