// Command starter is Portico's command line: start the workflow of an ERP invoice, approve or reject its
// draft, show where it stands, and keep the PO-sync schedules in step with the portal accounts.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"portico/internal/config"
	"portico/internal/erp"
	"portico/internal/schedules"
	"portico/internal/service"
	"portico/internal/store"
	"portico/workflows"
)

const usage = `Usage: starter <command> [flags] [args]

Commands:
  start <invoice-id>...            start the workflow of ERP invoices (starting one twice is harmless)
  approve <invoice-id> -approver A [-note N] [-draft V]
                                   approve a draft awaiting approval; it is then submitted
  reject <invoice-id> -approver A [-note N] [-draft V]
                                   reject a draft; it is deleted from the portal
  request-changes <invoice-id> -approver A -note N [-draft V]
                                   send a draft back: it is deleted and waits for "resolve"
  resolve <invoice-id> -by P -action resubmit|void|give_up [-note N] [-number X] [-date YYYY-MM-DD]
          [-tax-reference R] [-remit-to A]
                                   settle an invoice that needs attention (or had changes requested):
                                   resubmit (after fixing the ERP data, or with the given corrections),
                                   void it, or give up on it
  matches [account-id] [-limit N]  list what matching left for a person: POs with no customer, and
                                   invoices whose PO is ambiguous or not found, with the reasons
  state <invoice-id>               show an invoice's stage, checks, evidence and portal status
  approvers <customer-id> [list|add <e-mail>...|remove <e-mail>...]
                                   who may decide on the customer's drafts (nobody, until configured)
  audit [-invoice ID] [-actor E] [-refused] [-since D]
                                   every decision sent, accepted or refused: who, what, when, which draft
  keys [new|status|rotate]         make a vault key, show which keys the stored secrets are under, or
                                   re-encrypt them all under the primary key
  schedules [ensure|trigger|pause|unpause|runs] [account-id]
                                   create or update the PO-sync schedule of every portal account (ensure),
                                   or run, pause, unpause one account's sync, or list its latest syncs
                                   with their progress (runs)

Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, PORTICO_DATABASE_URL (see README).
Run "starter <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Print(usage)
		return
	}
	if err := run(ctx, os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	switch cmd {
	case "start":
		fs.Usage = func() { fmt.Fprintln(os.Stderr, "Usage: starter start <invoice-id>...") }
		_ = fs.Parse(args)
		if fs.NArg() == 0 {
			return fmt.Errorf("start needs at least one ERP invoice ID")
		}
		c, st, err := connect(ctx, cfg, true)
		if err != nil {
			return err
		}
		defer c.Close()
		defer st.Close()
		for _, id := range fs.Args() {
			s, err := erp.StartInvoice(ctx, c, st, id, workflows.PollPolicy{})
			if err != nil {
				return err
			}
			verb := "started"
			if s.Existing {
				verb = "already exists"
			}
			fmt.Printf("%s %s (run %s)\n", s.WorkflowID, verb, s.RunID)
		}
		return nil
	case "approve", "reject", "request-changes":
		approver := fs.String("approver", os.Getenv("USER"), "who decides: one of the customer's approvers (recorded in the ERP history)")
		note := fs.String("note", "", "a note for the record")
		draft := fs.Int("draft", 0, "the draft version you looked at (from `starter state`); a newer draft refuses the decision")
		fs.Usage = func() {
			fmt.Fprintf(os.Stderr, "Usage: starter %s <invoice-id> -approver A [-note N] [-draft V]\n", cmd)
			fs.PrintDefaults()
		}
		id, rest := splitID(args)
		_ = fs.Parse(rest)
		if id == "" {
			return fmt.Errorf("%s needs an ERP invoice ID", cmd)
		}
		c, _, err := connect(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer c.Close()
		decision := strings.ReplaceAll(cmd, "-", "_")
		stage, err := erp.SendApproval(ctx, c, id, workflows.Approval{Decision: decision, Approver: *approver, Note: *note, Draft: *draft})
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s by %s accepted; stage now %s\n", workflows.InvoiceWorkflowID(id), decision, *approver, stage)
		return nil
	case "resolve":
		by := fs.String("by", os.Getenv("USER"), "who resolves (recorded in the ERP history)")
		action := fs.String("action", "", "resubmit, void or give_up")
		note := fs.String("note", "", "a note for the record")
		number := fs.String("number", "", "resubmit under this invoice number in the portal")
		date := fs.String("date", "", "resubmit with this invoice date (YYYY-MM-DD)")
		taxRef := fs.String("tax-reference", "", "resubmit with this tax exemption reference")
		remitTo := fs.String("remit-to", "", "resubmit with this remit-to address")
		fs.Usage = func() {
			fmt.Fprintln(os.Stderr, "Usage: starter resolve <invoice-id> -by P -action resubmit|void|give_up [flags]")
			fs.PrintDefaults()
		}
		id, rest := splitID(args)
		_ = fs.Parse(rest)
		if id == "" || *action == "" {
			return fmt.Errorf("resolve needs an ERP invoice ID and -action")
		}
		c, _, err := connect(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer c.Close()
		r := workflows.Resolution{Action: *action, By: *by, Note: *note, Number: *number, Date: *date, TaxReference: *taxRef, RemitTo: *remitTo}
		if err := erp.SendResolution(ctx, c, id, r); err != nil {
			return err
		}
		fmt.Printf("%s: %s sent by %s\n", workflows.InvoiceWorkflowID(id), *action, *by)
		return nil
	case "matches":
		limit := fs.Int("limit", 50, "at most this many rows of each kind")
		fs.Usage = func() {
			fmt.Fprintln(os.Stderr, "Usage: starter matches [account-id] [-limit N]")
			fs.PrintDefaults()
		}
		acct, rest := splitID(args)
		_ = fs.Parse(rest)
		c, st, err := connect(ctx, cfg, true)
		if err != nil {
			return err
		}
		defer c.Close()
		defer st.Close()
		return erp.WriteMatchQueue(ctx, st, os.Stdout, acct, *limit)
	case "state":
		fs.Usage = func() { fmt.Fprintln(os.Stderr, "Usage: starter state <invoice-id>") }
		_ = fs.Parse(args)
		if fs.NArg() != 1 {
			return fmt.Errorf("state needs one ERP invoice ID")
		}
		c, _, err := connect(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := erp.State(ctx, c, fs.Arg(0))
		if err != nil {
			return err
		}
		out, _ := json.MarshalIndent(s, "", "  ")
		fmt.Println(string(out))
		return nil
	case "approvers":
		return approversCommand(ctx, cfg, args)
	case "audit":
		return auditCommand(ctx, cfg, args)
	case "keys":
		return keysCommand(ctx, args)
	case "schedules":
		fs.Usage = func() {
			fmt.Fprintln(os.Stderr, "Usage: starter schedules [ensure|trigger <account>|pause <account>|unpause <account>|runs <account>]")
		}
		_ = fs.Parse(args)
		action := "ensure"
		if fs.NArg() > 0 {
			action = fs.Arg(0)
		}
		c, st, err := connect(ctx, cfg, action == "ensure" || action == "runs")
		if err != nil {
			return err
		}
		defer c.Close()
		if st != nil {
			defer st.Close()
		}
		if action == "ensure" {
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
				fmt.Printf("%s %s\n", r.ScheduleID, verb)
			}
			return err
		}
		if fs.NArg() != 2 {
			return fmt.Errorf("schedules %s needs a portal account ID", action)
		}
		acct := fs.Arg(1)
		if action == "runs" {
			runs, err := st.SyncRuns(ctx, acct, 10)
			if err != nil {
				return err
			}
			fmt.Printf("%-36s  %-9s  %-7s  %-20s  %5s  %7s  %7s  %7s  %s\n", "run", "status", "mode", "started", "pages", "rows", "details", "changed", "updated")
			for _, r := range runs {
				fmt.Printf("%-36s  %-9s  %-7s  %-20s  %5d  %7d  %7d  %7d  %s\n", r.ID, r.Status, r.Mode, r.StartedAt.UTC().Format(time.DateTime),
					r.PagesDone, r.RowsDone, r.DetailsRead, r.Changed, r.UpdatedAt.UTC().Format(time.DateTime))
			}
			return nil
		}
		switch action {
		case "trigger":
			err = schedules.Trigger(ctx, c, acct)
		case "pause", "unpause":
			err = schedules.Pause(ctx, c, acct, action == "pause", "from starter CLI")
		default:
			return fmt.Errorf("unknown schedules action %q", action)
		}
		if err == nil {
			fmt.Printf("%s: %s done\n", workflows.POSyncScheduleID(acct), action)
		}
		return err
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// splitID lets the invoice ID come before the flags, as people type it.
func splitID(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func connect(ctx context.Context, cfg config.Config, withStore bool) (client.Client, *store.Store, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := service.Dial(ctx, cfg, quiet)
	if err != nil {
		return nil, nil, err
	}
	if !withStore {
		return c, nil, nil
	}
	// The starter reads invoices and accounts but never secrets, so it needs no vault key.
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, st, nil
}
