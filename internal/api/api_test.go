package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"portico/internal/api"
	"portico/workflows"
)

func TestSignedStartIsIdempotent(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]

	first := s.start(id, nil)
	expect(t, first, http.StatusAccepted, "")
	if first.str("workflow_id") != workflows.InvoiceWorkflowID(id) || first.str("run_id") == "" || first.body["existing"] != false {
		t.Fatalf("first start: %s", first.raw)
	}
	if run := s.workflowRun(id); run != first.str("run_id") {
		t.Fatalf("Temporal has run %q, the API said %q", run, first.str("run_id"))
	}

	// The ERP sends the same invoice again (a retry after a lost response): a new nonce, the same run.
	again := s.start(id, []byte(`{"poll_first":"10s","poll_max":"1h"}`))
	expect(t, again, http.StatusOK, "")
	if again.str("run_id") != first.str("run_id") || again.body["existing"] != true {
		t.Fatalf("second start: %s", again.raw)
	}
	if h := first.header.Get(api.HeaderRequestID); h == "" || h == again.header.Get(api.HeaderRequestID) {
		t.Fatalf("request ids %q %q", h, again.header.Get(api.HeaderRequestID))
	}

	// Each accepted request is logged at info with the client and the invoice.
	lines := logLines(s.logs, "api request")
	if len(lines) != 2 || lines[0]["level"] != "INFO" || lines[0]["client"] != "erp" || lines[0]["invoice"] != id || lines[1]["existing"] != true {
		t.Fatalf("log lines %v", lines)
	}
	s.noSecrets(first.raw, again.raw)
}

func TestUnsignedRequestIsRefused(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	r := s.do(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil))
	expect(t, r, http.StatusUnauthorized, "missing header Portico-Client, Portico-Timestamp, Portico-Nonce, Portico-Signature")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	s.noWorkflow(id)

	// One header short: the error names it.
	req := s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil), nil)
	req.Header.Del(api.HeaderNonce)
	expect(t, s.do(req), http.StatusUnauthorized, "missing header Portico-Nonce")
	s.noWorkflow(id)

	// Refusals are logged at warn with the reason.
	lines := logLines(s.logs, "api request refused")
	if len(lines) != 2 || lines[1]["level"] != "WARN" || lines[1]["client"] != "erp" || !strings.Contains(lines[1]["reason"].(string), "Portico-Nonce") {
		t.Fatalf("log lines %v", lines)
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	req := s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil)
	api.Sign(req, nil, "erp", api.NewClientSecret(), time.Now(), "")
	r := s.do(req)
	expect(t, r, http.StatusUnauthorized, "signature does not match")
	s.noWorkflow(id)
	s.noSecrets(r.raw)

	// A client the server does not know is refused as such.
	req = s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil)
	api.Sign(req, nil, "stranger", s.secret, time.Now(), "")
	expect(t, s.do(req), http.StatusUnauthorized, `unknown client "stranger"`)
	s.noWorkflow(id)

	// A malformed signature header is named, not echoed.
	req = s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil), nil)
	req.Header.Set(api.HeaderSignature, "sha256=abc")
	expect(t, s.do(req), http.StatusUnauthorized, "Portico-Signature must be v1=<64 hex digits>")
	s.noWorkflow(id)
}

func TestAlteredRequestIsRefused(t *testing.T) {
	s := newStack(t)
	id, other := s.invoices[0], s.invoices[1]
	signed := []byte(`{"poll_first":"10s"}`)
	sent := []byte(`{"poll_first":"1s"}`)

	req := s.request(http.MethodPost, "/v1/invoices/"+id+"/start", sent)
	api.Sign(req, signed, "erp", s.secret, time.Now(), "")
	expect(t, s.do(req), http.StatusUnauthorized, "signature does not match")
	s.noWorkflow(id)

	// The path is signed too: a signature for one invoice does not start another.
	req = s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil)
	s.sign(req, nil)
	req.URL.Path = "/v1/invoices/" + id + "/start"
	expect(t, s.do(req), http.StatusUnauthorized, "signature does not match")
	s.noWorkflow(id)
	s.noWorkflow(other)

	// And so is the query string.
	req = s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start?a=1", nil), nil)
	req.URL.RawQuery = "a=2"
	expect(t, s.do(req), http.StatusUnauthorized, "signature does not match")
	s.noWorkflow(id)
}

func TestStaleTimestampIsRefused(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	for _, at := range []time.Time{time.Now().Add(-6 * time.Minute), time.Now().Add(6 * time.Minute)} {
		req := s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil)
		api.Sign(req, nil, "erp", s.secret, at, "")
		expect(t, s.do(req), http.StatusUnauthorized, "outside the 5m window")
	}
	req := s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil), nil)
	req.Header.Set(api.HeaderTimestamp, "yesterday")
	expect(t, s.do(req), http.StatusUnauthorized, "Portico-Timestamp must be the request time in unix seconds")
	s.noWorkflow(id)

	// Within the window is fine, either way.
	req = s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil)
	api.Sign(req, nil, "erp", s.secret, time.Now().Add(-4*time.Minute), "")
	expect(t, s.do(req), http.StatusAccepted, "")
}

func TestReplayIsRefused(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	req := s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil), nil)
	first := s.do(req)
	expect(t, first, http.StatusAccepted, "")

	// Terminated, the invoice may be started anew (the reuse policy allows it after a failure), so a
	// replay that got through would show as a second run.
	if err := s.client.TerminateWorkflow(context.Background(), workflows.InvoiceWorkflowID(id), "", "test"); err != nil {
		t.Fatal(err)
	}
	r := s.do(req)
	expect(t, r, http.StatusUnauthorized, "replayed request")
	if run := s.workflowRun(id); run != first.str("run_id") {
		t.Fatalf("the replay started run %s", run)
	}

	// A fresh signature for the same invoice does start a new run.
	fresh := s.start(id, nil)
	expect(t, fresh, http.StatusAccepted, "")
	if fresh.str("run_id") == first.str("run_id") || s.workflowRun(id) != fresh.str("run_id") {
		t.Fatalf("fresh start: %s", fresh.raw)
	}
}

func TestReplayIsRefusedByAnotherWorker(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	// The second worker has its own Authenticator, from the same configuration, and shares only the store.
	auth, err := api.NewAuthenticator(mustKeys(t, api.HMACEntry("erp", s.secret))...)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(auth)
	second := s.lastURL

	req := s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil), nil)
	first := s.do(req)
	expect(t, first, http.StatusAccepted, "")
	if err := s.client.TerminateWorkflow(context.Background(), workflows.InvoiceWorkflowID(id), "", "test"); err != nil {
		t.Fatal(err)
	}
	replay := req.Clone(context.Background())
	replay.URL, replay.Host = mustURL(t, second+req.URL.RequestURI()), ""
	expect(t, s.do(replay), http.StatusUnauthorized, "replayed request")
	if run := s.workflowRun(id); run != first.str("run_id") {
		t.Fatalf("the replay started run %s", run)
	}

	// Both at once: exactly one worker accepts.
	other := s.invoices[1]
	req = s.sign(s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil), nil)
	replay = req.Clone(context.Background())
	replay.URL, replay.Host = mustURL(t, second+req.URL.RequestURI()), ""
	results := make(chan int, 2)
	for _, r := range []*http.Request{req, replay} {
		go func() { results <- s.do(r).status }()
	}
	a, b := <-results, <-results
	if min(a, b) != http.StatusAccepted || max(a, b) != http.StatusUnauthorized {
		t.Fatalf("concurrent replay: %d and %d", a, b)
	}
}

func TestBearerToken(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	req := s.request(http.MethodPost, "/v1/invoices/"+id+"/start", nil)
	api.SetBearer(req, s.token, time.Now(), "")
	ok := s.do(req)
	expect(t, ok, http.StatusAccepted, "")
	if s.workflowRun(id) != ok.str("run_id") {
		t.Fatal("no workflow")
	}
	if lines := logLines(s.logs, "api request"); len(lines) != 1 || lines[0]["client"] != "erp-bearer" {
		t.Fatalf("log lines %v", lines)
	}

	// An exact replay is refused like a signed one.
	expect(t, s.do(req), http.StatusUnauthorized, "replayed request")

	other := s.invoices[1]
	bad := s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil)
	api.SetBearer(bad, api.NewToken(), time.Now(), "")
	expect(t, s.do(bad), http.StatusUnauthorized, "bearer token is not recognised")

	// The digest is what the server holds, not a token.
	bad = s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil)
	api.SetBearer(bad, api.TokenDigest(s.token), time.Now(), "")
	expect(t, s.do(bad), http.StatusUnauthorized, "bearer token is not recognised")

	// A bearer request still needs its timestamp and nonce.
	bad = s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil)
	api.SetBearer(bad, s.token, time.Now(), "")
	bad.Header.Del(api.HeaderNonce)
	expect(t, s.do(bad), http.StatusUnauthorized, "missing header Portico-Nonce")
	bad.Header.Set(api.HeaderNonce, "short")
	expect(t, s.do(bad), http.StatusUnauthorized, "Portico-Nonce must be 16-128 characters")

	// A token naming another client in Portico-Client is refused.
	bad = s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil)
	api.SetBearer(bad, s.token, time.Now(), "")
	bad.Header.Set(api.HeaderClient, "erp")
	expect(t, s.do(bad), http.StatusUnauthorized, "does not belong")

	// Both schemes at once are ambiguous.
	bad = s.sign(s.request(http.MethodPost, "/v1/invoices/"+other+"/start", nil), nil)
	bad.Header.Set("Authorization", "Bearer "+s.token)
	expect(t, s.do(bad), http.StatusUnauthorized, "not both")
	s.noWorkflow(other)
	s.noSecrets()
}

func TestUnknownInvoice(t *testing.T) {
	s := newStack(t)
	r := s.start("erp-no-such-invoice", nil)
	expect(t, r, http.StatusNotFound, `the ERP has no invoice "erp-no-such-invoice"`)
	if r.str("field") != "id" {
		t.Fatalf("field %q", r.str("field"))
	}
	s.noWorkflow("erp-no-such-invoice")

	r = s.do(s.sign(s.request(http.MethodGet, "/v1/invoices/erp-no-such-invoice", nil), nil))
	expect(t, r, http.StatusNotFound, `the ERP has no invoice "erp-no-such-invoice"`)
}

func TestBadStartBody(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	for _, tc := range []struct {
		body, field, err string
	}{
		{`{"poll_first":"soon"}`, "poll_first", "must be a duration"},
		{`{"poll_first":10}`, "poll_first", "must be a JSON string"},
		{`{"poll_max":"1ms"}`, "poll_max", "must be between 1s and 720h"},
		{`{"poll_first":"1h","poll_max":"10s"}`, "poll_max", "must not be shorter than poll_first"},
		{`{"poll_frist":"10s"}`, "poll_frist", "unknown field"},
		{`{"poll_first":`, "", "not valid JSON"},
		{`["10s"]`, "", "must be a JSON object"},
		{`{} {}`, "", "a single JSON object"},
	} {
		r := s.start(id, []byte(tc.body))
		expect(t, r, http.StatusBadRequest, tc.err)
		if r.str("field") != tc.field {
			t.Errorf("%s: field %q, want %q", tc.body, r.str("field"), tc.field)
		}
	}
	body := []byte(`poll_first=10s`)
	req := s.request(http.MethodPost, "/v1/invoices/"+id+"/start", body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	expect(t, s.do(s.sign(req, body)), http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	s.noWorkflow(id)
}

func TestBodyTooLarge(t *testing.T) {
	s := newStack(t)
	s.server.MaxBodyBytes = 1 << 20
	id := s.invoices[0]
	body := []byte(`{"poll_first":"10s","pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	expect(t, s.start(id, body), http.StatusRequestEntityTooLarge, "larger than 1 MiB")
	s.noWorkflow(id)
}

func TestNoClientsConfigured(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	empty, err := api.NewAuthenticator()
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []*api.Authenticator{nil, empty} {
		s.serve(auth)
		req := s.requestTo(s.lastURL, http.MethodPost, "/v1/invoices/"+id+"/start", nil)
		api.Sign(req, nil, "erp", s.secret, time.Now(), "")
		expect(t, s.do(req), http.StatusUnauthorized, "no API clients are configured")
	}
	s.noWorkflow(id)
}

func TestRoutesAnswerJSON(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]
	r := s.do(s.sign(s.request(http.MethodDelete, "/v1/invoices/"+id+"/start", nil), nil))
	expect(t, r, http.StatusMethodNotAllowed, "use POST")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	expect(t, s.do(s.sign(s.request(http.MethodGet, "/v2/anything", nil), nil)), http.StatusNotFound, "no such endpoint")
	// Unauthenticated, even an unknown path is a 401: the API does not tell strangers what exists.
	expect(t, s.do(s.request(http.MethodGet, "/v2/anything", nil)), http.StatusUnauthorized, "missing header")
	s.noWorkflow(id)
}

func TestSecretRotation(t *testing.T) {
	s := newStack(t)
	old, next := s.secret, api.NewClientSecret()
	auth, err := api.NewAuthenticator(mustKeys(t, api.HMACEntry("erp", old), api.HMACEntry("erp", next))...)
	if err != nil {
		t.Fatal(err)
	}
	s.serve(auth)
	for i, secret := range [][]byte{old, next} {
		req := s.requestTo(s.lastURL, http.MethodPost, "/v1/invoices/"+s.invoices[i]+"/start", nil)
		api.Sign(req, nil, "erp", secret, time.Now(), "")
		expect(t, s.do(req), http.StatusAccepted, "")
	}
}

func TestNoncesArePurged(t *testing.T) {
	s := newStack(t)
	now := time.Now()
	s.server.Now = func() time.Time { return now }
	req := s.request(http.MethodGet, "/v1/invoices/"+s.invoices[0], nil)
	api.Sign(req, nil, "erp", s.secret, now, "first-nonce-0123456789")
	s.do(req)

	count := func(nonce string) int {
		var n int
		if err := s.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM api_request_nonces WHERE nonce = $1`, nonce).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("first-nonce-0123456789") != 1 {
		t.Fatal("nonce not recorded")
	}
	// Two windows later the first nonce can no longer be replayed (its timestamp is refused), so the next
	// accepted request clears it out.
	now = now.Add(11 * time.Minute)
	req = s.request(http.MethodGet, "/v1/invoices/"+s.invoices[0], nil)
	api.Sign(req, nil, "erp", s.secret, now, "second-nonce-0123456789")
	s.do(req)
	if count("first-nonce-0123456789") != 0 || count("second-nonce-0123456789") != 1 {
		t.Fatal("expired nonce not purged, or the fresh one was")
	}
}

// stubInvoiceWorkflow stands in for InvoiceWorkflow, which needs browsers and portals, to answer the state
// query the GET route reads.
func stubInvoiceWorkflow(ctx workflow.Context, in workflows.InvoiceInput) error {
	state := workflows.InvoiceState{InvoiceID: in.InvoiceID, Stage: workflows.StageAwaitingApproval, PortalStatus: "Draft", DraftVersion: 1}
	if err := workflow.SetQueryHandler(ctx, workflows.StateQuery, func() (workflows.InvoiceState, error) { return state, nil }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

func TestGetInvoice(t *testing.T) {
	s := newStack(t)
	id := s.invoices[0]

	r := s.do(s.sign(s.request(http.MethodGet, "/v1/invoices/"+id, nil), nil))
	expect(t, r, http.StatusNotFound, "has no workflow yet")

	w := worker.New(s.client, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(stubInvoiceWorkflow, workflow.RegisterOptions{Name: "InvoiceWorkflow"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	expect(t, s.start(id, nil), http.StatusAccepted, "")

	r = s.do(s.sign(s.request(http.MethodGet, "/v1/invoices/"+id, nil), nil))
	expect(t, r, http.StatusOK, "")
	if r.str("stage") != string(workflows.StageAwaitingApproval) || r.str("invoice_id") != id || r.str("portal_status") != "Draft" ||
		r.str("workflow_id") != workflows.InvoiceWorkflowID(id) {
		t.Fatalf("state %s", r.raw)
	}

	// Reading is authenticated the same way.
	expect(t, s.do(s.request(http.MethodGet, "/v1/invoices/"+id, nil)), http.StatusUnauthorized, "missing header")
	req := s.request(http.MethodGet, "/v1/invoices/"+id, nil)
	api.SetBearer(req, s.token, time.Now(), "")
	expect(t, s.do(req), http.StatusOK, "")
	expect(t, s.do(req), http.StatusUnauthorized, "replayed request")
}

func mustKeys(t *testing.T, entries ...string) []api.Key {
	t.Helper()
	keys, err := api.ParseKeys(strings.Join(entries, ","))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
