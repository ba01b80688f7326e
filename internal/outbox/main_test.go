package outbox_test

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
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/codec"
	"portico/internal/demo"
	"portico/internal/outbox"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

var ctx = context.Background()

// dial makes a client with the payload codec, as every Portico client is made.
func dial(t *testing.T, hostPort string) client.Client {
	t.Helper()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	c, err := client.Dial(codec.ClientOptions(client.Options{HostPort: hostPort, Logger: quiet}, codec.New(testenv.Keys(t))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// seedCustomer makes the demo customer with its one portal account.
func seedCustomer(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: demo.CustomerID, Name: "Acme Manufacturing"}); err != nil {
		t.Fatal(err)
	}
	acct := store.PortalAccount{ID: demo.AccountID, CustomerID: demo.CustomerID, Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "supplier"}
	if err := st.UpsertPortalAccount(ctx, acct, "Passw0rd!", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
}

// prefix is a random invoice ID prefix for one test.
func prefix(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "erp-ob-" + hex.EncodeToString(b) + "-"
}

// payload is a correct InvoiceRequest for the demo customer: 1060.00 plus 8.25 % tax = 1147.45 USD; change
// edits its map form.
func payload(t *testing.T, id string, change func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"id": id, "customer_id": demo.CustomerID, "invoice_number": "INV-" + id, "po_number": "PO-4500012",
		"invoice_date": "2026-03-02", "currency": "USD", "tax_rate": 8.25, "total": 1147.45,
		"lines": []any{
			map[string]any{"line_no": 1, "po_line_no": 1, "quantity": 2000, "unit_price": "0.42", "uom": "EA"},
			map[string]any{"line_no": 2, "po_line_no": 2, "quantity": "2000", "unit_price": 0.11, "uom": "EA"},
		},
		"attachment": map[string]any{"data": base64.StdEncoding.EncodeToString(demo.InvoicePDF("Invoice " + id))},
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

// erpInvoice writes an invoice into erp_invoices as an ERP does before an outbox row with a NULL payload.
func erpInvoice(t *testing.T, st *store.Store, id string) {
	t.Helper()
	d := decimal.RequireFromString
	inv := store.Invoice{ID: id, CustomerID: demo.CustomerID, AccountID: demo.AccountID, Number: "INV-" + id, PONumber: "PO-4500013",
		Date: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Currency: "USD", TaxRate: d("0"), Total: d("120.00"),
		Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, Quantity: d("4000"), UnitPrice: d("0.03"), UOM: "EA"}}}
	if err := st.InsertInvoice(ctx, inv, demo.InvoicePDF("Invoice "+id)); err != nil {
		t.Fatal(err)
	}
}

func insert(t *testing.T, st *store.Store, invoiceID string, p []byte) int64 {
	t.Helper()
	id, err := st.InsertOutbox(ctx, invoiceID, p)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func entry(t *testing.T, st *store.Store, id int64) store.OutboxEntry {
	t.Helper()
	e, err := st.OutboxEntry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// waitFor polls cond every few milliseconds until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitProcessed(t *testing.T, st *store.Store, timeout time.Duration, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		waitFor(t, timeout, "outbox row processed", func() bool { return !entry(t, st, id).Pending() })
	}
}

// workflowRun returns the run ID of the invoice's workflow, or "" if none was started.
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

// runDispatcher runs d until the test ends, and checks that it stops cleanly.
func runDispatcher(t *testing.T, d *outbox.Dispatcher) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dispatcher: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the dispatcher did not stop")
		}
	})
}

func newDispatcher(st *store.Store, c client.Client, logs *testenv.Logs) *outbox.Dispatcher {
	d := outbox.New(st, c, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	// Long enough that only notifications and the start-up scan can explain a prompt pickup.
	d.ScanEvery = time.Hour
	return d
}

// logLines returns the logged records whose message is msg.
func logLines(logs *testenv.Logs, msg string) []map[string]any {
	var out []map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
