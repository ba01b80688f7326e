package erp

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/store"
)

func TestBucketOf(t *testing.T) {
	for days, want := range map[int]Bucket{
		-400: BucketCurrent, -1: BucketCurrent, 0: BucketCurrent, 1: Bucket1To30, 30: Bucket1To30, 31: Bucket31To60,
		60: Bucket31To60, 61: Bucket61To90, 90: Bucket61To90, 91: BucketOver90, 5000: BucketOver90,
	} {
		if got := BucketOf(days); got != want {
			t.Errorf("%d days past due: %s, want %s", days, got, want)
		}
	}
	if got := strings.Join([]string{BucketCurrent.String(), Bucket1To30.String(), Bucket31To60.String(), Bucket61To90.String(), BucketOver90.String()}, " "); got != "current 1-30 31-60 61-90 90+" {
		t.Fatal(got)
	}
}

func TestAgeBucketsByDueDateAndTotalsPerCurrency(t *testing.T) {
	asOf := time.Date(2026, 6, 30, 15, 4, 5, 0, time.FixedZone("CEST", 2*3600)) // the day counts, not the hour
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	r := func(id string, date time.Time, terms, currency, total, stage string) store.Receivable {
		return store.Receivable{InvoiceID: id, Date: date, PaymentTerms: terms, Currency: currency, Total: decimal.RequireFromString(total), Stage: stage}
	}
	rep := Age(asOf, []store.Receivable{
		r("due-today", day(5, 31), "Net 30", "USD", "10", "with_buyer"),           // due June 30: current
		r("not-yet", day(6, 20), "2/10 Net 30", "USD", "20", "awaiting_approval"), // due July 20
		r("one-day", day(5, 30), "Net 30", "USD", "30", "with_buyer"),             // due June 29
		r("thirty", day(4, 1), "Net 30", "EUR", "40", "disputed"),                 // due May 1: 60 days → 31-60
		r("receipt", day(4, 1), "Due on receipt", "EUR", "50", "needs_attention"), // due April 1: 90 days → 61-90
		r("eom", day(3, 31), "Net 30 EOM", "USD", "60.5", "partially_paid"),       // unread: due March 31: 91 days → 90+
		r("yen", day(1, 10), "Net 60", "JPY", "7000", "failed_submission"),        // due March 11: 111 days
	})
	want := map[string]struct {
		days   int
		bucket Bucket
		due    string
		read   bool
	}{
		"due-today": {0, BucketCurrent, "2026-06-30", true},
		"not-yet":   {-20, BucketCurrent, "2026-07-20", true},
		"one-day":   {1, Bucket1To30, "2026-06-29", true},
		"thirty":    {60, Bucket31To60, "2026-05-01", true},
		"receipt":   {90, Bucket61To90, "2026-04-01", true},
		"eom":       {91, BucketOver90, "2026-03-31", false},
		"yen":       {111, BucketOver90, "2026-03-11", true},
	}
	if len(rep.Lines) != len(want) {
		t.Fatalf("%d lines", len(rep.Lines))
	}
	for _, l := range rep.Lines {
		w := want[l.InvoiceID]
		if l.DaysPastDue != w.days || l.Bucket != w.bucket || l.Due.Format(time.DateOnly) != w.due || l.TermsRead != w.read {
			t.Errorf("%s: %d days, %s, due %s, read %v; want %+v", l.InvoiceID, l.DaysPastDue, l.Bucket, l.Due.Format(time.DateOnly), l.TermsRead, w)
		}
	}
	if !rep.AsOf.Equal(time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("as of %s", rep.AsOf)
	}
	if len(rep.Totals) != 3 || rep.Totals[0].Currency != "EUR" || rep.Totals[1].Currency != "JPY" || rep.Totals[2].Currency != "USD" {
		t.Fatalf("one total per currency, by code: %+v", rep.Totals)
	}
	usd := rep.Totals[2]
	for b, amount := range map[Bucket]string{BucketCurrent: "30", Bucket1To30: "30", Bucket31To60: "0", Bucket61To90: "0", BucketOver90: "60.5"} {
		if !usd.Amounts[b].Equal(decimal.RequireFromString(amount)) {
			t.Errorf("USD %s: %s, want %s", b, usd.Amounts[b], amount)
		}
	}
	if !usd.Total.Equal(decimal.RequireFromString("120.5")) || usd.Count != 4 || usd.Counts[BucketCurrent] != 2 {
		t.Fatalf("USD total %+v", usd)
	}
	if eur := rep.Totals[0]; !eur.Total.Equal(decimal.RequireFromString("90")) || !eur.Amounts[Bucket61To90].Equal(decimal.RequireFromString("50")) {
		t.Fatalf("EUR %+v", eur)
	}

	var table bytes.Buffer
	if err := WriteAgingTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, s := range []string{"AR aging as of 2026-06-30: 7 open invoices", "Net 30 EOM (*)", "(*) payment terms", "partially_paid invoices are shown at their full amount",
		"60.50 USD", "7000 JPY", "CURRENCY", "120.50"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	// The oldest bucket comes first.
	if strings.Index(out, "yen") > strings.Index(out, "not-yet") {
		t.Errorf("90+ rows must come before current ones:\n%s", out)
	}

	var buf bytes.Buffer
	if err := WriteAgingCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Header, 7 invoices, and 6 total rows (5 buckets and all) for each of 3 currencies.
	if len(recs) != 1+7+18 || recs[0][0] != "row" {
		t.Fatalf("%d CSV rows: %v", len(recs), recs)
	}
	last := recs[len(recs)-1]
	if last[0] != "total" || last[1] != "all" || last[12] != "USD" || last[13] != "120.50" || last[16] != "4" {
		t.Fatalf("last CSV row %v", last)
	}
}
