package erp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"portico/internal/store"
	"portico/workflows"
)

// DraftStages are the stages in which an invoice's draft waits in the portal for an approver's decision.
var DraftStages = []workflows.Stage{workflows.StageAwaitingApproval, workflows.StageEscalated}

// DraftFilter selects the drafts Drafts lists; zero fields select everything.
type DraftFilter struct {
	CustomerID string
	AccountID  string
	// OlderThan keeps only drafts that have waited at least this long.
	OlderThan time.Duration
}

// Draft is an invoice whose draft awaits a decision, with what an approver needs to decide on it.
type Draft struct {
	InvoiceID  string
	WorkflowID string
	RunID      string
	Number     string
	CustomerID string
	AccountID  string
	PONumber   string
	Currency   string
	Total      decimal.Decimal
	Stage      workflows.Stage
	// Since is when the invoice began waiting for a decision (its status history); zero when unknown.
	Since        time.Time
	DraftVersion int
	Approvers    []string
	// Evidence is the newest evidence of each kind: what the draft awaiting the decision looks like.
	Evidence []EvidenceInfo
	// Problems says what could not be read about the draft; the draft is listed anyway.
	Problems []string
}

// EvidenceInfo describes one piece of evidence without its content.
type EvidenceInfo struct {
	ID          string
	Kind        string // store.EvidenceDraftScreenshot or store.EvidenceDraftValues
	ContentType string
	Size        int
	CreatedAt   time.Time
}

// DraftsQuery is the Temporal visibility query of the running invoice workflows whose draft awaits a
// decision: Drafts runs it, and people paste it into the Temporal UI to see the same list.
func DraftsQuery(f DraftFilter) (string, error) {
	stages := make([]string, len(DraftStages))
	for i, s := range DraftStages {
		stages[i] = quote(string(s))
	}
	q := fmt.Sprintf("%s in (%s) AND ExecutionStatus = %s", workflows.InvoiceStageAttr, strings.Join(stages, ", "), quote("Running"))
	for _, c := range []struct{ attr, value string }{{workflows.CustomerIDAttr, f.CustomerID}, {workflows.PortalAccountAttr, f.AccountID}} {
		if c.value == "" {
			continue
		}
		// Identifiers never hold quotes; refusing them keeps the query from being rewritten by a value.
		if strings.ContainsAny(c.value, "\"'\\") {
			return "", fmt.Errorf("%s %q: quotes and backslashes cannot be searched for", c.attr, c.value)
		}
		q += fmt.Sprintf(" AND %s = %s", c.attr, quote(c.value))
	}
	return q, nil
}

func quote(s string) string { return `"` + s + `"` }

// Drafts lists the drafts awaiting a decision, longest waiting first: the invoices Temporal's visibility
// finds in DraftsQuery(f), joined with their ERP rows (number, customer, PO, amount), their status history
// (how long they have waited) and their workflow's state (draft version, approvers, evidence). now is the
// time ages are measured to.
func Drafts(ctx context.Context, c client.Client, st *store.Store, f DraftFilter, now time.Time) ([]Draft, error) {
	q, err := DraftsQuery(f)
	if err != nil {
		return nil, err
	}
	var out []Draft
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list workflows where %s: %w", q, err)
		}
		for _, ex := range resp.GetExecutions() {
			wfID := ex.GetExecution().GetWorkflowId()
			invoiceID, ok := strings.CutPrefix(wfID, workflows.InvoiceWorkflowID(""))
			if !ok {
				continue
			}
			d, keep, err := draftOf(ctx, c, st, invoiceID, ex.GetExecution().GetRunId())
			if err != nil {
				return nil, err
			}
			if keep && (f.OlderThan <= 0 || (!d.Since.IsZero() && now.Sub(d.Since) >= f.OlderThan)) {
				out = append(out, d)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b Draft) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.InvoiceID, b.InvoiceID)
	})
	return out, nil
}

// draftOf reads one draft; it reports false when the workflow has moved on since visibility saw it.
func draftOf(ctx context.Context, c client.Client, st *store.Store, invoiceID, runID string) (Draft, bool, error) {
	d := Draft{InvoiceID: invoiceID, WorkflowID: workflows.InvoiceWorkflowID(invoiceID), RunID: runID}
	inv, err := st.Invoice(ctx, invoiceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.Problems = append(d.Problems, "no ERP invoice "+invoiceID)
	case err != nil:
		return d, false, err
	default:
		d.Number, d.CustomerID, d.AccountID, d.PONumber = inv.Number, inv.CustomerID, inv.AccountID, inv.PONumber
		d.Currency, d.Total, d.Stage = inv.Currency, inv.Total, workflows.Stage(inv.Stage)
	}
	hist, err := st.StatusHistory(ctx, invoiceID)
	if err != nil {
		return d, false, err
	}
	d.Since = WaitingSince(hist)

	// A stopped worker must not hang the whole list: the query gets a few seconds per draft.
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	state, err := State(qctx, c, invoiceID)
	if err != nil {
		d.Problems = append(d.Problems, "workflow state unavailable: "+err.Error())
		return d, true, nil
	}
	if !slices.Contains(DraftStages, state.Stage) {
		return d, false, nil
	}
	d.Stage, d.DraftVersion, d.Approvers = state.Stage, state.DraftVersion, state.Approvers
	if d.Number == "" {
		d.Number, d.CustomerID, d.AccountID, d.PONumber, d.Currency = state.Number, state.CustomerID, state.AccountID, state.PONumber, state.Currency
	}
	if d.Evidence, err = newestEvidence(ctx, st, state.Evidence); err != nil {
		return d, false, err
	}
	return d, true, nil
}

// WaitingSince is when the invoice last began waiting for a decision: the first of the history's trailing
// rows in a DraftStages stage (reminders and escalation add rows without ending the wait). It is zero when
// the last row is in another stage.
func WaitingSince(hist []store.StatusChange) time.Time {
	var since time.Time
	for i := len(hist) - 1; i >= 0; i-- {
		if !slices.Contains(DraftStages, workflows.Stage(hist[i].Stage)) {
			break
		}
		since = hist[i].At
	}
	return since
}

// newestEvidence describes the newest of each kind among ids: each saved draft adds a screenshot and its
// values, and the approver decides on the last one.
func newestEvidence(ctx context.Context, st *store.Store, ids []string) ([]EvidenceInfo, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// The store has no listing of evidence without its content; this reads the sizes, not the images. By
	// kind, the screenshot (what an approver opens first) comes before the values.
	rows, err := st.Pool().Query(ctx, `
		SELECT DISTINCT ON (kind) id, kind, content_type, length(data), created_at
		FROM evidence WHERE id = ANY($1) ORDER BY kind, created_at DESC, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EvidenceInfo, error) {
		var e EvidenceInfo
		err := r.Scan(&e.ID, &e.Kind, &e.ContentType, &e.Size, &e.CreatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return out, nil
}
