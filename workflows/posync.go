package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"portico/activities"
)

// POSyncInput starts a POSyncWorkflow for one portal account.
type POSyncInput struct {
	AccountID string
}

// POSyncWorkflow pulls every purchase order of a portal account into PostgreSQL. A schedule per account
// runs it; overlapping runs are buffered by the schedule, never run side by side.
func POSyncWorkflow(ctx workflow.Context, in POSyncInput) (activities.SyncResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           BrowserTaskQueue,
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		Summary:             "Pull POs of " + in.AccountID + " from the portal",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 30 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute, MaximumAttempts: 5},
	})
	workflow.SetCurrentDetails(ctx, "Syncing purchase orders of portal account **"+in.AccountID+"**")
	var res activities.SyncResult
	err := workflow.ExecuteActivity(ctx, b.SyncPurchaseOrders, in.AccountID).Get(ctx, &res)
	return res, err
}
