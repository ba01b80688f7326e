package simulator

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t, Config{})
	resp, err := http.Get(e.ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
}

func TestControlSeedingOverHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	var errBody map[string]string

	acct := map[string]string{"username": "carol", "password": "pw", "totp_secret": "kRSX g5CT", "supplier": "Carol GmbH"}
	if st := e.apiJSON("POST", "/control/accounts", acct, nil); st != http.StatusCreated {
		t.Fatalf("add account: status %d", st)
	}
	bad := map[string]string{"username": "dave", "password": "pw", "totp_secret": "not base32!"}
	if st := e.apiJSON("POST", "/control/accounts", bad, &errBody); st != 400 || !strings.Contains(errBody["error"], "base32") {
		t.Errorf("bad secret: status %d, %v", st, errBody)
	}
	typo := map[string]string{"username": "dave", "pasword": "pw", "totp_secret": testSecret}
	if st := e.apiJSON("POST", "/control/accounts", typo, nil); st != 400 {
		t.Errorf("unknown field: status %d, want 400", st)
	}

	body := `{"username":"carol","purchase_orders":[{"number":"PO-9","buyer_entity":"Acme BV","order_date":"2025-01-31",
		"currency":"EUR","payment_terms":"Net 60","lines":[{"line_no":1,"part_number":"P","description":"Widget",
		"quantity":"3","uom":"EA","unit_price":"1.005"}]}]}`
	if st := e.apiJSON("POST", "/control/purchase-orders", rawBody(body), nil); st != 200 {
		t.Fatalf("add POs: status %d", st)
	}
	var pos []map[string]any
	if st := e.apiJSON("GET", "/control/purchase-orders?username=carol", nil, &pos); st != 200 || len(pos) != 1 {
		t.Fatalf("list POs: %d %v", st, pos)
	}
	if pos[0]["total"] != "3.02" || pos[0]["status"] != "Open" || pos[0]["order_date"] != "2025-01-31" {
		t.Errorf("PO as listed: %v", pos[0])
	}

	for name, b := range map[string]string{
		"unknown account": `{"username":"nobody","purchase_orders":[]}`,
	} {
		if st := e.apiJSON("POST", "/control/purchase-orders", rawBody(b), &errBody); st != 404 {
			t.Errorf("%s: status %d, want 404", name, st)
		}
	}
	for name, b := range map[string]string{
		"no lines":      `{"username":"carol","purchase_orders":[{"number":"X","currency":"EUR","lines":[]}]}`,
		"bad status":    `{"username":"carol","purchase_orders":[{"number":"X","currency":"EUR","status":"Open-ish","lines":[{"line_no":1,"quantity":"1","unit_price":"1"}]}]}`,
		"bad date":      `{"username":"carol","purchase_orders":[{"number":"X","currency":"EUR","order_date":"31/01/2025","lines":[{"line_no":1,"quantity":"1","unit_price":"1"}]}]}`,
		"unknown key":   `{"username":"carol","purchase_orders":[{"numbr":"X"}]}`,
		"not JSON":      `{"username":`,
		"no username":   `{"purchase_orders":[]}`,
		"repeated line": `{"username":"carol","purchase_orders":[{"number":"X","currency":"EUR","lines":[{"line_no":1,"quantity":"1","unit_price":"1"},{"line_no":1,"quantity":"1","unit_price":"1"}]}]}`,
	} {
		if st := e.apiJSON("POST", "/control/purchase-orders", rawBody(b), &errBody); st != 400 || errBody["error"] == "" {
			t.Errorf("%s: status %d, body %v, want 400 with an error", name, st, errBody)
		}
	}

	if st := e.apiJSON("GET", "/control/invoices?username=nobody", nil, nil); st != 404 {
		t.Errorf("invoices of an unknown account: status %d", st)
	}
	var invs []Invoice
	if st := e.apiJSON("GET", "/control/invoices?username=carol", nil, &invs); st != 200 || invs == nil || len(invs) != 0 {
		t.Errorf("invoices of carol: %d %v", st, invs)
	}
	e.browser().submitLogin(testUser, "wrong")
	var evs []Event
	if st := e.apiJSON("GET", "/control/events", nil, &evs); st != 200 || len(evs) != 1 ||
		evs[0].Kind != "login_failed" || evs[0].Username != testUser || evs[0].Detail != "wrong password" || !evs[0].Time.Equal(e.clock.Now()) {
		t.Errorf("events: status %d, %+v", st, evs)
	}
	if st := e.apiJSON("GET", "/control/nope", nil, &errBody); st != 404 || errBody["error"] == "" {
		t.Errorf("unknown control path: status %d, body %v", st, errBody)
	}
}

func TestControlInvoicesJSONUsesDecimalStrings(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	e.createDraft(b, "PO-1", "", invoiceFields("", "J-1"))
	var raw []map[string]any
	if st := e.apiJSON("GET", "/control/invoices?username=alice", nil, &raw); st != 200 || len(raw) != 1 {
		t.Fatalf("status %d, %v", st, raw)
	}
	if raw[0]["total"] != "55" || raw[0]["invoice_date"] != "2025-03-10" || raw[0]["status"] != "Draft" || raw[0]["id"] != "INV-000001" {
		t.Errorf("invoice JSON: %v", raw[0])
	}
}

func TestControlToken(t *testing.T) {
	e := newEnv(t, Config{ControlToken: "tok"})
	if st := e.apiJSON("GET", "/control/events", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("no token: status %d", st)
	}
	if st := e.apiJSON("GET", "/control/events?token=tok", nil, nil); st != 200 {
		t.Errorf("query token: status %d", st)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/buyer/api/invoices", nil)
	req.Header.Set("X-Control-Token", "tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("header token: status %d", resp.StatusCode)
	}
}
