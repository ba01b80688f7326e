package erp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"portico/internal/store"
	"portico/workflows"
)

// InvoiceHistory is everything recorded about one invoice: its ERP row, every status change written back,
// every decision sent about it, and its workflow.
type InvoiceHistory struct {
	Invoice   store.Invoice
	Changes   []store.StatusChange   // oldest first
	Decisions []store.DecisionRecord // oldest first
	// WorkflowID is the invoice's workflow; RunID and WorkflowStatus are empty when Temporal has none (the
	// invoice was never started) or could not be asked (WorkflowProblem says why).
	WorkflowID      string
	RunID           string
	WorkflowStatus  string // Running, Completed, Failed, ...
	WorkflowProblem string
}

// historyDecisions bounds the audit rows read for one invoice; an invoice gets a handful.
const historyDecisions = 1000

// History reads an invoice's history. c may be nil when Temporal cannot be reached: the ERP's record is
// still worth showing then.
func History(ctx context.Context, c client.Client, st *store.Store, invoiceID string) (InvoiceHistory, error) {
	h := InvoiceHistory{WorkflowID: workflows.InvoiceWorkflowID(invoiceID)}
	var err error
	if h.Invoice, err = st.Invoice(ctx, invoiceID); err != nil {
		return h, err
	}
	if h.Changes, err = st.StatusHistory(ctx, invoiceID); err != nil {
		return h, err
	}
	if h.Decisions, err = st.Decisions(ctx, store.AuditFilter{InvoiceID: invoiceID, Limit: historyDecisions}); err != nil {
		return h, err
	}
	slices.Reverse(h.Decisions)
	if c == nil {
		h.WorkflowProblem = "Temporal was not asked"
		return h, nil
	}
	desc, err := c.DescribeWorkflowExecution(ctx, h.WorkflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		h.WorkflowProblem = "no workflow: the invoice was never started (starter start " + invoiceID + ")"
	case err != nil:
		h.WorkflowProblem = fmt.Sprintf("describe %s: %v", h.WorkflowID, err)
	default:
		info := desc.GetWorkflowExecutionInfo()
		h.RunID = info.GetExecution().GetRunId()
		h.WorkflowStatus = info.GetStatus().String()
	}
	return h, nil
}

// WorkflowURL links a workflow's page in the Temporal UI at base (e.g. http://127.0.0.1:8233). Workflow IDs
// hold slashes ("invoice/…"), which must be escaped to stay one path segment. An empty runID links the
// latest run.
func WorkflowURL(base, namespace, workflowID, runID string) string {
	u := strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}
