package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"portico/activities"
	"portico/internal/codec"
	"portico/internal/schedules"
	"portico/internal/store"
	"portico/workflows"
)

const schedulesAbout = `
Keeps one Temporal Schedule per portal account that runs its PO sync (workflow POSyncWorkflow):

  ensure                      create or update the schedule of every portal account (the default; run it
                              at every deploy and after adding an account)
  trigger <account> [-wait]   run the account's sync now; -wait shows its progress until it finishes
  pause <account> [-note N]   stop the account's scheduled syncs
  unpause <account> [-note N] start them again
  runs <account> [-limit N]   the account's latest syncs with their progress

Run "starter schedules <action> -h" for an action's flags.`

func schedulesCmd(ctx context.Context, e *env, args []string) error {
	action := "ensure"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	} else if len(args) > 0 {
		// "schedules -h" asks about schedules, not about its default action.
		f := newFlags("schedules", "schedules [ensure | trigger | pause | unpause | runs] [account-id] [flags]", schedulesAbout)
		if _, err := f.positional(e, args, 0, 0, "an action"); err != nil {
			return err
		}
		action = "ensure"
	}
	switch action {
	case "ensure":
		return schedulesEnsure(ctx, e, args)
	case "trigger":
		return schedulesTrigger(ctx, e, args)
	case "pause", "unpause":
		return schedulesPause(ctx, e, action, args)
	case "runs":
		return schedulesRuns(ctx, e, args)
	}
	f := newFlags("schedules", "schedules [ensure | trigger | pause | unpause | runs] [account-id] [flags]", schedulesAbout)
	return f.fail("unknown action %q", action)
}

func schedulesEnsure(ctx context.Context, e *env, args []string) error {
	f := newFlags("schedules ensure", "schedules ensure", `
Creates the PO-sync schedule of every portal account that has none, and brings the others in line with
their account (cron, time zone). Running it again is harmless.`)
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	c, st, _, closeAll, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	accts, err := st.PortalAccounts(ctx)
	if err != nil {
		return err
	}
	res, err := schedules.Ensure(ctx, c, accts)
	for _, r := range res {
		verb := "updated"
		if r.Created {
			verb = "created"
		}
		fmt.Fprintf(e.stdout, "%s %s\n", r.ScheduleID, verb)
	}
	return err
}

func schedulesPause(ctx context.Context, e *env, action string, args []string) error {
	f := newFlags("schedules "+action, "schedules "+action+" <account-id> [-note N]", map[string]string{
		"pause":   "Pauses the account's PO-sync schedule: no scheduled sync runs until it is unpaused (trigger still runs one).",
		"unpause": "Unpauses the account's PO-sync schedule: its syncs run on schedule again.",
	}[action])
	note := f.String("note", "from starter CLI", "why, shown with the schedule in the Temporal UI")
	pos, err := f.positional(e, args, 1, 1, "one portal account ID")
	if err != nil {
		return err
	}
	c, _, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := schedules.Pause(ctx, c, pos[0], action == "pause", *note); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %sd (%s)\n", workflows.POSyncScheduleID(pos[0]), action, *note)
	return nil
}

func schedulesRuns(ctx context.Context, e *env, args []string) error {
	f := newFlags("schedules runs", "schedules runs <account-id> [-limit N]", `
Lists the account's latest PO syncs, newest first, with their progress: list pages and rows stored, PO
pages read for lines, and the POs the finished sync found new or changed.`)
	limit := f.Int("limit", 10, "at most this many runs")
	pos, err := f.positional(e, args, 1, 1, "one portal account ID")
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.SyncRuns(ctx, pos[0], *limit)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		fmt.Fprintf(e.stdout, "no PO syncs of account %s yet\n", pos[0])
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tMODE\tSTARTED (UTC)\tPAGES\tROWS\tDETAILS\tCHANGED\tUPDATED (UTC)")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Status, r.Mode, utc(r.StartedAt), r.PagesDone, r.RowsDone,
			r.DetailsRead, r.Changed, utc(r.UpdatedAt))
	}
	return tw.Flush()
}

func schedulesTrigger(ctx context.Context, e *env, args []string) error {
	f := newFlags("schedules trigger", "schedules trigger <account-id> [-wait] [-timeout D]", `
Runs the account's PO sync now. If a sync of the account is running, the schedule starts this one after
it. With -wait it waits for the sync it started and shows its progress (list pages and rows stored, PO
pages read, retried attempts) until it finishes, and fails if the sync fails.`)
	wait := f.Bool("wait", false, "wait for the sync and show its progress until it finishes")
	timeout := f.Duration("timeout", 30*time.Minute, "with -wait, stop waiting after this long (the sync goes on)")
	pos, err := f.positional(e, args, 1, 1, "one portal account ID")
	if err != nil {
		return err
	}
	acct := pos[0]
	c, _, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	h := c.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(acct))
	// The syncs the schedule knows before the trigger, to tell the one it starts from them.
	known := map[string]bool{}
	var st *store.Store
	if *wait {
		// The progress is in po_sync_runs: only waiting needs the database, and it must answer before the
		// trigger, not after.
		if st, err = e.openStore(ctx); err != nil {
			return err
		}
		defer st.Close()
		desc, err := h.Describe(ctx)
		if err != nil {
			return fmt.Errorf("schedule %s: %w (create it with: starter schedules ensure)", workflows.POSyncScheduleID(acct), err)
		}
		for _, w := range scheduleRuns(desc) {
			known[w.FirstExecutionRunID] = true
		}
	}
	if err := schedules.Trigger(ctx, c, acct); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: triggered\n", workflows.POSyncScheduleID(acct))
	if !*wait {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	err = waitForSync(wctx, e, c, st, h, acct, known)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("stopped waiting after %s; the sync goes on: follow it with \"starter schedules runs %s\"", *timeout, acct)
	}
	return err
}

// scheduleRuns are the workflows a schedule started recently or runs now.
func scheduleRuns(desc *client.ScheduleDescription) []client.ScheduleWorkflowExecution {
	var out []client.ScheduleWorkflowExecution
	for _, a := range desc.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			out = append(out, *a.StartWorkflowResult)
		}
	}
	return append(out, desc.Info.RunningWorkflows...)
}

// waitForSync waits for the schedule to start a sync that is not in known, then follows its run in
// po_sync_runs (found by the activity's Temporal identity, "workflow/run/activity") and its workflow until
// it closes, printing a line whenever the progress changes.
func waitForSync(ctx context.Context, e *env, c client.Client, st *store.Store, h client.ScheduleHandle, acct string, known map[string]bool) error {
	began := e.now()
	var started client.ScheduleWorkflowExecution
	toldBusy := false
	for started.WorkflowID == "" {
		desc, err := h.Describe(ctx)
		if err != nil {
			return err
		}
		for _, w := range scheduleRuns(desc) {
			if !known[w.FirstExecutionRunID] {
				started = w
			}
		}
		if started.WorkflowID == "" {
			if len(desc.Info.RunningWorkflows) > 0 && !toldBusy {
				fmt.Fprintf(e.stdout, "a sync of %s is running (%s); the triggered one starts after it\n", acct, desc.Info.RunningWorkflows[0].WorkflowID)
				toldBusy = true
			}
			if err := sleep(ctx, e.pollEvery); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(e.stdout, "sync started: workflow %s run %s\n", started.WorkflowID, started.FirstExecutionRunID)

	// Failure messages are encrypted like every payload; the codec service.Dial uses opens them.
	var failures converter.FailureConverter
	if cd, err := codec.FromEnv(); err == nil {
		failures = codec.FailureConverter(codec.DataConverter(cd))
	}
	key := started.WorkflowID + "/" + started.FirstExecutionRunID + "/"
	var last store.SyncRun
	lastAttempt := int32(1)
	for {
		desc, err := c.DescribeWorkflowExecution(ctx, started.WorkflowID, started.FirstExecutionRunID)
		if err != nil {
			return err
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetAttempt() > lastAttempt {
				lastAttempt = pa.GetAttempt()
				why := "a retry"
				if f := pa.GetLastFailure(); f != nil {
					why = f.GetMessage()
					if failures != nil {
						why = failures.FailureToError(f).Error()
					}
				}
				fmt.Fprintf(e.stdout, "  %6s  attempt %d of %s after: %s\n", formatElapsed(e.now().Sub(began)), pa.GetAttempt(),
					pa.GetActivityType().GetName(), why)
			}
		}
		closed := desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		// Read after the workflow was seen closed, so the run's last progress is shown too.
		runs, err := st.SyncRuns(ctx, acct, 5)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if strings.HasPrefix(r.TemporalKey, key) && (r.ID != last.ID || r.PagesDone != last.PagesDone || r.RowsDone != last.RowsDone ||
				r.DetailsRead != last.DetailsRead || r.Status != last.Status) {
				fmt.Fprintf(e.stdout, "  %6s  run %s (%s): %s, %d pages, %d rows, %d PO pages read\n", formatElapsed(e.now().Sub(began)),
					shortID(r.ID), r.Mode, r.Status, r.PagesDone, r.RowsDone, r.DetailsRead)
				last = r
				break
			}
		}
		if closed {
			break
		}
		if err := sleep(ctx, e.pollEvery); err != nil {
			return err
		}
	}
	var res activities.SyncResult
	if err := c.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID).Get(ctx, &res); err != nil {
		return fmt.Errorf("sync %s failed: %w", started.WorkflowID, err)
	}
	fmt.Fprintf(e.stdout, "finished in %s: %s sync, %d pages, %d rows, %d PO pages read, %d POs new or changed\n",
		formatElapsed(e.now().Sub(began)), res.Mode, res.Pages, res.POs, res.Details, res.Changed)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func formatElapsed(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
