// Package schedules keeps one Temporal Schedule per portal account that runs its PO sync.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"portico/internal/store"
	"portico/workflows"
)

// CatchupWindow is how late a missed sync may still run (after a server outage); older ones are skipped,
// since the next sync pulls everything anyway.
const CatchupWindow = 15 * time.Minute

// Result tells what Ensure did for one account.
type Result struct {
	AccountID  string
	ScheduleID string
	Created    bool
}

// Ensure creates or updates the PO-sync schedule of every account, so it can run at every deploy.
func Ensure(ctx context.Context, c client.Client, accounts []store.PortalAccount) ([]Result, error) {
	var out []Result
	for _, acct := range accounts {
		r, err := ensureOne(ctx, c, acct)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func ensureOne(ctx context.Context, c client.Client, acct store.PortalAccount) (Result, error) {
	id := workflows.POSyncScheduleID(acct.ID)
	spec := client.ScheduleSpec{CronExpressions: []string{acct.SyncCron}, TimeZoneName: acct.TimeZone}
	action := &client.ScheduleWorkflowAction{
		ID:        workflows.POSyncWorkflowID(acct.ID),
		Workflow:  workflows.POSyncWorkflow,
		Args:      []any{workflows.POSyncInput{AccountID: acct.ID}},
		TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.PortalAccountKey.ValueSet(acct.ID),
			workflows.CustomerIDKey.ValueSet(acct.CustomerID),
		),
		StaticSummary: "PO sync of portal account " + acct.ID,
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:            id,
		Spec:          spec,
		Action:        action,
		Overlap:       enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
		CatchupWindow: CatchupWindow,
		Note:          "created by portico starter",
	})
	if err == nil {
		return Result{AccountID: acct.ID, ScheduleID: id, Created: true}, nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return Result{}, fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
			s.Policy.CatchupWindow = CatchupWindow
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return Result{}, fmt.Errorf("update schedule %s: %w", id, err)
	}
	return Result{AccountID: acct.ID, ScheduleID: id}, nil
}

// Trigger runs an account's PO sync now.
func Trigger(ctx context.Context, c client.Client, accountID string) error {
	return c.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(accountID)).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE})
}

// Pause pauses or unpauses an account's PO sync.
func Pause(ctx context.Context, c client.Client, accountID string, pause bool, note string) error {
	h := c.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(accountID))
	if pause {
		return h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	}
	return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
}
