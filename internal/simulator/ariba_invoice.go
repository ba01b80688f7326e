package simulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ariba_invoice.go saves the invoice wizard of the Ariba app as a draft
// ("Saved" in Ariba's words) through the shared core, buildInvoiceLocked.

// Field names of the wizard's multipart form. They differ from the Coupa form
// on purpose; nothing of the app may rely on the Coupa flavor's names.
const (
	afNumber    = "invoiceNo"
	afDate      = "invoiceDate"
	afRemitTo   = "remitTo"
	afTaxRate   = "taxPercent"
	afTaxCat    = "taxCategory"
	afExemptRef = "exemptionRef"
	afComments  = "comments"
	afDocument  = "document"
	afQtyPrefix = "qty."
	afPricePre  = "price."
	afRemovePre = "remove."
)

// aribaFormSetup is what the wizard offers for one order, from the live rules.
type aribaFormSetup struct {
	RemitTo          []aribaOption `json:"remit_to"`
	TaxCategories    []aribaOption `json:"tax_categories"`
	AttachmentAccept string        `json:"attachment_accept"`
	AttachmentHint   string        `json:"attachment_hint"`
	// ExemptionNeedsReference: Tax Category Exempt needs an Exemption Reference.
	ExemptionNeedsReference bool `json:"exemption_needs_reference"`
}

type aribaOption struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// aribaFormSetupLocked lists the choices of the wizard's selects; s.mu must be held.
func (s *Server) aribaFormSetupLocked() aribaFormSetup {
	rules := s.rulesLocked()
	f := aribaFormSetup{
		RemitTo: []aribaOption{},
		TaxCategories: []aribaOption{
			{Value: TaxStandard, Label: "Standard"},
			{Value: TaxExempt, Label: "Exempt"},
		},
		AttachmentAccept:        rules.attachmentAccept(),
		AttachmentHint:          fmt.Sprintf("%s, up to %s.", rules.attachmentTypeNames(), sizeLimitText(rules.AttachmentMaxBytes)),
		ExemptionNeedsReference: rules.TaxExemptionNeedsReference,
	}
	if rules.AttachmentRequired {
		f.AttachmentHint = "Required. " + f.AttachmentHint
	}
	for _, a := range rules.RemitTo {
		f.RemitTo = append(f.RemitTo, aribaOption{Value: a, Label: a})
	}
	return f
}

// readAribaInput collects the wizard's fields into the shared invoiceInput.
// Like readInvoiceInput it runs before the lock is taken, so that the upload
// is read without holding it.
func readAribaInput(r *http.Request) (invoiceInput, error) {
	in := invoiceInput{
		Number:       strings.TrimSpace(r.PostFormValue(afNumber)),
		Date:         strings.TrimSpace(r.PostFormValue(afDate)),
		RemitTo:      strings.TrimSpace(r.PostFormValue(afRemitTo)),
		TaxRate:      strings.TrimSpace(r.PostFormValue(afTaxRate)),
		TaxTreatment: strings.TrimSpace(r.PostFormValue(afTaxCat)),
		TaxReference: strings.TrimSpace(r.PostFormValue(afExemptRef)),
		Note:         strings.TrimSpace(r.PostFormValue(afComments)),
		Qty:          map[int]string{},
		Price:        map[int]string{},
		Remove:       map[int]bool{},
	}
	line := func(key, prefix string) (int, bool) {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(rest)
		return n, err == nil
	}
	for key, vals := range r.PostForm {
		if len(vals) == 0 {
			continue
		}
		v := strings.TrimSpace(vals[0])
		if n, ok := line(key, afQtyPrefix); ok {
			in.Qty[n] = v
		} else if n, ok := line(key, afPricePre); ok {
			in.Price[n] = v
		} else if n, ok := line(key, afRemovePre); ok && v != "" {
			in.Remove[n] = true
		}
	}
	if r.MultipartForm == nil || len(r.MultipartForm.File[afDocument]) == 0 {
		return in, nil
	}
	fh := r.MultipartForm.File[afDocument][0]
	if fh.Filename == "" && fh.Size == 0 {
		return in, nil
	}
	a, err := readAttachment(fh)
	if err != nil {
		return in, err
	}
	in.Attachment = a
	return in, nil
}

// aribaFieldError is one refused field as the app lists it: "Label: message".
type aribaFieldError struct {
	Field   string `json:"field,omitempty"` // the wizard's input name, when an input is at fault
	Label   string `json:"label"`
	Message string `json:"message"`
}

// aribaField maps a field key of the shared core to the wizard's input name
// and label.
func aribaField(key string) (field, label string) {
	if n, ok := strings.CutPrefix(key, "qty_"); ok {
		return afQtyPrefix + n, "Qty for line " + n
	}
	if n, ok := strings.CutPrefix(key, "price_"); ok {
		return afPricePre + n, "Price for line " + n
	}
	switch key {
	case "invoice_number":
		return afNumber, "Invoice No."
	case "invoice_date":
		return afDate, "Invoice Date"
	case "remit_to":
		return afRemitTo, "Remit To"
	case "tax_rate":
		return afTaxRate, "Tax Rate %"
	case "tax_treatment":
		return afTaxCat, "Tax Category"
	case "tax_reference":
		return afExemptRef, "Exemption Reference"
	case "note":
		return afComments, "Comments"
	case "attachment":
		return afDocument, "Invoice Document"
	case "lines":
		return "", "Lines"
	case "total":
		return "", "Total"
	case "po":
		return "", "Order"
	}
	return "", "Invoice"
}

// aribaErrors lists the core's errors in the order it found them, each with
// the label of the wizard field it concerns.
func aribaErrors(errs fieldErrors) []aribaFieldError {
	out := make([]aribaFieldError, 0, len(errs.order))
	for _, msg := range errs.order {
		key := ""
		for k, m := range errs.fields {
			if m == msg {
				key = k
				break
			}
		}
		field, label := aribaField(key)
		out = append(out, aribaFieldError{Field: field, Label: label, Message: msg})
	}
	return out
}

const msgAribaNotSaved = "The invoice could not be saved. Correct the following:"

func (s *Server) aribaInvoiceCreate(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := parseForm(w, r); err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	in, err := readAribaInput(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	number := r.PathValue("number")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pos[sess.username][number] == nil {
		writeJSONError(w, http.StatusNotFound, aribaOrderNotFound(number))
		return
	}
	inv, errs, err := s.createDraftLocked(sess.username, number, in)
	switch {
	case !errs.empty():
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": msgAribaNotSaved, "errors": aribaErrors(errs)})
	case err != nil:
		writeActionError(w, err)
	default:
		writeJSON(w, http.StatusCreated, map[string]any{
			"invoice": s.newAribaInvoiceView(inv),
			"message": fmt.Sprintf("Invoice %s saved as draft.", inv.Number),
		})
	}
}
