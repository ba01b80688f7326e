package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
	"portico/internal/portal"
	"portico/internal/store"
)

// InvoiceInput starts an InvoiceWorkflow. It names the ERP invoice only: activities read the rest from
// PostgreSQL, so no amount, attachment or secret is copied into Temporal's history.
type InvoiceInput struct {
	InvoiceID string
	// Poll tunes status polling after submission; zero fields take DefaultPollPolicy's.
	Poll PollPolicy `json:",omitzero"`
}

// PollPolicy is how often a submitted invoice's status is read: often at first, when automatic rejections
// arrive, then less and less, and never for ever.
type PollPolicy struct {
	First       time.Duration `json:",omitzero"` // first check after submission
	Max         time.Duration `json:",omitzero"` // the interval doubles up to this
	GiveUpAfter time.Duration `json:",omitzero"` // no final status by then: the invoice fails for a person to chase
}

// DefaultPollPolicy checks 5 minutes after submission, backs off to every 12 hours, and gives up after 180 days.
var DefaultPollPolicy = PollPolicy{First: 5 * time.Minute, Max: 12 * time.Hour, GiveUpAfter: 180 * 24 * time.Hour}

func (p PollPolicy) withDefaults() PollPolicy {
	if p.First <= 0 {
		p.First = DefaultPollPolicy.First
	}
	if p.Max <= 0 {
		p.Max = DefaultPollPolicy.Max
	}
	if p.GiveUpAfter <= 0 {
		p.GiveUpAfter = DefaultPollPolicy.GiveUpAfter
	}
	return p
}

// Approval is the payload of the approval signal.
type Approval struct {
	Decision string `json:"decision"` // "approve" or "reject"
	Approver string `json:"approver"`
	Note     string `json:"note,omitempty"`
}

// The approval decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// RefusedSignal is an approval signal the workflow did not act on, and why.
type RefusedSignal struct {
	At       time.Time
	Approver string
	Reason   string
}

// InvoiceState is what the state query returns: where the invoice stands, for an approver or an engineer.
type InvoiceState struct {
	InvoiceID    string
	Number       string
	CustomerID   string
	AccountID    string
	PONumber     string
	Stage        Stage
	Status       portal.Status
	PortalStatus string
	PortalID     string
	Reason       string
	Approval     *Approval
	Refused      []RefusedSignal
}

// InvoiceResult is how an invoice ended (paid, disputed or rejected; failures end the workflow in error).
type InvoiceResult struct {
	Stage        Stage
	PortalStatus string
	Reason       string
}

// ErrTypeInvoiceFailed is the error type a failed InvoiceWorkflow ends with. A failed invoice can be
// started again under the same workflow ID once the cause is fixed.
const ErrTypeInvoiceFailed = "InvoiceFailed"

// InvoiceWorkflow carries one ERP invoice through the portal: match its PO, save a draft, wait for a
// person's approval, submit, and follow the buyer's status until it is paid or disputed, writing every
// change back to the ERP.
func InvoiceWorkflow(ctx workflow.Context, in InvoiceInput) (InvoiceResult, error) {
	w := &invoiceWorkflow{in: in, poll: in.Poll.withDefaults()}
	if err := w.setup(ctx); err != nil {
		return InvoiceResult{}, err
	}
	return w.run(ctx)
}

type invoiceWorkflow struct {
	in        InvoiceInput
	poll      PollPolicy
	state     InvoiceState
	seq       int
	approvals workflow.ReceiveChannel
	db        workflow.ActivityOptions
	browser   workflow.ActivityOptions
}

var (
	a *activities.Activities
	b *activities.Browser
)

func (w *invoiceWorkflow) setup(ctx workflow.Context) error {
	w.state = InvoiceState{InvoiceID: w.in.InvoiceID}
	w.approvals = workflow.GetSignalChannel(ctx, ApprovalSignal)
	w.db = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// A database outage is waited out, visibly (the pending activity shows its attempts and error).
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	w.browser = workflow.ActivityOptions{
		TaskQueue:           BrowserTaskQueue,
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		// Portal outages are retried a few times; everything a retry cannot fix is non-retryable at the source.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 15 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 6},
	}
	return workflow.SetQueryHandler(ctx, StateQuery, func() (InvoiceState, error) { return w.state, nil })
}

func (w *invoiceWorkflow) run(ctx workflow.Context) (InvoiceResult, error) {
	if err := w.setStage(ctx, StageMatching, "", "", "portico"); err != nil {
		return InvoiceResult{}, err
	}
	var inv activities.InvoiceSummary
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Load ERP invoice "+w.in.InvoiceID), a.LoadInvoice, w.in.InvoiceID).Get(ctx, &inv); err != nil {
		return w.fail(ctx, "loading the ERP invoice", err)
	}
	w.state.Number, w.state.CustomerID, w.state.AccountID, w.state.PONumber = inv.Number, inv.CustomerID, inv.AccountID, inv.PONumber
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		InvoiceNumberKey.ValueSet(inv.Number), CustomerIDKey.ValueSet(inv.CustomerID),
		PONumberKey.ValueSet(inv.PONumber), PortalAccountKey.ValueSet(inv.AccountID)); err != nil {
		return InvoiceResult{}, err
	}
	w.details(ctx)

	if reason, ok, err := w.match(ctx, inv); err != nil {
		return w.fail(ctx, "matching the PO", err)
	} else if !ok {
		return w.fail(ctx, "matching the PO", errors.New(reason))
	}

	if err := w.setStage(ctx, StageDrafting, "", "", "portico"); err != nil {
		return InvoiceResult{}, err
	}
	var draft activities.DraftResult
	if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Save draft "+inv.Number+" in the portal"), b.SaveDraft, w.in.InvoiceID).Get(ctx, &draft); err != nil {
		return w.fail(ctx, "saving the draft", err)
	}
	w.state.PortalID = draft.Invoice.PortalID

	current := draft.Invoice
	if draft.Invoice.Status == portal.StatusDraft {
		if err := w.setStatus(ctx, StageAwaitingApproval, draft.Invoice, "portal"); err != nil {
			return InvoiceResult{}, err
		}
		approval, err := w.awaitApproval(ctx)
		if err != nil {
			// Cancelled by an operator: say so in the ERP before the workflow ends.
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			_, _ = w.fail(dctx, "awaiting approval", errors.New("cancelled by an operator; the draft stays in the portal"))
			return InvoiceResult{}, err
		}
		w.state.Approval = &approval
		source := "approver:" + approval.Approver
		if approval.Decision == DecisionReject {
			if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Delete rejected draft "+inv.Number), b.DeleteDraft, w.in.InvoiceID).Get(ctx, nil); err != nil {
				return w.fail(ctx, "deleting the rejected draft", err)
			}
			w.state.Reason = "rejected by " + approval.Approver + noteSuffix(approval.Note)
			if err := w.setStage(ctx, StageRejected, "", w.state.Reason, source); err != nil {
				return InvoiceResult{}, err
			}
			return InvoiceResult{Stage: StageRejected, Reason: w.state.Reason}, nil
		}
		if err := w.setStage(ctx, StageSubmitting, w.state.PortalStatus, "approved by "+approval.Approver+noteSuffix(approval.Note), source); err != nil {
			return InvoiceResult{}, err
		}
		if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Submit "+inv.Number+" to the buyer"), b.SubmitInvoice, w.in.InvoiceID).Get(ctx, &current); err != nil {
			return w.fail(ctx, "submitting", err)
		}
	}
	// An invoice found already past Draft (a restarted workflow) is followed from where the portal stands.
	return w.track(ctx, current)
}

// match finds the invoice's PO among the synced ones, fetching it from the portal if it has not been synced.
func (w *invoiceWorkflow) match(ctx workflow.Context, inv activities.InvoiceSummary) (string, bool, error) {
	var m activities.MatchResult
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Match PO "+inv.PONumber), a.MatchPO, w.in.InvoiceID).Get(ctx, &m); err != nil {
		return "", false, err
	}
	if m.Matched || m.PONumber != "" {
		return m.Reason, m.Matched, nil
	}
	var found bool
	if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Look up PO "+inv.PONumber+" in the portal"), b.FetchPurchaseOrder, inv.AccountID, inv.PONumber).Get(ctx, &found); err != nil {
		return "", false, err
	}
	if !found {
		return fmt.Sprintf("PO %s is not in the portal", inv.PONumber), false, nil
	}
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Match PO "+inv.PONumber), a.MatchPO, w.in.InvoiceID).Get(ctx, &m); err != nil {
		return "", false, err
	}
	return m.Reason, m.Matched, nil
}

// awaitApproval waits for a valid approval signal. Malformed ones are refused and recorded, never acted
// on. A cancelled workflow stops waiting.
func (w *invoiceWorkflow) awaitApproval(ctx workflow.Context) (Approval, error) {
	for {
		var raw json.RawMessage
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.approvals, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &raw) })
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() != nil {
			return Approval{}, ctx.Err()
		}
		// encoding/json decoding into a struct is deterministic; workflowcheck cannot see that.
		ap, err := ParseApproval(raw) //workflowcheck:ignore
		if err == nil {
			return ap, nil
		}
		w.refuse(ctx, ap.Approver, err.Error())
	}
}

// ParseApproval decodes and checks an approval signal payload.
func ParseApproval(raw []byte) (Approval, error) {
	var ap Approval
	if len(bytes.TrimSpace(raw)) == 0 {
		return ap, errors.New(`empty payload: send {"decision": "approve"|"reject", "approver": "...", "note": "..."}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ap); err != nil {
		return Approval{}, fmt.Errorf(`payload is not {"decision", "approver", "note"}: %v`, err)
	}
	ap.Decision = strings.ToLower(strings.TrimSpace(ap.Decision))
	ap.Approver = strings.TrimSpace(ap.Approver)
	switch {
	case ap.Decision != DecisionApprove && ap.Decision != DecisionReject:
		return ap, fmt.Errorf("decision %q is neither %q nor %q", ap.Decision, DecisionApprove, DecisionReject)
	case ap.Approver == "":
		return ap, errors.New("approver is empty: every decision must name who made it")
	}
	return ap, nil
}

// refuse records a signal the workflow will not act on: in the query state, the log and the ERP history.
func (w *invoiceWorkflow) refuse(ctx workflow.Context, approver, reason string) {
	workflow.GetLogger(ctx).Warn("approval signal refused", "invoice", w.in.InvoiceID, "approver", approver, "reason", reason)
	w.state.Refused = append(w.state.Refused, RefusedSignal{At: workflow.Now(ctx), Approver: approver, Reason: reason})
	if approver == "" {
		approver = "unknown"
	}
	_ = w.record(ctx, w.state.Stage, w.state.PortalStatus, "refused approval signal: "+reason, "approver:"+approver)
}

// track polls the portal with durable timers until the buyer pays or disputes the invoice, or gives up.
func (w *invoiceWorkflow) track(ctx workflow.Context, current portal.Invoice) (InvoiceResult, error) {
	if err := w.setStatus(ctx, StageWithBuyer, current, "portal"); err != nil {
		return InvoiceResult{}, err
	}
	deadline := workflow.Now(ctx).Add(w.poll.GiveUpAfter)
	interval := w.poll.First
	for !current.Status.Final() {
		if !workflow.Now(ctx).Before(deadline) {
			return w.fail(ctx, "following the buyer", fmt.Errorf("no final status after %s; last status %q: chase the buyer", w.poll.GiveUpAfter, current.PortalStatus))
		}
		if err := workflow.NewTimerWithOptions(ctx, interval, workflow.TimerOptions{Summary: "Wait before reading the status again"}).Get(ctx, nil); err != nil {
			return InvoiceResult{}, err
		}
		w.refuseLateApprovals(ctx)
		var next portal.Invoice
		if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Read status of "+w.state.Number), b.CheckStatus, w.in.InvoiceID).Get(ctx, &next); err != nil {
			return w.fail(ctx, "reading the status", err)
		}
		if next.PortalStatus != current.PortalStatus || next.Reason != current.Reason {
			stage := StageWithBuyer
			switch next.Status {
			case portal.StatusPaid:
				stage = StagePaid
			case portal.StatusDisputed:
				stage = StageDisputed
			case portal.StatusVoided:
				stage = StageFailed
			}
			if err := w.setStatus(ctx, stage, next, "portal"); err != nil {
				return InvoiceResult{}, err
			}
		}
		current = next
		interval = min(interval*2, w.poll.Max)
	}
	if current.Status == portal.StatusVoided {
		return InvoiceResult{}, temporal.NewApplicationError("the buyer voided the invoice", ErrTypeInvoiceFailed)
	}
	return InvoiceResult{Stage: w.state.Stage, PortalStatus: current.PortalStatus, Reason: current.Reason}, nil
}

func (w *invoiceWorkflow) refuseLateApprovals(ctx workflow.Context) {
	var raw json.RawMessage
	for w.approvals.ReceiveAsync(&raw) {
		ap, _ := ParseApproval(raw) //workflowcheck:ignore
		w.refuse(ctx, ap.Approver, fmt.Sprintf("the invoice is %s, not awaiting approval", w.state.Stage))
	}
}

// setStatus records a portal status together with the stage it puts the invoice in.
func (w *invoiceWorkflow) setStatus(ctx workflow.Context, stage Stage, inv portal.Invoice, source string) error {
	w.state.Status, w.state.PortalStatus, w.state.Reason = inv.Status, inv.PortalStatus, inv.Reason
	if inv.PortalID != "" {
		w.state.PortalID = inv.PortalID
	}
	return w.setStage(ctx, stage, inv.PortalStatus, inv.Reason, source)
}

// setStage moves the invoice to a stage: search attribute, UI details and the ERP, in that order.
func (w *invoiceWorkflow) setStage(ctx workflow.Context, stage Stage, portalStatus, reason, source string) error {
	w.state.Stage = stage
	if err := workflow.UpsertTypedSearchAttributes(ctx, InvoiceStageKey.ValueSet(string(stage))); err != nil {
		return err
	}
	w.details(ctx)
	return w.record(ctx, stage, portalStatus, reason, source)
}

func (w *invoiceWorkflow) record(ctx workflow.Context, stage Stage, portalStatus, reason, source string) error {
	w.seq++
	change := store.StatusChange{
		InvoiceID: w.in.InvoiceID, Seq: w.seq, At: workflow.Now(ctx), Stage: string(stage),
		Status: string(w.state.Status), PortalStatus: portalStatus, PortalInvoiceID: w.state.PortalID,
		Reason: reason, Source: source,
	}
	summary := fmt.Sprintf("ERP status: %s", stage)
	if portalStatus != "" {
		summary += " (" + portalStatus + ")"
	}
	return workflow.ExecuteActivity(w.with(ctx, w.db, summary), a.RecordStatus, change).Get(ctx, nil)
}

// fail ends the invoice as failed with a reason a person can act on, written to the ERP first.
func (w *invoiceWorkflow) fail(ctx workflow.Context, during string, cause error) (InvoiceResult, error) {
	msg := cause.Error()
	var appErr *temporal.ApplicationError
	if errors.As(cause, &appErr) {
		msg = appErr.Message()
		if appErr.Type() != "" {
			msg = appErr.Type() + ": " + msg
		}
	}
	w.state.Reason = "failed while " + during + ": " + msg
	if err := w.setStage(ctx, StageFailed, w.state.PortalStatus, w.state.Reason, "portico"); err != nil {
		return InvoiceResult{}, err
	}
	return InvoiceResult{}, temporal.NewNonRetryableApplicationError(w.state.Reason, ErrTypeInvoiceFailed, nil)
}

// details shows the invoice's current state on the workflow's page in the Temporal UI.
func (w *invoiceWorkflow) details(ctx workflow.Context) {
	s := w.state
	text := fmt.Sprintf("**Stage:** %s\n\n**Invoice:** %s · **Customer:** %s · **PO:** %s · **Account:** %s", s.Stage, orDash(s.Number), orDash(s.CustomerID), orDash(s.PONumber), orDash(s.AccountID))
	if s.PortalStatus != "" {
		text += "\n\n**Portal status:** " + s.PortalStatus
	}
	if s.Reason != "" {
		text += "\n\n**Reason:** " + s.Reason
	}
	if s.Stage == StageAwaitingApproval {
		text += fmt.Sprintf("\n\nApprove: `temporal workflow signal --workflow-id %s --name %s --input '{\"decision\":\"approve\",\"approver\":\"you@example.com\"}'`", InvoiceWorkflowID(s.InvoiceID), ApprovalSignal)
	}
	workflow.SetCurrentDetails(ctx, text)
}

// with gives one activity call a summary, so the history reads as the story of the invoice.
func (w *invoiceWorkflow) with(ctx workflow.Context, opts workflow.ActivityOptions, summary string) workflow.Context {
	opts.Summary = summary
	return workflow.WithActivityOptions(ctx, opts)
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return ": " + note
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
