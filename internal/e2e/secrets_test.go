package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"portico/internal/api"
	"portico/internal/codec"
	"portico/internal/demo"
	"portico/internal/erp"
	"portico/internal/service"
	"portico/internal/simulator"
	"portico/internal/vault"
	"portico/workflows"
)

// TestNoSecretLeaks runs full lifecycles on the real stack (one invoice started through the signed ERP API
// and paid, one refused and rejected, one whose portal password is wrong) and then looks for every secret
// where it must not be: the raw bytes of every workflow history in the dev server, the worker's logs at
// debug level and every row of every table. The secrets are the portal password (right and wrong), the
// TOTP secret, every cookie the portal handed out and the keys themselves. It also proves the payloads are
// really encrypted, that a tampered ciphertext is refused, and that a codec server with another key or
// without a token decrypts nothing.
func TestNoSecretLeaks(t *testing.T) {
	s := start(t, "-sec")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	creds, err := s.store.Credentials(ctx, s.data.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := s.store.PortalAccount(ctx, s.data.AccountID)
	if err != nil {
		t.Fatal(err)
	}

	// The ERP API and the codec server, as the worker serves them.
	codecToken, apiSecret := api.NewToken(), api.NewClientSecret()
	keys, err := api.ParseKeys(api.HMACEntry("erp-test", apiSecret))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.NewAuthenticator(keys...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := service.HTTPHandler(service.HTTPDeps{Client: s.client, Store: s.store, Codec: s.codec, Auth: auth, CodecTokens: []string{codecToken}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// 1. Started through the API, approved with a note only the encrypted payloads hold, paid.
	paidID := s.data.InvoiceIDs[0]
	apiStart := func(body string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/invoices/"+paidID+"/start", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		api.Sign(req, []byte(body), "erp-test", apiSecret, time.Now(), "")
		return do(t, req)
	}
	if resp := apiStart(`{"poll_first":"1s","poll_max":"2s"}`); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signed start: %d %s", resp.StatusCode, readAll(resp))
	}
	unsigned, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/invoices/"+s.data.InvoiceIDs[1]+"/start", nil)
	if resp := do(t, unsigned); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned start: %d", resp.StatusCode)
	}
	if _, err := s.client.DescribeWorkflowExecution(ctx, workflows.InvoiceWorkflowID(s.data.InvoiceIDs[1]), ""); err == nil {
		t.Fatal("an unsigned request started a workflow")
	}
	waitStage(t, ctx, s.client, paidID, workflows.StageAwaitingApproval)
	canary := "canary-note-" + hex.EncodeToString(api.NewClientSecret()[:8])
	if _, err := erp.SendApproval(ctx, s.client, paidID, workflows.Approval{Decision: "approve", Approver: "you@example.com", Note: canary}); err != nil {
		t.Fatal(err)
	}
	inv, err := s.store.Invoice(ctx, paidID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.buyer.WaitFor(ctx, demo.Supplier, inv.Number, "Pending Approval"); err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, paidID, workflows.StageWithBuyer)
	approveAndPay(t, ctx, s, paidID, inv.Number)
	waitStage(t, ctx, s.client, paidID, workflows.StagePaid)

	// 2. Refused (an unknown approver), then rejected.
	rejectedID := s.data.InvoiceIDs[1]
	if _, err := erp.StartInvoice(ctx, s.client, s.store, rejectedID, fastPoll); err != nil {
		t.Fatal(err)
	}
	waitStage(t, ctx, s.client, rejectedID, workflows.StageAwaitingApproval)
	if _, err := erp.SendApproval(ctx, s.client, rejectedID, workflows.Approval{Decision: "approve", Approver: "mallory@example.com"}); err == nil {
		t.Fatal("mallory's approval was accepted")
	}
	if _, err := erp.SendApproval(ctx, s.client, rejectedID, workflows.Approval{Decision: "reject", Approver: "you@example.com"}); err != nil {
		t.Fatal(err)
	}

	// 3. A wrong password: the portal's refusal travels through an activity failure into the history.
	// The portal ends the sessions, so that the next activity has to log in with it.
	wrong := "Wrong-" + hex.EncodeToString(api.NewClientSecret()[:12])
	if err := s.store.UpsertPortalAccount(ctx, acct, wrong, creds.TOTPSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sim.InjectFault(simulator.Fault{Kind: "kill_session", Account: demo.Supplier}); err != nil {
		t.Fatal(err)
	}
	failedID := s.data.InvoiceIDs[2]
	if _, err := erp.StartInvoice(ctx, s.client, s.store, failedID, fastPoll); err != nil {
		t.Fatal(err)
	}
	failed := waitStage(t, ctx, s.client, failedID, workflows.StageFailed)
	if !strings.Contains(failed.Reason, "password") {
		t.Fatalf("the wrong password is not named: %q", failed.Reason)
	}
	if err := s.store.UpsertPortalAccount(ctx, acct, creds.Password, creds.TOTPSecret); err != nil {
		t.Fatal(err)
	}

	cookies := s.sim.IssuedCookies()
	if len(cookies) < 2 {
		t.Fatalf("the portal handed out %d cookies; the test needs the sessions to look for", len(cookies))
	}
	secrets := map[string]string{"password": creds.Password, "wrong password": wrong, "TOTP secret": creds.TOTPSecret,
		"TOTP secret, lower case": strings.ToLower(creds.TOTPSecret), "codec token": codecToken,
		"API secret": base64.StdEncoding.EncodeToString(apiSecret), "API secret bytes": string(apiSecret)}
	for i, c := range cookies {
		secrets[fmt.Sprintf("portal cookie %d", i)] = c
	}

	// Every history the dev server holds, byte for byte as stored.
	var raw bytes.Buffer
	var sealed []*commonpb.Payload
	ids := s.workflowIDs(t, ctx)
	if len(ids) < 3 {
		t.Fatalf("only %d workflows in the dev server", len(ids))
	}
	for _, id := range ids {
		h, err := rawHistory(ctx, s.client, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range h.Events {
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			raw.Write(b)
		}
		js, _ := protojson.Marshal(h)
		raw.Write(js)
		_ = proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
			Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
				sealed = append(sealed, p...)
				return p, nil
			}})
	}
	absent(t, "the workflow histories", raw.Bytes(), secrets)
	if bytes.Contains(raw.Bytes(), []byte(canary)) {
		t.Error("the approval note is readable in the stored history: payloads are not encrypted")
	}
	for _, p := range sealed {
		if enc := string(p.GetMetadata()["encoding"]); enc != codec.EncodingEncrypted {
			t.Errorf("a stored payload is %q, not encrypted", enc)
		}
	}
	// The canary proves the search could find it: decoded, the history has the note.
	opened, err := s.codec.Decode(sealed)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	for _, p := range opened {
		plain.Write(p.GetData())
	}
	if !bytes.Contains(plain.Bytes(), []byte(canary)) {
		t.Fatal("the decoded payloads lack the approval note: the search above proves nothing")
	}

	// The worker's and the clients' logs, debug level included.
	logs := s.logs.Bytes()
	if !bytes.Contains(logs, []byte(failedID)) {
		t.Fatal("the logs were not captured")
	}
	absent(t, "the logs", logs, secrets)

	// Every row of every table, as text; bytea shows as hex, so look for the hex of each secret too.
	db := s.dumpDatabase(t, ctx)
	if !strings.Contains(db, acct.Username) {
		t.Fatal("the database dump lacks the account's user name: the search below proves nothing")
	}
	absent(t, "the database", []byte(db), secrets)
	for name, v := range secrets {
		if strings.Contains(db, hex.EncodeToString([]byte(v))) {
			t.Errorf("the database holds the %s (as bytea)", name)
		}
	}

	// The codec server decrypts for a token holder only, and only with the right key.
	decode := func(base, token string, payloads []*commonpb.Payload) (int, string) {
		body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp := do(t, req)
		return resp.StatusCode, readAll(resp)
	}
	if code, body := decode(srv.URL+"/codec", codecToken, sealed); code != http.StatusOK || !strings.Contains(decodedData(body), canary) {
		t.Fatalf("the codec server with the token: %d, note not in %d bytes", code, len(body))
	}
	if code, body := decode(srv.URL+"/codec", "", sealed); code != http.StatusUnauthorized || strings.Contains(decodedData(body), canary) {
		t.Fatalf("the codec server without a token: %d", code)
	}
	otherEntry, _ := vault.NewKeyEntry("e2e-payload-1") // the same key ID, another key
	otherKeys, _ := vault.NewKeyring(otherEntry)
	other := httptest.NewServer(http.StripPrefix("/codec", codec.NewHandler(codec.New(otherKeys), codec.HandlerOptions{Tokens: []string{codecToken}})))
	defer other.Close()
	if code, body := decode(other.URL+"/codec", codecToken, sealed); code == http.StatusOK || strings.Contains(decodedData(body), canary) {
		t.Fatalf("a codec server with another key answered %d", code)
	}
	tampered := proto.Clone(sealed[0]).(*commonpb.Payload)
	tampered.Data[len(tampered.Data)/2] ^= 1
	if _, err := s.codec.Decode([]*commonpb.Payload{tampered}); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("a tampered payload: %v", err)
	}
	if code, _ := decode(srv.URL+"/codec", codecToken, []*commonpb.Payload{tampered}); code == http.StatusOK {
		t.Fatal("the codec server decoded a tampered payload")
	}

	// A tampered credential is refused by name, never used.
	if _, err := s.store.Pool().Exec(ctx, `UPDATE portal_accounts SET password_enc = set_byte(password_enc, length(password_enc) - 1,
		get_byte(password_enc, length(password_enc) - 1) # 1) WHERE id = $1`, acct.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Credentials(ctx, acct.ID); !errors.Is(err, vault.ErrTampered) || strings.Contains(err.Error(), creds.Password) {
		t.Fatalf("tampered password: %v", err)
	}
}

// absent fails the test for each secret found in data.
func absent(t *testing.T, where string, data []byte, secrets map[string]string) {
	t.Helper()
	for name, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("secret %s is too short to search for", name)
		}
		if bytes.Contains(data, []byte(v)) {
			t.Errorf("%s hold the %s", where, name)
		}
	}
}

// workflowIDs lists every workflow the dev server has run.
func (s *stack) workflowIDs(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var ids []string
	var next []byte
	for {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: next})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if next = resp.GetNextPageToken(); len(next) == 0 {
			return ids
		}
	}
}

// dumpDatabase returns every row of every table of the public schema as text.
func (s *stack) dumpDatabase(t *testing.T, ctx context.Context) string {
	t.Helper()
	rows, err := s.store.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("only %d tables", len(tables))
	}
	var b strings.Builder
	for _, tbl := range tables {
		var text *string
		if err := s.store.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT string_agg(t::text, E'\n') FROM %q t`, tbl)).Scan(&text); err != nil {
			t.Fatal(err)
		}
		if text != nil {
			b.WriteString(*text)
		}
	}
	return b.String()
}

// decodedData returns the data of the payloads in a codec server's JSON answer, decoded, joined.
func decodedData(body string) string {
	var ps struct {
		Payloads []struct {
			Data string `json:"data"`
		} `json:"payloads"`
	}
	if json.Unmarshal([]byte(body), &ps) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range ps.Payloads {
		d, _ := base64.StdEncoding.DecodeString(p.Data)
		b.Write(d)
	}
	return b.String()
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
