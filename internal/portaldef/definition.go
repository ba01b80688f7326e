// Package portaldef holds portal definitions: what a buyer portal's pages look like and how a person works
// them (URLs, labels, steps, status words), as data. The engine in internal/driver runs a definition in
// Chromium; adding a portal means writing a definition file (docs/portals.md), not Go code.
package portaldef

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"portico/internal/portal"
)

// Kind says how a portal's pages behave.
type Kind string

const (
	// KindPages is a server-rendered portal: every click that saves navigates to a new page.
	KindPages Kind = "pages"
	// KindSPA is a single-page app: clicks do not navigate, data loads by XHR and a toast or status cell
	// is the only success signal.
	KindSPA Kind = "spa"
)

// Definition describes one portal.
type Definition struct {
	// Name identifies the definition; portal accounts name it in their `portal` column.
	Name string `json:"name"`
	// Title is a human description.
	Title string `json:"title,omitempty"`
	Kind  Kind   `json:"kind"`
	// Busy is a CSS selector that matches while a page is still loading its data (spinners,
	// aria-busy regions); the engine waits until nothing matches. Default for SPAs: [aria-busy=true].
	Busy string `json:"busy,omitempty"`
	// DateLayout is the Go time layout of dates in form fields and tables; default 2006-01-02.
	DateLayout string `json:"date_layout,omitempty"`
	// Statuses maps the portal's invoice status words to Portico's canonical statuses. A word not listed
	// stops the engine with a drift error, never a guess.
	Statuses map[string]portal.Status `json:"statuses"`
	// Messages says where the portal shows errors and success messages.
	Messages Messages `json:"messages,omitempty"`

	Login       Login      `json:"login"`
	POList      TableRead  `json:"po_list"`
	PO          PODetail   `json:"po"`
	InvoiceList TableRead  `json:"invoice_list"`
	Invoice     DetailRead `json:"invoice"`
	CreateDraft DraftFlow  `json:"create_draft"`
	Submit      ActionFlow `json:"submit"`
	Delete      ActionFlow `json:"delete"`
	// Source says where the definition was loaded from (embedded:name.yaml or a file path).
	Source string `json:"-"`
	// ModTime is the file's modification time, so the registry reloads a changed file.
	ModTime time.Time `json:"-"`
}

// Messages locates the portal's messages. Defaults: errors in [role=alert], successes in [role=status].
type Messages struct {
	Error   string `json:"error,omitempty"`
	Success string `json:"success,omitempty"`
}

// Locator finds one element the way a person does: a form field by its label, a button or link by its
// text, a table by its caption. CSS is a fallback for portals whose markup names nothing. Every value may
// use {{variables}}.
type Locator struct {
	Label  string `json:"label,omitempty"`  // a form field's accessible name (its label)
	Button string `json:"button,omitempty"` // a button's accessible name
	Link   string `json:"link,omitempty"`   // a link's accessible name
	Table  string `json:"table,omitempty"`  // a table's accessible name (caption or aria-label)
	CSS    string `json:"css,omitempty"`    // fallback when nothing above is given or nothing matches it
}

// String describes the locator for error messages.
func (l Locator) String() string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"label", l.Label}, {"button", l.Button}, {"link", l.Link}, {"table", l.Table}, {"css", l.CSS}} {
		if p.v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", p.k, p.v))
		}
	}
	return strings.Join(parts, ", ")
}

// IsZero reports whether the locator names nothing.
func (l Locator) IsZero() bool { return l == Locator{} }

// Step is one thing a person does on a page. Exactly one action field is set.
type Step struct {
	Navigate string   `json:"navigate,omitempty"` // a URL path (with query) relative to the account's base URL
	Fill     *Locator `json:"fill,omitempty"`     // type Value into a field
	Select   *Locator `json:"select,omitempty"`   // choose the option whose text (or value) is Value
	Check    *Locator `json:"check,omitempty"`    // tick a checkbox
	Click    *Locator `json:"click,omitempty"`    // click a button or link
	Upload   *Locator `json:"upload,omitempty"`   // attach the invoice file to a file field
	Lines    *Lines   `json:"lines,omitempty"`    // fill the invoice lines
	Wait     *Wait    `json:"wait,omitempty"`     // wait for the portal's success signal or its error
	// Value is what Fill and Select enter; it may use {{variables}}.
	Value string `json:"value,omitempty"`
	// Confirm accepts a JavaScript confirm dialog whose text contains it, opened by this Click. Any other
	// dialog is dismissed.
	Confirm string `json:"confirm,omitempty"`
	// Navigates says whether a Click loads a new page. Default: true for pages portals, false for SPAs.
	Navigates *bool `json:"navigates,omitempty"`
	// If names a variable; the step runs only when it is not empty.
	If string `json:"if,omitempty"`
	// Optional lets a control be absent (a portal shows it by a per-buyer rule, like "Remember this
	// browser"). A control that is present but ambiguous is still an error.
	Optional bool `json:"optional,omitempty"`
}

// Lines fills the lines of an invoice form that the portal pre-filled from the PO.
type Lines struct {
	// Table holds one row per PO line.
	Table Locator `json:"table"`
	// LineColumn is the header of the column with the PO line number.
	LineColumn string `json:"line_column"`
	// Quantity locates a line's quantity field; use {{line}} for the line number.
	Quantity Locator `json:"quantity"`
	// UnitPrice locates a line's unit price field, filled when the ERP line carries a price.
	UnitPrice *Locator `json:"unit_price,omitempty"`
	// Remove locates a line's "remove" checkbox or button, used for PO lines the invoice does not bill.
	// Without it such lines are set to quantity 0.
	Remove *Locator `json:"remove,omitempty"`
}

// Wait waits until the portal shows its success signal or an error.
type Wait struct {
	// Success is text the success message contains (in Messages.Success), e.g. "saved".
	Success string `json:"success,omitempty"`
	// URL is a regular expression the page's path must match for success, e.g. ^/invoices/[^/]+$.
	URL string `json:"url,omitempty"`
}

// Login describes signing in. The engine starts it whenever a page shows the Form locator.
type Login struct {
	// Form is present only when the portal asks the user to sign in (the password field).
	Form  Locator `json:"form"`
	Steps []Step  `json:"steps"`
	// TOTP is the verification-code page that may follow the password.
	TOTP TOTP `json:"totp"`
	// Refusals classify the portal's error message after a refused login, by lower-case fragments.
	Refusals Refusals `json:"refusals"`
}

// TOTP describes the second factor page.
type TOTP struct {
	Form  Locator `json:"form"`
	Steps []Step  `json:"steps"`
}

// Refusals lists message fragments (matched case-insensitively) per named outcome.
type Refusals struct {
	Locked          []string `json:"locked"`
	PasswordExpired []string `json:"password_expired"`
	CodeUsed        []string `json:"code_used"`
}

// TableRead reads a paged table of records.
type TableRead struct {
	// URL of page {{page}} of the list; {{search}} is set when looking for one record.
	URL string `json:"url"`
	// SearchURL finds one record by {{search}}; default URL.
	SearchURL string `json:"search_url,omitempty"`
	// ChangedURL (po_list only, optional) is page {{page}} of the list of POs changed since {{since}} (RFC 3339,
	// UTC), for portals that can filter by last change. Syncs after the first full one use it, so that a sync
	// reads what changed instead of the whole history.
	ChangedURL string  `json:"changed_url,omitempty"`
	Table      Locator `json:"table"`
	// Columns maps Portico's field names to the portal's column headers.
	Columns map[string]string `json:"columns"`
	// Next is the control that is present (and enabled) when there is a next page.
	Next Locator `json:"next,omitempty"`
}

// PODetail reads one PO's page.
type PODetail struct {
	URL   string            `json:"url"`
	Lines Locator           `json:"lines"`
	Cols  map[string]string `json:"columns"`
	// CreateInvoice is the action a PO that can be invoiced shows.
	CreateInvoice Locator `json:"create_invoice"`
	// NotFound is text the page shows for an unknown PO (besides an HTTP 404).
	NotFound string `json:"not_found,omitempty"`
}

// DetailRead reads an invoice's page, whose values follow their terms (dt/dd or th/td).
type DetailRead struct {
	URL string `json:"url"`
	// Terms maps Portico's field names to the portal's terms.
	Terms map[string]string `json:"terms"`
}

// DraftFlow flips a PO into an invoice and saves it as a draft.
type DraftFlow struct {
	Steps []Step `json:"steps"`
}

// ActionFlow runs on the invoice's page (submit, delete).
type ActionFlow struct {
	Steps []Step `json:"steps"`
}

// The field names Portico reads from lists and pages.
var (
	poListFields   = []string{"number", "buyer_entity", "order_date", "currency", "total", "invoiced", "remaining", "status", "payment_terms"}
	poLineFields   = []string{"line", "part_number", "description", "quantity", "uom", "unit_price"}
	invListFields  = []string{"number", "po_number", "total", "status"}
	invTermsFields = []string{"status"}
	optionalTerms  = []string{"routing_status", "total", "reason", "code", "payment_reference", "paid_amount", "po_number", "number"}
)

// Parse reads a definition (YAML or JSON), refusing unknown fields so that a typo fails loudly, and
// validates it.
func Parse(data []byte, source string) (*Definition, error) {
	var d Definition
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		return nil, &Error{Source: source, Msg: err.Error()}
	}
	d.Source = source
	if err := d.validate(); err != nil {
		return nil, &Error{Source: source, Msg: err.Error()}
	}
	return &d, nil
}

// Error is a definition that cannot be used; Msg names the field.
type Error struct {
	Source, Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("portal definition %s: %s", e.Source, e.Msg) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

var canonical = []portal.Status{portal.StatusDraft, portal.StatusWithBuyer, portal.StatusApproved, portal.StatusDisputed,
	portal.StatusVoided, portal.StatusPartiallyPaid, portal.StatusPaid}

func (d *Definition) validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, a...)...))
	}
	if !nameRE.MatchString(d.Name) {
		bad("name", "%q must be lower case letters, digits, '.', '_' or '-'", d.Name)
	}
	switch d.Kind {
	case KindPages, KindSPA:
	default:
		bad("kind", "%q must be %q or %q", d.Kind, KindPages, KindSPA)
	}
	if d.Kind == KindSPA && d.Busy == "" {
		d.Busy = "[aria-busy=true]"
	}
	if d.DateLayout == "" {
		d.DateLayout = "2006-01-02"
	}
	if d.Messages.Error == "" {
		d.Messages.Error = "[role=alert]"
	}
	if d.Messages.Success == "" {
		d.Messages.Success = "[role=status]"
	}
	if len(d.Statuses) == 0 {
		bad("statuses", "map the portal's status words to %v", canonical)
	}
	words := map[string]string{}
	for w, s := range d.Statuses {
		if !slices.Contains(canonical, s) {
			bad("statuses."+w, "%q is not a canonical status (%v)", s, canonical)
		}
		n := NormalizeWord(w)
		if prev, dup := words[n]; dup {
			bad("statuses."+w, "same word as %q", prev)
		}
		words[n] = w
	}
	if d.Login.Form.IsZero() {
		bad("login.form", "locate the field that shows the portal wants a sign-in (usually its password field)")
	}
	checkSteps(bad, "login.steps", d.Login.Steps, true)
	if d.Login.TOTP.Form.IsZero() {
		bad("login.totp.form", "locate the verification code field")
	}
	checkSteps(bad, "login.totp.steps", d.Login.TOTP.Steps, true)
	checkTable(bad, "po_list", d.POList, poListFields)
	if d.POList.ChangedURL != "" {
		if !usesVar(d.POList.ChangedURL, "since") {
			bad("po_list.changed_url", "must use {{since}}, the time since which the portal lists changed POs")
		}
		if !d.POList.Next.IsZero() && !usesVar(d.POList.ChangedURL, "page") {
			bad("po_list.changed_url", "must use {{page}}: the list is paged (po_list.next is set)")
		}
		checkVars(bad, "po_list.changed_url", d.POList.ChangedURL, "since", "page")
	}
	if !d.POList.Next.IsZero() && !usesVar(d.POList.URL, "page") {
		bad("po_list.url", "must use {{page}}: the list is paged (po_list.next is set), and a sync resumes at a page")
	}
	if d.PO.URL == "" {
		bad("po.url", "required")
	}
	if d.PO.Lines.IsZero() {
		bad("po.lines", "locate the PO lines table")
	}
	checkColumns(bad, "po.columns", d.PO.Cols, poLineFields)
	if d.PO.CreateInvoice.IsZero() {
		bad("po.create_invoice", "locate the Create Invoice action")
	}
	checkTable(bad, "invoice_list", d.InvoiceList, invListFields)
	if d.InvoiceList.ChangedURL != "" {
		bad("invoice_list.changed_url", "only po_list has a changed_url")
	}
	if d.Invoice.URL == "" {
		bad("invoice.url", "required")
	}
	checkColumns(bad, "invoice.terms", d.Invoice.Terms, invTermsFields, optionalTerms...)
	checkSteps(bad, "create_draft.steps", d.CreateDraft.Steps, true)
	checkSteps(bad, "submit.steps", d.Submit.Steps, true)
	checkSteps(bad, "delete.steps", d.Delete.Steps, true)
	return errors.Join(errs...)
}

func checkTable(bad func(string, string, ...any), field string, t TableRead, want []string) {
	if t.URL == "" {
		bad(field+".url", "required")
	}
	if t.Table.IsZero() {
		bad(field+".table", "locate the table")
	}
	checkColumns(bad, field+".columns", t.Columns, want)
}

func checkColumns(bad func(string, string, ...any), field string, cols map[string]string, want []string, optional ...string) {
	for _, w := range want {
		if cols[w] == "" {
			bad(field+"."+w, "name the column header")
		}
	}
	all := append(slices.Clone(want), optional...)
	for k := range cols {
		if !slices.Contains(all, k) {
			bad(field+"."+k, "unknown field (want one of %v)", all)
		}
	}
}

func checkSteps(bad func(string, string, ...any), field string, steps []Step, required bool) {
	if required && len(steps) == 0 {
		bad(field, "at least one step")
	}
	for i, s := range steps {
		f := fmt.Sprintf("%s[%d]", field, i)
		n := 0
		for _, set := range []bool{s.Navigate != "", s.Fill != nil, s.Select != nil, s.Check != nil, s.Click != nil, s.Upload != nil, s.Lines != nil, s.Wait != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad(f, "exactly one of navigate, fill, select, check, click, upload, lines, wait (found %d)", n)
			continue
		}
		for _, l := range []*Locator{s.Fill, s.Select, s.Check, s.Click, s.Upload} {
			if l != nil && l.IsZero() {
				bad(f, "the locator names nothing")
			}
		}
		if (s.Fill != nil || s.Select != nil) && s.Value == "" {
			bad(f+".value", "required for fill and select")
		}
		if s.Confirm != "" && s.Click == nil {
			bad(f+".confirm", "only a click can open a confirm dialog")
		}
		if s.Lines != nil {
			if s.Lines.Table.IsZero() || s.Lines.LineColumn == "" || s.Lines.Quantity.IsZero() {
				bad(f+".lines", "table, line_column and quantity are required")
			}
		}
		if s.Wait != nil && s.Wait.Success == "" && s.Wait.URL == "" {
			bad(f+".wait", "success text or url required")
		}
		if s.Wait != nil && s.Wait.URL != "" {
			if _, err := regexp.Compile(s.Wait.URL); err != nil {
				bad(f+".wait.url", "%v", err)
			}
		}
	}
}

var varRE = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

// usesVar reports whether a template uses {{name}}.
func usesVar(tmpl, name string) bool {
	for _, m := range varRE.FindAllStringSubmatch(tmpl, -1) {
		if m[1] == name {
			return true
		}
	}
	return false
}

// checkVars refuses variables a template cannot be given.
func checkVars(bad func(string, string, ...any), field, tmpl string, allowed ...string) {
	for _, m := range varRE.FindAllStringSubmatch(tmpl, -1) {
		if !slices.Contains(allowed, m[1]) {
			bad(field, "{{%s}} is not available here (want %v)", m[1], allowed)
		}
	}
}

// NormalizeWord folds case and spaces so "Pending  approval" and "Pending Approval" are one word.
func NormalizeWord(w string) string { return strings.ToLower(strings.Join(strings.Fields(w), " ")) }

// Status maps a portal word to a canonical status; an unknown word is a drift error.
func (d *Definition) Status(word string) (portal.Status, error) {
	n := NormalizeWord(word)
	for w, s := range d.Statuses {
		if NormalizeWord(w) == n {
			return s, nil
		}
	}
	return "", &portal.DriftError{Step: "read status", Detail: fmt.Sprintf("portal %s shows unknown status word %q", d.Name, word)}
}
