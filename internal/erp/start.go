// Package erp is where the ERP's requests enter Portico: start the workflow of an ERP invoice, and send an
// approver's decision to it.
package erp

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"portico/internal/money"
	"portico/internal/store"
	"portico/workflows"
)

// Started tells what StartInvoice did.
type Started struct {
	WorkflowID string
	RunID      string
	// Existing is set when the invoice's workflow was already running or already finished: starting an
	// invoice twice never makes a second workflow.
	Existing bool
}

// StartInvoice starts the InvoiceWorkflow of an ERP invoice. Starting it again while it runs, or after it
// finished, returns the existing workflow; only a failed one is started anew (after its cause was fixed).
func StartInvoice(ctx context.Context, c client.Client, st *store.Store, invoiceID string, poll workflows.PollPolicy) (Started, error) {
	inv, err := st.Invoice(ctx, invoiceID)
	if err != nil {
		return Started{}, fmt.Errorf("ERP invoice %s: %w", invoiceID, err)
	}
	id := workflows.InvoiceWorkflowID(invoiceID)
	total, err := money.Format(inv.Total, inv.Currency)
	if err != nil {
		total = inv.Total.String()
	}
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		// Told apart from a fresh start below, so the caller knows it changed nothing.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Invoice %s · customer %s · PO %s · %s %s", inv.Number, inv.CustomerID, inv.PONumber, total, inv.Currency),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.InvoiceNumberKey.ValueSet(inv.Number),
			workflows.CustomerIDKey.ValueSet(inv.CustomerID),
			workflows.PONumberKey.ValueSet(inv.PONumber),
			workflows.PortalAccountKey.ValueSet(inv.AccountID),
			workflows.InvoiceStageKey.ValueSet(string(workflows.StageMatching)),
		),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.InvoiceWorkflow, workflows.InvoiceInput{InvoiceID: invoiceID, Poll: poll})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return Started{WorkflowID: id, RunID: already.RunId, Existing: true}, nil
	}
	if err != nil {
		return Started{}, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return Started{WorkflowID: id, RunID: run.GetRunID()}, nil
}
