package simulator

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestUpdatedSinceListsOnlyChangedPOs: both flavors' PO lists take an optional changed-since filter, backed by
// each PO's UpdatedAt: set when it is seeded or changed (re-seeding an identical PO keeps it), and when its
// invoiced amount changes.
func TestUpdatedSinceListsOnlyChangedPOs(t *testing.T) {
	e := newEnv(t, Config{PageSize: 2})
	for _, n := range []string{"PO-1", "PO-2", "PO-3", "PO-4"} {
		e.seedPO(n, POOpen)
	}
	e.clock.Advance(time.Minute)
	since := e.clock.Now()
	e.clock.Advance(time.Second)
	unchanged := e.seedPO("PO-1", POOpen) // identical: keeps its time
	changed := unchanged
	changed.Number = "PO-2"
	changed.PaymentTerms = "Net 60"
	if err := e.srv.AddPurchaseOrders(testUser, []PO{changed}); err != nil {
		t.Fatal(err)
	}
	e.seedPO("PO-5", POClosed) // new
	b := e.browser()
	e.login(b)
	// PO-3 is invoiced: its invoiced amount changes at submission.
	fields := invoiceFields("", "INV-3")
	fields.Set("qty_1", "1")
	fields.Set("qty_2", "0")
	fields.Set("tax_rate", "0")
	draft := e.createDraft(b, "PO-3", "", fields)
	e.clock.Advance(time.Second)
	if listed := numbers(b.get("/pos?updated_since=" + url.QueryEscape(since.Format(time.RFC3339)))); !slices.Equal(listed, []string{"PO-2", "PO-5"}) {
		t.Fatalf("a draft does not change the PO; listed %v", listed)
	}
	b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})

	p := b.get("/pos?updated_since=" + url.QueryEscape(since.Format(time.RFC3339Nano)))
	if got := numbers(p); !slices.Equal(got, []string{"PO-2", "PO-3"}) {
		t.Fatalf("page 1 of changed POs: %v", got)
	}
	if p.text("p.filter") == "" {
		t.Error("the filter is not shown")
	}
	next, ok := p.doc.Find("nav.pagination a[rel=next]").Attr("href")
	if !ok {
		t.Fatal("no next page")
	}
	if u, _ := url.Parse(next); u.Query().Get("updated_since") == "" {
		t.Fatalf("the next link drops the filter: %s", next)
	}
	if got := numbers(b.get(next)); !slices.Equal(got, []string{"PO-5"}) {
		t.Fatalf("page 2 of changed POs: %v", got)
	}
	if all := numbers(b.get("/pos?page=3")); !slices.Equal(all, []string{"PO-5"}) {
		t.Fatalf("unfiltered page 3: %v", all)
	}
	if p := b.get("/pos?updated_since=yesterday"); p.status != http.StatusBadRequest {
		t.Fatalf("a bad filter: %d", p.status)
	}
}

func numbers(p page) []string {
	var out []string
	for _, n := range p.doc.Find("table#po-table tbody tr[data-po]").EachIter() {
		out = append(out, n.AttrOr("data-po", ""))
	}
	return out
}

func TestAribaUpdatedSince(t *testing.T) {
	e := newAribaEnv(t, Config{PageSize: 2})
	for _, n := range []string{"PO-1", "PO-2", "PO-3"} {
		e.seedPO(n, POOpen)
	}
	e.clock.Advance(time.Minute)
	since := e.clock.Now().Format(time.RFC3339)
	e.seedPO("PO-9", POCancelled)
	c := e.aribaClient()
	e.aribaLogin(c)
	st, out := c.call(http.MethodGet, "/api/orders?updatedSince="+url.QueryEscape(since), nil)
	if st != http.StatusOK || out.num("total") != 1 || out.list("orders")[0].str("number") != "PO-9" || out.str("updated_since") == "" {
		t.Fatalf("changed orders: %d %v", st, out)
	}
	if st, out = c.call(http.MethodGet, "/api/orders?updatedSince=soon", nil); st != http.StatusBadRequest || out.str("error") == "" {
		t.Fatalf("bad filter: %d %v", st, out)
	}
	if _, out = c.call(http.MethodGet, "/api/orders", nil); out.num("total") != 4 {
		t.Fatalf("unfiltered: %v", out)
	}
}

// TestFaultQueryMatchesOnePage: a fault with a query fails exactly the list page it names.
func TestFaultQueryMatchesOnePage(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	e.login(b)
	e.inject(Fault{Kind: FaultError, Path: "/pos", Query: "page=3", Count: 1})
	var got []int
	for _, p := range []string{"/pos?page=1", "/pos/PO-1", "/pos?page=30", "/pos?updated_since=x&page=3", "/pos?page=3"} {
		got = append(got, b.get(p).status)
	}
	if want := []int{200, 404, 200, 503, 200}; !slices.Equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if _, err := e.srv.InjectFault(Fault{Kind: FaultError, Query: "%zz"}); err == nil {
		t.Fatal("a bad query was accepted")
	}
}

// TestGenerateIsDeterministic: the same spec gives the same data; every PO status, 1–5 lines, valid to seed.
func TestGenerateIsDeterministic(t *testing.T) {
	spec, err := ParseGenerateSpec("accounts=2,pos=300,seed=7")
	if err != nil || spec != (GenerateSpec{Seed: 7, Accounts: 2, POs: 300}) {
		t.Fatalf("parse: %+v %v", spec, err)
	}
	for _, bad := range []string{"accounts=0,pos=1", "pos=x", "accounts", "colour=blue"} {
		if _, err := ParseGenerateSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a, b := Generate(spec), Generate(spec)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same spec differ")
	}
	if c := Generate(GenerateSpec{Seed: 8, Accounts: 2, POs: 300}); reflect.DeepEqual(a.POs, c.POs) {
		t.Fatal("another seed gives the same POs")
	}
	statuses, currencies := map[POStatus]int{}, map[string]bool{}
	for _, pos := range a.POs {
		if len(pos) != 300 {
			t.Fatalf("%d POs", len(pos))
		}
		for _, po := range pos {
			statuses[po.Status]++
			currencies[po.Currency] = true
			if len(po.Lines) < 1 || len(po.Lines) > 5 {
				t.Fatalf("%s has %d lines", po.Number, len(po.Lines))
			}
		}
	}
	for _, st := range []POStatus{POOpen, POPartiallyInvoiced, POFullyInvoiced, POClosed, POCancelled} {
		if statuses[st] == 0 {
			t.Errorf("no %s PO", st)
		}
	}
	if len(currencies) < 4 {
		t.Errorf("currencies %v", currencies)
	}
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Seed(srv); err != nil {
		t.Fatal(err)
	}
	if got := srv.ListedPOs("supplier-002"); len(got) != 300 || got[0].Number != "PO-20000001" || got[0].UpdatedAt.IsZero() {
		t.Fatalf("listed %d, first %+v", len(got), got[0])
	}
}
