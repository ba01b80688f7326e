package erp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"

	"portico/internal/money"
	"portico/internal/store"
	"portico/workflows"
)

// DefaultMaxAttachmentBytes bounds an invoice's PDF, decoded, when Limits leaves it unset. Portals take a
// few MiB at most; anything bigger is a scan at the wrong resolution or the wrong file.
const DefaultMaxAttachmentBytes = 10 << 20

// EnvMaxAttachment is read by LimitsFromEnv: the largest attachment accepted, decoded, in bytes or with a
// KiB or MiB suffix ("5MiB").
const EnvMaxAttachment = "PORTICO_ERP_MAX_ATTACHMENT"

// MaxLines bounds an invoice's lines; portals page or refuse long before this.
const MaxLines = 1000

// MaxIDBytes bounds an ERP invoice ID, which becomes part of the workflow ID and of the API's paths.
const MaxIDBytes = 200

// Bounds of the other text fields, in characters: generous for any real invoice, and small enough that a
// runaway ERP export cannot fill the database through them.
const (
	maxNameChars = 200
	maxTextChars = 1000
	maxNoteChars = 4000
)

// Column limits of erp_invoices and erp_invoice_lines: numeric(20,6) and numeric(9,4). A value past them
// would be refused by PostgreSQL with a message naming no field, or silently rounded.
const (
	maxAmountScale = 6
	maxRateScale   = 4
)

var (
	amountLimit = decimal.New(1, 14) // numeric(20,6) holds 14 digits before the point
	hundred     = decimal.NewFromInt(100)
)

// Limits are the intake's configurable bounds; the zero value means the defaults.
type Limits struct {
	// MaxAttachmentBytes bounds the decoded attachment; zero or less means DefaultMaxAttachmentBytes.
	MaxAttachmentBytes int64
}

// LimitsFromEnv reads EnvMaxAttachment; unset means the defaults.
func LimitsFromEnv() (Limits, error) {
	v := strings.TrimSpace(os.Getenv(EnvMaxAttachment))
	if v == "" {
		return Limits{}, nil
	}
	n, err := parseSize(v)
	if err != nil || n < 1024 || n > 1<<30 {
		return Limits{}, fmt.Errorf("erp: %s must be a size between 1KiB and 1024MiB, such as 10MiB or 5000000", EnvMaxAttachment)
	}
	return Limits{MaxAttachmentBytes: n}, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = strings.TrimSpace(num), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, errors.New("not a size")
	}
	return n * mult, nil
}

// MaxAttachment is the largest attachment accepted, decoded.
func (l Limits) MaxAttachment() int64 {
	if l.MaxAttachmentBytes > 0 {
		return l.MaxAttachmentBytes
	}
	return DefaultMaxAttachmentBytes
}

// MaxRequestBytes is how large an InvoiceRequest's JSON may be: the largest attachment in base64 and 1 MiB
// for the rest, which fits MaxLines lines of long descriptions.
func (l Limits) MaxRequestBytes() int64 {
	return int64(base64.StdEncoding.EncodedLen(int(l.MaxAttachment()))) + 1<<20
}

// Number is a decimal value as an ERP sends it: a JSON string ("12.50") or a JSON number (12.50). It keeps
// the text exactly as sent and is only read as a decimal when the request is checked, never through
// float64, so 0.1 stays 0.1 and text that is not a decimal ("12,50") is reported with its field instead of
// failing the whole decoding. It is written back out as a JSON string.
type Number string

// UnmarshalJSON keeps a JSON number's literal text, or a JSON string's content; null leaves it empty.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*n = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = Number(s)
	default:
		// Another kind (true, an object) is reported by the shape check; keeping its text is harmless.
		*n = Number(b)
	}
	return nil
}

// Decimal reads the value as a plain decimal (money.Parse: digits, one '.', a leading sign; no thousands
// separators, exponents, NaN or Inf).
func (n Number) Decimal() (decimal.Decimal, error) { return money.Parse(string(n)) }

// InvoiceRequest is an invoice as an ERP sends it to be taken in: the body of POST /v1/invoices, or the
// payload of an erp_outbox row. Unknown fields are refused (a misspelt field is reported, not ignored).
type InvoiceRequest struct {
	// ID is the ERP's invoice ID: the key that makes a resent request the same invoice.
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	// AccountID is the portal account to submit through; it may be left out when the customer has exactly
	// one.
	AccountID     string `json:"account_id,omitempty"`
	InvoiceNumber string `json:"invoice_number"`
	PONumber      string `json:"po_number"`
	// InvoiceDate is YYYY-MM-DD.
	InvoiceDate string `json:"invoice_date"`
	// Currency is an ISO 4217 code in capitals; amounts must fit its minor units.
	Currency     string `json:"currency"`
	PaymentTerms string `json:"payment_terms,omitempty"`
	// TaxRate is a percentage (8.25 for 8.25 %), applied to the sum of the lines; empty means 0.
	TaxRate Number `json:"tax_rate,omitempty"`
	// Total must be the lines, each rounded to the currency, plus the tax rounded to the currency.
	Total Number             `json:"total"`
	Note  string             `json:"note,omitempty"`
	Lines []InvoiceLineInput `json:"lines"`
	// Attachment is the legal invoice PDF; required when the customer's policy says so.
	Attachment *AttachmentInput `json:"attachment,omitempty"`

	// shape holds the problems UnmarshalJSON found with the JSON itself, reported with the others.
	shape []*FieldError
}

// InvoiceLineInput is one line of an InvoiceRequest, billing a quantity of one PO line.
type InvoiceLineInput struct {
	LineNo      int    `json:"line_no"`
	POLineNo    int    `json:"po_line_no"`
	PartNumber  string `json:"part_number,omitempty"`
	Description string `json:"description,omitempty"`
	Quantity    Number `json:"quantity"`
	// UnitPrice may have more decimals than the currency (up to 6); the line amount is rounded.
	UnitPrice Number `json:"unit_price"`
	UOM       string `json:"uom,omitempty"`
}

// AttachmentInput is the invoice PDF, base64 in Data (standard or URL-safe alphabet, padded or not).
type AttachmentInput struct {
	// Name defaults to the invoice number with ".pdf".
	Name string `json:"name,omitempty"`
	// ContentType, when given, must be application/pdf.
	ContentType string `json:"content_type,omitempty"`
	Data        string `json:"data"`
}

// UnmarshalJSON decodes the request and records what is wrong with its shape (unknown fields, a string
// where a number belongs) instead of failing: Intake reports those problems together with the rest, so an
// ERP sees every problem of a request at once. It fails only on text that is not JSON at all.
func (r *InvoiceRequest) UnmarshalJSON(b []byte) error {
	var tree any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	type plain InvoiceRequest // without this method, so the decoding below does not recurse
	var out plain
	var shape []*FieldError
	if _, ok := tree.(map[string]any); !ok {
		shape = append(shape, &FieldError{Reason: "the invoice must be a JSON object"})
	} else {
		checkShape("", tree, reflect.TypeFor[InvoiceRequest](), &shape)
		// Type mismatches leave their field empty and were reported above; unknown fields are ignored here.
		_ = json.Unmarshal(b, &out)
	}
	*r = InvoiceRequest(out)
	r.shape = shape
	return nil
}

var numberType = reflect.TypeFor[Number]()

// checkShape compares decoded JSON with the Go type it is meant to fill, reporting each unknown field and
// each value of the wrong JSON kind by its path (lines[2].quantity). null is taken as absent everywhere.
func checkShape(path string, v any, t reflect.Type, out *[]*FieldError) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(reason string) { *out = append(*out, &FieldError{Field: path, Reason: reason}) }
	switch {
	case t == numberType:
		switch v.(type) {
		case string, json.Number:
		default:
			bad(`must be a decimal number, as a JSON string ("12.50") or number (12.50)`)
		}
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			bad("must be a JSON string")
		}
	case t.Kind() == reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			bad("must be a whole JSON number")
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
			bad(fmt.Sprintf("must be a whole number (got %s)", n))
		}
	case t.Kind() == reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			bad("must be a JSON array")
			return
		}
		for i, item := range items {
			checkShape(fmt.Sprintf("%s[%d]", path, i), item, t.Elem(), out)
		}
	case t.Kind() == reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be a JSON object")
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		// Known fields in the struct's order, then unknown ones sorted: the same request always lists its
		// problems in the same order.
		for _, f := range fields {
			if val, ok := obj[f.name]; ok {
				checkShape(join(path, f.name), val, f.typ, out)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == k }) {
				name := k
				if name == "" {
					name = `""` // as JSON writes it: an empty Field is the request as a whole
				}
				*out = append(*out, &FieldError{Field: join(path, name), Reason: "unknown field"})
			}
		}
	}
}

type jsonField struct {
	name string
	typ  reflect.Type
}

func jsonFields(t reflect.Type) []jsonField {
	var fs []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, jsonField{name: name, typ: f.Type})
	}
	return fs
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// FieldError is one problem with an InvoiceRequest. Field is the JSON path of the value, with 0-based
// indexes as in the JSON sent: "po_number", "lines[1].unit_price", "attachment.data"; empty for the request
// as a whole.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Error names the field first, as the caller looks it up by name.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidationError lists every problem of a request that was refused; nothing was inserted or started.
type ValidationError struct {
	InvoiceID string
	Problems  []*FieldError
	// Malformed is set when the JSON itself does not have the request's shape (unknown fields, wrong kinds
	// of values): a 400 rather than a 422 to an HTTP caller.
	Malformed bool
}

// Error lists the problems, each naming its field.
func (e *ValidationError) Error() string { return problemText("is refused", e.InvoiceID, e.Problems) }

// Unwrap gives errors.As access to the problems, the first one first.
func (e *ValidationError) Unwrap() []error { return fieldErrors(e.Problems) }

// ConflictError refuses a request whose invoice ID is already taken with other content (Problems name each
// field that differs), or whose invoice number the portal account already has under another ID. Nothing
// was changed: an ERP that means to change an invoice must void it and send a new one.
type ConflictError struct {
	InvoiceID string
	Problems  []*FieldError
}

// Error lists the fields in conflict.
func (e *ConflictError) Error() string {
	return problemText("conflicts with what was taken in before", e.InvoiceID, e.Problems)
}

// Unwrap gives errors.As access to the problems, the first one first.
func (e *ConflictError) Unwrap() []error { return fieldErrors(e.Problems) }

func problemText(what, id string, problems []*FieldError) string {
	var b strings.Builder
	if id == "" {
		id = "(no id)"
	}
	fmt.Fprintf(&b, "invoice %s %s: ", id, what)
	for i, p := range problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

func fieldErrors(ps []*FieldError) []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// Intake takes in an ERP invoice with the default Limits; see Limits.Intake.
func Intake(ctx context.Context, st *store.Store, c client.Client, req InvoiceRequest, poll workflows.PollPolicy) (Started, error) {
	return Limits{}.Intake(ctx, st, c, req, poll)
}

// Intake checks the request, inserts the invoice with its lines and attachment in one transaction, and
// starts its workflow (StartInvoice). A refused request is a *ValidationError listing every problem, and
// nothing is inserted or started. The same ID sent again with the same content inserts nothing and returns
// the invoice's workflow (Existing set, unless it had not been started yet); with other content it is a
// *ConflictError naming the fields that differ. Other errors (the database, Temporal) may be retried: the
// invoice may be in the database without its workflow, and the retry starts it.
func (l Limits) Intake(ctx context.Context, st *store.Store, c client.Client, req InvoiceRequest, poll workflows.PollPolicy) (Started, error) {
	inv, pdf, err := l.Check(ctx, st, req)
	if err != nil {
		return Started{}, err
	}
	inserted, err := st.InsertInvoiceOnce(ctx, inv, pdf)
	var taken *store.InvoiceNumberTakenError
	if errors.As(err, &taken) {
		return Started{}, &ConflictError{InvoiceID: inv.ID, Problems: []*FieldError{{Field: "invoice_number",
			Reason: fmt.Sprintf("portal account %s already has invoice number %q, as ERP invoice %q", taken.AccountID, taken.Number, taken.HeldBy)}}}
	}
	if err != nil {
		return Started{}, fmt.Errorf("ERP invoice %s: %w", inv.ID, err)
	}
	if !inserted {
		old, err := st.Invoice(ctx, inv.ID)
		if err != nil {
			return Started{}, fmt.Errorf("ERP invoice %s: %w", inv.ID, err)
		}
		oldSum, err := st.InvoiceAttachmentDigest(ctx, inv.ID)
		if err != nil {
			return Started{}, fmt.Errorf("ERP invoice %s: %w", inv.ID, err)
		}
		if diffs := differences(old, oldSum, inv, pdf); len(diffs) > 0 {
			return Started{}, &ConflictError{InvoiceID: inv.ID, Problems: diffs}
		}
	}
	return StartInvoice(ctx, c, st, inv.ID, poll)
}

// Check validates the request against the rules and the store (customer, portal account, the customer's
// attachment policy) and returns the invoice to insert with its decoded attachment. It writes nothing. A
// refused request is a *ValidationError with every problem found; other errors come from the store.
func (l Limits) Check(ctx context.Context, st *store.Store, req InvoiceRequest) (store.Invoice, []byte, error) {
	c := &checker{}
	malformed := len(req.shape) > 0
	for _, p := range req.shape {
		c.problems = append(c.problems, p)
		c.reported = append(c.reported, p.Field)
	}
	inv := store.Invoice{
		ID: req.ID, CustomerID: strings.TrimSpace(req.CustomerID), AccountID: strings.TrimSpace(req.AccountID),
		Number: strings.TrimSpace(req.InvoiceNumber), PONumber: strings.TrimSpace(req.PONumber),
		Currency: strings.TrimSpace(req.Currency), PaymentTerms: strings.TrimSpace(req.PaymentTerms),
		Note: strings.TrimSpace(req.Note),
	}

	c.id("id", req.ID)
	c.text("customer_id", inv.CustomerID, true, maxNameChars)
	c.text("account_id", inv.AccountID, false, maxNameChars)
	c.text("invoice_number", inv.Number, true, maxNameChars)
	if strings.TrimSpace(req.PONumber) == "" {
		c.add("po_number", "is required: the buyer's portal files the invoice against its purchase order")
	} else {
		c.text("po_number", inv.PONumber, true, maxNameChars)
	}
	c.text("payment_terms", inv.PaymentTerms, false, maxTextChars)
	if utf8.RuneCountInString(inv.Note) > maxNoteChars {
		c.add("note", fmt.Sprintf("must be at most %d characters", maxNoteChars))
	} else if strings.ContainsRune(inv.Note, 0) {
		// Line breaks and tabs are fine in a note; a NUL is text PostgreSQL cannot store.
		c.add("note", "must not contain NUL characters (\\u0000)")
	}
	inv.Date = c.date("invoice_date", req.InvoiceDate)

	minor, currencyOK := int32(0), false
	switch {
	case inv.Currency == "":
		c.add("currency", "is required (an ISO 4217 code such as USD)")
	case inv.Currency != strings.ToUpper(inv.Currency) && money.ValidCurrency(inv.Currency):
		c.add("currency", fmt.Sprintf("must be written in capitals: %s", strings.ToUpper(inv.Currency)))
	default:
		n, err := money.MinorUnits(inv.Currency)
		if err != nil {
			c.add("currency", fmt.Sprintf("%q is not an ISO 4217 currency code Portico knows", inv.Currency))
		} else {
			minor, currencyOK = n, true
		}
	}

	rate, rateOK := decimal.Zero, true
	if req.TaxRate != "" {
		rate, rateOK = c.number("tax_rate", req.TaxRate, maxRateScale, "")
		if rateOK && rate.GreaterThan(hundred) {
			c.add("tax_rate", fmt.Sprintf("must be a percentage between 0 and 100 (got %s)", rate))
			rateOK = false
		}
	}
	inv.TaxRate = rate

	total, totalOK := decimal.Zero, false
	if req.Total == "" {
		c.add("total", "is required")
	} else if total, totalOK = c.number("total", req.Total, maxAmountScale, ""); totalOK {
		if currencyOK && !total.Round(minor).Equal(total) {
			c.add("total", fmt.Sprintf("%s has more decimals than %s allows (%d)", req.Total, inv.Currency, minor))
			totalOK = false
		} else if total.IsZero() {
			c.add("total", "must be more than zero: an invoice bills something")
			totalOK = false
		}
	}
	inv.Total = total

	linesOK := c.lines(req.Lines, &inv)
	if totalOK && linesOK && rateOK && currencyOK {
		subtotal := decimal.Zero
		for _, ln := range inv.Lines {
			subtotal = subtotal.Add(ln.Quantity.Mul(ln.UnitPrice).Round(minor))
		}
		tax := subtotal.Mul(rate).Div(hundred).Round(minor)
		if want := subtotal.Add(tax); !total.Equal(want) {
			c.add("total", fmt.Sprintf("is %s, but the lines come to %s and the tax at %s%% to %s, which make %s %s",
				total.StringFixed(minor), subtotal.StringFixed(minor), rate, tax.StringFixed(minor), want.StringFixed(minor), inv.Currency))
		}
	}

	pdf := c.attachment(req.Attachment, &inv, l.MaxAttachment())

	if err := c.parties(ctx, st, &inv, req.Attachment != nil); err != nil {
		return store.Invoice{}, nil, err
	}
	if len(c.problems) > 0 {
		return store.Invoice{}, nil, &ValidationError{InvoiceID: req.ID, Problems: c.problems, Malformed: malformed}
	}
	return inv, pdf, nil
}

type checker struct {
	problems []*FieldError
	// reported are the fields the shape check already refused; the value checks say nothing more about
	// them (a number sent as an object is not also "required").
	reported []string
}

func (c *checker) add(field, reason string) {
	for _, r := range c.reported {
		if field == r || strings.HasPrefix(field, r+".") || strings.HasPrefix(field, r+"[") {
			return
		}
	}
	c.problems = append(c.problems, &FieldError{Field: field, Reason: reason})
}

// refused reports whether a problem with field was found already.
func (c *checker) refused(field string) bool {
	return slices.Contains(c.reported, field) || slices.ContainsFunc(c.problems, func(p *FieldError) bool { return p.Field == field })
}

func (c *checker) id(field, v string) {
	switch {
	case v == "":
		c.add(field, "is required: the ERP's invoice ID, which makes a resent invoice the same one")
	case len(v) > MaxIDBytes || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		c.add(field, fmt.Sprintf("must be 1-%d bytes of printable UTF-8", MaxIDBytes))
	case strings.TrimSpace(v) != v:
		c.add(field, "must not begin or end with spaces")
	}
}

func (c *checker) text(field, v string, required bool, maxChars int) {
	switch {
	case v == "" && required:
		c.add(field, "is required")
	case utf8.RuneCountInString(v) > maxChars:
		c.add(field, fmt.Sprintf("must be at most %d characters", maxChars))
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		c.add(field, "must be printable UTF-8 without control characters")
	}
}

func (c *checker) date(field, v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		c.add(field, "is required (YYYY-MM-DD)")
		return time.Time{}
	}
	d, err := time.Parse(store.DateLayout, v)
	if err != nil {
		c.add(field, fmt.Sprintf("%q is not a date in the form YYYY-MM-DD", v))
		return time.Time{}
	}
	return d
}

// number reads a non-negative decimal with at most maxScale decimals (the column's), reporting it under
// field. what names the value in messages about a line.
func (c *checker) number(field string, n Number, maxScale int32, what string) (decimal.Decimal, bool) {
	d, err := n.Decimal()
	if err != nil {
		c.add(field, fmt.Sprintf(`%s%q is not a decimal number: write digits with at most one "." and no thousands separators, exponents or currency symbols, such as "1234.50"`, what, string(n)))
		return d, false
	}
	switch {
	case d.IsNegative():
		c.add(field, fmt.Sprintf("%smust not be negative (got %s)", what, n))
	case !d.Round(maxScale).Equal(d):
		c.add(field, fmt.Sprintf("%s%s has more than %d decimals", what, n, maxScale))
	case d.Abs().GreaterThanOrEqual(amountLimit):
		c.add(field, fmt.Sprintf("%s%s is too large", what, n))
	default:
		return d, true
	}
	return d, false
}

func (c *checker) lines(lines []InvoiceLineInput, inv *store.Invoice) bool {
	switch {
	case len(lines) == 0:
		c.add("lines", "are required: an invoice bills at least one PO line")
		return false
	case len(lines) > MaxLines:
		c.add("lines", fmt.Sprintf("must be at most %d", MaxLines))
		return false
	}
	ok := true
	seen := map[int]int{}
	positive := false
	for i, in := range lines {
		path := fmt.Sprintf("lines[%d].", i)
		what := ""
		if in.LineNo > 0 {
			what = fmt.Sprintf("line %d: ", in.LineNo)
		}
		ln := store.InvoiceLine{LineNo: in.LineNo, POLineNo: in.POLineNo, PartNumber: strings.TrimSpace(in.PartNumber),
			Description: strings.TrimSpace(in.Description), UOM: strings.TrimSpace(in.UOM)}
		if in.LineNo <= 0 {
			c.add(path+"line_no", "is required: a positive number, unique in the invoice")
			ok = false
		} else if prev, dup := seen[in.LineNo]; dup {
			c.add(path+"line_no", fmt.Sprintf("line %d is also lines[%d]", in.LineNo, prev))
			ok = false
		} else {
			seen[in.LineNo] = i
		}
		if in.POLineNo <= 0 {
			c.add(path+"po_line_no", what+"is required: the number of the PO line the line bills")
		}
		c.text(path+"part_number", ln.PartNumber, false, maxNameChars)
		c.text(path+"description", ln.Description, false, maxTextChars)
		c.text(path+"uom", ln.UOM, false, maxNameChars)
		var qOK, pOK bool
		if in.Quantity == "" {
			c.add(path+"quantity", what+"is required")
		} else {
			ln.Quantity, qOK = c.number(path+"quantity", in.Quantity, maxAmountScale, what)
		}
		if in.UnitPrice == "" {
			c.add(path+"unit_price", what+"is required")
		} else {
			ln.UnitPrice, pOK = c.number(path+"unit_price", in.UnitPrice, maxAmountScale, what)
		}
		ok = ok && qOK && pOK
		positive = positive || (qOK && ln.Quantity.IsPositive())
		inv.Lines = append(inv.Lines, ln)
	}
	if ok && !positive {
		c.add("lines", "no line bills a positive quantity")
		ok = false
	}
	return ok
}

// pdfHeaderWindow is how far into the file the %PDF- header may start: PDF readers look this far, and some
// generators put a few bytes of junk first.
const pdfHeaderWindow = 1024

func (c *checker) attachment(a *AttachmentInput, inv *store.Invoice, limit int64) []byte {
	if a == nil {
		return nil
	}
	name := strings.TrimSpace(a.Name)
	if name == "" && inv.Number != "" {
		name = inv.Number + ".pdf"
	}
	switch {
	case utf8.RuneCountInString(name) > 255:
		c.add("attachment.name", "must be at most 255 characters")
	case strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		c.add("attachment.name", "must be a file name, without / \\ or control characters")
	}
	inv.AttachmentName = name
	if ct := strings.TrimSpace(a.ContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/pdf" {
			c.add("attachment.content_type", fmt.Sprintf("must be application/pdf (got %q): portals take the invoice as a PDF", ct))
		}
	}
	if a.Data == "" {
		c.add("attachment.data", "is required: the PDF, base64-encoded")
		return nil
	}
	// Refused before decoding, so an oversized attachment costs no second copy in memory.
	if approx := int64(len(a.Data)) / 4 * 3; approx > limit+3 {
		c.add("attachment.data", fmt.Sprintf("is about %s decoded; at most %s is accepted", sizeText(approx), sizeText(limit)))
		return nil
	}
	data, ok := decodeBase64(a.Data)
	switch {
	case !ok:
		c.add("attachment.data", "is not valid base64")
		return nil
	case int64(len(data)) > limit:
		c.add("attachment.data", fmt.Sprintf("is %s decoded; at most %s is accepted", sizeText(int64(len(data))), sizeText(limit)))
		return nil
	case !bytes.Contains(data[:min(len(data), pdfHeaderWindow)], []byte("%PDF-")):
		c.add("attachment.data", "is not a PDF (it has no %PDF- header): portals take the invoice as a PDF")
		return nil
	}
	return data
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// parties checks the customer and the portal account against the store, picks the customer's only account
// when none is named, and applies the customer's attachment policy.
func (c *checker) parties(ctx context.Context, st *store.Store, inv *store.Invoice, hasAttachment bool) error {
	// An ID already refused (a control character, a NUL that PostgreSQL would fail the query on) is not
	// looked up.
	if inv.CustomerID == "" || c.refused("customer_id") {
		return nil
	}
	policy, err := st.Policy(ctx, inv.CustomerID)
	if errors.Is(err, store.ErrNotFound) {
		c.add("customer_id", fmt.Sprintf("unknown customer %q", inv.CustomerID))
		return nil
	}
	if err != nil {
		return fmt.Errorf("ERP invoice %s: customer %s: %w", inv.ID, inv.CustomerID, err)
	}
	if policy.AttachmentRequired && !hasAttachment {
		c.add("attachment", fmt.Sprintf("is required: customer %s requires the invoice PDF", inv.CustomerID))
	}
	if c.refused("account_id") {
		return nil
	}
	if inv.AccountID != "" {
		acct, err := st.PortalAccount(ctx, inv.AccountID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c.add("account_id", fmt.Sprintf("unknown portal account %q", inv.AccountID))
		case err != nil:
			return fmt.Errorf("ERP invoice %s: portal account %s: %w", inv.ID, inv.AccountID, err)
		case acct.CustomerID != inv.CustomerID:
			c.add("account_id", fmt.Sprintf("portal account %s belongs to customer %s, not %s", inv.AccountID, acct.CustomerID, inv.CustomerID))
		}
		return nil
	}
	ids, err := st.CustomerAccountIDs(ctx, inv.CustomerID)
	if err != nil {
		return fmt.Errorf("ERP invoice %s: accounts of customer %s: %w", inv.ID, inv.CustomerID, err)
	}
	switch len(ids) {
	case 0:
		c.add("account_id", fmt.Sprintf("customer %s has no portal account to submit through", inv.CustomerID))
	case 1:
		inv.AccountID = ids[0]
	default:
		c.add("account_id", fmt.Sprintf("is required: customer %s has %d portal accounts (%s)", inv.CustomerID, len(ids), strings.Join(ids, ", ")))
	}
	return nil
}

// differences lists what the new invoice changes in the stored one. The amounts come first: a different
// total is what matters most to the buyer, and the first problem is the one an HTTP caller sees in "field".
func differences(old store.Invoice, oldSum []byte, inv store.Invoice, pdf []byte) []*FieldError {
	var out []*FieldError
	diff := func(field, was, now string) {
		if was != now {
			out = append(out, &FieldError{Field: field, Reason: fmt.Sprintf("was %q, now %q", was, now)})
		}
	}
	dec := func(field string, was, now decimal.Decimal) {
		if !was.Equal(now) {
			out = append(out, &FieldError{Field: field, Reason: fmt.Sprintf("was %s, now %s", was, now)})
		}
	}
	dec("total", old.Total, inv.Total)
	diff("currency", old.Currency, inv.Currency)
	dec("tax_rate", old.TaxRate, inv.TaxRate)
	diff("customer_id", old.CustomerID, inv.CustomerID)
	diff("account_id", old.AccountID, inv.AccountID)
	diff("invoice_number", old.Number, inv.Number)
	diff("po_number", old.PONumber, inv.PONumber)
	diff("invoice_date", old.Date.Format(store.DateLayout), inv.Date.Format(store.DateLayout))
	diff("payment_terms", old.PaymentTerms, inv.PaymentTerms)
	diff("note", old.Note, inv.Note)
	if len(old.Lines) != len(inv.Lines) {
		out = append(out, &FieldError{Field: "lines", Reason: fmt.Sprintf("were %d lines, now %d", len(old.Lines), len(inv.Lines))})
	} else {
		for i, o := range old.Lines {
			n := inv.Lines[i]
			p := fmt.Sprintf("lines[%d].", i)
			diff(p+"line_no", strconv.Itoa(o.LineNo), strconv.Itoa(n.LineNo))
			diff(p+"po_line_no", strconv.Itoa(o.POLineNo), strconv.Itoa(n.POLineNo))
			dec(p+"quantity", o.Quantity, n.Quantity)
			dec(p+"unit_price", o.UnitPrice, n.UnitPrice)
			diff(p+"part_number", o.PartNumber, n.PartNumber)
			diff(p+"description", o.Description, n.Description)
			diff(p+"uom", o.UOM, n.UOM)
		}
	}
	var newSum []byte
	if pdf != nil {
		s := sha256.Sum256(pdf)
		newSum = s[:]
	}
	switch {
	case (oldSum == nil) != (newSum == nil):
		was, now := "none", "a PDF"
		if newSum == nil {
			was, now = now, was
		}
		out = append(out, &FieldError{Field: "attachment", Reason: fmt.Sprintf("was %s, now %s", was, now)})
	case !bytes.Equal(oldSum, newSum):
		out = append(out, &FieldError{Field: "attachment.data", Reason: "is another file than the one taken in before"})
	default:
		diff("attachment.name", old.AttachmentName, inv.AttachmentName)
	}
	return out
}
