package main

import (
	"context"
	"strings"
	"time"

	"portico/internal/erp"
	"portico/internal/store"
)

func agingCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("aging", "aging [-as-of YYYY-MM-DD] [-customer C] [-account A] [-format table|csv]", `
The AR aging report: every invoice open at the end of the day, with its due date (invoice date plus the
payment terms' days: "Net 30", "2/10 Net 30" and "Due on receipt" are read; terms that cannot be read,
like end of month, age from the invoice date and are marked), days past due, bucket (current = not yet due,
1-30, 31-60, 61-90, 90+), amount, and the invoice's stage and status word in the buyer's portal on that
day. Open means any stage but `+strings.Join(store.SettledStages, ", ")+`: invoices still in Portico's
hands (awaiting approval, needs attention, failed submission...) cannot be paid by the buyer, which is
what AR must chase. Totals are per bucket and currency; different currencies are never added.`)
	asOf := f.String("as-of", "", "the report's day, YYYY-MM-DD (UTC); default today")
	customer := f.String("customer", "", "only this customer's invoices")
	account := f.String("account", "", "only this portal account's invoices")
	format := f.String("format", "table", "table (for people) or csv (one row per invoice, then total rows)")
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	day := e.now().UTC()
	if *asOf != "" {
		d, err := time.Parse(time.DateOnly, *asOf)
		if err != nil {
			return f.fail("-as-of %q: want YYYY-MM-DD", *asOf)
		}
		day = d
	}
	if *format != "table" && *format != "csv" {
		return f.fail("-format %q: want table or csv", *format)
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	open, err := st.Receivables(ctx, store.ReceivablesFilter{AsOf: day, CustomerID: *customer, AccountID: *account})
	if err != nil {
		return err
	}
	rep := erp.Age(day, open)
	if *format == "csv" {
		return erp.WriteAgingCSV(e.stdout, rep)
	}
	return erp.WriteAgingTable(e.stdout, rep)
}

func matchesCmd(ctx context.Context, e *env, args []string) error {
	f := newFlags("matches", "matches [account-id] [-limit N]", `
Lists what PO matching left for a person, for one portal account or all: synced POs with no ERP customer,
and ERP invoices whose PO is ambiguous or was not found, each with the reasons and candidates.`)
	limit := f.Int("limit", 50, "at most this many rows of each kind")
	pos, err := f.positional(e, args, 0, 1, "at most one portal account ID")
	if err != nil {
		return err
	}
	acct := ""
	if len(pos) == 1 {
		acct = pos[0]
	}
	st, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return erp.WriteMatchQueue(ctx, st, e.stdout, acct, *limit)
}
