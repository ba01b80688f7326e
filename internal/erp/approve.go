package erp

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"portico/workflows"
)

// SendApproval sends an approver's decision as the workflow's approve Update: the workflow's validator
// answers at once, so a decision from an unknown approver, for a stale draft or at the wrong stage is
// refused to the caller instead of disappearing into a signal. (Temporal keeps no history of an Update its
// validator refused; the caller's error is the record. Refused signals are recorded in the ERP history.)
// It returns the stage the decision led to.
func SendApproval(ctx context.Context, c client.Client, invoiceID string, ap workflows.Approval) (workflows.Stage, error) {
	id := workflows.InvoiceWorkflowID(invoiceID)
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.ApprovalUpdate, Args: []any{ap},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", fmt.Errorf("invoice %s: %w", invoiceID, err)
	}
	var stage workflows.Stage
	if err := h.Get(ctx, &stage); err != nil {
		return "", fmt.Errorf("invoice %s: decision refused: %w", invoiceID, err)
	}
	return stage, nil
}

// SendResolution sends a person's resolution to an invoice that needs one (stage needs_attention or
// changes_requested): resubmit (optionally with a new number, date, tax reference or remit-to), void, or
// give up. It checks the stage first so the caller gets a clear answer; the workflow checks again and
// records a refusal if the stage moved on meanwhile.
func SendResolution(ctx context.Context, c client.Client, invoiceID string, r workflows.Resolution) error {
	st, err := State(ctx, c, invoiceID)
	if err != nil {
		return err
	}
	if st.Stage != workflows.StageNeedsAttention && st.Stage != workflows.StageChangesRequested {
		return fmt.Errorf("invoice %s is %s; only an invoice that needs attention or had changes requested takes a resolution", invoiceID, st.Stage)
	}
	id := workflows.InvoiceWorkflowID(invoiceID)
	if err := c.SignalWorkflow(ctx, id, "", workflows.ResolutionSignal, r); err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	return nil
}

// State queries an invoice workflow's current state.
func State(ctx context.Context, c client.Client, invoiceID string) (workflows.InvoiceState, error) {
	var st workflows.InvoiceState
	id := workflows.InvoiceWorkflowID(invoiceID)
	v, err := c.QueryWorkflow(ctx, id, "", workflows.StateQuery)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", id, err)
	}
	return st, v.Get(&st)
}
