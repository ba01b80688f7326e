package simulator

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

const (
	maxAttachment     = 5 << 20
	maxInvoiceNumber  = 40
	maxNoteLength     = 2000
	msgFormNotSaved   = "The invoice could not be saved. Correct the errors below."
	msgDraftSaved     = "Draft saved."
	msgNumberRequired = "Invoice number is required."
	msgDateRequired   = "Invoice date is required."
	msgDateInvalid    = "Invoice date must be a date (YYYY-MM-DD)."
	msgDateFuture     = "Invoice date cannot be in the future."
	msgNoLines        = "At least one line must have a quantity greater than zero."
	msgTaxRate        = "Tax rate must be a number between 0 and 100."
	msgNotPDF         = "The attachment must be a PDF file."
	msgPDFTooBig      = "The attachment must not be larger than 5 MB."
)

// invoiceInput is the invoice form as the supplier filled it in.
type invoiceInput struct {
	Number, Date, TaxRate, Note string
	Qty                         map[int]string // PO line number → raw quantity
	Attachment                  *attachment
}

// attachment is what the form uploaded; only its name, size and first bytes
// matter, so the content is not kept.
type attachment struct {
	name  string
	size  int64
	isPDF bool
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

type invoiceFormLine struct {
	LineNo                                  int
	PartNumber, Description, POQuantity     string
	Quantity, UOM, UnitPrice, Amount, Field string
}

type invoiceFormView struct {
	PO                          poRow
	Action                      string
	Number, Date, TaxRate, Note string
	Lines                       []invoiceFormLine
	Subtotal, Tax, Total        string
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
	in := invoiceInput{TaxRate: "0", Qty: map[int]string{}}
	for _, line := range po.Lines {
		in.Qty[line.LineNo] = formatQty(line.Quantity)
	}
	data := s.userPageLocked(sess, "Create Invoice for PO "+po.Number, "pos")
	data.Page = s.formView(po, l, in, fieldErrors{})
	s.mu.Unlock()
	s.render(w, http.StatusOK, "invoice_form", data)
}

func notInvoiceable(po *PO, l ledger) string {
	return fmt.Sprintf("Purchase order %s is %s and cannot be invoiced.", po.Number, l.Status)
}

// formView renders in as the supplier typed it, with amounts computed for the
// quantities that parse, so that a re-rendered form shows what would be billed.
func (s *Server) formView(po *PO, l ledger, in invoiceInput, errs fieldErrors) invoiceFormView {
	v := invoiceFormView{
		PO: newPORow(po, l), Action: "/pos/" + url.PathEscape(po.Number) + "/invoices",
		Number: in.Number, Date: in.Date, TaxRate: in.TaxRate, Note: in.Note, Errors: errs.fields,
	}
	subtotal := decimal.Zero
	for _, line := range po.Lines {
		raw := in.Qty[line.LineNo]
		fl := invoiceFormLine{
			LineNo: line.LineNo, PartNumber: line.PartNumber, Description: line.Description,
			POQuantity: formatQty(line.Quantity), Quantity: raw, UOM: line.UOM,
			UnitPrice: formatPrice(line.UnitPrice), Field: qtyField(line.LineNo),
		}
		if q, err := decimal.NewFromString(strings.TrimSpace(raw)); err == nil && !q.IsNegative() {
			amount := roundMoney(q.Mul(line.UnitPrice))
			fl.Amount = formatMoney(amount)
			subtotal = subtotal.Add(amount)
		}
		v.Lines = append(v.Lines, fl)
	}
	v.Subtotal = formatMoney(subtotal)
	if rate, err := decimal.NewFromString(strings.TrimSpace(in.TaxRate)); err == nil {
		tax := taxFor(subtotal, rate)
		v.Tax, v.Total = formatMoney(tax), formatMoney(subtotal.Add(tax))
	}
	return v
}

func qtyField(lineNo int) string { return "qty_" + strconv.Itoa(lineNo) }

// readInvoiceInput collects the invoice form's fields. It runs before the PO
// is looked up so that the upload is read without holding the lock; every
// qty_N field is kept and matched to PO lines later.
func readInvoiceInput(r *http.Request) (invoiceInput, error) {
	in := invoiceInput{
		Number:  strings.TrimSpace(r.PostFormValue("invoice_number")),
		Date:    strings.TrimSpace(r.PostFormValue("invoice_date")),
		TaxRate: strings.TrimSpace(r.PostFormValue("tax_rate")),
		Note:    strings.TrimSpace(r.PostFormValue("note")),
		Qty:     map[int]string{},
	}
	for key, vals := range r.PostForm {
		n, err := strconv.Atoi(strings.TrimPrefix(key, "qty_"))
		if strings.HasPrefix(key, "qty_") && err == nil && len(vals) > 0 {
			in.Qty[n] = strings.TrimSpace(vals[0])
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

func readAttachment(fh *multipart.FileHeader) (*attachment, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("open attachment: %w", err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read attachment: %w", err)
	}
	name := fh.Filename
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:] // some browsers send the client-side path
	}
	return &attachment{name: name, size: fh.Size, isPDF: bytes.Equal(head[:n], []byte("%PDF"))}, nil
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
	inv, errs := s.buildInvoiceLocked(sess.username, po, l, in)
	if !errs.empty() {
		data := s.userPageLocked(sess, "Create Invoice for PO "+po.Number, "pos")
		data.Flash = &flash{Kind: "error", Message: msgFormNotSaved, Messages: errs.order}
		data.Page = s.formView(po, l, in, errs)
		s.mu.Unlock()
		s.render(w, http.StatusUnprocessableEntity, "invoice_form", data)
		return
	}
	inv.ID = fmt.Sprintf("INV-%06d", s.nextSeq)
	s.nextSeq++
	s.invoices = append(s.invoices, inv)
	s.logLocked("draft_created", sess.username, inv.Number,
		fmt.Sprintf("%s on PO %s, total %s %s", inv.ID, po.Number, formatMoney(inv.Total), inv.Currency))
	sess.flash = &flash{Kind: "success", Message: msgDraftSaved}
	err = s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, err)
		return
	}
	http.Redirect(w, r, "/invoices/"+url.PathEscape(inv.ID), http.StatusSeeOther)
}

// buildInvoiceLocked applies the portal's invoice rules to in and returns the
// draft, or every rule that failed; s.mu must be held.
func (s *Server) buildInvoiceLocked(username string, po *PO, l ledger, in invoiceInput) (*Invoice, fieldErrors) {
	var errs fieldErrors
	if !l.canInvoice() {
		errs.add("po", notInvoiceable(po, l))
	}

	switch {
	case in.Number == "":
		errs.add("invoice_number", msgNumberRequired)
	case utf8.RuneCountInString(in.Number) > maxInvoiceNumber:
		errs.add("invoice_number", fmt.Sprintf("Invoice number must be at most %d characters.", maxInvoiceNumber))
	case s.numberUsedLocked(username, in.Number):
		errs.add("invoice_number", fmt.Sprintf("Invoice number %s has already been used.", in.Number))
	}

	var invDate time.Time
	if in.Date == "" {
		errs.add("invoice_date", msgDateRequired)
	} else if d, err := time.Parse(dateLayout, in.Date); err != nil {
		errs.add("invoice_date", msgDateInvalid)
	} else {
		now := s.now()
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		if d.After(today) {
			errs.add("invoice_date", msgDateFuture)
		}
		invDate = d
	}

	var lines []InvoiceLine
	linesOK := true
	subtotal := decimal.Zero
	for _, pl := range po.Lines {
		field := qtyField(pl.LineNo)
		raw := in.Qty[pl.LineNo]
		if raw == "" {
			raw = "0" // a line the supplier removed is a line it does not bill
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
			// dropped: not billed on this invoice
		default:
			amount := roundMoney(q.Mul(pl.UnitPrice))
			subtotal = subtotal.Add(amount)
			lines = append(lines, InvoiceLine{
				LineNo: pl.LineNo, PartNumber: pl.PartNumber, Description: pl.Description,
				Quantity: q, UOM: pl.UOM, UnitPrice: pl.UnitPrice, Amount: amount,
			})
		}
	}
	if linesOK && len(lines) == 0 {
		errs.add("lines", msgNoLines)
		linesOK = false
	}

	rate := decimal.Zero
	rateOK := true
	if in.TaxRate != "" {
		r, err := decimal.NewFromString(in.TaxRate)
		if err != nil || r.IsNegative() || r.GreaterThan(hundred) {
			errs.add("tax_rate", msgTaxRate)
			rateOK = false
		} else {
			rate = r
		}
	}

	if utf8.RuneCountInString(in.Note) > maxNoteLength {
		errs.add("note", fmt.Sprintf("Supplier note must be at most %d characters.", maxNoteLength))
	}

	tax := taxFor(subtotal, rate)
	total := subtotal.Add(tax)
	if linesOK && rateOK && total.GreaterThan(l.Remaining) {
		errs.add("total", overBalance(total, l.Remaining, po.Currency))
	}

	if a := in.Attachment; a != nil {
		switch {
		case a.size > maxAttachment:
			errs.add("attachment", msgPDFTooBig)
		case !a.isPDF:
			errs.add("attachment", msgNotPDF)
		}
	}
	if !errs.empty() {
		return nil, errs
	}

	now := s.now()
	inv := &Invoice{
		Number: in.Number, PONumber: po.Number, Supplier: username, InvoiceDate: invDate,
		Currency: po.Currency, PaymentTerms: po.PaymentTerms, Lines: lines,
		TaxRate: rate, Tax: tax, Subtotal: subtotal, Total: total, Note: in.Note,
		Status: StatusDraft, CreatedAt: now, UpdatedAt: now,
	}
	if a := in.Attachment; a != nil {
		inv.AttachmentName, inv.AttachmentSize = a.name, a.size
	}
	return inv, errs
}

func overBalance(total, remaining decimal.Decimal, currency string) string {
	return fmt.Sprintf("The invoice total %s %s exceeds the remaining PO balance of %s %s.",
		formatMoney(total), currency, formatMoney(remaining), currency)
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
