package simulator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
)

func TestPOListPaging(t *testing.T) {
	e := newEnv(t, Config{PageSize: 25})
	var pos []PO
	for i := 1; i <= 60; i++ {
		pos = append(pos, PO{
			Number: fmt.Sprintf("PO-%04d", i), BuyerEntity: "Acme Manufacturing Inc", Currency: "USD",
			OrderDate: time.Date(2025, 1, i%28+1, 0, 0, 0, 0, time.UTC), PaymentTerms: "Net 45",
			Lines: []POLine{{LineNo: 1, Quantity: decimal.NewFromInt(2), UOM: "EA", UnitPrice: decimal.NewFromInt(50)}},
		})
	}
	if err := e.srv.AddPurchaseOrders(testUser, pos); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	p := e.login(b)

	if got := p.doc.Find("h1").Text(); got != "Purchase Orders" {
		t.Errorf("h1 = %q", got)
	}
	var headers []string
	p.doc.Find("table#po-table thead th").Each(func(_ int, s *goquery.Selection) { headers = append(headers, s.Text()) })
	want := "PO Number,Buyer Entity,Order Date,Currency,Total,Invoiced,Remaining,Status,Payment Terms"
	if got := strings.Join(headers, ","); got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}

	seen := map[string]bool{}
	wantRows := []int{25, 25, 10}
	for i, n := range wantRows {
		if got := p.text("nav.pagination .page-info"); got != fmt.Sprintf("Page %d of 3", i+1) {
			t.Errorf("page %d: pagination text %q", i+1, got)
		}
		rows := p.doc.Find("table#po-table tbody tr[data-po]")
		if rows.Length() != n {
			t.Errorf("page %d: %d rows, want %d", i+1, rows.Length(), n)
		}
		rows.Each(func(_ int, s *goquery.Selection) {
			num := s.AttrOr("data-po", "")
			seen[num] = true
			if href := s.Find("a").AttrOr("href", ""); href != "/pos/"+num {
				t.Errorf("row %s links to %q", num, href)
			}
		})
		next, ok := p.doc.Find("nav.pagination a[rel=next]").Attr("href")
		if last := i == len(wantRows)-1; last == ok {
			t.Fatalf("page %d: rel=next present=%v", i+1, ok)
		}
		if ok {
			p = b.get(next)
		}
	}
	if len(seen) != 60 {
		t.Errorf("saw %d distinct POs over all pages, want 60", len(seen))
	}
	row := p.doc.Find(`tr[data-po="PO-0060"] td`)
	if got := row.Eq(4).Text() + "|" + row.Eq(6).Text() + "|" + row.Eq(7).Text(); got != "100.00|100.00|Open" {
		t.Errorf("PO-0060 total|remaining|status = %s", got)
	}

	if got := b.get("/pos?q=PO-005").doc.Find("tr[data-po]").Length(); got != 10 {
		t.Errorf("search PO-005: %d rows, want 10", got)
	}
	if got := b.get("/pos?page=99").text("nav.pagination .page-info"); got != "Page 3 of 3" {
		t.Errorf("page beyond the end shows %q", got)
	}
}

func TestPODetail(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-OPEN", POOpen)
	e.seedPO("PO-CLOSED", POClosed)
	e.seedPO("PO-FULL", POFullyInvoiced)
	b := e.browser()
	e.login(b)

	p := b.get("/pos/PO-OPEN")
	if got := p.doc.Find("h1").Text(); got != "PO PO-OPEN" {
		t.Errorf("h1 = %q", got)
	}
	line := p.doc.Find(`table#po-lines tr[data-line="2"] td`)
	if got := line.Eq(1).Text() + "|" + line.Eq(3).Text() + "|" + line.Eq(4).Text() + "|" + line.Eq(5).Text(); got != "NUT-M8|4|EA|20.00" {
		t.Errorf("line 2 = %s", got)
	}
	link := p.doc.Find("a#create-invoice")
	if link.Text() != "Create Invoice" || link.AttrOr("href", "") != "/pos/PO-OPEN/invoices/new" {
		t.Errorf("open PO: create link %q → %q", link.Text(), link.AttrOr("href", ""))
	}

	for _, number := range []string{"PO-CLOSED", "PO-FULL"} {
		p := b.get("/pos/" + number)
		if p.has("a#create-invoice") {
			t.Errorf("%s offers Create Invoice", number)
		}
		if f := b.get("/pos/" + number + "/invoices/new"); f.status != 409 || f.has("form#invoice-form") {
			t.Errorf("%s: invoice form status %d", number, f.status)
		}
	}

	if p := b.get("/pos/NOPE"); p.status != 404 || p.text("#error-message") != "Purchase order NOPE was not found." {
		t.Errorf("unknown PO: status %d, %q", p.status, p.text("#error-message"))
	}
}

func TestPOFullyInvoicedBySubmission(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	fields := invoiceFields("", "FULL-1")
	fields.Set("qty_1", "10")
	fields.Set("qty_2", "4")
	fields.Set("tax_rate", "0")
	draft := e.createDraft(b, "PO-1", "", fields)
	b.post(draft.url.Path+"/submit", map[string][]string{"csrf_token": {draft.csrf()}})

	p := b.get("/pos/PO-1")
	if p.has("a#create-invoice") {
		t.Error("fully invoiced PO still offers Create Invoice")
	}
	if got := p.text("#po-status") + "|" + p.text("#po-remaining"); got != "Fully Invoiced|0.00" {
		t.Errorf("status|remaining = %s", got)
	}
}
