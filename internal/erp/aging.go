package erp

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/money"
	"portico/internal/payterms"
	"portico/internal/store"
)

// Bucket is an AR aging bucket: how far past its due date an open invoice is.
type Bucket int

// The aging buckets, in report order.
const (
	BucketCurrent Bucket = iota // not yet due, or due today
	Bucket1To30
	Bucket31To60
	Bucket61To90
	BucketOver90
)

// Buckets lists every bucket in report order.
var Buckets = []Bucket{BucketCurrent, Bucket1To30, Bucket31To60, Bucket61To90, BucketOver90}

var bucketNames = [...]string{"current", "1-30", "31-60", "61-90", "90+"}

// String is the bucket's column heading.
func (b Bucket) String() string {
	if b < 0 || int(b) >= len(bucketNames) {
		return "bucket(" + strconv.Itoa(int(b)) + ")"
	}
	return bucketNames[b]
}

// BucketOf puts an invoice that is daysPastDue days past its due date into its bucket; zero or fewer is
// current.
func BucketOf(daysPastDue int) Bucket {
	switch {
	case daysPastDue <= 0:
		return BucketCurrent
	case daysPastDue <= 30:
		return Bucket1To30
	case daysPastDue <= 60:
		return Bucket31To60
	case daysPastDue <= 90:
		return Bucket61To90
	}
	return BucketOver90
}

// AgingLine is one open invoice of the aging report.
type AgingLine struct {
	store.Receivable
	Due time.Time
	// TermsRead is false when the payment terms could not be read (payterms.Days): the invoice is then
	// aged from its own date, never made to look younger than it may be.
	TermsRead   bool
	DaysPastDue int // negative: due in that many days
	Bucket      Bucket
}

// AgingTotal is what is open in one currency, per bucket. Amounts in different currencies are never
// added together.
type AgingTotal struct {
	Currency string
	Amounts  [len(bucketNames)]decimal.Decimal
	Counts   [len(bucketNames)]int
	Total    decimal.Decimal
	Count    int
}

// AgingReport is the AR aging report of a day.
type AgingReport struct {
	AsOf   time.Time
	Lines  []AgingLine
	Totals []AgingTotal // by currency code
}

// Age buckets the open invoices as of a day. It reads no clock and no database, so the report's rules
// are tested on their own.
func Age(asOf time.Time, open []store.Receivable) AgingReport {
	asOf = dateOnly(asOf)
	rep := AgingReport{AsOf: asOf}
	totals := map[string]*AgingTotal{}
	for _, r := range open {
		due, ok := payterms.DueDate(dateOnly(r.Date), r.PaymentTerms)
		days := int(asOf.Sub(due).Hours() / 24)
		l := AgingLine{Receivable: r, Due: due, TermsRead: ok, DaysPastDue: days, Bucket: BucketOf(days)}
		rep.Lines = append(rep.Lines, l)
		t := totals[r.Currency]
		if t == nil {
			t = &AgingTotal{Currency: r.Currency}
			totals[r.Currency] = t
		}
		t.Amounts[l.Bucket] = t.Amounts[l.Bucket].Add(r.Total)
		t.Counts[l.Bucket]++
		t.Total = t.Total.Add(r.Total)
		t.Count++
	}
	for _, t := range totals {
		rep.Totals = append(rep.Totals, *t)
	}
	slices.SortFunc(rep.Totals, func(a, b AgingTotal) int { return strings.Compare(a.Currency, b.Currency) })
	return rep
}

// dateOnly is the UTC calendar day of t: invoice dates are days, and days past due count whole days.
func dateOnly(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// formatAmount prints an amount with its currency's minor units, or as it is for a currency Portico has no
// rule for: a report must show every invoice, whatever its currency.
func formatAmount(d decimal.Decimal, currency string) string {
	s, err := money.Format(d, currency)
	if err != nil {
		return d.String()
	}
	return s
}

// WriteAgingTable writes the report for people: one row per open invoice, oldest due date first within
// each bucket, then the totals of each currency per bucket.
func WriteAgingTable(w io.Writer, rep AgingReport) error {
	lines := slices.Clone(rep.Lines)
	slices.SortStableFunc(lines, func(a, b AgingLine) int {
		if c := int(b.Bucket) - int(a.Bucket); c != 0 {
			return c
		}
		return a.Due.Compare(b.Due)
	})
	fmt.Fprintf(w, "AR aging as of %s: %d open invoices (every stage but %s)\n\n", rep.AsOf.Format(time.DateOnly), len(lines),
		strings.Join(store.SettledStages, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tINVOICE\tNUMBER\tCUSTOMER\tPO\tDATE\tTERMS\tDUE\tDAYS PAST DUE\tAMOUNT\tSTAGE\tPORTAL STATUS")
	unread, partial := false, false
	for _, l := range lines {
		terms := l.PaymentTerms
		if !l.TermsRead {
			terms, unread = orNone(terms)+" (*)", true
		}
		partial = partial || l.Stage == "partially_paid"
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s %s\t%s\t%s\n", l.Bucket, l.InvoiceID, l.Number, l.CustomerID, l.PONumber,
			l.Date.Format(time.DateOnly), terms, l.Due.Format(time.DateOnly), l.DaysPastDue,
			formatAmount(l.Total, l.Currency), l.Currency, l.Stage, orNone(l.PortalStatus))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unread {
		fmt.Fprintln(w, "(*) payment terms Portico cannot read (end of month, prox., none): aged from the invoice date.")
	}
	if partial {
		fmt.Fprintln(w, "partially_paid invoices are shown at their full amount: the portal's paid amount is not recorded.")
	}
	fmt.Fprintln(w, "\nTotals per currency (currencies are never added together):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := []string{"CURRENCY"}
	for _, b := range Buckets {
		head = append(head, strings.ToUpper(b.String()))
	}
	fmt.Fprintln(tw, strings.Join(append(head, "TOTAL", "INVOICES"), "\t")+"\t")
	for _, t := range rep.Totals {
		row := []string{t.Currency}
		for _, b := range Buckets {
			row = append(row, formatAmount(t.Amounts[b], t.Currency))
		}
		fmt.Fprintln(tw, strings.Join(append(row, formatAmount(t.Total, t.Currency), strconv.Itoa(t.Count)), "\t")+"\t")
	}
	return tw.Flush()
}

// agingCSVHeader is the CSV report's header. Total rows share it, so one sheet can filter and pivot both.
var agingCSVHeader = []string{"row", "bucket", "invoice_id", "invoice_number", "customer_id", "account_id", "po_number",
	"invoice_date", "payment_terms", "terms_read", "due_date", "days_past_due", "currency", "amount", "stage", "portal_status", "invoices"}

// WriteAgingCSV writes the report for spreadsheets: a row "invoice" per open invoice, then rows "total" of
// each currency and bucket (bucket "all" for the currency's total).
func WriteAgingCSV(w io.Writer, rep AgingReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(agingCSVHeader)
	for _, l := range rep.Lines {
		_ = cw.Write([]string{"invoice", l.Bucket.String(), l.InvoiceID, l.Number, l.CustomerID, l.AccountID, l.PONumber,
			l.Date.Format(time.DateOnly), l.PaymentTerms, strconv.FormatBool(l.TermsRead), l.Due.Format(time.DateOnly),
			strconv.Itoa(l.DaysPastDue), l.Currency, formatAmount(l.Total, l.Currency), l.Stage, l.PortalStatus, "1"})
	}
	for _, t := range rep.Totals {
		total := func(bucket string, amount decimal.Decimal, count int) {
			row := make([]string, len(agingCSVHeader))
			row[0], row[1], row[12], row[13], row[16] = "total", bucket, t.Currency, formatAmount(amount, t.Currency), strconv.Itoa(count)
			_ = cw.Write(row)
		}
		for _, b := range Buckets {
			total(b.String(), t.Amounts[b], t.Counts[b])
		}
		total("all", t.Total, t.Count)
	}
	cw.Flush()
	return cw.Error()
}
