package erp

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"portico/internal/store"
)

// WriteMatchQueue writes what matching left for a person, for one portal account (all accounts when
// accountID is empty): synced POs without an ERP customer (fix with an alias, store.AddCustomerAlias, or
// store.SetPOCustomer) and ERP invoices whose PO is ambiguous or not found (store.SetManualInvoiceMatch),
// each with its reasons and candidates. limit bounds each list (0: 1000).
func WriteMatchQueue(ctx context.Context, st *store.Store, w io.Writer, accountID string, limit int) error {
	pos, err := st.UnmatchedPurchaseOrders(ctx, accountID, limit)
	if err != nil {
		return err
	}
	invs, err := st.InvoiceMatchQueue(ctx, accountID, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "POs without a customer: %d\n", len(pos))
	if len(pos) > 0 {
		fmt.Fprintln(tw, "ACCOUNT\tPO\tBUYER ENTITY\tSTATUS\tREMAINING\tWHY")
		for _, p := range pos {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\n", p.AccountID, p.PONumber, orNone(p.BuyerEntity), p.Status, p.Remaining.String(), p.Currency, orNone(p.Reason))
		}
	}
	fmt.Fprintf(tw, "\nInvoices whose PO a person must choose: %d\n", len(invs))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range invs {
		fmt.Fprintf(w, "\n%s (account %s, ERP PO %q): %s\n", m.InvoiceID, m.AccountID, m.ERPPONumber, m.Status)
		for _, r := range m.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
		for _, c := range m.Candidates {
			fmt.Fprintf(w, "  candidate %s (%s, score %d): %s\n", c.PONumber, c.Rule, c.Score, strings.Join(c.Reasons, "; "))
		}
	}
	return nil
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}
