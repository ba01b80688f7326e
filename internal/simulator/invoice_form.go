package simulator

// Invoice creation. The rules live in buildInvoiceLocked, the single place of
// validation (SHARED CORE: the Coupa form below and the Ariba SPA both fill an
// invoiceInput and call it, or createDraftLocked, which also stores the
// draft). Error field keys of fieldErrors: po, invoice_number, invoice_date,
// remit_to, qty_N, price_N, lines, tax_treatment, tax_rate, tax_reference,
// note, total, attachment.

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

const (
	maxAttachment     = defaultAttachmentMax // the default of Rules.AttachmentMaxBytes
	maxInvoiceNumber  = 40
	maxNoteLength     = 2000
	maxTaxReference   = 100
	msgFormNotSaved   = "The invoice could not be saved. Correct the errors below."
	msgDraftSaved     = "Draft saved."
	msgCalculated     = "Totals recalculated. The invoice has not been saved yet."
	msgNumberRequired = "Invoice number is required."
	msgDateRequired   = "Invoice date is required."
	msgDateInvalid    = "Invoice date must be a date (YYYY-MM-DD)."
	msgDateFuture     = "Invoice date cannot be in the future."
	msgNoLines        = "At least one line must have a quantity greater than zero."
	msgTaxRate        = "Tax rate must be a number between 0 and 100."
	msgTaxTreatment   = "Tax treatment must be Standard or Exempt."
	msgTaxReference   = "Tax exemption needs a tax reference."
	msgRemitToMissing = "Remit-To Address is required: choose one of the buyer's addresses."
	// With the default rules (PDF only, 5 MB) the attachment messages read:
	msgNotPDF    = "The attachment must be a PDF file."
	msgPDFTooBig = "The attachment must not be larger than 5 MB."
)

// Tax treatments of an invoice (Invoice.TaxTreatment, the "Tax Treatment" select).
const (
	TaxStandard = "Standard"
	TaxExempt   = "Exempt"
)

// invoiceInput is an invoice as the supplier filled it in, in any flavor.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
type invoiceInput struct {
	Number, Date, TaxRate, Note string
	// Qty maps a PO line number to the raw quantity typed. A PO line absent
	// from Qty, or set in Remove, is not billed. A line present at 0 is dropped
	// or, under Rules.ZeroLines "reject", refused.
	Qty map[int]string
	// Price maps a PO line number to the raw unit price typed; absent or ""
	// bills the PO price.
	Price map[int]string
	// Remove holds the lines the supplier removed ("Remove line N").
	Remove map[int]bool
	// RemitTo is the chosen remit-to address (one of Rules.RemitTo); ignored
	// when the buyer has none.
	RemitTo string
	// TaxTreatment is TaxStandard (also "") or TaxExempt, case-insensitive.
	TaxTreatment string
	// TaxReference is the exemption reference that goes with TaxExempt.
	TaxReference string
	Attachment   *attachment
}

// attachment is what the supplier uploaded; only its name, size and type
// (from its first bytes, not its name) matter, so the content is not kept.
//
// SHARED CORE: build one with readAttachment or sniffAttachment.
type attachment struct {
	name string
	size int64
	kind string // AttachmentPDF, AttachmentPNG, AttachmentJPG, AttachmentTIFF, or "" (unknown)
}

// sniffAttachment describes an upload from its name, size and first bytes
// (at least 8 for PNG).
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func sniffAttachment(name string, size int64, head []byte) *attachment {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:] // some browsers send the client-side path
	}
	return &attachment{name: name, size: size, kind: attachmentKind(head)}
}

// attachmentKind detects a file type by its magic bytes.
func attachmentKind(head []byte) string {
	has := func(p string) bool { return strings.HasPrefix(string(head), p) }
	switch {
	case has("%PDF"):
		return AttachmentPDF
	case has("\x89PNG\r\n\x1a\n"):
		return AttachmentPNG
	case has("\xff\xd8\xff"):
		return AttachmentJPG
	case has("II*\x00"), has("MM\x00*"):
		return AttachmentTIFF
	}
	return ""
}

// readAttachment reads the first bytes of an uploaded file.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func readAttachment(fh *multipart.FileHeader) (*attachment, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open attachment: %w", err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read attachment: %w", err)
	}
	return sniffAttachment(fh.Filename, fh.Size, head[:n]), nil
}

// fieldErrors keeps the order in which errors were found (for the flash
// list) and the message of each field (for the inline span).
type fieldErrors struct {
	order  []string
	fields map[string]string
}

func (e *fieldErrors) add(field, msg string) {
	if e.fields == nil {
		e.fields = map[string]string{}
	}
	if _, dup := e.fields[field]; !dup {
		e.fields[field] = msg
	}
	e.order = append(e.order, msg)
}

func (e *fieldErrors) empty() bool { return len(e.order) == 0 }

func qtyField(lineNo int) string    { return "qty_" + strconv.Itoa(lineNo) }
func priceField(lineNo int) string  { return "price_" + strconv.Itoa(lineNo) }
func removeField(lineNo int) string { return "remove_" + strconv.Itoa(lineNo) }

// normalizeTaxTreatment maps what a form sent to TaxStandard or TaxExempt, or "" when it is neither.
func normalizeTaxTreatment(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "standard":
		return TaxStandard
	case "exempt":
		return TaxExempt
	}
	return ""
}

// createDraftLocked validates in against poNumber of username and stores the
// draft. A PO that does not exist is an *actionError (404); refused input
// comes back as fieldErrors; err is otherwise a failure to save the state.
// s.mu must be held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) createDraftLocked(username, poNumber string, in invoiceInput) (*Invoice, fieldErrors, error) {
	po := s.pos[username][poNumber]
	if po == nil {
		return nil, fieldErrors{}, &actionError{http.StatusNotFound, fmt.Sprintf("Purchase order %s was not found.", poNumber)}
	}
	inv, errs := s.buildInvoiceLocked(username, po, s.ledgerLocked(username, po), in)
	if !errs.empty() {
		return nil, errs, nil
	}
	inv.ID = fmt.Sprintf("INV-%06d", s.nextSeq)
	s.nextSeq++
	s.invoices = append(s.invoices, inv)
	s.logLocked("draft_created", username, inv.Number,
		fmt.Sprintf("%s on PO %s, total %s %s", inv.ID, po.Number, formatMoney(inv.Total), inv.Currency))
	return inv, errs, s.persistLocked()
}

// buildInvoiceLocked applies the portal's invoice rules (the live Rules) to
// in and returns the draft, or every rule that failed; s.mu must be held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) buildInvoiceLocked(username string, po *PO, l ledger, in invoiceInput) (*Invoice, fieldErrors) {
	rules := s.rulesLocked()
	var errs fieldErrors
	if !l.canInvoice() {
		errs.add("po", notInvoiceable(po, l))
	}

	in.Number = strings.TrimSpace(in.Number)
	switch {
	case in.Number == "":
		errs.add("invoice_number", msgNumberRequired)
	case utf8.RuneCountInString(in.Number) > maxInvoiceNumber:
		errs.add("invoice_number", fmt.Sprintf("Invoice number must be at most %d characters.", maxInvoiceNumber))
	case s.cfg.Flavor == FlavorAriba && s.draftNumberUsedLocked(username, in.Number),
		s.cfg.Flavor != FlavorAriba && s.numberUsedLocked(username, in.Number):
		errs.add("invoice_number", fmt.Sprintf("Invoice number %s has already been used.", in.Number))
	}

	var invDate time.Time
	if in.Date = strings.TrimSpace(in.Date); in.Date == "" {
		errs.add("invoice_date", msgDateRequired)
	} else if d, err := time.Parse(dateLayout, in.Date); err != nil {
		errs.add("invoice_date", msgDateInvalid)
	} else {
		if msg := s.dateProblemLocked(d); msg != "" {
			errs.add("invoice_date", msg)
		}
		invDate = d
	}

	remitTo := ""
	if len(rules.RemitTo) > 0 {
		remitTo = strings.TrimSpace(in.RemitTo)
		if msg := s.remitToProblemLocked(remitTo); msg != "" {
			errs.add("remit_to", msg)
		}
	}

	var lines []InvoiceLine
	linesOK := true
	subtotal := decimal.Zero
	for _, pl := range po.Lines {
		raw, present := in.Qty[pl.LineNo]
		if !present || in.Remove[pl.LineNo] {
			continue // a line the supplier removed is a line it does not bill
		}
		field := qtyField(pl.LineNo)
		raw = strings.TrimSpace(raw)
		if raw == "" {
			raw = "0"
		}
		q, err := decimal.NewFromString(raw)
		switch {
		case err != nil:
			errs.add(field, fmt.Sprintf("Line %d: quantity must be a number.", pl.LineNo))
			linesOK = false
		case q.IsNegative():
			errs.add(field, fmt.Sprintf("Line %d: quantity cannot be negative.", pl.LineNo))
			linesOK = false
		case q.GreaterThan(pl.Quantity):
			errs.add(field, fmt.Sprintf("Line %d: quantity %s exceeds the PO quantity %s.",
				pl.LineNo, formatQty(q), formatQty(pl.Quantity)))
			linesOK = false
		case q.IsZero():
			if rules.ZeroLines == ZeroLinesReject {
				errs.add(field, zeroLineMessage(pl.LineNo))
				linesOK = false
			}
			// otherwise dropped: not billed on this invoice
		default:
			price, msg := linePrice(pl, in.Price[pl.LineNo], rules.LinesMirrorPO)
			if msg != "" {
				errs.add(priceField(pl.LineNo), msg)
				linesOK = false
				continue
			}
			amount := roundMoney(q.Mul(price))
			subtotal = subtotal.Add(amount)
			lines = append(lines, InvoiceLine{
				LineNo: pl.LineNo, PartNumber: pl.PartNumber, Description: pl.Description,
				Quantity: q, UOM: pl.UOM, UnitPrice: price, Amount: amount,
			})
		}
	}
	if linesOK && len(lines) == 0 {
		errs.add("lines", msgNoLines)
		linesOK = false
	}

	rate := decimal.Zero
	rateOK := true
	treatment := normalizeTaxTreatment(in.TaxTreatment)
	reference := strings.TrimSpace(in.TaxReference)
	switch treatment {
	case TaxExempt:
		// Exempt: no tax, whatever rate was typed.
		switch {
		case reference == "" && rules.TaxExemptionNeedsReference:
			errs.add("tax_reference", msgTaxReference)
		case utf8.RuneCountInString(reference) > maxTaxReference:
			errs.add("tax_reference", fmt.Sprintf("Tax exemption reference must be at most %d characters.", maxTaxReference))
		}
	case TaxStandard:
		reference = ""
		if raw := strings.TrimSpace(in.TaxRate); raw != "" {
			r, err := decimal.NewFromString(raw)
			if err != nil || r.IsNegative() || r.GreaterThan(hundred) {
				errs.add("tax_rate", msgTaxRate)
				rateOK = false
			} else {
				rate = r
			}
		}
	default:
		errs.add("tax_treatment", msgTaxTreatment)
		rateOK = false
	}

	in.Note = strings.TrimSpace(in.Note)
	if utf8.RuneCountInString(in.Note) > maxNoteLength {
		errs.add("note", fmt.Sprintf("Supplier note must be at most %d characters.", maxNoteLength))
	}

	tax := taxFor(subtotal, rate)
	total := subtotal.Add(tax)
	if linesOK && rateOK {
		if msg := s.balanceProblemLocked(po, l, total); msg != "" {
			errs.add("total", msg)
		}
	}

	if msg := s.attachmentProblemLocked(in.Attachment); msg != "" {
		errs.add("attachment", msg)
	}
	if !errs.empty() {
		return nil, errs
	}

	now := s.now()
	inv := &Invoice{
		Number: in.Number, PONumber: po.Number, Supplier: username, InvoiceDate: invDate,
		Currency: po.Currency, PaymentTerms: po.PaymentTerms, Lines: lines,
		TaxRate: rate, Tax: tax, Subtotal: subtotal, Total: total, Note: in.Note,
		RemitTo: remitTo, TaxTreatment: treatment, TaxReference: reference,
		Status: StatusDraft, CreatedAt: now, UpdatedAt: now,
	}
	if a := in.Attachment; a != nil {
		inv.AttachmentName, inv.AttachmentSize, inv.AttachmentType = a.name, a.size, a.kind
	}
	return inv, errs
}

func zeroLineMessage(lineNo int) string {
	return fmt.Sprintf("Line %d has quantity 0: remove lines you do not bill.", lineNo)
}

func mirrorMessage(pl POLine) string {
	return fmt.Sprintf("Line %d: unit price must be the PO's %s per %s; bill quantity x PO price, as on the PO.",
		pl.LineNo, formatPrice(pl.UnitPrice), pl.UOM)
}

// linePrice is the unit price to bill on a PO line: the PO's unless another
// one was typed, which Rules.LinesMirrorPO refuses.
func linePrice(pl POLine, raw string, mirror bool) (decimal.Decimal, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return pl.UnitPrice, ""
	}
	p, err := decimal.NewFromString(raw)
	switch {
	case err != nil:
		return decimal.Zero, fmt.Sprintf("Line %d: unit price must be a number.", pl.LineNo)
	case p.IsNegative():
		return decimal.Zero, fmt.Sprintf("Line %d: unit price cannot be negative.", pl.LineNo)
	case mirror && !p.Equal(pl.UnitPrice):
		return decimal.Zero, mirrorMessage(pl)
	}
	return p, ""
}

// dateProblemLocked checks an invoice date against today and Rules.MaxBackdateDays.
func (s *Server) dateProblemLocked(d time.Time) string {
	now := s.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if d.After(today) {
		return msgDateFuture
	}
	if n := s.rulesLocked().MaxBackdateDays; n > 0 && d.Before(today.AddDate(0, 0, -n)) {
		return fmt.Sprintf("Invoice date cannot be more than %d days in the past.", n)
	}
	return ""
}

// remitToProblemLocked checks a remit-to address against Rules.RemitTo.
func (s *Server) remitToProblemLocked(addr string) string {
	list := s.rulesLocked().RemitTo
	switch {
	case len(list) == 0:
		return ""
	case addr == "":
		return msgRemitToMissing
	case !slices.Contains(list, addr):
		return fmt.Sprintf("Remit-To Address %q is not one of %s's addresses.", addr, s.cfg.Buyer)
	}
	return ""
}

// balanceProblemLocked checks an invoice total against the PO remaining
// balance plus the buyer's tolerance.
func (s *Server) balanceProblemLocked(po *PO, l ledger, total decimal.Decimal) string {
	tol := s.rulesLocked().tolerance(l.Total)
	if !total.GreaterThan(l.Remaining.Add(tol)) {
		return ""
	}
	if tol.IsZero() {
		return overBalance(total, l.Remaining, po.Currency)
	}
	return fmt.Sprintf("The invoice total %s %s exceeds the remaining PO balance of %s %s plus the tolerance of %s %s.",
		formatMoney(total), po.Currency, formatMoney(l.Remaining), po.Currency, formatMoney(tol), po.Currency)
}

func overBalance(total, remaining decimal.Decimal, currency string) string {
	return fmt.Sprintf("The invoice total %s %s exceeds the remaining PO balance of %s %s.",
		formatMoney(total), currency, formatMoney(remaining), currency)
}

// attachmentProblemLocked checks an upload (nil: none) against the attachment rules.
func (s *Server) attachmentProblemLocked(a *attachment) string {
	rules := s.rulesLocked()
	switch {
	case a == nil && rules.AttachmentRequired:
		return fmt.Sprintf("An invoice attachment is required: a %s file of at most %s.",
			rules.attachmentTypeNames(), sizeLimitText(rules.AttachmentMaxBytes))
	case a == nil:
		return ""
	case a.size > rules.AttachmentMaxBytes:
		return fmt.Sprintf("The attachment must not be larger than %s.", sizeLimitText(rules.AttachmentMaxBytes))
	case !slices.Contains(rules.AttachmentTypes, a.kind):
		return fmt.Sprintf("The attachment must be a %s file.", rules.attachmentTypeNames())
	}
	return ""
}

// numberUsedLocked tells whether username already has a non-voided invoice
// (drafts included) with this number; s.mu must be held. Portals compare
// invoice numbers without regard to case.
func (s *Server) numberUsedLocked(username, number string) bool {
	for _, inv := range s.invoices {
		if inv.Supplier == username && inv.Status != StatusVoided && strings.EqualFold(inv.Number, number) {
			return true
		}
	}
	return false
}

// draftNumberUsedLocked tells whether username has a draft with this number.
// The Ariba flavor checks only drafts when saving: the buyer's network refuses
// a number already sent when the invoice is routed (ariba_api.go).
func (s *Server) draftNumberUsedLocked(username, number string) bool {
	for _, inv := range s.invoices {
		if inv.Supplier == username && inv.Status == StatusDraft && strings.EqualFold(inv.Number, number) {
			return true
		}
	}
	return false
}

func notInvoiceable(po *PO, l ledger) string {
	return fmt.Sprintf("Purchase order %s is %s and cannot be invoiced.", po.Number, l.Status)
}

// --- Coupa form ---

type invoiceFormLine struct {
	LineNo                              int
	PartNumber, Description, POQuantity string
	Quantity, UOM, UnitPrice, Amount    string
	Field, PriceField, RemoveField      string
	Removed                             bool
}

type selectOption struct {
	Value, Label string
	Selected     bool
}

type invoiceFormView struct {
	PO                          poRow
	Action                      string
	Number, Date, TaxRate, Note string
	TaxReference                string
	Exempt                      bool
	RemitTo                     []selectOption // empty: the buyer has no remit-to list
	Lines                       []invoiceFormLine
	Subtotal, Tax, Total        string
	Allowance                   string // remaining balance plus tolerance, when there is a tolerance
	AttachmentAccept            string
	AttachmentHint              string
	AttachmentRequired          bool
	Errors                      map[string]string
}

func (s *Server) invoiceNew(w http.ResponseWriter, r *http.Request, sess *session) {
	number := r.PathValue("number")
	s.mu.Lock()
	po := s.pos[sess.username][number]
	if po == nil {
		s.mu.Unlock()
		s.poNotFound(w, sess, number)
		return
	}
	l := s.ledgerLocked(sess.username, po)
	if !l.canInvoice() {
		s.mu.Unlock()
		s.renderUserError(w, sess, http.StatusConflict, "Invoice not allowed", notInvoiceable(po, l), "/pos/"+url.PathEscape(po.Number))
		return
	}
	in := invoiceInput{TaxRate: "0", Qty: map[int]string{}, Price: map[int]string{}, TaxTreatment: TaxStandard}
	for _, line := range po.Lines {
		in.Qty[line.LineNo] = formatQty(line.Quantity)
		in.Price[line.LineNo] = formatPrice(line.UnitPrice)
	}
	data := s.userPageLocked(sess, "Create Invoice for PO "+po.Number, "pos")
	data.Page = s.formViewLocked(po, l, in, fieldErrors{})
	s.mu.Unlock()
	s.render(w, http.StatusOK, "invoice_form", data)
}

// formViewLocked renders in as the supplier typed it, with amounts computed
// for the lines that parse, so that a re-rendered form shows what would be
// billed; s.mu must be held.
func (s *Server) formViewLocked(po *PO, l ledger, in invoiceInput, errs fieldErrors) invoiceFormView {
	rules := s.rulesLocked()
	v := invoiceFormView{
		PO: newPORow(po, l), Action: "/pos/" + url.PathEscape(po.Number) + "/invoices",
		Number: in.Number, Date: in.Date, TaxRate: in.TaxRate, Note: in.Note, Errors: errs.fields,
		TaxReference: in.TaxReference, Exempt: normalizeTaxTreatment(in.TaxTreatment) == TaxExempt,
		AttachmentAccept: rules.attachmentAccept(), AttachmentRequired: rules.AttachmentRequired,
		AttachmentHint: fmt.Sprintf("%s, at most %s.", rules.attachmentTypeNames(), sizeLimitText(rules.AttachmentMaxBytes)),
	}
	if rules.AttachmentRequired {
		v.AttachmentHint = "Required: " + v.AttachmentHint
	}
	for _, addr := range rules.RemitTo {
		v.RemitTo = append(v.RemitTo, selectOption{Value: addr, Label: addr, Selected: addr == in.RemitTo})
	}
	subtotal := decimal.Zero
	for _, line := range po.Lines {
		raw, present := in.Qty[line.LineNo]
		fl := invoiceFormLine{
			LineNo: line.LineNo, PartNumber: line.PartNumber, Description: line.Description,
			POQuantity: formatQty(line.Quantity), Quantity: raw, UOM: line.UOM,
			UnitPrice: in.Price[line.LineNo], Field: qtyField(line.LineNo),
			PriceField: priceField(line.LineNo), RemoveField: removeField(line.LineNo),
			Removed: in.Remove[line.LineNo] || !present,
		}
		if !present {
			fl.Quantity = "0"
		}
		price := line.UnitPrice
		if p, err := decimal.NewFromString(strings.TrimSpace(fl.UnitPrice)); err == nil && !p.IsNegative() {
			price = p
		} else if strings.TrimSpace(fl.UnitPrice) == "" {
			fl.UnitPrice = formatPrice(line.UnitPrice)
		}
		if q, err := decimal.NewFromString(strings.TrimSpace(raw)); err == nil && !q.IsNegative() && !fl.Removed {
			amount := roundMoney(q.Mul(price))
			fl.Amount = formatMoney(amount)
			subtotal = subtotal.Add(amount)
		}
		v.Lines = append(v.Lines, fl)
	}
	v.Subtotal = formatMoney(subtotal)
	if v.Exempt {
		v.Tax, v.Total = formatMoney(decimal.Zero), formatMoney(subtotal)
	} else if rate, err := decimal.NewFromString(strings.TrimSpace(in.TaxRate)); err == nil {
		tax := taxFor(subtotal, rate)
		v.Tax, v.Total = formatMoney(tax), formatMoney(subtotal.Add(tax))
	}
	if tol := rules.tolerance(l.Total); tol.IsPositive() {
		v.Allowance = formatMoney(l.Remaining.Add(tol))
	}
	return v
}

// readInvoiceInput collects the Coupa form's fields. It runs before the PO
// is looked up so that the upload is read without holding the lock; every
// qty_N, price_N and remove_N field is kept and matched to PO lines later.
func readInvoiceInput(r *http.Request) (invoiceInput, error) {
	in := invoiceInput{
		Number:       strings.TrimSpace(r.PostFormValue("invoice_number")),
		Date:         strings.TrimSpace(r.PostFormValue("invoice_date")),
		TaxRate:      strings.TrimSpace(r.PostFormValue("tax_rate")),
		Note:         strings.TrimSpace(r.PostFormValue("note")),
		RemitTo:      strings.TrimSpace(r.PostFormValue("remit_to")),
		TaxTreatment: strings.TrimSpace(r.PostFormValue("tax_treatment")),
		TaxReference: strings.TrimSpace(r.PostFormValue("tax_reference")),
		Qty:          map[int]string{},
		Price:        map[int]string{},
		Remove:       map[int]bool{},
	}
	for key, vals := range r.PostForm {
		if len(vals) == 0 {
			continue
		}
		prefix, num, ok := strings.Cut(key, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		switch prefix {
		case "qty":
			in.Qty[n] = strings.TrimSpace(vals[0])
		case "price":
			in.Price[n] = strings.TrimSpace(vals[0])
		case "remove":
			in.Remove[n] = vals[0] != ""
		}
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File["attachment"]) == 0 {
		return in, nil
	}
	fh := r.MultipartForm.File["attachment"][0]
	if fh.Filename == "" && fh.Size == 0 {
		return in, nil // browsers send an empty part when no file was chosen
	}
	a, err := readAttachment(fh)
	if err != nil {
		return in, err
	}
	in.Attachment = a
	return in, nil
}

func (s *Server) invoiceCreate(w http.ResponseWriter, r *http.Request, sess *session) {
	number := r.PathValue("number")
	in, err := readInvoiceInput(r)
	if err != nil {
		s.internalError(w, err)
		return
	}
	s.mu.Lock()
	po := s.pos[sess.username][number]
	if po == nil {
		s.mu.Unlock()
		s.poNotFound(w, sess, number)
		return
	}
	l := s.ledgerLocked(sess.username, po)
	if r.PostFormValue("action") == "calculate" {
		// "Calculate" shows the amounts of what was typed without saving.
		data := s.userPageLocked(sess, "Create Invoice for PO "+po.Number, "pos")
		data.Flash = &flash{Kind: "info", Message: msgCalculated}
		data.Page = s.formViewLocked(po, l, in, fieldErrors{})
		s.mu.Unlock()
		s.render(w, http.StatusOK, "invoice_form", data)
		return
	}
	inv, errs, err := s.createDraftLocked(sess.username, po.Number, in)
	if err == nil && !errs.empty() {
		data := s.userPageLocked(sess, "Create Invoice for PO "+po.Number, "pos")
		data.Flash = &flash{Kind: "error", Message: msgFormNotSaved, Messages: errs.order}
		data.Page = s.formViewLocked(po, l, in, errs)
		s.mu.Unlock()
		s.render(w, http.StatusUnprocessableEntity, "invoice_form", data)
		return
	}
	if err == nil {
		sess.flash = &flash{Kind: "success", Message: msgDraftSaved}
	}
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, err)
		return
	}
	http.Redirect(w, r, "/invoices/"+url.PathEscape(inv.ID), http.StatusSeeOther)
}
