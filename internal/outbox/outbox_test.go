package outbox_test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"portico/internal/devstack"
	"portico/internal/outbox"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/workflows"
)

func TestRowsInsertedWhileRunningStartOnce(t *testing.T) {
	st, c, logs := testenv.Store(t), dial(t, testenv.Temporal(t)), &testenv.Logs{}
	seedCustomer(t, st)
	runDispatcher(t, newDispatcher(st, c, logs))
	p := prefix(t)

	// Each row is inserted alone and waited for, so the time measured is the pickup of one notification.
	const n = 20
	var latencies []time.Duration
	for i := range n {
		id := fmt.Sprintf("%s%02d", p, i)
		var payloadJSON []byte
		if i%4 == 3 {
			erpInvoice(t, st, id) // the ERP wrote the invoice itself: a NULL payload
		} else {
			payloadJSON = payload(t, id, nil)
		}
		began := time.Now()
		row := insert(t, st, id, payloadJSON)
		var run string
		waitFor(t, 10*time.Second, "workflow started", func() bool { run = workflowRun(t, c, id); return run != "" })
		latencies = append(latencies, time.Since(began))
		waitProcessed(t, st, 5*time.Second, row)
		e := entry(t, st, row)
		if e.WorkflowID != workflows.InvoiceWorkflowID(id) || e.RunID != run || e.Error != "" || e.Attempts != 0 {
			t.Fatalf("row %d: %+v, Temporal run %s", row, e, run)
		}
	}
	slices.Sort(latencies)
	t.Logf("insert to workflow started (seen by DescribeWorkflowExecution, polled every 5 ms), %d rows: min %s, median %s, max %s",
		n, latencies[0].Round(time.Millisecond), latencies[n/2].Round(time.Millisecond), latencies[n-1].Round(time.Millisecond))

	// The dispatcher logs each row once, with its invoice, outbox id and the time since insert.
	lines := logLines(logs, "outbox row processed")
	if len(lines) != n {
		t.Fatalf("%d rows logged, want %d", len(lines), n)
	}
	var since []float64
	for _, l := range lines {
		if l["existing"] != false || l["invoice_id"] == nil || l["outbox_id"] == nil {
			t.Fatalf("log line %v", l)
		}
		since = append(since, l["since_insert_ms"].(float64))
	}
	slices.Sort(since)
	t.Logf("insert to row marked processed (database clock, as logged): median %.0f ms, max %.0f ms", since[n/2], since[n-1])
}

func TestRowsInsertedWhileStoppedAreCaughtUp(t *testing.T) {
	st, c, logs := testenv.Store(t), dial(t, testenv.Temporal(t)), &testenv.Logs{}
	seedCustomer(t, st)
	p := prefix(t)
	var rows []int64
	for i := range 10 {
		id := fmt.Sprintf("%s%02d", p, i)
		if i%2 == 0 {
			erpInvoice(t, st, id)
			rows = append(rows, insert(t, st, id, nil))
		} else {
			rows = append(rows, insert(t, st, id, payload(t, id, nil)))
		}
	}
	time.Sleep(100 * time.Millisecond)
	if workflowRun(t, c, p+"00") != "" {
		t.Fatal("a workflow started with no dispatcher running")
	}

	d := newDispatcher(st, c, logs)
	d.BatchSize = 3 // several batches
	began := time.Now()
	runDispatcher(t, d)
	waitProcessed(t, st, 20*time.Second, rows...)
	t.Logf("10 rows caught up in %s after the dispatcher started", time.Since(began).Round(time.Millisecond))
	for i, row := range rows {
		e := entry(t, st, row)
		if e.RunID == "" || e.RunID != workflowRun(t, c, e.InvoiceID) || e.Error != "" {
			t.Fatalf("row %d (%d): %+v", i, row, e)
		}
	}
}

func TestTwoDispatchersStartEachRowOnce(t *testing.T) {
	dsn := testenv.Database(t)
	stores := make([]*store.Store, 2)
	for i := range stores {
		st, err := store.Open(ctx, dsn, testenv.Keys(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stores[i] = st
	}
	seedCustomer(t, stores[0])
	hostPort := testenv.Temporal(t)
	logs := []*testenv.Logs{{}, {}}
	clients := make([]client.Client, 2)
	for i := range 2 {
		// Two worker processes: each its own pool and its own Temporal client.
		clients[i] = dial(t, hostPort)
		d := newDispatcher(stores[i], clients[i], logs[i])
		d.BatchSize = 4
		runDispatcher(t, d)
	}
	// Both are listening once each has logged its start; the rows then arrive in one transaction, as an ERP
	// batch job would write them, so both are notified at once and compete for every batch.
	time.Sleep(300 * time.Millisecond)
	p := prefix(t)
	const n = 60
	ids := make([]string, n)
	payloads := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s%02d", p, i)
		payloads[i] = string(payload(t, ids[i], nil))
	}
	began := time.Now()
	rowsIDs := []int64{}
	r, err := stores[0].Pool().Query(ctx, `
		INSERT INTO erp_outbox (invoice_id, payload) SELECT i, p::jsonb FROM unnest($1::text[], $2::text[]) AS u(i, p) RETURNING id`, ids, payloads)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id int64
		if err := r.Scan(&id); err != nil {
			t.Fatal(err)
		}
		rowsIDs = append(rowsIDs, id)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	waitProcessed(t, stores[0], 30*time.Second, rowsIDs...)
	t.Logf("%d rows in one transaction, two dispatchers: all processed in %s", n, time.Since(began).Round(time.Millisecond))

	// Each row was processed by exactly one dispatcher, once, and started a new workflow.
	byRow := map[string]int{}
	perDispatcher := []int{0, 0}
	for i, l := range logs {
		for _, rec := range logLines(l, "outbox row processed") {
			byRow[fmt.Sprint(rec["outbox_id"])]++
			perDispatcher[i]++
			if rec["existing"] != false {
				t.Errorf("row %v found its workflow already started: %v", rec["outbox_id"], rec)
			}
		}
	}
	for _, id := range rowsIDs {
		if byRow[strconv.FormatInt(id, 10)] != 1 {
			t.Fatalf("row %d was processed %d times", id, byRow[strconv.FormatInt(id, 10)])
		}
	}
	t.Logf("rows processed per dispatcher: %v", perDispatcher)
	// And Temporal has one run per invoice, the one the row names.
	for _, id := range rowsIDs {
		e := entry(t, stores[0], id)
		if e.Attempts != 0 || e.Error != "" || e.RunID != workflowRun(t, clients[0], e.InvoiceID) {
			t.Fatalf("row %d: %+v", id, e)
		}
		countRuns(t, clients[0], e.InvoiceID, 1)
	}
}

func TestBadPayloadIsADeadLetter(t *testing.T) {
	st, c, logs := testenv.Store(t), dial(t, testenv.Temporal(t)), &testenv.Logs{}
	seedCustomer(t, st)
	runDispatcher(t, newDispatcher(st, c, logs))
	p := prefix(t)

	taken := p + "taken"
	first := insert(t, st, taken, payload(t, taken, nil))
	waitProcessed(t, st, 10*time.Second, first)

	for _, tc := range []struct {
		name      string
		invoiceID string
		payload   []byte
		want      []string
	}{
		{"bad values", p + "bad", payload(t, p+"bad", func(m map[string]any) {
			m["currency"] = "XYZ"
			m["lines"].([]any)[0].(map[string]any)["quantity"] = -1
		}), []string{"currency: \"XYZ\" is not an ISO 4217 currency", "lines[0].quantity: line 1: must not be negative"}},
		{"unknown field", p + "field", payload(t, p+"field", func(m map[string]any) { m["po"] = "PO-1" }), []string{"po: unknown field"}},
		{"another invoice's payload", p + "row", payload(t, p+"other", nil), []string{`id: is "` + p + `other", but the outbox row is for invoice "` + p + `row"`}},
		{"not an object", p + "text", []byte(`"an invoice"`), []string{"the invoice must be a JSON object"}},
		{"no such invoice", p + "missing", nil, []string{"invoice_id: erp_invoices has no such invoice"}},
		{"other content for a taken id", taken, payload(t, taken, func(m map[string]any) {
			m["tax_rate"], m["total"] = "0", "1060.00"
		}), []string{"conflicts with what was taken in before: total: was 1147.45, now 1060; tax_rate: was 8.25, now 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := insert(t, st, tc.invoiceID, tc.payload)
			waitProcessed(t, st, 10*time.Second, row)
			e := entry(t, st, row)
			for _, w := range tc.want {
				if !strings.Contains(e.Error, w) {
					t.Fatalf("error %q does not say %q", e.Error, w)
				}
			}
			if e.Attempts != 0 || e.WorkflowID != "" || e.RunID != "" {
				t.Fatalf("dead letter %+v", e)
			}
			if tc.invoiceID != taken && workflowRun(t, c, tc.invoiceID) != "" {
				t.Fatal("a workflow was started")
			}
		})
	}
	// The payload without an id takes the row's.
	noID := p + "noid"
	row := insert(t, st, noID, payload(t, noID, func(m map[string]any) { delete(m, "id") }))
	waitProcessed(t, st, 10*time.Second, row)
	if e := entry(t, st, row); e.Error != "" || e.RunID != workflowRun(t, c, noID) {
		t.Fatalf("row without id: %+v", e)
	}
	if n := len(logLines(logs, "outbox row refused; it will not be retried")); n != 6 {
		t.Fatalf("%d refusals logged, want 6", n)
	}
}

func TestDuplicateRowStartsNothingNew(t *testing.T) {
	st, c, logs := testenv.Store(t), dial(t, testenv.Temporal(t)), &testenv.Logs{}
	seedCustomer(t, st)
	runDispatcher(t, newDispatcher(st, c, logs))
	id := prefix(t) + "dup"
	body := payload(t, id, nil)
	// Two rows in one transaction (an ERP that wrote the change twice), one later, and one without payload.
	var rows []int64
	r, err := st.Pool().Query(ctx, `INSERT INTO erp_outbox (invoice_id, payload) VALUES ($1, $2::jsonb), ($1, $2::jsonb) RETURNING id`, id, string(body))
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var rid int64
		_ = r.Scan(&rid)
		rows = append(rows, rid)
	}
	waitProcessed(t, st, 10*time.Second, rows...)
	rows = append(rows, insert(t, st, id, body))
	rows = append(rows, insert(t, st, id, nil))
	waitProcessed(t, st, 10*time.Second, rows...)

	run := workflowRun(t, c, id)
	for _, row := range rows {
		if e := entry(t, st, row); e.RunID != run || e.Error != "" {
			t.Fatalf("row %d: %+v, run %s", row, e, run)
		}
	}
	existing := 0
	for _, l := range logLines(logs, "outbox row processed") {
		if l["existing"] == true {
			existing++
		}
	}
	if existing != 3 {
		t.Fatalf("%d rows found the workflow started, want 3", existing)
	}
	countRuns(t, c, id, 1)
}

func TestTemporalOutageDefersRows(t *testing.T) {
	// A server of its own, stopped and started again on the same port while the dispatcher runs.
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Headless: true, SearchAttributes: workflows.SearchAttributes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	_, portText, _ := net.SplitHostPort(srv.HostPort())
	port, _ := strconv.Atoi(portText)

	st, logs := testenv.Store(t), &testenv.Logs{}
	seedCustomer(t, st)
	c := dial(t, srv.HostPort())
	d := newDispatcher(st, c, logs)
	d.CallTimeout, d.RetryMin, d.RetryMax = time.Second, 200*time.Millisecond, time.Second
	runDispatcher(t, d)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	p := prefix(t)
	var rows []int64
	for i := range 3 {
		id := fmt.Sprintf("%s%d", p, i)
		rows = append(rows, insert(t, st, id, payload(t, id, nil)))
	}
	// Every row is tried, fails and is counted, and stays pending.
	waitFor(t, 30*time.Second, "every row tried twice", func() bool {
		for _, row := range rows {
			if entry(t, st, row).Attempts < 2 {
				return false
			}
		}
		return true
	})
	for _, row := range rows {
		e := entry(t, st, row)
		if !e.Pending() || e.Error == "" || !e.NextAttemptAt.After(e.CreatedAt) {
			t.Fatalf("row %d during the outage: %+v", row, e)
		}
	}
	warns := logLines(logs, "outbox row failed; retrying later")
	if len(warns) < 6 || warns[0]["level"] != "WARN" || warns[0]["outbox_id"] == nil || warns[0]["retry_in"] == nil {
		t.Fatalf("%d warnings: %v", len(warns), warns)
	}

	restarted := time.Now()
	srv2, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Headless: true, Port: port, SearchAttributes: workflows.SearchAttributes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Stop() })
	up := time.Now()
	waitProcessed(t, st, 60*time.Second, rows...)
	t.Logf("Temporal took %s to start again; the rows were processed %s after it answered",
		up.Sub(restarted).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	for _, row := range rows {
		e := entry(t, st, row)
		if e.Error != "" || e.RunID == "" || e.RunID != workflowRun(t, c, e.InvoiceID) || e.Attempts < 2 {
			t.Fatalf("row %d after the outage: %+v", row, e)
		}
	}
}

func TestListenReconnects(t *testing.T) {
	st, c, logs := testenv.Store(t), dial(t, testenv.Temporal(t)), &testenv.Logs{}
	seedCustomer(t, st)
	d := newDispatcher(st, c, logs)
	d.RetryMin = 100 * time.Millisecond
	runDispatcher(t, d)
	listener := func() int {
		var pid int
		_ = st.Pool().QueryRow(ctx, `SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query = 'LISTEN `+store.OutboxChannel+`' AND datname = current_database()`).Scan(&pid)
		return pid
	}
	var pid int
	waitFor(t, 10*time.Second, "the LISTEN connection", func() bool { pid = listener(); return pid != 0 })
	// As a database restart or a network cut would: the server ends the connection.
	if _, err := st.Pool().Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the LISTEN connection restored", func() bool {
		return len(logLines(logs, "outbox: LISTEN connection restored")) == 1
	})
	if lost := logLines(logs, "outbox: lost the LISTEN connection; reconnecting"); len(lost) != 1 || lost[0]["level"] != "WARN" {
		t.Fatalf("lost: %v", lost)
	}
	// ScanEvery is an hour: only a notification on the new connection can pick this row up promptly.
	id := prefix(t) + "after"
	row := insert(t, st, id, payload(t, id, nil))
	waitProcessed(t, st, 3*time.Second, row)
}

func TestDispatcherNeedsStoreAndClient(t *testing.T) {
	if err := (&outbox.Dispatcher{}).Run(ctx); err == nil {
		t.Fatal("a dispatcher without a store ran")
	}
}

// countRuns checks through visibility that the invoice's workflow ID has exactly want runs (open or
// closed), waiting for visibility to catch up.
func countRuns(t *testing.T, c client.Client, invoiceID string, want int) {
	t.Helper()
	query := fmt.Sprintf("WorkflowId = '%s'", workflows.InvoiceWorkflowID(invoiceID))
	var got int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if got = resp.GetCount(); got >= int64(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got != int64(want) {
		t.Fatalf("invoice %s has %d runs, want %d", invoiceID, got, want)
	}
}

func TestDatabaseRestart(t *testing.T) {
	// A cluster of its own, since it is stopped under the dispatcher; the data directory is kept, so the
	// restarted server has the same tables.
	dir := t.TempDir() + "/pg"
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	st, err := store.Open(ctx, pg.DSN(), testenv.Keys(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seedCustomer(t, st)
	c, logs := dial(t, testenv.Temporal(t)), &testenv.Logs{}
	d := newDispatcher(st, c, logs)
	d.RetryMin, d.RetryMax = 100*time.Millisecond, time.Second
	runDispatcher(t, d)
	p := prefix(t)
	before := insert(t, st, p+"before", payload(t, p+"before", nil))
	waitProcessed(t, st, 10*time.Second, before)

	stopped := time.Now()
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the lost connection noticed", func() bool {
		return len(logLines(logs, "outbox: cannot LISTEN; retrying")) >= 2
	})
	pg2, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dir, Port: pg.Port()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg2.Stop() })
	up := time.Now()
	waitFor(t, 10*time.Second, "the LISTEN connection restored", func() bool {
		return len(logLines(logs, "outbox: LISTEN connection restored")) == 1
	})
	t.Logf("PostgreSQL was down %s (restart included); LISTEN was back %s after it started",
		up.Sub(stopped).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	// ScanEvery is an hour: a prompt pickup is the notification on the new connection.
	after := insert(t, st, p+"after", payload(t, p+"after", nil))
	waitProcessed(t, st, 3*time.Second, after)
	if e := entry(t, st, after); e.RunID == "" || e.RunID != workflowRun(t, c, p+"after") {
		t.Fatalf("row after the restart: %+v", e)
	}
}
