// Package workflows holds Portico's Temporal workflows: InvoiceWorkflow, one per ERP invoice, which
// carries the invoice from the ERP through the portal to Paid, and POSyncWorkflow, run by a schedule per
// portal account, which pulls the account's purchase orders into PostgreSQL.
package workflows

import (
	"go.temporal.io/sdk/temporal"
)

// Task queues. Browser activities have their own so that Chromium capacity is sized and scaled apart
// from workflows and database activities.
const (
	// TaskQueue runs workflows and the activities that need only PostgreSQL.
	TaskQueue = "portico"
	// BrowserTaskQueue runs the activities that drive portals in Chromium.
	BrowserTaskQueue = "portico-browser"
)

// ApprovalSignal is the signal an approver sends to an invoice awaiting approval; its payload is Approval.
const ApprovalSignal = "approval"

// ApprovalUpdate is the same decision as ApprovalSignal, as a Temporal Update: its validator refuses an
// unknown approver, a stale draft or the wrong stage synchronously, so the caller gets a yes or no.
const ApprovalUpdate = "approve"

// ResolutionSignal is what a person sends to an invoice in stage needs_attention (or changes_requested):
// its payload is Resolution (resubmit with changes, void, give up).
const ResolutionSignal = "resolution"

// StateQuery returns an invoice workflow's InvoiceState.
const StateQuery = "state"

// Search attribute names, registered on the Temporal server (see SearchAttributes) and kept current by the
// workflows, so that ops staff filter invoices in the Temporal UI. They carry identifiers only: Temporal
// does not encrypt search attributes.
const (
	InvoiceNumberAttr = "InvoiceNumber"
	CustomerIDAttr    = "CustomerID"
	PONumberAttr      = "PONumber"
	PortalAccountAttr = "PortalAccount"
	InvoiceStageAttr  = "InvoiceStage"
)

// Typed keys of the search attributes.
var (
	InvoiceNumberKey = temporal.NewSearchAttributeKeyKeyword(InvoiceNumberAttr)
	CustomerIDKey    = temporal.NewSearchAttributeKeyKeyword(CustomerIDAttr)
	PONumberKey      = temporal.NewSearchAttributeKeyKeyword(PONumberAttr)
	PortalAccountKey = temporal.NewSearchAttributeKeyKeyword(PortalAccountAttr)
	InvoiceStageKey  = temporal.NewSearchAttributeKeyKeyword(InvoiceStageAttr)
)

// SearchAttributes lists every search attribute with its Temporal type, for registering them on a server.
var SearchAttributes = map[string]string{
	InvoiceNumberAttr: "Keyword",
	CustomerIDAttr:    "Keyword",
	PONumberAttr:      "Keyword",
	PortalAccountAttr: "Keyword",
	InvoiceStageAttr:  "Keyword",
}

// Stage is the short state name of an invoice, kept in the InvoiceStage search attribute and the ERP.
type Stage string

// The stages an invoice passes through.
const (
	StageMatching         Stage = "matching"
	StageChecking         Stage = "checking" // pre-submission checks
	StageDrafting         Stage = "drafting"
	StageAwaitingApproval Stage = "awaiting_approval"
	StageEscalated        Stage = "escalated"         // waited past the policy's deadline (approval), or a buyer that never pays
	StageChangesRequested Stage = "changes_requested" // an approver asked for changes; waits for a resolution signal
	StageSubmitting       Stage = "submitting"
	StageWithBuyer        Stage = "with_buyer"
	StagePartiallyPaid    Stage = "partially_paid"
	StageResubmitting     Stage = "resubmitting"    // Portico fixes a rejection it can fix and submits again
	StageNeedsAttention   Stage = "needs_attention" // a rejection only a person can resolve; waits for a resolution signal
	StagePaid             Stage = "paid"
	StageDisputed         Stage = "disputed"
	StageRejected         Stage = "rejected" // an approver rejected the draft; it was deleted from the portal
	StageVoided           Stage = "voided"
	StageFailedSubmission Stage = "failed_submission" // automatic resubmissions used up, or a person gave up
	StageFailed           Stage = "failed"
)

// InvoiceWorkflowID is the workflow ID of an ERP invoice: one workflow per invoice, so starting it twice
// finds the running one.
func InvoiceWorkflowID(invoiceID string) string { return "invoice/" + invoiceID }

// POSyncScheduleID is the ID of an account's PO-sync schedule.
func POSyncScheduleID(accountID string) string { return "po-sync/" + accountID }

// POSyncWorkflowID is the workflow ID of a PO sync of an account (the schedule appends its own timestamp).
func POSyncWorkflowID(accountID string) string { return "po-sync/" + accountID }
