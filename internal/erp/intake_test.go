package erp_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/codec"
	"portico/internal/demo"
	"portico/internal/erp"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

var ctx = context.Background()

// temporalClient dials the package's dev server (started on first use) with the payload codec, as every
// Portico client is made. No worker runs: a started workflow just waits.
func temporalClient(t *testing.T) client.Client {
	t.Helper()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	c, err := client.Dial(codec.ClientOptions(client.Options{HostPort: testenv.Temporal(t), Logger: quiet}, codec.New(testenv.Keys(t))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// seed makes the demo customer "acme" with its one portal account, and customer "duo" with two.
func seed(t *testing.T) *store.Store {
	t.Helper()
	st := testenv.Store(t)
	for _, c := range []string{"acme", "duo"} {
		if err := st.UpsertCustomer(ctx, store.Customer{ID: c, Name: c}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []store.PortalAccount{
		{ID: "acme-coupa", CustomerID: "acme"}, {ID: "duo-coupa", CustomerID: "duo"}, {ID: "duo-ariba", CustomerID: "duo"},
	} {
		a.Portal, a.BaseURL, a.Username = "coupa-sim", "http://127.0.0.1:1", "supplier"
		if err := st.UpsertPortalAccount(ctx, a, "Passw0rd!", "JBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func uniqueID(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "erp-" + strings.NewReplacer("/", "-", " ", "_").Replace(strings.ToLower(t.Name())) + "-" + hex.EncodeToString(b)
}

var pdf = demo.InvoicePDF("Bolt & Nut Ltd", "Invoice")

// valid is a correct request: 2000 x 0.42 + 2000 x 0.11 = 1060.00, plus 8.25 % tax (87.45) = 1147.45 USD.
func valid(id string) erp.InvoiceRequest {
	return erp.InvoiceRequest{
		ID: id, CustomerID: "acme", InvoiceNumber: "INV-" + id, PONumber: "PO-4500012", InvoiceDate: "2026-03-02",
		Currency: "USD", PaymentTerms: "Net 30", TaxRate: "8.25", Total: "1147.45", Note: "Shipment",
		Lines: []erp.InvoiceLineInput{
			{LineNo: 1, POLineNo: 1, PartNumber: "HB-M8-40", Description: "Hex bolt", Quantity: "2000", UnitPrice: "0.42", UOM: "EA"},
			{LineNo: 2, POLineNo: 2, PartNumber: "HN-M8", Description: "Hex nut", Quantity: "2000", UnitPrice: "0.11", UOM: "EA"},
		},
		Attachment: &erp.AttachmentInput{Name: "INV-" + id + ".pdf", ContentType: "application/pdf", Data: base64.StdEncoding.EncodeToString(pdf)},
	}
}

// decode reads a request from JSON, as the API and the outbox do.
func decode(t *testing.T, body string) erp.InvoiceRequest {
	t.Helper()
	var req erp.InvoiceRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return req
}

// asJSON is the valid request as JSON with change applied to its map form.
func asJSON(t *testing.T, req erp.InvoiceRequest, change func(m map[string]any)) string {
	t.Helper()
	b, _ := json.Marshal(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(m)
	}
	b, _ = json.Marshal(m)
	return string(b)
}

func mustDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func line(m map[string]any, i int) map[string]any { return m["lines"].([]any)[i].(map[string]any) }

func problems(t *testing.T, err error) []*erp.FieldError {
	t.Helper()
	var ve *erp.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	return ve.Problems
}

func fields(ps []*erp.FieldError) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Field)
	}
	return out
}

func workflowRun(t *testing.T, c client.Client, invoiceID string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.InvoiceWorkflowID(invoiceID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

func countInvoices(t *testing.T, st *store.Store, id string) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM erp_invoices WHERE id = $1) + (SELECT count(*) FROM erp_invoice_lines WHERE invoice_id = $1)`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIntakeInsertsAndStartsOnce(t *testing.T) {
	st, c := seed(t), temporalClient(t)
	id := uniqueID(t)
	// Amounts as JSON numbers: read from their digits, never through float64.
	body := strings.Replace(asJSON(t, valid(id), nil), `"total":"1147.45"`, `"total":1147.45`, 1)
	body = strings.Replace(body, `"unit_price":"0.42"`, `"unit_price":0.42`, 1)

	first, err := erp.Intake(ctx, st, c, decode(t, body), workflows.PollPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Existing || first.WorkflowID != workflows.InvoiceWorkflowID(id) || workflowRun(t, c, id) != first.RunID {
		t.Fatalf("first intake: %+v", first)
	}
	inv, err := st.Invoice(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if inv.AccountID != "acme-coupa" || inv.Total.String() != "1147.45" || inv.TaxRate.String() != "8.25" || len(inv.Lines) != 2 ||
		inv.Lines[0].UnitPrice.String() != "0.42" || inv.Date.Format("2006-01-02") != "2026-03-02" || inv.PaymentTerms != "Net 30" {
		t.Fatalf("stored %+v", inv)
	}
	if got, err := st.InvoiceAttachment(ctx, id); err != nil || string(got) != string(pdf) {
		t.Fatalf("attachment: %v", err)
	}

	// The same invoice again, amounts now written as strings with other trailing zeros: the same content.
	again := valid(id)
	again.Total, again.Lines[0].UnitPrice = "1147.450", "0.4200"
	second, err := erp.Intake(ctx, st, c, again, workflows.PollPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Existing || second.RunID != first.RunID {
		t.Fatalf("second intake: %+v", second)
	}
}

func TestIntakeReportsEveryProblemAtOnce(t *testing.T) {
	st, c := seed(t), temporalClient(t)
	id := uniqueID(t)
	body := asJSON(t, valid(id), func(m map[string]any) {
		delete(m, "po_number")
		m["currency"] = "XYZ"
		m["colour"] = "blue"
		line(m, 0)["quantity"] = "-3"
		line(m, 1)["unit_price"] = "12,50"
		line(m, 1)["weight"] = 3
		m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString([]byte("GIF89a not a pdf"))
	})
	_, err := erp.Intake(ctx, st, c, decode(t, body), workflows.PollPolicy{})
	var ve *erp.ValidationError
	if !errors.As(err, &ve) || !ve.Malformed {
		t.Fatalf("want a malformed ValidationError, got %v", err)
	}
	want := []string{"lines[1].weight", "colour", "po_number", "currency", "lines[0].quantity", "lines[1].unit_price", "attachment.data"}
	if got := fields(ve.Problems); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("fields %v, want %v\n%v", got, want, err)
	}
	// errors.As reaches the first problem too.
	var fe *erp.FieldError
	if !errors.As(err, &fe) || fe.Field != "lines[1].weight" {
		t.Fatalf("first field error %v", fe)
	}
	if countInvoices(t, st, id) != 0 || workflowRun(t, c, id) != "" {
		t.Fatal("a refused invoice was inserted or started")
	}
}

func TestIntakeRules(t *testing.T) {
	st := seed(t)
	limits := erp.Limits{MaxAttachmentBytes: 4096}
	big := append([]byte("%PDF-1.4\n"), make([]byte, 5000)...)
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
		field  string
		reason string
	}{
		{"missing po", func(m map[string]any) { m["po_number"] = "  " }, "po_number", "is required"},
		{"negative quantity", func(m map[string]any) { line(m, 0)["quantity"] = -1 }, "lines[0].quantity", "must not be negative"},
		{"comma decimal", func(m map[string]any) { line(m, 1)["unit_price"] = "12,50" }, "lines[1].unit_price", `"12,50" is not a decimal number`},
		{"trailing junk", func(m map[string]any) { line(m, 1)["unit_price"] = "1e3abc" }, "lines[1].unit_price", `"1e3abc" is not a decimal number`},
		{"exponent", func(m map[string]any) { line(m, 1)["unit_price"] = json.Number("1e3") }, "lines[1].unit_price", "not a decimal number"},
		{"NaN", func(m map[string]any) { m["total"] = "NaN" }, "total", "not a decimal number"},
		{"Infinity", func(m map[string]any) { m["total"] = "Infinity" }, "total", "not a decimal number"},
		{"boolean amount", func(m map[string]any) { m["total"] = true }, "total", "must be a decimal number"},
		{"cents of cents", func(m map[string]any) { m["total"] = "1147.451" }, "total", "more decimals than USD allows (2)"},
		{"too precise price", func(m map[string]any) { line(m, 0)["unit_price"] = "0.4200001" }, "lines[0].unit_price", "more than 6 decimals"},
		{"unknown currency", func(m map[string]any) { m["currency"] = "XYZ" }, "currency", `"XYZ" is not an ISO 4217 currency`},
		{"lower-case currency", func(m map[string]any) { m["currency"] = "usd" }, "currency", "capitals: USD"},
		{"unknown customer", func(m map[string]any) { m["customer_id"] = "nobody" }, "customer_id", `unknown customer "nobody"`},
		{"unknown account", func(m map[string]any) { m["account_id"] = "acme-nowhere" }, "account_id", `unknown portal account "acme-nowhere"`},
		{"another customer's account", func(m map[string]any) { m["account_id"] = "duo-ariba" }, "account_id", "belongs to customer duo"},
		{"ambiguous account", func(m map[string]any) { m["customer_id"] = "duo" }, "account_id", "2 portal accounts (duo-ariba, duo-coupa)"},
		{"total mismatch", func(m map[string]any) { m["total"] = "1147.46" }, "total", "which make 1147.45 USD"},
		{"tax over 100", func(m map[string]any) { m["tax_rate"] = "125" }, "tax_rate", "between 0 and 100"},
		{"bad date", func(m map[string]any) { m["invoice_date"] = "02/03/2026" }, "invoice_date", "YYYY-MM-DD"},
		{"impossible date", func(m map[string]any) { m["invoice_date"] = "2026-02-30" }, "invoice_date", "YYYY-MM-DD"},
		{"no lines", func(m map[string]any) { m["lines"] = []any{} }, "lines", "are required"},
		{"duplicate line", func(m map[string]any) { line(m, 1)["line_no"] = 1 }, "lines[1].line_no", "also lines[0]"},
		{"fractional line number", func(m map[string]any) { line(m, 1)["line_no"] = 1.5 }, "lines[1].line_no", "whole number"},
		{"no po line", func(m map[string]any) { delete(line(m, 1), "po_line_no") }, "lines[1].po_line_no", "is required"},
		{"unknown field", func(m map[string]any) { m["colour"] = "blue" }, "colour", "unknown field"},
		{"unknown nested field", func(m map[string]any) { m["attachment"].(map[string]any)["size"] = 3 }, "attachment.size", "unknown field"},
		{"string for number", func(m map[string]any) { line(m, 0)["line_no"] = "1" }, "lines[0].line_no", "must be a whole JSON number"},
		{"not a pdf", func(m map[string]any) {
			m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString([]byte("PK\x03\x04 a zip"))
		}, "attachment.data", "is not a PDF"},
		{"not base64", func(m map[string]any) { m["attachment"].(map[string]any)["data"] = "%%%" }, "attachment.data", "not valid base64"},
		{"oversized attachment", func(m map[string]any) {
			m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString(big)
		}, "attachment.data", "at most 4.0 KiB"},
		{"wrong content type", func(m map[string]any) { m["attachment"].(map[string]any)["content_type"] = "image/png" }, "attachment.content_type", "application/pdf"},
		{"no id", func(m map[string]any) { delete(m, "id") }, "id", "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uniqueID(t)
			_, _, err := limits.Check(ctx, st, decode(t, asJSON(t, valid(id), tc.change)))
			ps := problems(t, err)
			if len(ps) != 1 || ps[0].Field != tc.field || !strings.Contains(ps[0].Reason, tc.reason) {
				t.Fatalf("problems %v, want one on %s saying %q", err, tc.field, tc.reason)
			}
		})
	}
}

func TestIntakeAccepts(t *testing.T) {
	st := seed(t)
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
	}{
		{"float-looking price as a string", func(m map[string]any) {
			line(m, 0)["unit_price"], line(m, 0)["quantity"] = "12.5", "2"
			m["total"] = "265.21" // 25.00 + 220.00 = 245.00, + 20.21 tax
		}},
		{"float-looking price as a number", func(m map[string]any) {
			line(m, 0)["unit_price"], line(m, 0)["quantity"] = json.Number("12.5"), json.Number("2")
			m["total"] = json.Number("265.21")
		}},
		{"unit price with more decimals than the currency", func(m map[string]any) {
			line(m, 0)["unit_price"] = "0.4213" // 2000 x 0.4213 = 842.60
			m["total"] = "1150.26"              // 842.60 + 220.00 = 1062.60, + 87.66 tax
		}},
		{"JPY has no cents", func(m map[string]any) {
			m["currency"], m["tax_rate"] = "JPY", "10"
			line(m, 0)["unit_price"], line(m, 1)["unit_price"] = "42.5", "11" // 85000 + 22000 = 107000
			m["total"] = "117700"
		}},
		{"no tax and no attachment", func(m map[string]any) {
			delete(m, "tax_rate")
			delete(m, "attachment")
			m["total"] = "1060"
		}},
		{"account named", func(m map[string]any) { m["account_id"] = "acme-coupa" }},
		{"nulls are absent", func(m map[string]any) { m["note"], m["payment_terms"], m["attachment"] = nil, nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, _, err := erp.Limits{}.Check(ctx, st, decode(t, asJSON(t, valid(uniqueID(t)), tc.change)))
			if err != nil {
				t.Fatal(err)
			}
			if inv.AccountID != "acme-coupa" {
				t.Fatalf("account %q", inv.AccountID)
			}
		})
	}
}

func TestIntakeConflicts(t *testing.T) {
	st, c := seed(t), temporalClient(t)
	id := uniqueID(t)
	first, err := erp.Intake(ctx, st, c, valid(id), workflows.PollPolicy{})
	if err != nil {
		t.Fatal(err)
	}

	// Another quantity makes another total: both are named, the total first.
	changed := valid(id)
	changed.Lines[1].Quantity, changed.Total = "1000", "1028.38" // 840.00 + 110.00 = 950.00, + 78.375 tax rounded up
	_, err = erp.Intake(ctx, st, c, changed, workflows.PollPolicy{})
	var ce *erp.ConflictError
	if !errors.As(err, &ce) || strings.Join(fields(ce.Problems), " ") != "total lines[1].quantity" {
		t.Fatalf("want a conflict on total and lines[1].quantity, got %v", err)
	}
	if !strings.Contains(ce.Problems[0].Reason, "was 1147.45, now 1028.38") {
		t.Fatalf("reason %q", ce.Problems[0].Reason)
	}

	// Another PDF is a conflict too, named without its bytes.
	other := valid(id)
	other.Attachment.Data = base64.StdEncoding.EncodeToString(demo.InvoicePDF("another"))
	if _, err = erp.Intake(ctx, st, c, other, workflows.PollPolicy{}); !errors.As(err, &ce) || ce.Problems[0].Field != "attachment.data" {
		t.Fatalf("want a conflict on attachment.data, got %v", err)
	}

	// Another ID with the same number on the account: the portal would refuse a second INV number.
	twin := valid(uniqueID(t))
	twin.InvoiceNumber = "INV-" + id
	_, err = erp.Intake(ctx, st, c, twin, workflows.PollPolicy{})
	if !errors.As(err, &ce) || ce.Problems[0].Field != "invoice_number" || !strings.Contains(ce.Problems[0].Reason, id) {
		t.Fatalf("want a conflict on invoice_number naming %s, got %v", id, err)
	}
	if countInvoices(t, st, twin.ID) != 0 || workflowRun(t, c, twin.ID) != "" {
		t.Fatal("the twin was inserted or started")
	}
	stored, _ := st.Invoice(ctx, id)
	if !stored.Total.Equal(mustDec("1147.45")) || workflowRun(t, c, id) != first.RunID {
		t.Fatal("a conflict changed the first invoice or its workflow")
	}
}

func TestIntakeConcurrentSameInvoice(t *testing.T) {
	st, c := seed(t), temporalClient(t)
	id := uniqueID(t)
	const n = 8
	results := make(chan erp.Started, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := erp.Intake(ctx, st, c, valid(id), workflows.PollPolicy{})
			if err != nil {
				errs <- err
				return
			}
			results <- s
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fresh, runs := 0, map[string]bool{}
	for s := range results {
		runs[s.RunID] = true
		if !s.Existing {
			fresh++
		}
	}
	if fresh != 1 || len(runs) != 1 {
		t.Fatalf("%d fresh starts, %d runs", fresh, len(runs))
	}
}

func TestLimitsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int64
		ok   bool
	}{
		{"", erp.DefaultMaxAttachmentBytes, true},
		{"5MiB", 5 << 20, true},
		{"512KiB", 512 << 10, true},
		{"2000000", 2000000, true},
		{"10", 0, false},
		{"lots", 0, false},
		{"-5MiB", 0, false},
	} {
		t.Setenv(erp.EnvMaxAttachment, tc.env)
		l, err := erp.LimitsFromEnv()
		if (err == nil) != tc.ok || (tc.ok && l.MaxAttachment() != tc.want) {
			t.Errorf("%q: %d, %v", tc.env, l.MaxAttachment(), err)
		}
	}
	// 10 MiB in base64 is 13 981 016 bytes; 1 MiB more for the rest of the invoice.
	if got := (erp.Limits{}).MaxRequestBytes(); got != 13_981_016+1<<20 {
		t.Errorf("MaxRequestBytes %d", got)
	}
}
