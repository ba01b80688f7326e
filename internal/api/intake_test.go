package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"portico/internal/api"
	"portico/internal/demo"
	"portico/workflows"
)

// invoiceJSON is a correct invoice for the demo customer, with change applied to its map form:
// 2000 x 0.42 + 2000 x 0.11 = 1060.00, plus 8.25 % tax (87.45) = 1147.45 USD.
func invoiceJSON(t *testing.T, id string, change func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"id": id, "customer_id": demo.CustomerID, "invoice_number": "INV-" + id, "po_number": "PO-4500012",
		"invoice_date": "2026-03-02", "currency": "USD", "payment_terms": "Net 30", "tax_rate": "8.25", "total": "1147.45",
		"note": "Shipment for PO-4500012",
		"lines": []any{
			map[string]any{"line_no": 1, "po_line_no": 1, "part_number": "HB-M8-40", "description": "Hex bolt M8x40", "quantity": "2000", "unit_price": "0.42", "uom": "EA"},
			map[string]any{"line_no": 2, "po_line_no": 2, "part_number": "HN-M8", "description": "Hex nut M8", "quantity": 2000, "unit_price": 0.11, "uom": "EA"},
		},
		"attachment": map[string]any{"name": "INV-" + id + ".pdf", "content_type": "application/pdf",
			"data": base64.StdEncoding.EncodeToString(demo.InvoicePDF("Bolt & Nut Ltd", "Invoice INV-"+id))},
	}
	if change != nil {
		change(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invLine(m map[string]any, i int) map[string]any { return m["lines"].([]any)[i].(map[string]any) }

func newInvoiceID(t *testing.T) string { return "erp-api-" + strings.ToLower(api.NewNonce()[:10]) }

// takeIn sends a signed POST /v1/invoices.
func (s *stack) takeIn(body []byte) response {
	s.t.Helper()
	return s.do(s.sign(s.request(http.MethodPost, "/v1/invoices", body), body))
}

// rows counts the invoice's rows in erp_invoices and erp_invoice_lines.
func (s *stack) rows(id string) (invoices, lines int) {
	s.t.Helper()
	err := s.store.Pool().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM erp_invoices WHERE id = $1), (SELECT count(*) FROM erp_invoice_lines WHERE invoice_id = $1)`, id).
		Scan(&invoices, &lines)
	if err != nil {
		s.t.Fatal(err)
	}
	return invoices, lines
}

func (s *stack) nothingTakenIn(id string) {
	s.t.Helper()
	if inv, lines := s.rows(id); inv != 0 || lines != 0 {
		s.t.Fatalf("invoice %s has %d rows and %d lines", id, inv, lines)
	}
	s.noWorkflow(id)
}

// problemFields lists the fields of the problems in an error response.
func problemFields(r response) []string {
	var out []string
	ps, _ := r.body["problems"].([]any)
	for _, p := range ps {
		f, _ := p.(map[string]any)["field"].(string)
		out = append(out, f)
	}
	return out
}

func TestTakeInvoice(t *testing.T) {
	s := newStack(t)
	id := newInvoiceID(t)
	body := invoiceJSON(t, id, nil)

	began := time.Now()
	first := s.takeIn(body)
	took := time.Since(began)
	expect(t, first, http.StatusAccepted, "")
	if first.str("workflow_id") != workflows.InvoiceWorkflowID(id) || first.str("run_id") == "" || first.body["existing"] != false {
		t.Fatalf("first: %s", first.raw)
	}
	if run := s.workflowRun(id); run != first.str("run_id") {
		t.Fatalf("Temporal has run %q, the API said %q", run, first.str("run_id"))
	}
	if inv, lines := s.rows(id); inv != 1 || lines != 2 {
		t.Fatalf("%d invoice rows, %d lines", inv, lines)
	}
	inv, err := s.store.Invoice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON number 0.11 arrives as the decimal 0.11: no float on the way.
	if inv.AccountID != demo.AccountID || inv.Total.String() != "1147.45" || inv.Lines[1].UnitPrice.String() != "0.11" {
		t.Fatalf("stored %+v", inv)
	}

	// Sent again (a retry after a lost response, with a fresh nonce): the same run, 200.
	began = time.Now()
	again := s.takeIn(body)
	t.Logf("POST /v1/invoices round trip (signed, 2 lines, %d-byte body): %s new, %s again",
		len(body), took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	expect(t, again, http.StatusOK, "")
	if again.str("run_id") != first.str("run_id") || again.body["existing"] != true {
		t.Fatalf("again: %s", again.raw)
	}

	// The same id with another total (another quantity on line 2): 409 naming the total first.
	changed := invoiceJSON(t, id, func(m map[string]any) {
		invLine(m, 1)["quantity"] = "1000"
		m["total"] = "1028.38" // 840.00 + 110.00 = 950.00, + 78.375 tax rounded up
	})
	conflict := s.takeIn(changed)
	expect(t, conflict, http.StatusConflict, "conflicts with what was taken in before")
	if conflict.str("field") != "total" || strings.Join(problemFields(conflict), " ") != "total lines[1].quantity" {
		t.Fatalf("conflict: %s", conflict.raw)
	}
	if stored, _ := s.store.Invoice(context.Background(), id); stored.Total.String() != "1147.45" || s.workflowRun(id) != first.str("run_id") {
		t.Fatal("the conflict changed the invoice or its workflow")
	}

	// Another ERP id with the same invoice number on the account: 409 naming invoice_number.
	twin := newInvoiceID(t)
	r := s.takeIn(invoiceJSON(t, twin, func(m map[string]any) { m["invoice_number"] = "INV-" + id }))
	expect(t, r, http.StatusConflict, "")
	if r.str("field") != "invoice_number" || !strings.Contains(r.raw, id) {
		t.Fatalf("twin: %s", r.raw)
	}
	s.nothingTakenIn(twin)

	lines := logLines(s.logs, "api request")
	if len(lines) != 4 || lines[0]["invoice"] != id || lines[0]["status"] != float64(http.StatusAccepted) || lines[2]["field"] != "total" {
		t.Fatalf("log lines %v", lines)
	}
	s.noSecrets(first.raw, again.raw)
}

func TestTakeInvoiceRefusals(t *testing.T) {
	s := newStack(t)
	s.server.Limits.MaxAttachmentBytes = 64 << 10
	big := append([]byte("%PDF-1.4\n"), make([]byte, 100<<10)...)
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
		status int
		field  string
		reason string
	}{
		{"missing po_number", func(m map[string]any) { delete(m, "po_number") }, 422, "po_number", "is required"},
		{"negative quantity", func(m map[string]any) { invLine(m, 0)["quantity"] = "-5" }, 422, "lines[0].quantity", "must not be negative"},
		{"comma decimal", func(m map[string]any) { invLine(m, 1)["unit_price"] = "12,50" }, 422, "lines[1].unit_price", `"12,50" is not a decimal number`},
		{"junk decimal", func(m map[string]any) { invLine(m, 1)["unit_price"] = "1e3abc" }, 422, "lines[1].unit_price", `"1e3abc" is not a decimal number`},
		{"unknown currency", func(m map[string]any) { m["currency"] = "XYZ" }, 422, "currency", `"XYZ" is not an ISO 4217 currency`},
		{"unknown customer", func(m map[string]any) { m["customer_id"] = "globex" }, 422, "customer_id", `unknown customer "globex"`},
		{"attachment over the limit", func(m map[string]any) {
			m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString(big)
		}, 422, "attachment.data", "at most 64.0 KiB"},
		{"not a PDF", func(m map[string]any) {
			m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n an image"))
		}, 422, "attachment.data", "is not a PDF"},
		{"total mismatch", func(m map[string]any) { m["total"] = "1060.00" }, 422, "total", "which make 1147.45 USD"},
		{"unknown field", func(m map[string]any) { m["purchase_order"] = "PO-4500012" }, 400, "purchase_order", "unknown field"},
		{"unknown line field", func(m map[string]any) { invLine(m, 0)["price"] = "0.42" }, 400, "lines[0].price", "unknown field"},
		{"object for an amount", func(m map[string]any) { m["total"] = map[string]any{"value": 1} }, 400, "total", "must be a decimal number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := newInvoiceID(t)
			r := s.takeIn(invoiceJSON(t, id, tc.change))
			expect(t, r, tc.status, "")
			if r.str("field") != tc.field || !strings.Contains(r.str("error"), tc.reason) {
				t.Fatalf("field %q, error %q; want %q, %q", r.str("field"), r.str("error"), tc.field, tc.reason)
			}
			if fs := problemFields(r); len(fs) != 1 || fs[0] != tc.field {
				t.Fatalf("problems %v", fs)
			}
			s.nothingTakenIn(id)
		})
	}

	// Bodies that are not an invoice at all.
	for _, tc := range []struct {
		body, err string
	}{
		{`{"id": "x",`, "not valid JSON"},
		{`["an", "array"]`, "must be a JSON object"},
		{`{} {}`, "not valid JSON"},
		{``, "the body must be an invoice"},
	} {
		r := s.takeIn([]byte(tc.body))
		expect(t, r, http.StatusBadRequest, tc.err)
	}
	body := []byte(`id=erp-1`)
	req := s.request(http.MethodPost, "/v1/invoices", body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expect(t, s.do(s.sign(req, body)), http.StatusUnsupportedMediaType, "Content-Type must be application/json")
}

func TestTakeInvoiceListsEveryProblem(t *testing.T) {
	s := newStack(t)
	id := newInvoiceID(t)
	r := s.takeIn(invoiceJSON(t, id, func(m map[string]any) {
		delete(m, "po_number")
		m["currency"] = "XYZ"
		invLine(m, 0)["quantity"] = -2
		invLine(m, 1)["unit_price"] = "12,50"
	}))
	expect(t, r, http.StatusUnprocessableEntity, "the invoice is refused: po_number: is required")
	want := "po_number currency lines[0].quantity lines[1].unit_price"
	if got := strings.Join(problemFields(r), " "); got != want || r.str("field") != "po_number" {
		t.Fatalf("problems %s, want %s", got, want)
	}
	for _, p := range r.body["problems"].([]any) {
		if reason, _ := p.(map[string]any)["reason"].(string); reason == "" {
			t.Fatalf("a problem without a reason: %s", r.raw)
		}
	}
	s.nothingTakenIn(id)
}

func TestTakeInvoiceAcceptsPlainDecimals(t *testing.T) {
	s := newStack(t)
	for _, price := range []any{"12.5", json.Number("12.5")} {
		id := newInvoiceID(t)
		r := s.takeIn(invoiceJSON(t, id, func(m map[string]any) {
			invLine(m, 0)["quantity"], invLine(m, 0)["unit_price"] = "2", price
			m["total"] = "265.21" // 25.00 + 220.00 = 245.00, + 20.21 tax
		}))
		expect(t, r, http.StatusAccepted, "")
		inv, err := s.store.Invoice(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Lines[0].UnitPrice.String() != "12.5" || inv.Total.String() != "265.21" {
			t.Fatalf("stored %s and %s", inv.Lines[0].UnitPrice, inv.Total)
		}
	}
}

func TestTakeInvoiceBodyLimits(t *testing.T) {
	s := newStack(t)
	// The default limit makes room for a 10 MiB attachment in base64, past the other routes' 10 MiB.
	id := newInvoiceID(t)
	pdf := append(demo.InvoicePDF("big"), make([]byte, 9<<20)...)
	r := s.takeIn(invoiceJSON(t, id, func(m map[string]any) {
		m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString(pdf)
	}))
	expect(t, r, http.StatusAccepted, "")

	// A body over the limit is refused before it is read whole, authenticated or not.
	s.server.MaxInvoiceBodyBytes = 1 << 20
	id = newInvoiceID(t)
	pdf = append(demo.InvoicePDF("bigger"), make([]byte, 1<<20)...)
	r = s.takeIn(invoiceJSON(t, id, func(m map[string]any) {
		m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString(pdf)
	}))
	expect(t, r, http.StatusRequestEntityTooLarge, "larger than 1 MiB; an invoice's attachment may be at most 10 MiB")
	s.nothingTakenIn(id)
}

func TestTakeInvoiceIsAuthenticated(t *testing.T) {
	s := newStack(t)
	id := newInvoiceID(t)
	body := invoiceJSON(t, id, nil)
	expect(t, s.do(s.request(http.MethodPost, "/v1/invoices", body)), http.StatusUnauthorized, "missing header")
	req := s.request(http.MethodPost, "/v1/invoices", body)
	api.Sign(req, body, "erp", api.NewClientSecret(), time.Now(), "")
	expect(t, s.do(req), http.StatusUnauthorized, "signature does not match")
	s.nothingTakenIn(id)

	// A signature over another body does not carry this one.
	other := invoiceJSON(t, newInvoiceID(t), nil)
	req = s.request(http.MethodPost, "/v1/invoices", body)
	api.Sign(req, other, "erp", s.secret, time.Now(), "")
	expect(t, s.do(req), http.StatusUnauthorized, "signature does not match")
	s.nothingTakenIn(id)

	req = s.request(http.MethodPost, "/v1/invoices", body)
	api.SetBearer(req, s.token, time.Now(), "")
	ok := s.do(req)
	expect(t, ok, http.StatusAccepted, "")
	expect(t, s.do(req), http.StatusUnauthorized, "replayed request")
	if s.workflowRun(id) != ok.str("run_id") {
		t.Fatal("no workflow")
	}

	r := s.do(s.sign(s.request(http.MethodGet, "/v1/invoices", nil), nil))
	expect(t, r, http.StatusMethodNotAllowed, "use POST")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	s.noSecrets(ok.raw)
}
