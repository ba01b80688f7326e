package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"portico/internal/config"
	"portico/internal/store"
)

// approversCommand lists or changes who may decide on a customer's drafts. Decisions from anyone else are
// refused (and audited); a customer without approvers has every decision refused.
func approversCommand(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("approvers", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: starter approvers <customer-id> [list | add <e-mail>... | remove <e-mail>...]")
	}
	_ = fs.Parse(args)
	if fs.NArg() < 1 {
		fs.Usage()
		return fmt.Errorf("approvers needs a customer ID")
	}
	customer, action := fs.Arg(0), "list"
	if fs.NArg() > 1 {
		action = fs.Arg(1)
	}
	emails := fs.Args()[min(2, fs.NArg()):]
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.Policy(ctx, customer)
	if err != nil {
		return err
	}
	switch action {
	case "list":
	case "add", "remove":
		if len(emails) == 0 {
			return fmt.Errorf("approvers %s needs at least one e-mail address", action)
		}
		for _, e := range emails {
			e = strings.ToLower(strings.TrimSpace(e))
			if action == "add" {
				p.Approvers = append(p.Approvers, e)
			} else {
				p.Approvers = slices.DeleteFunc(p.Approvers, func(a string) bool { return a == e })
			}
		}
		if err := st.UpsertPolicy(ctx, p); err != nil {
			return err
		}
		if p, err = st.Policy(ctx, customer); err != nil {
			return err
		}
		fmt.Println("Invoices whose workflow loaded the policy before this change keep the approvers they loaded.")
	default:
		fs.Usage()
		return fmt.Errorf("unknown approvers action %q", action)
	}
	if len(p.Approvers) == 0 {
		fmt.Printf("customer %s has no approvers: every decision on its drafts is refused\n", customer)
		return nil
	}
	fmt.Printf("approvers of customer %s:\n", customer)
	for _, a := range p.Approvers {
		fmt.Println("  " + a)
	}
	return nil
}

// auditCommand prints the decision audit: every approval and resolution sent, accepted or refused.
func auditCommand(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ExitOnError)
	invoice := fs.String("invoice", "", "only this ERP invoice")
	actor := fs.String("actor", "", "only decisions sent by this person")
	refused := fs.Bool("refused", false, "only refused decisions")
	since := fs.Duration("since", 0, "only decisions of the last duration (e.g. 168h)")
	limit := fs.Int("limit", 50, "at most this many rows")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: starter audit [-invoice ID] [-actor E-MAIL] [-refused] [-since D] [-limit N]")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.AuditFilter{InvoiceID: *invoice, Actor: *actor, Refused: *refused, Limit: *limit}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	rows, err := st.Decisions(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UTC)\tINVOICE\tKIND\tDECISION\tBY\tVIA\tDRAFT\tOUTCOME\tSTAGE AFTER")
	for _, r := range rows {
		outcome := "accepted"
		if !r.Accepted {
			outcome = "refused: " + r.Refusal
		}
		draft := fmt.Sprint(r.DraftVersion)
		if r.NamedDraft != 0 && r.NamedDraft != r.DraftVersion {
			draft = fmt.Sprintf("%d (named %d)", r.DraftVersion, r.NamedDraft)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.UTC().Format(time.DateTime), r.InvoiceID, r.Kind,
			r.Decision.Decision, r.Actor, r.Channel, draft, outcome, r.Stage)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Println("no decisions match")
	}
	return nil
}
