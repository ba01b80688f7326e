package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
)

// POSyncInput starts a POSyncWorkflow for one portal account.
type POSyncInput struct {
	AccountID string
}

// POSyncQuery returns a POSyncWorkflow's POSyncState.
const POSyncQuery = "sync"

// POSyncState is what a PO sync workflow shows while it runs and after: the page-by-page progress of the
// running attempt is in the pending activity's heartbeat details (activities.SyncProgress) and in table
// po_sync_runs; the result once it is done.
type POSyncState struct {
	AccountID string
	// Status is syncing, done or failed.
	Status string
	Result activities.SyncResult
	Error  string `json:",omitempty"`
}

// POSyncWorkflow pulls the purchase orders of a portal account into PostgreSQL (activities.SyncPurchaseOrders:
// the first sync reads every PO, later ones what changed). A schedule per account runs it; overlapping runs
// are buffered by the schedule, never run side by side. A retried activity attempt resumes the sync at the
// page after the last one it stored.
func POSyncWorkflow(ctx workflow.Context, in POSyncInput) (activities.SyncResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           BrowserTaskQueue,
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		Summary:             "Pull POs of " + in.AccountID + " from the portal",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 30 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 5},
	})
	state := POSyncState{AccountID: in.AccountID, Status: "syncing"}
	if err := workflow.SetQueryHandler(ctx, POSyncQuery, func() (POSyncState, error) { return state, nil }); err != nil {
		return activities.SyncResult{}, err
	}
	workflow.SetCurrentDetails(ctx, "Syncing purchase orders of portal account **"+in.AccountID+"**: progress (run, pages and rows stored) "+
		"is in the pending activity's heartbeat details")
	var res activities.SyncResult
	err := workflow.ExecuteActivity(ctx, b.SyncPurchaseOrders, in.AccountID).Get(ctx, &res)
	state.Result = res
	if err != nil {
		state.Status, state.Error = "failed", err.Error()
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("PO sync of **%s** failed: %v", in.AccountID, err))
		return res, err
	}
	state.Status = "done"
	workflow.SetCurrentDetails(ctx, syncSummary(in.AccountID, res))
	// Then match the account's POs to customers and its open invoices to POs (activities.MatchAfterSync).
	// Versioned: syncs recorded before matching existed replay without it.
	if workflow.GetVersion(ctx, matchAfterSyncChange, workflow.DefaultVersion, 1) == 1 {
		mctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:           TaskQueue,
			StartToCloseTimeout: 30 * time.Minute,
			Summary:             "Match POs to customers and invoices to POs of " + in.AccountID,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: 5},
		})
		var m activities.MatchSummary
		if err := workflow.ExecuteActivity(mctx, a.MatchAfterSync, in.AccountID).Get(ctx, &m); err != nil {
			// The POs are synced all the same: the next sync matches again, and each invoice is matched when it starts.
			workflow.GetLogger(ctx).Warn("matching after the PO sync failed", "account", in.AccountID, "error", err)
		} else {
			workflow.SetCurrentDetails(ctx, syncSummary(in.AccountID, res)+fmt.Sprintf(
				"; matched %d of %d open invoices (%d ambiguous, %d unmatched, %d matched by a person); %d POs without a customer",
				m.Matched, m.Invoices, m.Ambiguous, m.Unmatched, m.Manual, m.POsUnmatched))
		}
	}
	return res, nil
}

// matchAfterSyncChange versions the matching step added to POSyncWorkflow.
const matchAfterSyncChange = "match-after-sync"

func syncSummary(accountID string, r activities.SyncResult) string {
	s := fmt.Sprintf("Synced purchase orders of **%s** (%s): %d pages, %d POs read, %d PO pages opened for lines, %d new or changed",
		accountID, r.Mode, r.Pages, r.POs, r.Details, r.Changed)
	if r.ResumedAt > 0 {
		s += fmt.Sprintf("; resumed at page %d", r.ResumedAt)
	}
	return s
}
