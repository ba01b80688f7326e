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
	StageDrafting         Stage = "drafting"
	StageAwaitingApproval Stage = "awaiting_approval"
	StageSubmitting       Stage = "submitting"
	StageWithBuyer        Stage = "with_buyer"
	StagePaid             Stage = "paid"
	StageDisputed         Stage = "disputed"
	StageRejected         Stage = "rejected" // an approver rejected the draft; it was deleted from the portal
	StageFailed           Stage = "failed"
)

// InvoiceWorkflowID is the workflow ID of an ERP invoice: one workflow per invoice, so starting it twice
// finds the running one.
func InvoiceWorkflowID(invoiceID string) string { return "invoice/" + invoiceID }

// POSyncScheduleID is the ID of an account's PO-sync schedule.
func POSyncScheduleID(accountID string) string { return "po-sync/" + accountID }

// POSyncWorkflowID is the workflow ID of a PO sync of an account (the schedule appends its own timestamp).
func POSyncWorkflowID(accountID string) string { return "po-sync/" + accountID }
