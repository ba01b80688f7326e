package erp

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"portico/workflows"
)

// SendApproval checks that the invoice is awaiting approval and sends the approver's decision. The
// workflow validates the decision again: this check only gives the caller a clear answer up front.
func SendApproval(ctx context.Context, c client.Client, invoiceID string, ap workflows.Approval) error {
	id := workflows.InvoiceWorkflowID(invoiceID)
	st, err := State(ctx, c, invoiceID)
	if err != nil {
		return err
	}
	if st.Stage != workflows.StageAwaitingApproval {
		return fmt.Errorf("invoice %s is %s, not awaiting approval", invoiceID, st.Stage)
	}
	if err := c.SignalWorkflow(ctx, id, "", workflows.ApprovalSignal, ap); err != nil {
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
