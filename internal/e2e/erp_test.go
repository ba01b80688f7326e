package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"portico/internal/api"
	"portico/internal/service"
	"portico/workflows"
)

// TestERPEntryPoints: an ERP hands Portico whole invoices through the signed HTTP API and through the
// PostgreSQL outbox; both reach a draft awaiting approval on the real worker. Bad input is refused with the
// field named and starts nothing; the same invoice sent twice is one workflow.
func TestERPEntryPoints(t *testing.T) {
	s := start(t, "-erp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	secret := api.NewClientSecret()
	keys, err := api.ParseKeys(api.HMACEntry("erp", secret))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.NewAuthenticator(keys...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := service.HTTPHandler(service.HTTPDeps{Client: s.client, Store: s.store, Codec: s.codec, Auth: auth, CodecTokens: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(body []byte) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/invoices", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		api.Sign(req, body, "erp", secret, time.Now(), "")
		resp := do(t, req)
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	// A whole invoice, as the ERP has it: the demo's third invoice under new IDs and numbers.
	request := func(id, number string) map[string]any {
		src, err := s.store.Invoice(ctx, s.data.InvoiceIDs[2])
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := s.store.InvoiceAttachment(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		var lines []map[string]any
		for _, l := range src.Lines {
			lines = append(lines, map[string]any{"line_no": l.LineNo, "po_line_no": l.POLineNo, "part_number": l.PartNumber,
				"description": l.Description, "quantity": l.Quantity.String(), "unit_price": l.UnitPrice.String(), "uom": l.UOM})
		}
		return map[string]any{"id": id, "customer_id": src.CustomerID, "invoice_number": number, "po_number": src.PONumber,
			"invoice_date": time.Now().Format(time.DateOnly), "currency": src.Currency, "payment_terms": src.PaymentTerms,
			"tax_rate": src.TaxRate.String(), "total": src.Total.StringFixed(2), "lines": lines,
			"attachment": map[string]any{"name": number + ".pdf", "content_type": "application/pdf", "data": base64.StdEncoding.EncodeToString(pdf)}}
	}
	body := func(m map[string]any) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	notStarted := func(id string) {
		t.Helper()
		if _, err := s.client.DescribeWorkflowExecution(ctx, workflows.InvoiceWorkflowID(id), ""); err == nil {
			t.Errorf("refused invoice %s started a workflow", id)
		}
		if _, err := s.store.Invoice(ctx, id); err == nil {
			t.Errorf("refused invoice %s is in the ERP tables", id)
		}
	}

	// Bad input: the field is named, nothing is stored or started.
	for _, bad := range []struct {
		name, field string
		edit        func(m map[string]any)
	}{
		{"missing PO", "po_number", func(m map[string]any) { delete(m, "po_number") }},
		{"negative quantity", "lines[0].quantity", func(m map[string]any) {
			m["lines"].([]map[string]any)[0]["quantity"] = "-3"
		}},
		{"non-decimal amount", "lines[0].unit_price", func(m map[string]any) {
			m["lines"].([]map[string]any)[0]["unit_price"] = "12,50"
		}},
		{"unknown currency", "currency", func(m map[string]any) { m["currency"] = "XYZ" }},
		{"unknown customer", "customer_id", func(m map[string]any) { m["customer_id"] = "nobody" }},
		{"not a PDF", "attachment.data", func(m map[string]any) {
			m["attachment"].(map[string]any)["data"] = base64.StdEncoding.EncodeToString([]byte("hello"))
		}},
	} {
		m := request("erp-api-bad", "INV-API-BAD")
		bad.edit(m)
		code, out := post(body(m))
		if code < 400 || code >= 500 || out["field"] != bad.field {
			t.Errorf("%s: %d %v, want 4xx naming %s", bad.name, code, out, bad.field)
		}
	}
	notStarted("erp-api-bad")

	// Through the API: accepted, drafted, waiting for a person; sent again, the same workflow.
	good := body(request("erp-api-1", "INV-API-1"))
	code, out := post(good)
	if code != http.StatusAccepted {
		t.Fatalf("API intake: %d %v", code, out)
	}
	runID := out["run_id"]
	waitStage(t, ctx, s.client, "erp-api-1", workflows.StageAwaitingApproval)
	if code, again := post(good); code != http.StatusOK || again["run_id"] != runID || again["existing"] != true {
		t.Fatalf("sent twice: %d %v", code, again)
	}

	// Through the outbox: the worker's dispatcher wakes on NOTIFY and starts it once.
	payload := body(request("erp-outbox-1", "INV-OUTBOX-1"))
	for range 2 { // the ERP writes its row twice (a retried transaction): still one workflow
		if _, err := s.store.Pool().Exec(ctx, `INSERT INTO erp_outbox (invoice_id, payload) VALUES ($1, $2)`, "erp-outbox-1", payload); err != nil {
			t.Fatal(err)
		}
	}
	waitStage(t, ctx, s.client, "erp-outbox-1", workflows.StageAwaitingApproval)
	var processed, distinctRuns int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := s.store.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE processed_at IS NOT NULL AND error IS NULL), count(DISTINCT run_id)
			FROM erp_outbox WHERE invoice_id = 'erp-outbox-1'`).Scan(&processed, &distinctRuns); err != nil {
			t.Fatal(err)
		}
		if processed == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if processed != 2 || distinctRuns != 1 {
		t.Fatalf("outbox rows processed %d, distinct runs %d; want 2 rows, 1 run", processed, distinctRuns)
	}
	if n := s.sim.CountEvents("draft_created", "INV-OUTBOX-1"); n != 1 {
		t.Fatalf("the portal has %d drafts of INV-OUTBOX-1", n)
	}

	// A bad outbox row is a dead letter naming the field, and starts nothing.
	bad := request("erp-outbox-bad", "INV-OUTBOX-BAD")
	bad["currency"] = "XYZ"
	if _, err := s.store.Pool().Exec(ctx, `INSERT INTO erp_outbox (invoice_id, payload) VALUES ($1, $2)`, "erp-outbox-bad", body(bad)); err != nil {
		t.Fatal(err)
	}
	var rowErr *string
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		if err := s.store.Pool().QueryRow(ctx, `SELECT error FROM erp_outbox WHERE invoice_id = 'erp-outbox-bad'`).Scan(&rowErr); err != nil {
			t.Fatal(err)
		}
		if rowErr != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rowErr == nil || !strings.Contains(*rowErr, "currency") {
		t.Fatalf("dead letter error %v, want the currency named", rowErr)
	}
	notStarted("erp-outbox-bad")
}
