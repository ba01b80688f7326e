package store_test

import (
	"slices"
	"testing"
	"time"

	"portico/internal/store"
	"portico/internal/testenv"
)

func TestReceivablesAreOpenInvoicesAsOfADay(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	add := func(id, customer string, date time.Time, currency, total string, changes ...store.StatusChange) {
		t.Helper()
		inv := store.Invoice{ID: id, CustomerID: customer, AccountID: "acme-coupa", Number: "INV-" + id, PONumber: "PO-1", Date: date,
			Currency: currency, TaxRate: dec("0"), Total: dec(total), PaymentTerms: "Net 30"}
		if err := st.InsertInvoice(ctx, inv, nil); err != nil {
			t.Fatal(err)
		}
		for i, c := range changes {
			c.InvoiceID, c.Seq, c.Source = id, i+1, "portal"
			if err := st.RecordStatus(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := func(m time.Month, d, hour int) time.Time { return day(m, d).Add(time.Duration(hour) * time.Hour) }
	sent := func(when time.Time) store.StatusChange {
		return store.StatusChange{At: when, Stage: "with_buyer", PortalStatus: "Pending Approval"}
	}
	add("new", "acme", day(6, 20), "USD", "100")
	add("sent", "acme", day(4, 1), "EUR", "250.50", sent(at(4, 2, 9)))
	add("paid-mid-june", "acme", day(3, 1), "USD", "300", sent(at(3, 2, 9)),
		store.StatusChange{At: at(6, 15, 12), Stage: "paid", PortalStatus: "Paid"})
	add("paid-late-on-30th", "acme", day(3, 5), "USD", "10", sent(at(3, 6, 9)),
		store.StatusChange{At: at(6, 30, 23), Stage: "paid", PortalStatus: "Paid"})
	add("voided", "acme", day(2, 1), "USD", "20", sent(at(2, 2, 9)), store.StatusChange{At: at(2, 3, 9), Stage: "voided", PortalStatus: "Voided"})
	add("rejected", "acme", day(2, 1), "USD", "30", store.StatusChange{At: at(2, 2, 9), Stage: "rejected"})
	add("failed", "acme", day(5, 1), "USD", "40", store.StatusChange{At: at(5, 2, 9), Stage: "failed_submission", Reason: "given up"})
	add("future", "acme", day(7, 5), "USD", "50")
	add("globex-1", "globex", day(5, 10), "USD", "60", sent(at(5, 11, 9)))

	ids := func(rs []store.Receivable) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.InvoiceID)
		}
		return out
	}
	got, err := st.Receivables(ctx, store.ReceivablesFilter{AsOf: day(6, 30)})
	if err != nil {
		t.Fatal(err)
	}
	// Oldest invoice first; settled ones, and ones dated after the day, are left out. Paid at 23:00 UTC on
	// the 30th is paid at the end of the 30th.
	if want := []string{"sent", "failed", "globex-1", "new"}; !slices.Equal(ids(got), want) {
		t.Fatalf("as of June 30: %v, want %v", ids(got), want)
	}
	s := got[0]
	if s.Stage != "with_buyer" || s.PortalStatus != "Pending Approval" || s.Currency != "EUR" || !s.Total.Equal(dec("250.50")) ||
		!s.Date.Equal(day(4, 1)) || s.PaymentTerms != "Net 30" || s.CustomerID != "acme" || s.Number != "INV-sent" || !s.StatusAt.Equal(at(4, 2, 9)) {
		t.Fatalf("receivable %+v", s)
	}
	if n := got[3]; n.Stage != "new" || n.PortalStatus != "" || !n.StatusAt.IsZero() {
		t.Fatalf("an invoice nothing was written about is new: %+v", n)
	}
	if f := got[1]; f.Stage != "failed_submission" || f.Reason != "given up" {
		t.Fatalf("failed submission: %+v", f)
	}

	// Earlier, the invoices paid since were still with the buyer, and the newest did not exist yet.
	got, err = st.Receivables(ctx, store.ReceivablesFilter{AsOf: day(6, 10), CustomerID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"paid-mid-june", "paid-late-on-30th", "sent", "failed"}; !slices.Equal(ids(got), want) {
		t.Fatalf("acme as of June 10: %v, want %v", ids(got), want)
	}
	if p := got[0]; p.Stage != "with_buyer" || p.PortalStatus != "Pending Approval" {
		t.Fatalf("paid later, with the buyer then: %+v", p)
	}
	got, err = st.Receivables(ctx, store.ReceivablesFilter{AsOf: day(4, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"paid-mid-june", "paid-late-on-30th", "sent"}; !slices.Equal(ids(got), want) || got[2].Stage != "new" {
		t.Fatalf("as of April 1 (sent on the 2nd): %v %+v", ids(got), got)
	}
	got, err = st.Receivables(ctx, store.ReceivablesFilter{AsOf: day(6, 30), CustomerID: "globex"})
	if err != nil || !slices.Equal(ids(got), []string{"globex-1"}) {
		t.Fatalf("globex: %v %v", ids(got), err)
	}
	if got, err := st.Receivables(ctx, store.ReceivablesFilter{AccountID: "elsewhere"}); err != nil || len(got) != 0 {
		t.Fatalf("another account: %v %v", ids(got), err)
	}
}
