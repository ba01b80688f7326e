package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/api"
	"portico/internal/codec"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

func temporalClient(t *testing.T) client.Client {
	t.Helper()
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	// With the payload codec, as every Portico client is made: the API's starts carry invoice data.
	c, err := client.Dial(codec.ClientOptions(client.Options{HostPort: testenv.Temporal(t), Logger: quiet}, codec.New(testenv.Keys(t))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// lines returns the logged records whose message is msg.
func logLines(b *testenv.Logs, msg string) []map[string]any {
	var out []map[string]any
	for l := range strings.SplitSeq(b.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type stack struct {
	t        *testing.T
	client   client.Client
	store    *store.Store
	invoices []string
	secret   []byte // HMAC secret of client "erp"
	token    string // bearer token of client "erp-bearer"
	auth     *api.Authenticator
	logs     *testenv.Logs
	server   *api.Server
	url      string
	lastURL  string // of the server serve started last
}

// newStack puts together what a worker process runs: PostgreSQL with the demo ERP, a Temporal client,
// and the API server behind a real HTTP listener. No worker runs, so a started workflow just waits.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, client: temporalClient(t), store: testenv.Store(t), secret: api.NewClientSecret(), token: api.NewToken(), logs: &testenv.Logs{}}
	suffix := "-" + strings.ToLower(api.NewNonce()[:8])
	_, _, data := testenv.DemoPortal(t, s.store, suffix)
	s.invoices = data.InvoiceIDs
	keys, err := api.ParseKeys(api.HMACEntry("erp", s.secret) + "," + api.BearerEntry("erp-bearer", s.token))
	if err != nil {
		t.Fatal(err)
	}
	if s.auth, err = api.NewAuthenticator(keys...); err != nil {
		t.Fatal(err)
	}
	s.server = s.serve(s.auth)
	return s
}

// serve starts another API server on the same store and Temporal, as a second worker process would.
func (s *stack) serve(auth *api.Authenticator) *api.Server {
	srv := &api.Server{Client: s.client, Store: s.store, Auth: auth, Logger: slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	hs := httptest.NewServer(srv)
	s.t.Cleanup(hs.Close)
	if s.url == "" {
		s.url = hs.URL
	}
	s.lastURL = hs.URL
	return srv
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (r response) str(key string) string { v, _ := r.body[key].(string); return v }

func (s *stack) request(method, path string, body []byte) *http.Request {
	s.t.Helper()
	return s.requestTo(s.url, method, path, body)
}

func (s *stack) requestTo(base, method, path string, body []byte) *http.Request {
	s.t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (s *stack) sign(req *http.Request, body []byte) *http.Request {
	api.Sign(req, body, "erp", s.secret, time.Now(), "")
	return req
}

func (s *stack) do(req *http.Request) response {
	s.t.Helper()
	// Requests are made from a snapshot so that the same one can be sent again (a replay).
	var body []byte
	if req.GetBody != nil {
		rc, _ := req.GetBody()
		body, _ = io.ReadAll(rc)
	}
	again := req.Clone(context.Background())
	again.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(again)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("%s %s: Content-Type %q, body %s", req.Method, req.URL.Path, ct, raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		s.t.Fatalf("%s %s: body is not JSON: %s", req.Method, req.URL.Path, raw)
	}
	return r
}

// start sends a signed start request for invoice id.
func (s *stack) start(id string, body []byte) response {
	s.t.Helper()
	return s.do(s.sign(s.request(http.MethodPost, "/v1/invoices/"+id+"/start", body), body))
}

// expect checks a response's status and that its error (if wantErr is set) says what it should.
func expect(t *testing.T, r response, status int, wantErr string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if wantErr != "" && !strings.Contains(r.str("error"), wantErr) {
		t.Fatalf("error %q does not say %q", r.str("error"), wantErr)
	}
}

// workflowRun returns the run ID of the invoice's workflow, or "" if none was ever started.
func (s *stack) workflowRun(invoiceID string) string {
	s.t.Helper()
	desc, err := s.client.DescribeWorkflowExecution(context.Background(), workflows.InvoiceWorkflowID(invoiceID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

func (s *stack) noWorkflow(invoiceID string) {
	s.t.Helper()
	if run := s.workflowRun(invoiceID); run != "" {
		s.t.Fatalf("a workflow was started for invoice %s (run %s)", invoiceID, run)
	}
}

// noSecrets checks that no secret, token or signature ever reached a response or the log.
func (s *stack) noSecrets(texts ...string) {
	s.t.Helper()
	secrets := []string{api.HMACEntry("erp", s.secret)[len("erp:hmac:"):], s.token, api.TokenDigest(s.token)}
	for _, text := range append(texts, s.logs.String()) {
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				s.t.Fatalf("a secret leaked: %s", text)
			}
		}
		if strings.Contains(text, "v1=") {
			s.t.Fatalf("a signature leaked: %s", text)
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
