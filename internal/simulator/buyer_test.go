package simulator

import (
	"net/http"
	"net/url"
	"testing"
)

// submitted creates and submits an invoice (total 55.00 on PO-1) and returns its ID.
func (e *env) submitted(b *browser, number string) string {
	e.t.Helper()
	draft := e.createDraft(b, "PO-1", "", invoiceFields("", number))
	p := b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})
	if p.text("#invoice-status") != "Pending Approval" {
		e.t.Fatalf("submit failed: %s", p.flashError())
	}
	return p.text("#invoice-id")
}

func TestBuyerTransitions(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	id := e.submitted(b, "B-1")

	var list []Invoice
	if st := e.apiJSON("GET", "/buyer/api/invoices?supplier=alice&number=B-1", nil, &list); st != 200 || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list: status %d, %+v", st, list)
	}

	var errBody map[string]string
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/pay", map[string]string{"reference": "PAY-1"}, &errBody); st != http.StatusConflict || errBody["error"] == "" {
		t.Errorf("pay before approval: status %d, body %v", st, errBody)
	}
	var inv Invoice
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/approve", nil, &inv); st != 200 || inv.Status != StatusApproved {
		t.Fatalf("approve: status %d, invoice status %s", st, inv.Status)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/approve", nil, nil); st != http.StatusConflict {
		t.Errorf("approving twice: status %d, want 409", st)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/dispute", map[string]string{"reason": "late"}, nil); st != http.StatusConflict {
		t.Errorf("disputing an approved invoice: status %d, want 409", st)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/pay", map[string]string{}, nil); st != http.StatusBadRequest {
		t.Errorf("pay without reference: status %d, want 400", st)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/pay", map[string]string{"reference": "PAY-778"}, &inv); st != 200 || inv.Status != StatusPaid {
		t.Fatalf("pay: status %d, invoice status %s", st, inv.Status)
	}
	p := b.get("/invoices/" + id)
	if p.text("#invoice-status") != "Paid" || p.text("#payment-reference") != "PAY-778" {
		t.Errorf("supplier sees %q / ref %q", p.text("#invoice-status"), p.text("#payment-reference"))
	}
	if got := b.get("/pos/PO-1").text("#po-invoiced"); got != "55.00" {
		t.Errorf("paid invoice: PO invoiced = %s, want 55.00", got)
	}

	if st := e.apiJSON("POST", "/buyer/api/invoices/INV-999999/approve", nil, &errBody); st != http.StatusNotFound || errBody["error"] == "" {
		t.Errorf("unknown invoice: status %d", st)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/approve", "not an object", nil); st != http.StatusBadRequest {
		t.Errorf("bad JSON: status %d, want 400", st)
	}
	evs := e.srv.Events()
	if !hasEvent(evs, "approved", testUser) || !hasEvent(evs, "paid", testUser) {
		t.Error("approved/paid events missing")
	}
}

func TestDisputeReleasesBalance(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	id := e.submitted(b, "D-1")
	if got := b.get("/pos/PO-1").text("#po-remaining"); got != "150.00" {
		t.Fatalf("remaining after submit = %s", got)
	}
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/dispute", map[string]string{}, nil); st != http.StatusBadRequest {
		t.Errorf("dispute without reason: status %d, want 400", st)
	}
	var inv Invoice
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/dispute", map[string]string{"reason": "Wrong unit price on line 1"}, &inv); st != 200 || inv.Status != StatusDisputed {
		t.Fatalf("dispute: status %d, %s", st, inv.Status)
	}
	po := b.get("/pos/PO-1")
	if got := po.text("#po-remaining") + "|" + po.text("#po-status"); got != "205.00|Open" {
		t.Errorf("after dispute remaining|status = %s, want 205.00|Open", got)
	}
	p := b.get("/invoices/" + id)
	if p.text("#invoice-status") != "Disputed" || p.text("#dispute-reason") != "Wrong unit price on line 1" {
		t.Errorf("supplier sees %q / %q", p.text("#invoice-status"), p.text("#dispute-reason"))
	}
	// A disputed number stays used: a resubmission needs a new one.
	form := b.get("/pos/PO-1/invoices/new")
	if r := b.postMultipart("/pos/PO-1/invoices", invoiceFields(form.csrf(), "D-1"), pdf); r.status != 422 {
		t.Errorf("reusing a disputed number: status %d", r.status)
	}
}

func TestVoidFreesNumberAndBalance(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	id := e.submitted(b, "V-1")
	var inv Invoice
	if st := e.apiJSON("POST", "/buyer/api/invoices/"+id+"/void", nil, &inv); st != 200 || inv.Status != StatusVoided {
		t.Fatalf("void: status %d, %s", st, inv.Status)
	}
	if got := b.get("/pos/PO-1").text("#po-remaining"); got != "205.00" {
		t.Errorf("remaining after void = %s", got)
	}
	e.createDraft(b, "PO-1", "", invoiceFields("", "V-1"))
}

func TestBuyerPage(t *testing.T) {
	e := newEnv(t, Config{ControlToken: "s3cret-token"})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	e.createDraft(b, "PO-1", "", invoiceFields("", "DRAFT-ONLY"))
	id := e.submitted(b, "P-1")

	if p := b.get("/buyer"); p.status != http.StatusUnauthorized {
		t.Errorf("buyer page without token: status %d", p.status)
	}
	p := b.get("/buyer?token=s3cret-token")
	if p.has(`tr[data-invoice="DRAFT-ONLY"]`) {
		t.Error("buyer page lists a draft")
	}
	row := p.doc.Find(`tr[data-invoice-id="` + id + `"]`)
	action := row.Find("form.approve-form").AttrOr("action", "")
	if action == "" {
		t.Fatalf("no approve form for %s", id)
	}
	p = b.post(action, nil)
	if got := p.text(`tr[data-invoice-id="` + id + `"] span.badge`); got != "Approved" {
		t.Errorf("after Approve the buyer page shows %q", got)
	}
	if got := b.get("/invoices/" + id).text("#invoice-status"); got != "Approved" {
		t.Errorf("supplier sees %q", got)
	}
	// The form refuses a second approval with a visible error.
	if p := b.post(action, nil); p.status != http.StatusConflict || p.flashError() == "" {
		t.Errorf("second approve: status %d, flash %q", p.status, p.flashError())
	}
}
