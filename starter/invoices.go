package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/erp"
	"portico/internal/money"
	"portico/workflows"
)

func startCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("start", "start <invoice-id>...", `
Starts the InvoiceWorkflow of each ERP invoice. Starting one that runs or has finished changes nothing and
says so; only a failed one starts anew. With several invoices each line shows n/N, and an invoice that
cannot be started does not stop the others.`)
	ids, err := f.positional(e, args, 1, -1, "at least one ERP invoice ID")
	if err != nil {
		return err
	}
	c, st, _, closeAll, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	failed := 0
	for i, id := range ids {
		prefix := ""
		if len(ids) > 1 {
			prefix = fmt.Sprintf("[%d/%d] ", i+1, len(ids))
		}
		s, err := erp.StartInvoice(ctx, c, st, id, workflows.PollPolicy{})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted after %d of %d invoices: %w", i, len(ids), ctx.Err())
			}
			failed++
			fmt.Fprintf(e.stdout, "%s%s not started: %v\n", prefix, workflows.InvoiceWorkflowID(id), err)
			continue
		}
		verb := "started"
		if s.Existing {
			verb = "already exists"
		}
		fmt.Fprintf(e.stdout, "%s%s %s (run %s)\n", prefix, s.WorkflowID, verb, s.RunID)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d invoices not started", failed, len(ids))
	}
	return nil
}

// decisionCmd is approve, reject or request-changes: the same decision Update with another verb.
func decisionCmd(name string) func(context.Context, *env, []string) error {
	about := map[string]string{
		"approve":         "Approves the draft awaiting approval; the invoice is then submitted to the buyer.",
		"reject":          "Rejects the draft: it is deleted from the portal and the invoice is not submitted.",
		"request-changes": `Sends the draft back: it is deleted from the portal and the invoice waits for "starter resolve".`,
	}[name] + `
The workflow answers at once: a decision from someone who is not one of the customer's approvers, about
an older draft than the current one (-draft), or at the wrong stage is refused, and the refusal audited.`
	return func(ctx context.Context, e *env, args []string) error {
		f := newFlags(name, name+" <invoice-id> -approver A [-note N] [-draft V]", about)
		approver := f.String("approver", os.Getenv("USER"), "who decides: one of the customer's approvers (recorded in the ERP history)")
		note := f.String("note", "", "a note for the record (what to change, for request-changes)")
		draft := f.Int("draft", 0, "the draft `version` you looked at (DRAFT in \"starter drafts\"); a newer draft refuses the decision")
		pos, err := f.positional(e, args, 1, 1, "one ERP invoice ID")
		if err != nil {
			return err
		}
		if strings.TrimSpace(*approver) == "" {
			return f.fail("-approver is empty: every decision must name who made it")
		}
		c, _, err := e.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		decision := strings.ReplaceAll(name, "-", "_")
		stage, err := erp.SendApproval(ctx, c, pos[0], workflows.Approval{Decision: decision, Approver: *approver, Note: *note, Draft: *draft})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %s by %s accepted; stage now %s\n", workflows.InvoiceWorkflowID(pos[0]), decision, *approver, stage)
		return nil
	}
}

func resolveCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("resolve", "resolve <invoice-id> -by P -action resubmit|void|give_up [flags]", `
Settles an invoice that needs attention (a rejection only a person can resolve) or had changes requested:
resubmit it (after fixing the ERP data, or with the corrections given here), void it, or give up on it.`)
	by := f.String("by", os.Getenv("USER"), "who resolves (recorded in the ERP history)")
	action := f.String("action", "", "resubmit, void or give_up")
	note := f.String("note", "", "a note for the record")
	number := f.String("number", "", "resubmit under this invoice number in the portal")
	date := f.String("date", "", "resubmit with this invoice date (YYYY-MM-DD)")
	taxRef := f.String("tax-reference", "", "resubmit with this tax exemption reference")
	remitTo := f.String("remit-to", "", "resubmit with this remit-to address")
	pos, err := f.positional(e, args, 1, 1, "one ERP invoice ID")
	if err != nil {
		return err
	}
	if *action == "" {
		return f.fail("-action is missing: resubmit, void or give_up")
	}
	c, _, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	r := workflows.Resolution{Action: *action, By: *by, Note: *note, Number: *number, Date: *date, TaxReference: *taxRef, RemitTo: *remitTo}
	if err := erp.SendResolution(ctx, c, pos[0], r); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s sent by %s\n", workflows.InvoiceWorkflowID(pos[0]), *action, *by)
	return nil
}

func stateCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("state", "state <invoice-id>", `
Shows what the invoice's workflow holds now, as JSON: stage, checks, evidence IDs, draft version, approvers,
portal status, fixes and refused decisions. "starter history" shows how it got there.`)
	pos, err := f.positional(e, args, 1, 1, "one ERP invoice ID")
	if err != nil {
		return err
	}
	c, _, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := erp.State(ctx, c, pos[0])
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, string(out))
	return nil
}

func historyCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("history", "history <invoice-id>", `
Shows an invoice's ERP row, every stage and portal status Portico wrote back (oldest first), every decision
sent about it with its outcome, and its workflow with a link to the Temporal UI (TEMPORAL_UI_URL). Without
Temporal the ERP's record is still shown.`)
	pos, err := f.positional(e, args, 1, 1, "one ERP invoice ID")
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	c, cfg, derr := e.dial(ctx)
	if derr == nil {
		defer c.Close()
	}
	h, err := erp.History(ctx, c, st, pos[0])
	if err != nil {
		return err
	}
	if derr != nil {
		h.WorkflowProblem = derr.Error()
	}
	inv := h.Invoice
	fmt.Fprintf(e.stdout, "Invoice %s (%s): customer %s, account %s, PO %s, %s %s, dated %s, terms %q\n", inv.ID, inv.Number, inv.CustomerID,
		inv.AccountID, inv.PONumber, formatMoney(inv.Total, inv.Currency), inv.Currency, inv.Date.Format(time.DateOnly), inv.PaymentTerms)
	now := inv.Stage
	if inv.PortalStatus != "" {
		now += " (portal: " + inv.PortalStatus + ")"
	}
	if !inv.StatusUpdatedAt.IsZero() {
		now += " since " + utc(inv.StatusUpdatedAt)
	}
	fmt.Fprintf(e.stdout, "Stage: %s\n", now)
	if inv.PortalInvoiceID != "" {
		fmt.Fprintf(e.stdout, "Portal invoice ID: %s\n", inv.PortalInvoiceID)
	}
	fmt.Fprintf(e.stdout, "Workflow: %s", h.WorkflowID)
	if h.RunID != "" {
		fmt.Fprintf(e.stdout, " run %s (%s)\nTemporal UI: %s\n", h.RunID, h.WorkflowStatus, erp.WorkflowURL(uiURL(), cfg.TemporalNamespace, h.WorkflowID, h.RunID))
	} else {
		fmt.Fprintf(e.stdout, " (%s)\n", h.WorkflowProblem)
	}

	fmt.Fprintf(e.stdout, "\nStatus history (%d changes, oldest first):\n", len(h.Changes))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tAT (UTC)\tSTAGE\tPORTAL STATUS\tSOURCE\tREASON")
	for _, c := range h.Changes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Seq, utc(c.At), c.Stage, dash(c.PortalStatus), c.Source, dash(c.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nDecisions (%d, oldest first):\n", len(h.Decisions))
	if len(h.Decisions) == 0 {
		fmt.Fprintln(e.stdout, "none")
		return nil
	}
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tAT (UTC)\tKIND\tDECISION\tBY\tVIA\tDRAFT\tOUTCOME\tSTAGE AFTER\tNOTE")
	for _, d := range h.Decisions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Seq, utc(d.At), d.Kind, d.Decision.Decision, d.Actor, d.Channel,
			draftOf(d.DraftVersion, d.NamedDraft), outcome(d.Accepted, d.Refusal), d.Stage, dash(d.Note))
	}
	return tw.Flush()
}

func evidenceCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("evidence", "evidence <evidence-id> [-o FILE]", `
Writes one piece of evidence kept for a draft (its ID is in "starter drafts" and "starter state") to a file
and prints the file's path: a PNG screenshot of the draft's page in the portal, or the JSON of the exact
values keyed in.`)
	out := f.String("o", "", "the `file` to write (- for stdout); default <evidence-id>.png or .json in the current directory")
	pos, err := f.positional(e, args, 1, 1, "one evidence ID")
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	id := pos[0]
	kind, ctype, data, err := st.Evidence(ctx, id)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	path := *out
	if path == "" {
		// The ID exists, so it is one of ours ("ev_…"); Base keeps it a file name whatever it is.
		path = filepath.Base(id) + extension(ctype)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.dir, path)
	}
	// Evidence shows supplier and buyer business data: readable by its owner only.
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Fprintln(e.stdout, path)
	fmt.Fprintf(e.stderr, "%s (%s, %d bytes)\n", kind, ctype, len(data))
	return nil
}

func extension(contentType string) string {
	switch strings.TrimSpace(strings.Split(contentType, ";")[0]) {
	case "image/png":
		return ".png"
	case "application/json":
		return ".json"
	case "text/html":
		return ".html"
	}
	return ".bin"
}

func draftsCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("drafts", "drafts [-customer C] [-account A] [-older-than D]", `
Lists the invoices whose draft waits in the portal for an approver (stage awaiting_approval or escalated),
longest waiting first: invoice, number, customer, PO, amount, how long it has waited, draft version,
approvers and the evidence to look at. The list comes from Temporal's visibility; the query is printed so
the same list can be pasted into the Temporal UI.`)
	customer := f.String("customer", "", "only this customer's drafts")
	account := f.String("account", "", "only this portal account's drafts")
	var older age
	f.Var(&older, "older-than", "only drafts that have waited at least `DURATION`: 90m, 36h, 3d")
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	filter := erp.DraftFilter{CustomerID: *customer, AccountID: *account, OlderThan: time.Duration(older)}
	q, err := erp.DraftsQuery(filter)
	if err != nil {
		return f.fail("%v", err)
	}
	c, st, cfg, closeAll, err := e.connect(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	fmt.Fprintf(e.stdout, "Visibility query: %s\nTemporal UI: %s/namespaces/%s/workflows?query=%s\n\n", q, strings.TrimRight(uiURL(), "/"),
		url.PathEscape(cfg.TemporalNamespace), url.QueryEscape(q))
	drafts, err := erp.Drafts(ctx, c, st, filter, e.now())
	if err != nil {
		return err
	}
	if len(drafts) == 0 {
		fmt.Fprintln(e.stdout, "No drafts await a decision.")
		return nil
	}
	fmt.Fprintf(e.stdout, "%d drafts await a decision, longest waiting first:\n\n", len(drafts))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INVOICE\tNUMBER\tCUSTOMER\tPO\tAMOUNT\tAGE\tWAITING SINCE (UTC)\tDRAFT\tSTAGE\tAPPROVERS")
	for _, d := range drafts {
		waited, since := "?", "?"
		if !d.Since.IsZero() {
			waited, since = formatAge(e.now().Sub(d.Since)), utc(d.Since)
		}
		approvers := strings.Join(d.Approvers, ", ")
		if approvers == "" {
			approvers = "(none: add with starter approvers " + d.CustomerID + " add <e-mail>)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\t%s\t%d\t%s\t%s\n", d.InvoiceID, d.Number, d.CustomerID, d.PONumber,
			formatMoney(d.Total, d.Currency), d.Currency, waited, since, d.DraftVersion, d.Stage, approvers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(e.stdout, "\nEvidence of each draft (open with: starter evidence <id> [-o FILE]):\n")
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INVOICE\tKIND\tEVIDENCE ID\tSIZE\tOPEN WITH")
	for _, d := range drafts {
		if len(d.Evidence) == 0 {
			fmt.Fprintf(tw, "%s\t-\t(none kept)\t\t\n", d.InvoiceID)
		}
		for _, ev := range d.Evidence {
			kind := strings.TrimPrefix(ev.Kind, "draft_")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tstarter evidence %s\n", d.InvoiceID, kind, ev.ID, formatSize(ev.Size), ev.ID)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range drafts {
		for _, p := range d.Problems {
			fmt.Fprintf(e.stdout, "%s: %s\n", d.InvoiceID, p)
		}
	}
	fmt.Fprintln(e.stdout, "\nDecide with: starter approve|reject|request-changes <invoice-id> -approver <e-mail> -draft <DRAFT> [-note N]")
	return nil
}

// age is a flag value for a duration that also takes whole days ("3d"), as people count how long an
// invoice has waited.
type age time.Duration

func (a *age) String() string { return time.Duration(*a).String() }

func (a *age) Set(s string) error {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return fmt.Errorf("%q: want a whole number of days, like 3d", s)
		}
		*a = age(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want a duration like 90m, 36h or 3d", s)
	}
	*a = age(d)
	return nil
}

// formatAge prints how long something has waited, to the precision a person acts on.
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func formatSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// formatMoney prints an amount with its currency's minor units, or as stored for a currency Portico has no
// rule for.
func formatMoney(amount decimal.Decimal, currency string) string {
	s, err := money.Format(amount, currency)
	if err != nil {
		return amount.String()
	}
	return s
}

func utc(t time.Time) string { return t.UTC().Format(time.DateTime) }

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func draftOf(version, named int) string {
	if named != 0 && named != version {
		return fmt.Sprintf("%d (named %d)", version, named)
	}
	return strconv.Itoa(version)
}

func outcome(accepted bool, refusal string) string {
	if accepted {
		return "accepted"
	}
	return "refused: " + refusal
}
