package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
	"portico/internal/money"
	"portico/internal/portal"
	"portico/internal/rejections"
	"portico/internal/store"
)

// InvoiceInput starts an InvoiceWorkflow. A start names the ERP invoice only: activities read the rest from
// PostgreSQL, so no amount, attachment or secret is copied into Temporal's history by the caller.
type InvoiceInput struct {
	InvoiceID string
	// Poll tunes status polling after submission; zero fields take DefaultPollPolicy's.
	Poll PollPolicy `json:",omitzero"`
	// Resume is set by the workflow alone, when it continues as new while following the buyer: the next
	// run starts a fresh history where the previous one stood.
	Resume *ResumeState `json:",omitempty"`
}

// PollPolicy is how often a submitted invoice's status is read: often at first, when automatic rejections
// arrive, then less and less, and never for ever.
type PollPolicy struct {
	First       time.Duration `json:",omitzero"` // first check after each submission
	Max         time.Duration `json:",omitzero"` // the interval doubles up to this
	GiveUpAfter time.Duration `json:",omitzero"` // no paid or voided by then (after the last submission): escalate to a person and stop
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

// ResumeState is everything a run hands to the next when it continues as new while following the buyer.
type ResumeState struct {
	// State is the query state as it stood: stage, checks, evidence, draft version, resubmissions, refusals.
	State InvoiceState
	// Current is the portal invoice as last read.
	Current portal.Invoice
	// Seq and NotifySeq are the last numbers given to an ERP history row and a notification: the next run
	// continues both, so retried writes stay idempotent and the ERP history stays in order.
	Seq       int
	NotifySeq int
	// Interval is the polling interval reached; Deadline is when following the buyer gives up.
	Interval time.Duration
	Deadline time.Time
	Policy   activities.Policy
	// Resolutions are resolution signals received but not acted on yet; the next run reads them first.
	Resolutions []json.RawMessage `json:",omitempty"`
}

// Approval is the payload of the approval signal and the argument of the approval Update.
type Approval struct {
	Decision string `json:"decision"` // approve, reject or request_changes
	Approver string `json:"approver"`
	Note     string `json:"note,omitempty"`
	// Draft is the draft version the approver looked at (InvoiceState.DraftVersion); 0 means the current
	// one. A decision on an older draft is refused: the approver has not seen what would be submitted.
	Draft int `json:"draft,omitempty"`
}

// The approval decisions.
const (
	DecisionApprove        = "approve"
	DecisionReject         = "reject"
	DecisionRequestChanges = "request_changes"
)

// AutoApprover is the approver named when a customer's policy approves drafts whose checks all passed.
const AutoApprover = "portico:auto-approve"

// Resolution is the payload of the resolution signal: what a person decided about an invoice in stage
// needs_attention (resubmit, void, give_up) or changes_requested (resubmit, give_up).
type Resolution struct {
	Action string `json:"action"`
	By     string `json:"by"`
	Note   string `json:"note,omitempty"`
	// What a resubmission keys into the portal differently; empty fields change nothing. Without Number a
	// resubmitted disputed invoice gets the next suffixed number, since the portal keeps the disputed one's.
	Number       string `json:"number,omitempty"`
	Date         string `json:"date,omitempty"` // YYYY-MM-DD
	TaxReference string `json:"tax_reference,omitempty"`
	RemitTo      string `json:"remit_to,omitempty"`
}

// The resolution actions.
const (
	ActionResubmit = "resubmit"
	ActionVoid     = "void"
	ActionGiveUp   = "give_up"
)

// RefusedSignal is an approval or resolution the workflow did not act on, and why.
type RefusedSignal struct {
	At       time.Time
	Signal   string // approval signal, approval update or resolution signal
	Approver string // the approver, or who sent the resolution
	Reason   string
}

// InvoiceState is what the state query returns: where the invoice stands, for an approver or an engineer.
type InvoiceState struct {
	InvoiceID  string
	Number     string // the ERP's invoice number
	CustomerID string
	AccountID  string
	PONumber   string
	Currency   string
	// PortalNumber is the number the portal knows the invoice by, when a resubmission renumbered it.
	PortalNumber string `json:",omitempty"`
	Stage        Stage
	Status       portal.Status
	PortalStatus string
	PortalID     string
	Reason       string
	// Checks are the pre-submission checks of the current draft, number_unused included once drafted.
	Checks []activities.Check `json:",omitempty"`
	// Evidence are the IDs (table evidence) of what every saved draft looked like, oldest first.
	Evidence []string `json:",omitempty"`
	// DraftVersion counts the drafts saved in the portal; an approval naming another one is stale.
	DraftVersion int
	// Approvers are the people whose decisions the customer's policy accepts (empty: nobody yet).
	Approvers []string `json:",omitempty"`
	Approval  *Approval
	// Resolution is the last resolution acted on.
	Resolution *Resolution `json:",omitempty"`
	// Fixes are what Portico changed in the portal submissions so far; Resubmissions counts the rounds.
	Fixes         []activities.Fix `json:",omitempty"`
	Resubmissions int
	Refused       []RefusedSignal
}

// InvoiceResult is how an invoice ended: paid, voided, rejected by the approver, or escalated for a person
// to chase a buyer that never paid. Failures, failed submissions included, end the workflow in error.
type InvoiceResult struct {
	Stage        Stage
	PortalStatus string
	Reason       string
}

// ErrTypeInvoiceFailed is the error type a failed InvoiceWorkflow ends with. A failed invoice can be
// started again under the same workflow ID once the cause is fixed.
const ErrTypeInvoiceFailed = "InvoiceFailed"

// ErrTypeApprovalRefused is the error type of an approval Update the workflow refused.
const ErrTypeApprovalRefused = "ApprovalRefused"

// lifecycleChange names the workflow.GetVersion marker of the lifecycle change (checks, policy, Updates,
// reminders, resubmissions, continue-as-new). Workflows without it run the frozen invoiceV1.
const lifecycleChange = "lifecycle"

// decisionAuditChange names the workflow.GetVersion marker of recording refused approval Updates, which
// the Update validator used to refuse without a trace.
const decisionAuditChange = "decision-audit"

// continueAsNewAfterEvents is the history length at which a run following the buyer continues as new,
// well below Temporal's limits, unless the server suggests it first. A variable so tests can lower it.
var continueAsNewAfterEvents = 2000

// Notification kinds (activities.Notification.Kind).
const (
	notifyReminder       = "reminder"
	notifyEscalation     = "escalation"
	notifyNeedsAttention = "needs_attention"
)

// InvoiceWorkflow carries one ERP invoice through the portal: match its PO, check it, save a draft, wait
// for a person's approval (reminding and escalating), submit, and follow the buyer's status until it is
// paid or voided, fixing and resubmitting what the portal rejects where it can and handing the rest to a
// person, writing every change back to the ERP.
func InvoiceWorkflow(ctx workflow.Context, in InvoiceInput) (InvoiceResult, error) {
	if workflow.GetVersion(ctx, lifecycleChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return invoiceV1(ctx, in)
	}
	w := &invoiceWorkflow{in: in, poll: in.Poll.withDefaults()}
	if err := w.setup(ctx); err != nil {
		return InvoiceResult{}, err
	}
	res, err := w.run(ctx)
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		w.finish(ctx)
	}
	return res, err
}

type invoiceWorkflow struct {
	in     InvoiceInput
	poll   PollPolicy
	policy activities.Policy
	state  InvoiceState
	seq    int
	// notifySeq numbers notifications, so a retried Notify inserts once.
	notifySeq int

	// current is the portal invoice as last read; interval and deadline pace the status polling.
	current  portal.Invoice
	interval time.Duration
	deadline time.Time

	// approvalOpen is true while a decision on the current draft is awaited (awaiting_approval, escalated).
	approvalOpen bool
	approvals    workflow.ReceiveChannel
	resolutions  workflow.ReceiveChannel
	// updates hands approval Updates to the main loop, which takes them in order with the signals.
	updates workflow.Channel
	// deciding is the Update whose decision the main loop took and is acting on.
	deciding *pendingApproval
	// kept are resolution signals received before the invoice waited for one (carried over continue-as-new).
	kept []json.RawMessage
	// audit is the decision the next ERP history row records, for the decision audit.
	audit *store.Decision

	db      workflow.ActivityOptions
	browser workflow.ActivityOptions
}

// pendingApproval is an approval Update waiting for the main loop to act on it (or refuse it).
type pendingApproval struct {
	approval Approval
	done     bool
	stage    Stage
	err      error
}

var (
	a *activities.Activities
	b *activities.Browser
)

func (w *invoiceWorkflow) setup(ctx workflow.Context) error {
	w.state = InvoiceState{InvoiceID: w.in.InvoiceID}
	w.approvals = workflow.GetSignalChannel(ctx, ApprovalSignal)
	w.resolutions = workflow.GetSignalChannel(ctx, ResolutionSignal)
	// Buffered so that an Update handler never waits for the main loop just to hand its decision over.
	w.updates = workflow.NewBufferedChannel(ctx, 64)
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
	if r := w.in.Resume; r != nil {
		w.state, w.current, w.seq, w.notifySeq = r.State, r.Current, r.Seq, r.NotifySeq
		w.interval, w.deadline, w.policy, w.kept = r.Interval, r.Deadline, r.Policy, r.Resolutions
	}
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (InvoiceState, error) { return w.state, nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, ApprovalUpdate, w.approvalUpdate,
		workflow.UpdateHandlerOptions{Validator: w.validateApprovalUpdate})
}

func (w *invoiceWorkflow) run(ctx workflow.Context) (InvoiceResult, error) {
	if w.in.Resume != nil {
		// A continued run only ever follows the buyer: show where the invoice stands and go on.
		if err := w.upsertInvoiceAttributes(ctx); err != nil {
			return InvoiceResult{}, err
		}
		if err := w.show(ctx, w.state.Stage); err != nil {
			return InvoiceResult{}, err
		}
		return w.track(ctx)
	}
	if err := w.setStage(ctx, StageMatching, "", "", "portico"); err != nil {
		return InvoiceResult{}, err
	}
	var inv activities.InvoiceSummary
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Load ERP invoice "+w.in.InvoiceID), a.LoadInvoice, w.in.InvoiceID).Get(ctx, &inv); err != nil {
		return w.fail(ctx, "loading the ERP invoice", err)
	}
	w.state.Number, w.state.CustomerID, w.state.AccountID, w.state.PONumber = inv.Number, inv.CustomerID, inv.AccountID, inv.PONumber
	w.state.Currency = inv.Currency
	if err := w.upsertInvoiceAttributes(ctx); err != nil {
		return InvoiceResult{}, err
	}
	w.details(ctx)
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Load the invoicing policy of "+inv.CustomerID), a.LoadPolicy, inv.CustomerID).Get(ctx, &w.policy); err != nil {
		return w.fail(ctx, "loading the customer's policy", err)
	}
	w.state.Approvers = w.policy.Approvers

	if reason, ok, err := w.match(ctx, inv); err != nil {
		return w.fail(ctx, "matching the PO", err)
	} else if !ok {
		return w.fail(ctx, "matching the PO", errors.New(reason))
	}

	// Each round checks and drafts the invoice as the ERP has it now and asks for a decision; a request for
	// changes starts another round once a person says the ERP data is fixed.
	for {
		if err := w.check(ctx); err != nil {
			return InvoiceResult{}, err
		}
		if err := w.draft(ctx, "Save draft "+inv.Number+" in the portal"); err != nil {
			return InvoiceResult{}, err
		}
		if w.current.Status != portal.StatusDraft {
			// Found already past Draft (a restarted workflow): follow it from where the portal stands.
			if err := w.submitted(ctx, w.current); err != nil {
				return InvoiceResult{}, err
			}
			return w.track(ctx)
		}
		ap, err := w.decide(ctx)
		if err != nil {
			return InvoiceResult{}, err
		}
		w.state.Approval = &ap
		w.audit = w.approvalAudit(ap, "")
		source := "approver:" + ap.Approver
		switch ap.Decision {
		case DecisionApprove:
			reason := fmt.Sprintf("draft %d approved by %s%s", w.state.DraftVersion, ap.Approver, noteSuffix(ap.Note))
			if err := w.setStage(ctx, StageSubmitting, w.state.PortalStatus, reason, source); err != nil {
				return InvoiceResult{}, err
			}
			w.decided(ctx)
			if err := w.submit(ctx); err != nil {
				return InvoiceResult{}, err
			}
			return w.track(ctx)
		case DecisionReject:
			if err := w.deleteDraft(ctx, "Delete rejected draft "+inv.Number); err != nil {
				return InvoiceResult{}, err
			}
			w.state.Reason = "rejected by " + ap.Approver + noteSuffix(ap.Note)
			if err := w.setStage(ctx, StageRejected, "", w.state.Reason, source); err != nil {
				return InvoiceResult{}, err
			}
			w.decided(ctx)
			return InvoiceResult{Stage: StageRejected, Reason: w.state.Reason}, nil
		case DecisionRequestChanges:
			// The draft goes, so that the next one, drafted from the corrected ERP data, can take its number.
			if err := w.deleteDraft(ctx, "Delete draft "+inv.Number+" for changes"); err != nil {
				return InvoiceResult{}, err
			}
			w.state.Reason = "changes requested by " + ap.Approver + noteSuffix(ap.Note)
			if err := w.setStage(ctx, StageChangesRequested, "", w.state.Reason, source); err != nil {
				return InvoiceResult{}, err
			}
			w.decided(ctx)
			r, err := w.awaitResolution(ctx, ActionResubmit, ActionGiveUp)
			if err != nil {
				return InvoiceResult{}, err
			}
			if r.Action == ActionGiveUp {
				return w.failSubmission(ctx, "given up by "+r.By+noteSuffix(r.Note), "approver:"+r.By)
			}
			if err := w.applyFixes(ctx, resolutionFixes(r)); err != nil {
				return InvoiceResult{}, err
			}
		}
	}
}

// upsertInvoiceAttributes sets the search attributes that identify the invoice.
func (w *invoiceWorkflow) upsertInvoiceAttributes(ctx workflow.Context) error {
	s := w.state
	return workflow.UpsertTypedSearchAttributes(ctx,
		InvoiceNumberKey.ValueSet(s.Number), CustomerIDKey.ValueSet(s.CustomerID),
		PONumberKey.ValueSet(s.PONumber), PortalAccountKey.ValueSet(s.AccountID))
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

// check runs the pre-submission checks and records their outcome in one ERP row. A failed check ends the
// invoice before anything reaches the portal.
func (w *invoiceWorkflow) check(ctx workflow.Context) error {
	if err := w.show(ctx, StageChecking); err != nil {
		return err
	}
	var report activities.CheckReport
	if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Check "+w.state.Number+" before the portal"), a.CheckInvoice, w.in.InvoiceID).Get(ctx, &report); err != nil {
		_, err = w.fail(ctx, "checking", err)
		return err
	}
	w.state.Checks = report.Checks
	return w.checked(ctx, report.Passed)
}

// checked records the checks in the ERP (stage checking) and fails the invoice if one did not pass.
func (w *invoiceWorkflow) checked(ctx workflow.Context, passed bool) error {
	var failed []string
	for _, c := range w.state.Checks {
		if !c.Passed {
			failed = append(failed, c.Name+noteSuffix(c.Detail))
		}
	}
	passed = passed && len(failed) == 0
	reason := fmt.Sprintf("all %d checks passed", len(w.state.Checks))
	if !passed {
		reason = "failed checks: " + strings.Join(failed, "; ")
		if len(failed) == 0 {
			reason = "the checks did not pass"
		}
	}
	if err := w.setStage(ctx, StageChecking, "", reason, "portico"); err != nil {
		return err
	}
	if !passed {
		_, err := w.fail(ctx, "checking", errors.New(reason))
		return err
	}
	return nil
}

// draft saves a draft in the portal (SaveDraft looks the number up first, so a retry reuses the draft it
// saved). A number another invoice uses in the portal is the portal-side check number_unused failing.
func (w *invoiceWorkflow) draft(ctx workflow.Context, summary string) error {
	if err := w.setStage(ctx, StageDrafting, "", "", "portico"); err != nil {
		return err
	}
	var d activities.DraftResult
	err := workflow.ExecuteActivity(w.with(ctx, w.browser, summary), b.SaveDraft, w.in.InvoiceID).Get(ctx, &d)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNumberUsed {
		w.setCheck(activities.Check{Name: "number_unused", Detail: appErr.Message()})
		return w.checked(ctx, false)
	}
	if err != nil {
		_, err = w.fail(ctx, "saving the draft", err)
		return err
	}
	detail := "no other invoice in the portal has number " + d.Invoice.Number
	if d.Reused {
		detail = "the portal's invoice " + d.Invoice.Number + " is this draft, saved before"
	}
	w.setCheck(activities.Check{Name: "number_unused", Passed: true, Detail: detail})
	w.state.DraftVersion++
	w.state.Evidence = append(w.state.Evidence, d.Evidence...)
	w.current = d.Invoice
	if d.Invoice.PortalID != "" {
		w.state.PortalID = d.Invoice.PortalID
	}
	return nil
}

// setCheck puts a check's outcome in the state, replacing the check's earlier outcome.
func (w *invoiceWorkflow) setCheck(c activities.Check) {
	if i := slices.IndexFunc(w.state.Checks, func(old activities.Check) bool { return old.Name == c.Name }); i >= 0 {
		w.state.Checks[i] = c
		return
	}
	w.state.Checks = append(w.state.Checks, c)
}

// deleteDraft deletes the current draft from the portal.
func (w *invoiceWorkflow) deleteDraft(ctx workflow.Context, summary string) error {
	if err := workflow.ExecuteActivity(w.with(ctx, w.browser, summary), b.DeleteDraft, w.in.InvoiceID).Get(ctx, nil); err != nil {
		_, err = w.fail(ctx, "deleting the draft", err)
		return err
	}
	w.current = portal.Invoice{}
	w.state.Status, w.state.PortalStatus = "", ""
	return nil
}

// decide puts the draft before the approvers and returns their decision, or the policy's automatic
// approval when every check passed.
func (w *invoiceWorkflow) decide(ctx workflow.Context) (Approval, error) {
	// Open before the stage is written, so that the stage a query shows and what the Update validator
	// accepts agree; decisions arriving meanwhile wait in their channels.
	w.approvalOpen = true
	defer func() { w.approvalOpen = false }()
	if err := w.setStatus(ctx, StageAwaitingApproval, w.current, w.current.Reason, "portal"); err != nil {
		return Approval{}, err
	}
	if w.policy.AutoApprove && w.checksPassed() {
		return Approval{
			Decision: DecisionApprove, Approver: AutoApprover, Draft: w.state.DraftVersion,
			Note: fmt.Sprintf("all %d checks passed and the customer's policy approves such drafts", len(w.state.Checks)),
		}, nil
	}
	ap, err := w.awaitApproval(ctx)
	if err != nil {
		// Cancelled by an operator: say so in the ERP before the workflow ends.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		_, _ = w.fail(dctx, "awaiting approval", errors.New("cancelled by an operator; the draft stays in the portal"))
	}
	return ap, err
}

func (w *invoiceWorkflow) checksPassed() bool {
	for _, c := range w.state.Checks {
		if !c.Passed {
			return false
		}
	}
	return len(w.state.Checks) > 0
}

// awaitApproval waits for a decision on the current draft from a signal or an Update, reminding the
// approvers every policy.RemindEvery and escalating once after policy.EscalateAfter. Decisions that are
// malformed, from someone not an approver or about another draft are refused and recorded, never acted on.
func (w *invoiceWorkflow) awaitApproval(ctx workflow.Context) (Approval, error) {
	// The timers go when the decision comes, so the history does not end with timers that fire for nothing.
	tctx, stopTimers := workflow.WithCancel(ctx)
	defer stopTimers()
	began := workflow.Now(ctx)
	reminders := 0
	var remind, escalate workflow.Future
	if w.policy.RemindEvery > 0 {
		remind = workflow.NewTimerWithOptions(tctx, w.policy.RemindEvery, workflow.TimerOptions{Summary: "Remind the approvers"})
	}
	if w.policy.EscalateAfter > 0 {
		escalate = workflow.NewTimerWithOptions(tctx, w.policy.EscalateAfter, workflow.TimerOptions{Summary: "Escalate if nobody has decided"})
	}
	for {
		var (
			raw                 json.RawMessage
			signalled           bool
			update              *pendingApproval
			reminded, escalated bool
		)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.approvals, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &raw); signalled = true })
		sel.AddReceive(w.updates, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &update) })
		if remind != nil {
			sel.AddFuture(remind, func(workflow.Future) { reminded = true })
		}
		if escalate != nil {
			sel.AddFuture(escalate, func(workflow.Future) { escalated = true })
		}
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() != nil {
			return Approval{}, ctx.Err()
		}
		waited := workflow.Now(ctx).Sub(began)
		switch {
		case reminded:
			remind = workflow.NewTimerWithOptions(tctx, w.policy.RemindEvery, workflow.TimerOptions{Summary: "Remind the approvers"})
			text := fmt.Sprintf("Invoice %s (PO %s) has waited %s for a decision on draft %d.%s", w.state.Number, w.state.PONumber, waited, w.state.DraftVersion, w.howToDecide())
			if err := w.notify(ctx, notifyReminder, text); err != nil {
				return Approval{}, err
			}
			reminders++
			if err := w.record(ctx, w.state.Stage, w.state.PortalStatus, fmt.Sprintf("reminder %d sent to %s", reminders, w.recipients()), "portico"); err != nil {
				return Approval{}, err
			}
		case escalated:
			escalate = nil
			w.state.Reason = fmt.Sprintf("no decision after %s: escalated to %s", waited, w.recipients())
			if err := w.setStage(ctx, StageEscalated, w.state.PortalStatus, w.state.Reason, "portico"); err != nil {
				return Approval{}, err
			}
			text := fmt.Sprintf("Escalation: invoice %s (PO %s) has waited %s for a decision on draft %d.%s", w.state.Number, w.state.PONumber, waited, w.state.DraftVersion, w.howToDecide())
			if err := w.notify(ctx, notifyEscalation, text); err != nil {
				return Approval{}, err
			}
		case update != nil:
			if why := w.refusal(update.approval); why != "" {
				w.refuse(ctx, "approval update", why, w.approvalAudit(update.approval, store.ChannelUpdate))
				update.finish("", approvalRefused(why))
				continue
			}
			w.deciding = update
			return update.approval, nil
		case signalled:
			// encoding/json decoding into a struct is deterministic; workflowcheck cannot see that.
			ap, err := ParseApproval(raw) //workflowcheck:ignore
			why := ""
			if err != nil {
				why = err.Error()
			} else {
				why = w.refusal(ap)
			}
			if why == "" {
				return ap, nil
			}
			w.refuse(ctx, "approval signal", why, w.approvalAudit(ap, store.ChannelSignal))
		}
	}
}

// howToDecide tells an approver how to answer, for notifications.
func (w *invoiceWorkflow) howToDecide() string {
	return fmt.Sprintf(" Send the %q signal or Update to workflow %s with {\"decision\": \"approve\"|\"reject\"|\"request_changes\", \"approver\": \"you\", \"draft\": %d}.",
		ApprovalSignal, InvoiceWorkflowID(w.in.InvoiceID), w.state.DraftVersion)
}

// ParseApproval decodes and checks an approval signal payload.
func ParseApproval(raw []byte) (Approval, error) {
	var ap Approval
	if len(bytes.TrimSpace(raw)) == 0 {
		return ap, errors.New(`empty payload: send {"decision": "approve"|"reject"|"request_changes", "approver": "...", "note": "...", "draft": N}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ap); err != nil {
		return Approval{}, fmt.Errorf(`payload is not {"decision", "approver", "note", "draft"}: %v`, err)
	}
	ap = ap.normalized()
	return ap, ap.check()
}

func (ap Approval) normalized() Approval {
	ap.Decision = strings.ToLower(strings.TrimSpace(ap.Decision))
	ap.Approver = strings.TrimSpace(ap.Approver)
	return ap
}

// check reports what makes a decision malformed, whatever the invoice's state.
func (ap Approval) check() error {
	switch {
	case ap.Decision != DecisionApprove && ap.Decision != DecisionReject && ap.Decision != DecisionRequestChanges:
		return fmt.Errorf("decision %q is not %q, %q or %q", ap.Decision, DecisionApprove, DecisionReject, DecisionRequestChanges)
	case ap.Approver == "":
		return errors.New("approver is empty: every decision must name who made it")
	case ap.Draft < 0:
		return fmt.Errorf("draft %d is not a draft version", ap.Draft)
	}
	return nil
}

// refusal says why a decision cannot be acted on now, or "" when it can. It only reads the workflow's
// state, so the Update validator can use it.
func (w *invoiceWorkflow) refusal(ap Approval) string {
	if err := ap.check(); err != nil {
		return err.Error()
	}
	switch {
	case !w.approvalOpen && (w.state.Stage == StageAwaitingApproval || w.state.Stage == StageEscalated):
		return fmt.Sprintf("draft %d has been decided on already", w.state.DraftVersion)
	case !w.approvalOpen:
		return fmt.Sprintf("the invoice is %s, not awaiting approval", w.state.Stage)
	case len(w.policy.Approvers) == 0 && w.policy.ApproversRequired && ap.Approver != AutoApprover:
		return fmt.Sprintf("customer %s has no approvers configured, so no decision is accepted: add them with `starter approvers %s add <e-mail>`", w.state.CustomerID, w.state.CustomerID)
	case len(w.policy.Approvers) > 0 && !slices.ContainsFunc(w.policy.Approvers, func(s string) bool { return strings.EqualFold(s, ap.Approver) }):
		return fmt.Sprintf("%s is not an approver of customer %s", ap.Approver, w.state.CustomerID)
	case ap.Draft != 0 && ap.Draft != w.state.DraftVersion:
		return fmt.Sprintf("draft %d is stale: the current draft is version %d", ap.Draft, w.state.DraftVersion)
	}
	return ""
}

// validateApprovalUpdate refuses a malformed approval Update synchronously, before it enters the history:
// one that names nobody cannot be put to anyone's account. Every Update naming an approver is accepted into
// the history, so that a refusal (an unknown approver, a stale draft) is recorded like a signal's.
func (w *invoiceWorkflow) validateApprovalUpdate(_ workflow.Context, ap Approval) error {
	if err := ap.normalized().check(); err != nil {
		return approvalRefused(err.Error())
	}
	return nil
}

// approvalUpdate refuses, and records, a decision that cannot be acted on now; otherwise it hands the
// decision to the main loop, which applies it exactly as a signal's, and returns the stage it led to.
func (w *invoiceWorkflow) approvalUpdate(ctx workflow.Context, ap Approval) (Stage, error) {
	ap = ap.normalized()
	// Before decisionAudit the validator refused these, so histories from then never reach this point with
	// one; the version only keeps their replay from meeting the new recording.
	if why := w.refusal(ap); why != "" && workflow.GetVersion(ctx, decisionAuditChange, workflow.DefaultVersion, 1) == 1 {
		w.refuse(ctx, "approval update", why, w.approvalAudit(ap, store.ChannelUpdate))
		return "", approvalRefused(why)
	}
	p := &pendingApproval{approval: ap}
	w.updates.Send(ctx, p)
	if err := workflow.Await(ctx, func() bool { return p.done }); err != nil {
		return "", err
	}
	return p.stage, p.err
}

func (p *pendingApproval) finish(stage Stage, err error) {
	p.done, p.stage, p.err = true, stage, err
}

func approvalRefused(why string) error {
	return temporal.NewNonRetryableApplicationError("approval refused: "+why, ErrTypeApprovalRefused, nil)
}

// decided answers the Update whose decision was just taken with the stage it led to, and refuses the
// decisions that came in meanwhile: they were about a draft that is no longer awaiting approval.
func (w *invoiceWorkflow) decided(ctx workflow.Context) {
	if w.deciding != nil {
		w.deciding.finish(w.state.Stage, nil)
		w.deciding = nil
	}
	w.refuseLateApprovals(ctx)
}

// refuseLateApprovals refuses approvals that arrived while the invoice was not awaiting one: signals, and
// Updates the validator accepted just before the stage changed.
func (w *invoiceWorkflow) refuseLateApprovals(ctx workflow.Context) {
	var raw json.RawMessage
	for w.approvals.ReceiveAsync(&raw) {
		ap, err := ParseApproval(raw) //workflowcheck:ignore
		why := w.refusal(ap)
		if err != nil {
			why = err.Error()
		}
		w.refuse(ctx, "approval signal", why, w.approvalAudit(ap, store.ChannelSignal))
	}
	var p *pendingApproval
	for w.updates.ReceiveAsync(&p) {
		why := w.refusal(p.approval)
		w.refuse(ctx, "approval update", why, w.approvalAudit(p.approval, store.ChannelUpdate))
		p.finish("", approvalRefused(why))
	}
	// A resolution only means something for the question it answers: one sent while the invoice is with
	// the buyer is refused, not kept to act on (a kept "void" could end a later, different problem).
	for w.resolutions.ReceiveAsync(&raw) {
		res, err := ParseResolution(raw) //workflowcheck:ignore
		why := fmt.Sprintf("the invoice is %s, not waiting for a resolution", w.state.Stage)
		if err != nil {
			why = err.Error()
		}
		w.refuse(ctx, "resolution signal", why, w.resolutionAudit(res))
	}
}

// refuse records a signal or Update the workflow will not act on: in the query state, the log and the ERP
// history. kind is "approval signal", "approval update" or "resolution signal".
func (w *invoiceWorkflow) refuse(ctx workflow.Context, kind, reason string, d *store.Decision) {
	who := d.Actor
	workflow.GetLogger(ctx).Warn(kind+" refused", "invoice", w.in.InvoiceID, "by", who, "reason", reason)
	w.state.Refused = append(w.state.Refused, RefusedSignal{At: workflow.Now(ctx), Signal: kind, Approver: who, Reason: reason})
	if who == "" {
		who = "unknown"
	}
	d.Accepted, d.Refusal = false, reason
	w.audit = d
	_ = w.record(ctx, w.state.Stage, w.state.PortalStatus, "refused "+kind+": "+reason, "approver:"+who)
}

// approvalAudit is the audit entry of an approval; channel is "" for one the workflow took to act on
// (an Update's when one is being answered, else a signal's or the policy's).
func (w *invoiceWorkflow) approvalAudit(ap Approval, channel string) *store.Decision {
	if channel == "" {
		switch {
		case ap.Approver == AutoApprover:
			channel = store.ChannelPolicy
		case w.deciding != nil:
			channel = store.ChannelUpdate
		default:
			channel = store.ChannelSignal
		}
	}
	return &store.Decision{
		Kind: store.DecisionKindApproval, Channel: channel, Decision: ap.Decision, Actor: ap.Approver, Note: ap.Note,
		NamedDraft: ap.Draft, DraftVersion: w.state.DraftVersion, Accepted: true,
	}
}

// resolutionAudit is the audit entry of a resolution signal.
func (w *invoiceWorkflow) resolutionAudit(r Resolution) *store.Decision {
	return &store.Decision{
		Kind: store.DecisionKindResolution, Channel: store.ChannelSignal, Decision: r.Action, Actor: r.By, Note: r.Note,
		DraftVersion: w.state.DraftVersion, Accepted: true,
	}
}

// awaitResolution waits for a person's resolution with one of the allowed actions: first among those kept
// from before, then as signals arrive. Malformed ones are refused and recorded; so are approvals, which
// have nothing to decide now.
func (w *invoiceWorkflow) awaitResolution(ctx workflow.Context, allowed ...string) (Resolution, error) {
	for {
		var raw json.RawMessage
		if len(w.kept) > 0 {
			raw, w.kept = w.kept[0], w.kept[1:]
		} else {
			got := false
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(w.resolutions, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &raw); got = true })
			// Approvals have nothing to decide now; the selector only wakes up for them.
			sel.AddReceive(w.approvals, func(workflow.ReceiveChannel, bool) {})
			sel.AddReceive(w.updates, func(workflow.ReceiveChannel, bool) {})
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
			sel.Select(ctx)
			if ctx.Err() != nil {
				dctx, _ := workflow.NewDisconnectedContext(ctx)
				_, _ = w.fail(dctx, "awaiting a resolution", errors.New("cancelled by an operator"))
				return Resolution{}, ctx.Err()
			}
			if !got {
				w.refuseLateApprovals(ctx)
				continue
			}
		}
		r, err := ParseResolution(raw) //workflowcheck:ignore
		if err == nil && !slices.Contains(allowed, r.Action) {
			err = fmt.Errorf("action %q does not apply to an invoice in stage %s (%s)", r.Action, w.state.Stage, strings.Join(allowed, ", "))
		}
		if err != nil {
			w.refuse(ctx, "resolution signal", err.Error(), w.resolutionAudit(r))
			continue
		}
		w.state.Resolution = &r
		// The next ERP history row (the stage the resolution leads to) carries it into the audit.
		w.audit = w.resolutionAudit(r)
		return r, nil
	}
}

// ParseResolution decodes and checks a resolution signal payload.
func ParseResolution(raw []byte) (Resolution, error) {
	var r Resolution
	if len(bytes.TrimSpace(raw)) == 0 {
		return r, errors.New(`empty payload: send {"action": "resubmit"|"void"|"give_up", "by": "...", "note": "..."}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Resolution{}, fmt.Errorf(`payload is not {"action", "by", "note", "number", "date", "tax_reference", "remit_to"}: %v`, err)
	}
	r.Action = strings.ToLower(strings.TrimSpace(r.Action))
	r.By = strings.TrimSpace(r.By)
	r.Number, r.Date = strings.TrimSpace(r.Number), strings.TrimSpace(r.Date)
	r.TaxReference, r.RemitTo = strings.TrimSpace(r.TaxReference), strings.TrimSpace(r.RemitTo)
	changes := r.Number != "" || r.Date != "" || r.TaxReference != "" || r.RemitTo != ""
	switch {
	case r.Action != ActionResubmit && r.Action != ActionVoid && r.Action != ActionGiveUp:
		return r, fmt.Errorf("action %q is not %q, %q or %q", r.Action, ActionResubmit, ActionVoid, ActionGiveUp)
	case r.By == "":
		return r, errors.New("by is empty: every resolution must name who made it")
	case changes && r.Action != ActionResubmit:
		return r, fmt.Errorf("number, date, tax_reference and remit_to change a resubmission, not %q", r.Action)
	}
	if r.Date != "" {
		if _, err := time.Parse(time.DateOnly, r.Date); err != nil {
			return r, fmt.Errorf("date %q is not YYYY-MM-DD", r.Date)
		}
	}
	return r, nil
}

// resolutionFixes are the changes a person asked for with a resubmission.
func resolutionFixes(r Resolution) []activities.Fix {
	var fixes []activities.Fix
	if r.Number != "" {
		fixes = append(fixes, activities.Fix{Kind: rejections.FixRenumber, Number: r.Number})
	}
	if r.Date != "" {
		fixes = append(fixes, activities.Fix{Kind: rejections.FixRedate, Date: r.Date})
	}
	if r.TaxReference != "" {
		fixes = append(fixes, activities.Fix{Kind: rejections.FixTaxReference, TaxReference: r.TaxReference})
	}
	if r.RemitTo != "" {
		fixes = append(fixes, activities.Fix{Kind: rejections.FixRemitTo, RemitTo: r.RemitTo})
	}
	return fixes
}

// applyFixes records fixes for the next portal submission.
func (w *invoiceWorkflow) applyFixes(ctx workflow.Context, fixes []activities.Fix) error {
	for _, f := range fixes {
		if err := workflow.ExecuteActivity(w.with(ctx, w.db, "Fix for the portal: "+f.Kind), a.ApplyFix, w.in.InvoiceID, f).Get(ctx, nil); err != nil {
			_, err = w.fail(ctx, "applying a fix", err)
			return err
		}
		w.state.Fixes = append(w.state.Fixes, f)
		if f.Kind == rejections.FixRenumber {
			w.state.PortalNumber = f.Number
		}
	}
	return nil
}

// submit submits the current draft and starts following it.
func (w *invoiceWorkflow) submit(ctx workflow.Context) error {
	var inv portal.Invoice
	if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Submit "+w.portalNumber()+" to the buyer"), b.SubmitInvoice, w.in.InvoiceID).Get(ctx, &inv); err != nil {
		_, err = w.fail(ctx, "submitting", err)
		return err
	}
	return w.submitted(ctx, inv)
}

// submitted records a fresh submission and restarts the polling: often at first, since automatic
// rejections arrive within minutes, and the buyer gets GiveUpAfter from now.
func (w *invoiceWorkflow) submitted(ctx workflow.Context, inv portal.Invoice) error {
	w.interval = w.poll.First
	w.deadline = workflow.Now(ctx).Add(w.poll.GiveUpAfter)
	return w.observe(ctx, inv)
}

// track polls the portal with durable timers until the buyer pays or voids the invoice, handles disputes
// as they come, and escalates to a person when the buyer never pays.
func (w *invoiceWorkflow) track(ctx workflow.Context) (InvoiceResult, error) {
	for {
		switch w.current.Status {
		case portal.StatusPaid:
			return InvoiceResult{Stage: StagePaid, PortalStatus: w.current.PortalStatus, Reason: w.current.Reason}, nil
		case portal.StatusVoided:
			return InvoiceResult{Stage: StageVoided, PortalStatus: w.current.PortalStatus, Reason: w.state.Reason}, nil
		case portal.StatusDisputed:
			if res, done, err := w.dispute(ctx); done {
				return res, err
			}
			continue // resubmitted: follow the new submission
		}
		now := workflow.Now(ctx)
		if !now.Before(w.deadline) {
			return w.giveUp(ctx)
		}
		if info := workflow.GetInfo(ctx); info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= continueAsNewAfterEvents {
			return InvoiceResult{}, w.continueAsNew(ctx)
		}
		if err := workflow.NewTimerWithOptions(ctx, min(w.interval, w.deadline.Sub(now)), workflow.TimerOptions{Summary: "Wait before reading the status again"}).Get(ctx, nil); err != nil {
			return InvoiceResult{}, err
		}
		w.refuseLateApprovals(ctx)
		var next portal.Invoice
		if err := workflow.ExecuteActivity(w.with(ctx, w.browser, "Read status of "+w.portalNumber()), b.CheckStatus, w.in.InvoiceID).Get(ctx, &next); err != nil {
			return w.fail(ctx, "reading the status", err)
		}
		if changed(w.current, next) {
			if err := w.observe(ctx, next); err != nil {
				return InvoiceResult{}, err
			}
		} else {
			w.current = next
		}
		w.interval = min(w.interval*2, w.poll.Max)
	}
}

// amount prints an amount in the invoice's currency.
func (w *invoiceWorkflow) amount(d decimal.Decimal) string {
	if s, err := money.Format(d, w.state.Currency); err == nil {
		return s + " " + w.state.Currency
	}
	return d.String()
}

// changed reports whether the portal shows anything new about the invoice.
func changed(was, now portal.Invoice) bool {
	return was.Status != now.Status || was.PortalStatus != now.PortalStatus || was.Reason != now.Reason ||
		was.Code != now.Code || was.RoutingStatus != now.RoutingStatus || !was.PaidAmount.Equal(now.PaidAmount)
}

// observe records the portal's view of the invoice with the stage it puts the invoice in.
func (w *invoiceWorkflow) observe(ctx workflow.Context, inv portal.Invoice) error {
	w.current = inv
	stage, reason := StageWithBuyer, inv.Reason
	switch inv.Status {
	case portal.StatusPaid:
		stage = StagePaid
	case portal.StatusPartiallyPaid:
		stage = StagePartiallyPaid
		reason = fmt.Sprintf("paid %s of %s so far", w.amount(inv.PaidAmount), w.amount(inv.Total))
		if inv.PaymentReference != "" {
			reason += " (" + inv.PaymentReference + ")"
		}
		if inv.Reason != "" {
			reason += "; " + inv.Reason
		}
	case portal.StatusVoided:
		stage = StageVoided
	case portal.StatusDisputed:
		stage = StageDisputed
		if inv.Code != "" {
			reason = strings.TrimSuffix(inv.Code+": "+inv.Reason, ": ")
		}
	}
	return w.setStatus(ctx, stage, inv, reason, "portal")
}

// dispute handles a disputed or rejected submission: an automatic fix and resubmission while rounds are
// left, a failed submission when they are used up, or a person's resolution. done is false when the
// invoice was resubmitted and is to be followed again.
func (w *invoiceWorkflow) dispute(ctx workflow.Context) (InvoiceResult, bool, error) {
	round := w.state.Resubmissions + 1
	// The SDK's handler skips replays, so each rejection is counted once however often it is replayed.
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"reason": rejectionReason(w.current)}).Counter(RejectionsMetric).Inc(1)
	d := rejections.Classify(w.current, w.policy, w.state.Number, round, workflow.Now(ctx).UTC())
	if !d.Fixable() {
		return w.needsAttention(ctx, d.Reason)
	}
	if w.state.Resubmissions >= w.policy.MaxResubmissions {
		reason := fmt.Sprintf("%s; but the policy's %d automatic resubmissions are used up", d.Reason, w.policy.MaxResubmissions)
		res, err := w.failSubmission(ctx, reason, "portico")
		return res, true, err
	}
	err := w.resubmit(ctx, d.Fixes, d.Reason, "portico")
	return InvoiceResult{}, err != nil, err
}

// RejectionsMetric counts the buyer's rejections and disputes by reason code (a bounded set: the portal's
// codes, or "none" when it gave none).
const RejectionsMetric = "portico_rejections"

func rejectionReason(inv portal.Invoice) string {
	if inv.Code == "" {
		return "none"
	}
	return strings.ToUpper(inv.Code)
}

// needsAttention hands a rejection Portico cannot fix to a person and carries out their resolution.
func (w *invoiceWorkflow) needsAttention(ctx workflow.Context, reason string) (InvoiceResult, bool, error) {
	w.state.Reason = reason
	if err := w.setStage(ctx, StageNeedsAttention, w.state.PortalStatus, reason, "portico"); err != nil {
		return InvoiceResult{}, true, err
	}
	text := fmt.Sprintf("Invoice %s (PO %s) needs a person: %s.", w.state.Number, w.state.PONumber, reason)
	if len(w.state.Evidence) > 0 {
		text += " Evidence: " + strings.Join(w.state.Evidence, ", ") + "."
	}
	text += fmt.Sprintf(" Send the %q signal to workflow %s with {\"action\": \"resubmit\"|\"void\"|\"give_up\", \"by\": \"you\"} (a resubmit may set number, date, tax_reference, remit_to).",
		ResolutionSignal, InvoiceWorkflowID(w.in.InvoiceID))
	if err := w.notify(ctx, notifyNeedsAttention, text); err != nil {
		return InvoiceResult{}, true, err
	}
	r, err := w.awaitResolution(ctx, ActionResubmit, ActionVoid, ActionGiveUp)
	if err != nil {
		return InvoiceResult{}, true, err
	}
	source := "approver:" + r.By
	switch r.Action {
	case ActionVoid:
		w.state.Reason = "voided by " + r.By + noteSuffix(r.Note)
		if err := w.setStage(ctx, StageVoided, w.state.PortalStatus, w.state.Reason, source); err != nil {
			return InvoiceResult{}, true, err
		}
		return InvoiceResult{Stage: StageVoided, PortalStatus: w.state.PortalStatus, Reason: w.state.Reason}, true, nil
	case ActionGiveUp:
		res, err := w.failSubmission(ctx, "given up by "+r.By+noteSuffix(r.Note), source)
		return res, true, err
	}
	fixes := resolutionFixes(r)
	if r.Number == "" {
		// The portal keeps the disputed invoice's number: the resubmission needs another.
		fixes = append(fixes, activities.Fix{Kind: rejections.FixRenumber, Number: rejections.NewNumber(w.state.Number, w.policy.RenumberSuffix, w.state.Resubmissions+1)})
	}
	err = w.resubmit(ctx, fixes, "resolved by "+r.By+noteSuffix(r.Note), source)
	return InvoiceResult{}, err != nil, err
}

// resubmit applies fixes, saves a new draft and submits it without asking for approval again: what the
// approver approved changed only by the fixes, which the ERP history names.
func (w *invoiceWorkflow) resubmit(ctx workflow.Context, fixes []activities.Fix, why, source string) error {
	w.state.Resubmissions++
	var kinds []string
	for _, f := range fixes {
		kinds = append(kinds, f.Kind)
	}
	w.state.Reason = fmt.Sprintf("resubmission %d (%s): %s", w.state.Resubmissions, strings.Join(kinds, ", "), why)
	if err := w.setStage(ctx, StageResubmitting, w.state.PortalStatus, w.state.Reason, source); err != nil {
		return err
	}
	if err := w.applyFixes(ctx, fixes); err != nil {
		return err
	}
	if err := w.draft(ctx, "Save draft "+w.portalNumber()+" with the fixes"); err != nil {
		return err
	}
	if w.current.Status != portal.StatusDraft {
		// Already submitted under the new number (a worker died after submitting): follow it.
		return w.submitted(ctx, w.current)
	}
	reason := fmt.Sprintf("draft %d (%s) submitted without a new approval: the approved content changed only by %s", w.state.DraftVersion, w.portalNumber(), strings.Join(kinds, ", "))
	if err := w.setStatus(ctx, StageSubmitting, w.current, reason, source); err != nil {
		return err
	}
	return w.submit(ctx)
}

// failSubmission ends an invoice that will not be submitted again: stage failed_submission in the ERP and
// a failed workflow, so that it shows as failed in the Temporal UI.
func (w *invoiceWorkflow) failSubmission(ctx workflow.Context, reason, source string) (InvoiceResult, error) {
	w.state.Reason = reason
	if err := w.setStage(ctx, StageFailedSubmission, w.state.PortalStatus, reason, source); err != nil {
		return InvoiceResult{}, err
	}
	return InvoiceResult{}, temporal.NewNonRetryableApplicationError(reason, ErrTypeInvoiceFailed, nil)
}

// giveUp stops following a buyer that never paid nor voided the invoice and escalates it to a person.
func (w *invoiceWorkflow) giveUp(ctx workflow.Context) (InvoiceResult, error) {
	w.state.Reason = fmt.Sprintf("neither paid nor voided %s after the last submission; last status %q: chase the buyer", w.poll.GiveUpAfter, w.current.PortalStatus)
	if err := w.setStage(ctx, StageEscalated, w.state.PortalStatus, w.state.Reason, "portico"); err != nil {
		return InvoiceResult{}, err
	}
	text := fmt.Sprintf("Escalation: invoice %s (PO %s): %s. Portico has stopped reading its status.", w.state.Number, w.state.PONumber, w.state.Reason)
	if err := w.notify(ctx, notifyEscalation, text); err != nil {
		return InvoiceResult{}, err
	}
	return InvoiceResult{Stage: StageEscalated, PortalStatus: w.current.PortalStatus, Reason: w.state.Reason}, nil
}

// continueAsNew hands the invoice to a fresh run before the history grows large. Late approvals and
// resolutions are refused and recorded, and running Update handlers finish first, so no signal or Update
// is lost on the way: each one is either acted on or answered with a recorded refusal.
func (w *invoiceWorkflow) continueAsNew(ctx workflow.Context) error {
	if err := w.settle(ctx); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, InvoiceWorkflow, InvoiceInput{InvoiceID: w.in.InvoiceID, Poll: w.in.Poll, Resume: &ResumeState{
		State: w.state, Current: w.current, Seq: w.seq, NotifySeq: w.notifySeq,
		Interval: w.interval, Deadline: w.deadline, Policy: w.policy, Resolutions: w.kept,
	}})
}

// finish answers every approval Update still waiting before the workflow ends, so no caller waits on a
// workflow that is gone: the decision being acted on with the stage it ended in, the others refused.
func (w *invoiceWorkflow) finish(ctx workflow.Context) {
	if w.deciding != nil {
		w.deciding.finish(w.state.Stage, nil)
		w.deciding = nil
	}
	_ = w.settle(ctx)
}

// settle refuses every approval still pending and waits until no Update handler runs. Recording a
// refusal yields, and a handler accepted meanwhile hands its decision over only once it runs, so it goes
// round until nothing is left.
func (w *invoiceWorkflow) settle(ctx workflow.Context) error {
	pending := func() bool { return w.approvals.Len() > 0 || w.updates.Len() > 0 || w.resolutions.Len() > 0 }
	for {
		w.refuseLateApprovals(ctx)
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || pending() }); err != nil {
			return err
		}
		if !pending() {
			return nil
		}
	}
}

// notify puts a numbered notification to the approvers into the outbox.
func (w *invoiceWorkflow) notify(ctx workflow.Context, kind, text string) error {
	w.notifySeq++
	n := activities.Notification{InvoiceID: w.in.InvoiceID, Kind: kind, To: w.policy.Approvers, Text: text, Seq: w.notifySeq}
	return workflow.ExecuteActivity(w.with(ctx, w.db, "Notify the approvers: "+kind), a.Notify, n).Get(ctx, nil)
}

func (w *invoiceWorkflow) recipients() string {
	if len(w.policy.Approvers) == 0 {
		return "the approvers"
	}
	return strings.Join(w.policy.Approvers, ", ")
}

// portalNumber is the number the portal knows the invoice by.
func (w *invoiceWorkflow) portalNumber() string {
	if w.state.PortalNumber != "" {
		return w.state.PortalNumber
	}
	return w.state.Number
}

// setStatus records a portal status together with the stage it puts the invoice in.
func (w *invoiceWorkflow) setStatus(ctx workflow.Context, stage Stage, inv portal.Invoice, reason, source string) error {
	w.state.Status, w.state.PortalStatus, w.state.Reason = inv.Status, inv.PortalStatus, reason
	if inv.PortalID != "" {
		w.state.PortalID = inv.PortalID
	}
	return w.setStage(ctx, stage, inv.PortalStatus, reason, source)
}

// setStage moves the invoice to a stage: search attribute, UI details and the ERP, in that order.
func (w *invoiceWorkflow) setStage(ctx workflow.Context, stage Stage, portalStatus, reason, source string) error {
	if err := w.show(ctx, stage); err != nil {
		return err
	}
	return w.record(ctx, stage, portalStatus, reason, source)
}

// show moves the invoice to a stage in Temporal only (search attribute, UI details), for a stage whose ERP
// row waits for its outcome.
func (w *invoiceWorkflow) show(ctx workflow.Context, stage Stage) error {
	w.state.Stage = stage
	if err := workflow.UpsertTypedSearchAttributes(ctx, InvoiceStageKey.ValueSet(string(stage))); err != nil {
		return err
	}
	w.details(ctx)
	return nil
}

// record writes one numbered row of ERP status history.
func (w *invoiceWorkflow) record(ctx workflow.Context, stage Stage, portalStatus, reason, source string) error {
	w.seq++
	change := store.StatusChange{
		InvoiceID: w.in.InvoiceID, Seq: w.seq, At: workflow.Now(ctx), Stage: string(stage),
		Status: string(w.state.Status), PortalStatus: portalStatus, PortalInvoiceID: w.state.PortalID,
		Reason: reason, Source: source, Decision: w.audit,
	}
	w.audit = nil
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
	if s.PortalNumber != "" {
		text += fmt.Sprintf("\n\n**In the portal as:** %s (resubmission %d)", s.PortalNumber, s.Resubmissions)
	}
	if s.PortalStatus != "" {
		text += "\n\n**Portal status:** " + s.PortalStatus
	}
	if s.Reason != "" {
		text += "\n\n**Reason:** " + s.Reason
	}
	switch {
	case w.approvalOpen:
		text += fmt.Sprintf("\n\nApprove draft %d: `temporal workflow signal --workflow-id %s --name %s --input '{\"decision\":\"approve\",\"approver\":\"you@example.com\",\"draft\":%d}'`", s.DraftVersion, InvoiceWorkflowID(s.InvoiceID), ApprovalSignal, s.DraftVersion)
	case s.Stage == StageNeedsAttention || s.Stage == StageChangesRequested:
		text += fmt.Sprintf("\n\nResolve: `temporal workflow signal --workflow-id %s --name %s --input '{\"action\":\"resubmit\",\"by\":\"you@example.com\"}'`", InvoiceWorkflowID(s.InvoiceID), ResolutionSignal)
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
