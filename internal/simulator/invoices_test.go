package simulator

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/shopspring/decimal"
)

func TestInvoiceFormPrefill(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	p := b.get("/pos/PO-1/invoices/new")
	form := p.doc.Find(`form#invoice-form[method=post][enctype="multipart/form-data"]`)
	if form.Length() != 1 || form.AttrOr("action", "") != "/pos/PO-1/invoices" {
		t.Fatalf("invoice form missing or posts elsewhere")
	}
	labels := map[string]string{
		"invoice-number": "Invoice #", "invoice-date": "Invoice Date", "tax-rate": "Tax Rate (%)",
		"attachment": "Invoice PDF", "supplier-note": "Supplier Note", "currency": "Currency",
	}
	for id, want := range labels {
		if got := p.text(`label[for="` + id + `"]`); got != want {
			t.Errorf("label for #%s = %q, want %q", id, got, want)
		}
	}
	// Every input and textarea has a label.
	p.doc.Find("form#invoice-form input:not([type=hidden]), form#invoice-form textarea").Each(func(_ int, s *goquery.Selection) {
		id := s.AttrOr("id", "")
		if id == "" || !p.has(`label[for="`+id+`"]`) {
			t.Errorf("input %s (name %s) has no label", id, s.AttrOr("name", ""))
		}
	})
	if got := p.doc.Find(`tr[data-line="2"] input[name=qty_2]`).AttrOr("value", ""); got != "4" {
		t.Errorf("qty_2 prefilled with %q, want 4", got)
	}
	if _, ro := p.doc.Find("input#currency").Attr("readonly"); !ro || p.doc.Find("input#currency").AttrOr("value", "") != "EUR" {
		t.Error("currency is not the PO's read-only currency")
	}
	if !p.has(`input#invoice-date[name=invoice_date][type=date]`) || !p.has(`input#attachment[name=attachment][type=file]`) ||
		!p.has(`textarea#supplier-note[name=note]`) || p.text("button#save-draft") != "Save as Draft" {
		t.Error("invoice form lacks a required field or button")
	}
}

func TestCreateInvoiceDraft(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)

	p := e.createDraft(b, "PO-1", "", invoiceFields("", "INV-2025-001"))
	if p.url.Path != "/invoices/INV-000001" {
		t.Errorf("redirected to %s, want /invoices/INV-000001", p.url.Path)
	}
	if got := p.text(`.flash.success`); got != msgDraftSaved {
		t.Errorf("flash = %q", got)
	}
	if got := p.doc.Find("h1").Text(); got != "Invoice INV-2025-001" {
		t.Errorf("h1 = %q", got)
	}
	if got := p.text("span#invoice-status.badge"); got != "Draft" {
		t.Errorf("status = %q", got)
	}
	// 4 x 12.50 = 50.00; tax 10% = 5.00.
	if got := p.text("#invoice-subtotal") + "|" + p.text("#invoice-tax") + "|" + p.text("#invoice-total"); got != "50.00|5.00|55.00" {
		t.Errorf("subtotal|tax|total = %s", got)
	}
	if !p.has("form#submit-form button#submit-invoice") || !p.has("form#delete-form button#delete-draft") {
		t.Error("draft lacks Submit or Delete")
	}
	if oc := p.doc.Find("form#submit-form").AttrOr("onsubmit", ""); !strings.Contains(oc, "confirm(") {
		t.Errorf("submit has no confirmation: %q", oc)
	}

	invs := e.srv.Invoices(testUser)
	if len(invs) != 1 {
		t.Fatalf("%d invoices, want 1", len(invs))
	}
	inv := invs[0]
	if inv.Status != StatusDraft || inv.AttachmentName != "invoice.pdf" || inv.AttachmentSize != int64(len(pdf.content)) ||
		len(inv.Lines) != 1 || inv.Lines[0].LineNo != 1 || !inv.Total.Equal(decimal.RequireFromString("55")) ||
		inv.Currency != "EUR" || inv.Note != "Partial delivery" {
		t.Errorf("stored invoice = %+v", inv)
	}
	if !hasEvent(e.srv.Events(), "draft_created", testUser) {
		t.Error("no draft_created event")
	}

	// A draft holds no PO balance.
	if got := b.get("/pos/PO-1").text("#po-remaining"); got != "205.00" {
		t.Errorf("remaining after a draft = %s, want 205.00", got)
	}

	list := b.get("/invoices")
	row := list.doc.Find(`table#invoice-table tr[data-invoice="INV-2025-001"]`)
	if row.Length() != 1 || row.Find("a").First().AttrOr("href", "") != "/invoices/INV-000001" ||
		strings.TrimSpace(row.Find("span.badge").Text()) != "Draft" {
		t.Errorf("invoice list row: %q", row.Text())
	}
}

func TestCreateInvoiceValidation(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	e.createDraft(b, "PO-1", "", invoiceFields("", "DUP-1"))

	cases := []struct {
		name  string
		edit  func(url.Values)
		file  *upload
		field string
		want  string
	}{
		{"missing number", func(v url.Values) { v.Set("invoice_number", "  ") }, pdf, "invoice_number", msgNumberRequired},
		{"duplicate number", func(v url.Values) { v.Set("invoice_number", "dup-1") }, pdf, "invoice_number",
			"Invoice number dup-1 has already been used."},
		{"missing date", func(v url.Values) { v.Set("invoice_date", "") }, pdf, "invoice_date", msgDateRequired},
		{"future date", func(v url.Values) { v.Set("invoice_date", "2025-03-15") }, pdf, "invoice_date", msgDateFuture},
		{"over balance", func(v url.Values) { v.Set("qty_1", "10"); v.Set("qty_2", "4") }, pdf, "total",
			"The invoice total 225.50 EUR exceeds the remaining PO balance of 205.00 EUR."},
		{"quantity above PO line", func(v url.Values) { v.Set("qty_2", "5") }, pdf, "qty_2",
			"Line 2: quantity 5 exceeds the PO quantity 4."},
		{"no lines", func(v url.Values) { v.Set("qty_1", "0") }, pdf, "lines", msgNoLines},
		{"bad tax rate", func(v url.Values) { v.Set("tax_rate", "abc") }, pdf, "tax_rate", msgTaxRate},
		{"not a PDF", func(url.Values) {}, &upload{name: "invoice.pdf", content: []byte("PK\x03\x04 zip")}, "attachment", msgNotPDF},
		{"PDF too big", func(url.Values) {}, &upload{name: "big.pdf", content: append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), maxAttachment)...)},
			"attachment", msgPDFTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := b.get("/pos/PO-1/invoices/new")
			fields := invoiceFields(form.csrf(), "NEW-1")
			tc.edit(fields)
			p := b.postMultipart("/pos/PO-1/invoices", fields, tc.file)
			if p.status != 422 || p.url.Path != "/pos/PO-1/invoices" {
				t.Fatalf("status %d at %s, want 422 re-rendered form", p.status, p.url.Path)
			}
			if !strings.Contains(p.flashError(), tc.want) {
				t.Errorf("flash %q does not contain %q", p.flashError(), tc.want)
			}
			if got := p.text(`span.field-error[data-field="` + tc.field + `"]`); got != tc.want {
				t.Errorf("field error for %s = %q, want %q", tc.field, got, tc.want)
			}
			// The form keeps what was typed.
			if got := p.doc.Find("input#invoice-number").AttrOr("value", ""); got != strings.TrimSpace(fields.Get("invoice_number")) {
				t.Errorf("invoice number not kept: %q", got)
			}
			if n := len(e.srv.Invoices(testUser)); n != 1 {
				t.Errorf("a refused form created an invoice (%d invoices)", n)
			}
		})
	}
}

func TestSubmitDraft(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	draft := e.createDraft(b, "PO-1", "", invoiceFields("", "SUB-1")) // total 55.00

	p := b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})
	if p.url.Path != draft.url.Path || p.text(".flash.success") != msgSubmitted {
		t.Fatalf("submit landed on %s with %q / %q", p.url.Path, p.text(".flash"), p.flashError())
	}
	if got := p.text("#invoice-status"); got != "Pending Approval" {
		t.Errorf("status after submit = %q", got)
	}
	if p.has("form#submit-form") || p.has("form#delete-form") {
		t.Error("a submitted invoice still offers Submit or Delete")
	}
	po := b.get("/pos/PO-1")
	if got := po.text("#po-invoiced") + "|" + po.text("#po-remaining") + "|" + po.text("#po-status"); got != "55.00|150.00|Partially Invoiced" {
		t.Errorf("PO invoiced|remaining|status = %s", got)
	}
	if !hasEvent(e.srv.Events(), "submitted", testUser) {
		t.Error("no submitted event")
	}

	again := b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})
	if got := again.flashError(); got != "Only draft invoices can be submitted. This invoice is Pending Approval." {
		t.Errorf("second submit: %q", got)
	}
	if del := b.post(draft.url.Path+"/delete", url.Values{"csrf_token": {draft.csrf()}}); del.flashError() !=
		"Only draft invoices can be deleted. This invoice is Pending Approval." {
		t.Errorf("deleting a submitted invoice: %q", del.flashError())
	}
	if inv := e.srv.Invoices(testUser)[0]; inv.Status != StatusPendingApproval || inv.SubmittedAt.IsZero() {
		t.Errorf("stored invoice after refused actions: %s, submitted %v", inv.Status, inv.SubmittedAt)
	}
}

func TestSubmitRechecksBalance(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen) // 205.00
	b := e.browser()
	e.login(b)
	big := func(n string) url.Values {
		v := invoiceFields("", n)
		v.Set("qty_1", "10") // 125.00, no tax
		v.Set("tax_rate", "0")
		return v
	}
	first := e.createDraft(b, "PO-1", "", big("A-1"))
	second := e.createDraft(b, "PO-1", "", big("A-2"))
	b.post(first.url.Path+"/submit", url.Values{"csrf_token": {first.csrf()}})
	p := b.post(second.url.Path+"/submit", url.Values{"csrf_token": {second.csrf()}})
	if want := "The invoice total 125.00 EUR exceeds the remaining PO balance of 80.00 EUR."; p.flashError() != want {
		t.Errorf("second submit: %q, want %q", p.flashError(), want)
	}
	if got := p.text("#invoice-status"); got != "Draft" {
		t.Errorf("refused submit left status %q", got)
	}
}

func TestDeleteDraft(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	draft := e.createDraft(b, "PO-1", "", invoiceFields("", "DEL-1"))

	p := b.post(draft.url.Path+"/delete", url.Values{"csrf_token": {draft.csrf()}})
	if p.url.Path != "/invoices" || p.text(".flash.success") != msgDraftDeleted {
		t.Fatalf("delete landed on %s with %q", p.url.Path, p.text(".flash"))
	}
	if p.has(`tr[data-invoice="DEL-1"]`) {
		t.Error("deleted draft still listed")
	}
	if n := len(e.srv.Invoices(testUser)); n != 0 {
		t.Errorf("%d invoices left", n)
	}
	if got := b.get(draft.url.Path); got.status != 404 {
		t.Errorf("deleted draft page: status %d", got.status)
	}
	if !hasEvent(e.srv.Events(), "draft_deleted", testUser) {
		t.Error("no draft_deleted event")
	}
	// The number is free again.
	e.createDraft(b, "PO-1", "", invoiceFields("", "DEL-1"))
}

func TestInvoicesArePrivate(t *testing.T) {
	e := newEnv(t, Config{})
	e.seedPO("PO-1", POOpen)
	if err := e.srv.AddAccount(Account{Username: "bob", Password: "pw", TOTPSecret: "KRSXG5CTMVRXEZLU", Supplier: "Bolts Inc"}); err != nil {
		t.Fatal(err)
	}
	alice := e.browser()
	e.login(alice)
	draft := e.createDraft(alice, "PO-1", "", invoiceFields("", "PRIV-1"))

	bob := e.browser()
	mfa := bob.submitLogin("bob", "pw")
	code, _ := totpCode("KRSXG5CTMVRXEZLU", e.clock.Now())
	bob.submitCode(mfa, code)
	if p := bob.get(draft.url.Path); p.status != 404 {
		t.Errorf("bob sees alice's invoice: status %d", p.status)
	}
	if p := bob.get("/pos/PO-1"); p.status != 404 {
		t.Errorf("bob sees alice's PO: status %d", p.status)
	}
}

func TestMoneyRounding(t *testing.T) {
	d := decimal.RequireFromString
	if got := taxFor(d("10.10"), d("5")); got.StringFixed(2) != "0.51" {
		t.Errorf("5%% of 10.10 = %s, want 0.51 (half-up)", got.StringFixed(2))
	}
	if got := (POLine{Quantity: d("3"), UnitPrice: d("0.3333")}).Amount(); got.StringFixed(2) != "1.00" {
		t.Errorf("3 x 0.3333 = %s, want 1.00", got.StringFixed(2))
	}
	if got := formatPrice(d("0.125")); got != "0.125" {
		t.Errorf("formatPrice(0.125) = %s", got)
	}
	if got := formatPrice(d("12.5")); got != "12.50" {
		t.Errorf("formatPrice(12.5) = %s", got)
	}
}
