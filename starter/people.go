package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"portico/internal/store"
)

// approversCmd lists or changes who may decide on a customer's drafts. Decisions from anyone else are
// refused (and audited); a customer without approvers has every decision refused.
func approversCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("approvers", "approvers <customer-id> [list | add <e-mail>... | remove <e-mail>...]", `
Lists or changes who may decide on the customer's drafts. Decisions from anyone else are refused and
audited; a customer without approvers has every decision refused. Workflows that loaded the policy before
a change keep the approvers they loaded.`)
	pos, err := f.positional(e, args, 1, -1, "a customer ID")
	if err != nil {
		return err
	}
	customer, action := pos[0], "list"
	if len(pos) > 1 {
		action = pos[1]
	}
	emails := pos[min(2, len(pos)):]
	switch action {
	case "list":
	case "add", "remove":
		if len(emails) == 0 {
			return f.fail("approvers %s needs at least one e-mail address", action)
		}
	default:
		return f.fail("unknown approvers action %q: want list, add or remove", action)
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := st.Policy(ctx, customer)
	if err != nil {
		return err
	}
	if action != "list" {
		for _, m := range emails {
			m = strings.ToLower(strings.TrimSpace(m))
			if action == "add" {
				p.Approvers = append(p.Approvers, m)
			} else {
				p.Approvers = slices.DeleteFunc(p.Approvers, func(a string) bool { return a == m })
			}
		}
		if err := st.UpsertPolicy(ctx, p); err != nil {
			return err
		}
		if p, err = st.Policy(ctx, customer); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Invoices whose workflow loaded the policy before this change keep the approvers they loaded.")
	}
	if len(p.Approvers) == 0 {
		fmt.Fprintf(e.stdout, "customer %s has no approvers: every decision on its drafts is refused\n", customer)
		return nil
	}
	fmt.Fprintf(e.stdout, "approvers of customer %s:\n", customer)
	for _, a := range p.Approvers {
		fmt.Fprintln(e.stdout, "  "+a)
	}
	return nil
}

// auditCmd prints the decision audit: every approval and resolution sent, accepted or refused.
func auditCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("audit", "audit [-invoice ID] [-actor E-MAIL] [-refused] [-since D] [-limit N]", `
Prints the decision audit, newest first: every approval and resolution sent about an invoice, by whom,
through which channel, about which draft, and whether it was accepted or refused (and why).`)
	invoice := f.String("invoice", "", "only this ERP invoice")
	actor := f.String("actor", "", "only decisions sent by this person")
	refused := f.Bool("refused", false, "only refused decisions")
	var since age
	f.Var(&since, "since", "only decisions of the last `DURATION`: 36h, 7d")
	limit := f.Int("limit", 50, "at most this many rows")
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	filter := store.AuditFilter{InvoiceID: *invoice, Actor: *actor, Refused: *refused, Limit: *limit}
	if since > 0 {
		filter.Since = e.now().Add(-time.Duration(since))
	}
	rows, err := st.Decisions(ctx, filter)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "no decisions match")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UTC)\tINVOICE\tKIND\tDECISION\tBY\tVIA\tDRAFT\tOUTCOME\tSTAGE AFTER")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", utc(r.At), r.InvoiceID, r.Kind, r.Decision.Decision, r.Actor, r.Channel,
			draftOf(r.DraftVersion, r.NamedDraft), outcome(r.Accepted, r.Refusal), r.Stage)
	}
	return tw.Flush()
}
