package erp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"portico/internal/erp"
	"portico/internal/money"
	"portico/internal/store"
	"portico/internal/testenv"
)

// fuzzLimits keeps the attachment limit small, so the fuzzer can reach it.
var fuzzLimits = erp.Limits{MaxAttachmentBytes: 4096}

// fuzzPDF is the smallest attachment Check takes for a PDF, and fuzzAttachment the request's field with it.
var (
	fuzzPDF        = base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n%%EOF\n"))
	fuzzAttachment = `,"attachment":{"name":"INV-1.pdf","content_type":"application/pdf","data":"` + fuzzPDF + `"}`
)

// fuzzStore is a store with one customer of each kind Check tells apart: acme has one portal account,
// duo two, strict one and a policy that requires the PDF, lonely none.
func fuzzStore(tb testing.TB) *store.Store {
	tb.Helper()
	ctx := context.Background()
	st := testenv.Store(tb)
	for _, c := range []string{"acme", "duo", "strict", "lonely"} {
		if err := st.UpsertCustomer(ctx, store.Customer{ID: c, Name: c}); err != nil {
			tb.Fatal(err)
		}
	}
	for _, a := range []store.PortalAccount{
		{ID: "acme-coupa", CustomerID: "acme"}, {ID: "duo-coupa", CustomerID: "duo"}, {ID: "duo-ariba", CustomerID: "duo"},
		{ID: "strict-coupa", CustomerID: "strict"},
	} {
		a.Portal, a.BaseURL, a.Username = "coupa-sim", "http://127.0.0.1:1", "supplier"
		if err := st.UpsertPortalAccount(ctx, a, "Passw0rd!", "JBSWY3DPEHPK3PXP"); err != nil {
			tb.Fatal(err)
		}
	}
	p := store.DefaultPolicy("strict")
	p.AttachmentRequired = true
	if err := st.UpsertPolicy(ctx, p); err != nil {
		tb.Fatal(err)
	}
	return st
}

// fuzzBody is a correct request for acme: 2000 x 0.42 + 2000 x 0.11 = 1060.00, plus 8.25 % tax (87.45) =
// 1147.45 USD, with each replacement applied to its JSON.
func fuzzBody(replace ...string) []byte {
	body := `{"id":"erp-fuzz-1","customer_id":"acme","invoice_number":"INV-1","po_number":"PO-4500012",` +
		`"invoice_date":"2026-03-02","currency":"USD","payment_terms":"Net 30","tax_rate":"8.25","total":"1147.45",` +
		`"note":"Shipment","lines":[` +
		`{"line_no":1,"po_line_no":1,"part_number":"HB-M8-40","description":"Hex bolt","quantity":"2000","unit_price":"0.42","uom":"EA"},` +
		`{"line_no":2,"po_line_no":2,"part_number":"HN-M8","description":"Hex nut","quantity":2000,"unit_price":0.11,"uom":"EA"}]` +
		fuzzAttachment + `}`
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(body, replace[i]) {
			panic("fuzzBody: no " + replace[i])
		}
		body = strings.Replace(body, replace[i], replace[i+1], 1)
	}
	return []byte(body)
}

// knownField is every path Check reports a value under, and unknownIn the objects an unknown field can be
// found in.
var (
	knownField = regexp.MustCompile(`^(id|customer_id|account_id|invoice_number|po_number|invoice_date|currency|payment_terms|tax_rate|total|note|lines|attachment` +
		`|lines\[(\d+)\](\.(line_no|po_line_no|part_number|description|quantity|unit_price|uom))?` +
		`|attachment\.(name|content_type|data))$`)
	unknownIn = regexp.MustCompile(`(?s)^(lines\[(\d+)\]\.|attachment\.)?(.*)$`)
)

// FuzzInvoiceRequest feeds arbitrary bytes to the ERP intake as the body of POST /v1/invoices (or an
// outbox payload): json.Unmarshal into an InvoiceRequest, then Limits.Check against a store with a few
// customers. Properties:
//   - neither panics;
//   - text that is not JSON is a *json.SyntaxError (the API's 400 "not valid JSON at byte N"); any JSON
//     decodes, its problems kept for Check;
//   - Check refuses only with a *ValidationError (never a database error caused by the input) listing at least
//     one problem, each a *FieldError with a reason and a Field that is the JSON path of the value
//     (currency, lines[1].unit_price, attachment.data, lines[0].colour for an unknown field; indexes within
//     the lines sent); the only problem without a field is the request as a whole when it is not a JSON
//     object, as FieldError documents;
//   - an accepted invoice holds no text PostgreSQL cannot store (a NUL), and its amounts are the decimals sent, round-trip through their text and money.Format,
//     fit their columns, and total = the lines, each rounded to the currency's minor units, + the tax
//     rounded to them; the request, encoded again as JSON, is accepted as the same invoice.
//
// The seed corpus is in testdata/fuzz/FuzzInvoiceRequest; `go test` runs it as a regular test.
func FuzzInvoiceRequest(f *testing.F) {
	st := fuzzStore(f)

	f.Add(fuzzBody())
	// Accepted variants (TestIntakeAccepts).
	f.Add(fuzzBody(`"unit_price":"0.42"`, `"unit_price":"0.4213"`, `"total":"1147.45"`, `"total":"1150.26"`))
	f.Add(fuzzBody(`"currency":"USD"`, `"currency":"JPY"`, `"tax_rate":"8.25"`, `"tax_rate":10`,
		`"unit_price":"0.42"`, `"unit_price":"42.5"`, `"unit_price":0.11`, `"unit_price":11`, `"total":"1147.45"`, `"total":117700`))
	f.Add(fuzzBody(`"tax_rate":"8.25",`, ``, `"total":"1147.45"`, `"total":"1060"`, fuzzAttachment, ``))
	f.Add(fuzzBody(`"note":"Shipment"`, `"note":null,"payment_terms":null`, `,"payment_terms":"Net 30"`, ``, fuzzAttachment, `,"attachment":null`))
	f.Add(fuzzBody(`"currency":"USD"`, `"currency":"KWD"`, `"total":"1147.45"`, `"total":"1147.450"`, `"customer_id":"acme"`, `"customer_id":"strict","account_id":"strict-coupa"`))
	// Refused: each mistake of TestIntakeRules and TestIntakeReportsEveryProblemAtOnce, and a few more.
	for _, r := range [][]string{
		{`"po_number":"PO-4500012"`, `"po_number":"  "`},
		{`"quantity":"2000"`, `"quantity":-1`},
		{`"unit_price":0.11`, `"unit_price":"12,50"`},
		{`"unit_price":0.11`, `"unit_price":"1e3abc"`},
		{`"unit_price":0.11`, `"unit_price":1e3`},
		{`"total":"1147.45"`, `"total":"NaN"`},
		{`"total":"1147.45"`, `"total":true`},
		{`"total":"1147.45"`, `"total":"1147.451"`},
		{`"total":"1147.45"`, `"total":"1147.46"`},
		{`"total":"1147.45"`, `"total":"100000000000000"`},
		{`"unit_price":"0.42"`, `"unit_price":"0.4200001"`},
		{`"currency":"USD"`, `"currency":"XYZ"`},
		{`"currency":"USD"`, `"currency":"usd"`},
		{`"customer_id":"acme"`, `"customer_id":"nobody"`},
		{`"customer_id":"acme"`, `"customer_id":"acme","account_id":"acme-nowhere"`},
		{`"customer_id":"acme"`, `"customer_id":"acme","account_id":"duo-ariba"`},
		{`"customer_id":"acme"`, `"customer_id":"duo"`},
		{`"customer_id":"acme"`, `"customer_id":"lonely"`},
		{`"customer_id":"acme"`, `"customer_id":"strict"`, fuzzAttachment, ``},
		{`"tax_rate":"8.25"`, `"tax_rate":"125"`},
		{`"invoice_date":"2026-03-02"`, `"invoice_date":"02/03/2026"`},
		{`"invoice_date":"2026-03-02"`, `"invoice_date":"2026-02-30"`},
		{`"line_no":2`, `"line_no":1`},
		{`"line_no":2`, `"line_no":1.5`},
		{`"line_no":2`, `"line_no":"2"`},
		{`"line_no":2`, `"line_no":99999999999`},
		{`,"po_line_no":2`, ``},
		{`"note":"Shipment"`, `"colour":"blue"`},
		{`"uom":"EA"}]`, `"uom":"EA","weight":3}]`},
		{`"name":"INV-1.pdf"`, `"size":3`},
		{`"name":"INV-1.pdf"`, `"name":"../INV-1.pdf"`},
		{`"content_type":"application/pdf"`, `"content_type":"image/png"`},
		{fuzzPDF, base64.StdEncoding.EncodeToString([]byte("PK\x03\x04 a zip"))},
		{fuzzPDF, "%%%"},
		{fuzzPDF, base64.StdEncoding.EncodeToString(append([]byte("%PDF-1.4\n"), make([]byte, 5000)...))},
		{`"id":"erp-fuzz-1",`, ``},
		{`"id":"erp-fuzz-1"`, `"id":" erp-fuzz-1"`},
		{`"id":"erp-fuzz-1"`, `"id":"erp\u0000fuzz"`},
		{`"customer_id":"acme"`, `"customer_id":"ac\u0000me"`},
		{`"customer_id":"acme"`, `"customer_id":"acme","account_id":"acme\u0000coupa"`},
		{`"note":"Shipment"`, `"note":"Ship\u0000ment"`},
		{`"note":"Shipment"`, `"note":"Shipment\n\tpallet 2 of 3"`},
		{`"lines":[`, `"lines":[null,7,`},
		{`"lines":[`, `"lines":{"a":[`, `}]`, `}]}`},
		{`"attachment":{`, `"attachment":[{`, `"}}`, `"}]}`},
	} {
		f.Add(fuzzBody(r...))
	}
	for _, s := range []string{``, `{}`, `null`, `[]`, `"invoice"`, `{"id":`, `{"":1}`, `{"lines":[{"":1}]}`, "\xff", `{"id":"\ud800"}`} {
		f.Add([]byte(s))
	}

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		var req erp.InvoiceRequest
		if err := json.Unmarshal(body, &req); err != nil {
			var syntax *json.SyntaxError
			if !errors.As(err, &syntax) {
				t.Fatalf("decode %q: %T %v, want a *json.SyntaxError (or no error)", body, err, err)
			}
			return
		}
		inv, pdf, err := fuzzLimits.Check(ctx, st, req)
		if err != nil {
			checkIntakeRefusal(t, body, req, err)
			return
		}
		checkIntakeAccepted(t, body, req, inv, pdf)

		// Encoded again, as the outbox stores a request, it is the same invoice.
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encode the request decoded from %q: %v", body, err)
		}
		var req2 erp.InvoiceRequest
		if err := json.Unmarshal(again, &req2); err != nil {
			t.Fatalf("decode %s: %v", again, err)
		}
		inv2, pdf2, err := fuzzLimits.Check(ctx, st, req2)
		if err != nil {
			t.Fatalf("%q is accepted, but encoded again as %s it is refused: %v", body, again, err)
		}
		if !sameCheckedInvoice(inv, inv2) || !bytes.Equal(pdf, pdf2) {
			t.Fatalf("%q and its encoding %s check as different invoices:\n%+v\n%+v", body, again, inv, inv2)
		}
	})
}

func checkIntakeRefusal(t *testing.T, body []byte, req erp.InvoiceRequest, err error) {
	t.Helper()
	var ve *erp.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Check(%q): %T %v, want a *ValidationError: an input must not fail otherwise", body, err, err)
	}
	if ve.InvoiceID != req.ID || len(ve.Problems) == 0 {
		t.Fatalf("Check(%q): %#v, want the request's ID and at least one problem", body, ve)
	}
	// The JSON as the fuzz input has it, to bound the indexes of lines and to tell a non-object body.
	var tree any
	_ = json.Unmarshal(body, &tree)
	obj, isObject := tree.(map[string]any)
	lines, _ := obj["lines"].([]any)
	nLines := max(len(lines), len(req.Lines))

	msg := err.Error()
	for _, p := range ve.Problems {
		if p == nil || strings.TrimSpace(p.Reason) == "" {
			t.Fatalf("Check(%q): a problem without a reason in %v", body, err)
		}
		if !strings.Contains(msg, p.Error()) {
			t.Fatalf("Check(%q): %q is not in the error's text %q", body, p.Error(), msg)
		}
		var fe *erp.FieldError
		if !errors.As(error(p), &fe) {
			t.Fatalf("Check(%q): %v is not a *FieldError", body, p)
		}
		switch {
		case p.Field == "":
			if isObject {
				t.Fatalf("Check(%q): problem %q names no field, though the request is a JSON object\n%v", body, p.Reason, err)
			}
		case knownField.MatchString(p.Field):
			checkLineIndex(t, body, p, knownField.FindStringSubmatch(p.Field)[2], nLines)
		case p.Reason == "unknown field":
			// The key is named after the object holding it; an empty key as "".
			m := unknownIn.FindStringSubmatch(p.Field)
			if m == nil || m[3] == "" {
				t.Fatalf("Check(%q): unknown field %q does not name the key", body, p.Field)
			}
			checkLineIndex(t, body, p, m[2], nLines)
		default:
			t.Fatalf("Check(%q): %q is not the JSON path of a value of the request (%s)\n%v", body, p.Field, p.Reason, err)
		}
	}
}

func checkLineIndex(t *testing.T, body []byte, p *erp.FieldError, index string, nLines int) {
	t.Helper()
	if index == "" {
		return
	}
	if i, err := strconv.Atoi(index); err != nil || i >= nLines {
		t.Fatalf("Check(%q): %s names a line the request does not have (%d lines)", body, p, nLines)
	}
}

func checkIntakeAccepted(t *testing.T, body []byte, req erp.InvoiceRequest, inv store.Invoice, pdf []byte) {
	t.Helper()
	minor, err := money.MinorUnits(inv.Currency)
	if err != nil || inv.Currency != strings.ToUpper(inv.Currency) {
		t.Fatalf("Check(%q) accepted currency %q: %v", body, inv.Currency, err)
	}
	if inv.ID != req.ID || inv.ID == "" || inv.CustomerID == "" || inv.AccountID == "" || inv.Number == "" || inv.PONumber == "" ||
		inv.Date.IsZero() || len(inv.Lines) == 0 || len(inv.Lines) != len(req.Lines) {
		t.Fatalf("Check(%q) accepted an incomplete invoice: %+v", body, inv)
	}
	// PostgreSQL text holds no NUL: an accepted invoice must not fail to insert because of one.
	texts := []string{inv.ID, inv.CustomerID, inv.AccountID, inv.Number, inv.PONumber, inv.Currency, inv.PaymentTerms,
		inv.Note, inv.AttachmentName}
	for _, ln := range inv.Lines {
		texts = append(texts, ln.PartNumber, ln.Description, ln.UOM)
	}
	for _, s := range texts {
		if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
			t.Fatalf("Check(%q) accepted %q, which PostgreSQL cannot store", body, s)
		}
	}
	// Each amount is the decimal sent, and reads back from its text.
	sent := func(field string, n erp.Number, got decimal.Decimal, scale int32) {
		t.Helper()
		want := decimal.Zero
		if n != "" {
			var err error
			if want, err = n.Decimal(); err != nil {
				t.Fatalf("Check(%q) accepted %s %q, which is not a decimal: %v", body, field, n, err)
			}
		}
		if !got.Equal(want) {
			t.Fatalf("Check(%q): %s is %s, but %q was sent", body, field, got, n)
		}
		if got.IsNegative() || !got.Round(scale).Equal(got) || got.Abs().GreaterThanOrEqual(decimal.New(1, 14)) {
			t.Fatalf("Check(%q) accepted %s %s, which does not fit its column", body, field, got)
		}
		back, err := money.Parse(got.String())
		if err != nil || !back.Equal(got) {
			t.Fatalf("Check(%q): %s %s does not read back from %q: %s, %v", body, field, got, got.String(), back, err)
		}
	}
	sent("total", req.Total, inv.Total, minor)
	sent("tax_rate", req.TaxRate, inv.TaxRate, 4)
	if inv.TaxRate.GreaterThan(decimal.NewFromInt(100)) {
		t.Fatalf("Check(%q) accepted tax rate %s", body, inv.TaxRate)
	}
	subtotal := decimal.Zero
	for i, ln := range inv.Lines {
		sent(fmt.Sprintf("lines[%d].quantity", i), req.Lines[i].Quantity, ln.Quantity, 6)
		sent(fmt.Sprintf("lines[%d].unit_price", i), req.Lines[i].UnitPrice, ln.UnitPrice, 6)
		subtotal = subtotal.Add(ln.Quantity.Mul(ln.UnitPrice).Round(minor))
	}
	tax := subtotal.Mul(inv.TaxRate).Div(decimal.NewFromInt(100)).Round(minor)
	if !inv.Total.Equal(subtotal.Add(tax)) || !inv.Total.IsPositive() {
		t.Fatalf("Check(%q) accepted total %s; the lines make %s and the tax %s", body, inv.Total, subtotal, tax)
	}
	formatted, err := money.Format(inv.Total, inv.Currency)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := money.ParseAmount(formatted, inv.Currency); err != nil || !back.Equal(inv.Total) {
		t.Fatalf("Check(%q): total %s formats as %q, which reads back as %s, %v", body, inv.Total, formatted, back, err)
	}
	switch {
	case req.Attachment == nil && pdf != nil:
		t.Fatalf("Check(%q): a PDF without an attachment", body)
	case req.Attachment != nil && (len(pdf) == 0 || int64(len(pdf)) > fuzzLimits.MaxAttachment() ||
		!bytes.Contains(pdf[:min(len(pdf), 1024)], []byte("%PDF-"))):
		t.Fatalf("Check(%q) accepted an attachment that is not a PDF within the limit: %q", body, pdf)
	}
}

func sameCheckedInvoice(a, b store.Invoice) bool {
	if a.ID != b.ID || a.CustomerID != b.CustomerID || a.AccountID != b.AccountID || a.Number != b.Number ||
		a.PONumber != b.PONumber || !a.Date.Equal(b.Date) || a.Currency != b.Currency || !a.TaxRate.Equal(b.TaxRate) ||
		!a.Total.Equal(b.Total) || a.Note != b.Note || a.AttachmentName != b.AttachmentName ||
		a.PaymentTerms != b.PaymentTerms || len(a.Lines) != len(b.Lines) {
		return false
	}
	for i, x := range a.Lines {
		y := b.Lines[i]
		if x.LineNo != y.LineNo || x.POLineNo != y.POLineNo || x.PartNumber != y.PartNumber || x.Description != y.Description ||
			!x.Quantity.Equal(y.Quantity) || !x.UnitPrice.Equal(y.UnitPrice) || x.UOM != y.UOM {
			return false
		}
	}
	return true
}
