package simulator

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

const (
	msgSubmitted     = "Invoice submitted."
	msgDraftDeleted  = "Draft deleted."
	msgNoSuchInvoice = "The invoice was not found. It may have been deleted."
)

type invoiceRow struct {
	ID, Number, PONumber, InvoiceDate, Total, Currency string
	Status                                             InvoiceStatus
	Href, POHref                                       string
}

func newInvoiceRow(inv *Invoice) invoiceRow {
	return invoiceRow{
		ID: inv.ID, Number: inv.Number, PONumber: inv.PONumber, InvoiceDate: formatDate(inv.InvoiceDate),
		Total: formatMoney(inv.Total), Currency: inv.Currency, Status: inv.Status,
		Href: "/invoices/" + url.PathEscape(inv.ID), POHref: "/pos/" + url.PathEscape(inv.PONumber),
	}
}

type invoiceListView struct {
	Query string
	Rows  []invoiceRow
	Count int
	Pager pager
}

// invoiceLocked returns username's invoice with the given ID; other
// suppliers' invoices do not exist as far as this user can tell. s.mu must
// be held.
func (s *Server) invoiceLocked(username, id string) *Invoice {
	for _, inv := range s.invoices {
		if inv.ID == id && inv.Supplier == username {
			return inv
		}
	}
	return nil
}

func (s *Server) invoiceList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	s.mu.Lock()
	var matched []*Invoice
	for _, inv := range s.invoices {
		if inv.Supplier == sess.username && (q == "" || containsFold(inv.Number, q)) {
			matched = append(matched, inv)
		}
	}
	slices.Reverse(matched) // newest first, as portals list them
	start, end, pg := paginate(len(matched), s.rulesLocked().PageSize, r.URL.Query(), "/invoices")
	view := invoiceListView{Query: q, Count: len(matched), Pager: pg}
	for _, inv := range matched[start:end] {
		view.Rows = append(view.Rows, newInvoiceRow(inv))
	}
	data := s.userPageLocked(sess, "Invoices", "invoices")
	s.mu.Unlock()
	data.Page = view
	s.render(w, http.StatusOK, "invoices", data)
}

type invoiceDetailView struct {
	invoiceRow
	PaymentTerms, Subtotal, TaxRate, Tax string
	Note, AttachmentName                 string
	AttachmentSize                       string
	DisputeCode, DisputeReason           string
	PaymentReference, AmountPaid         string
	RemitTo, TaxTreatment, TaxReference  string
	Lines                                []poLineRow
	IsDraft                              bool
	SubmitAction, DeleteAction           string
	ConfirmSubmit, ConfirmDelete         string
	Created, Submitted                   string
}

func (s *Server) invoiceDetail(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	inv := s.invoiceLocked(sess.username, r.PathValue("id"))
	if inv == nil {
		s.mu.Unlock()
		s.invoiceNotFound(w, sess)
		return
	}
	v := invoiceDetailView{
		invoiceRow:   newInvoiceRow(inv),
		PaymentTerms: inv.PaymentTerms, Subtotal: formatMoney(inv.Subtotal), TaxRate: inv.TaxRate.String(),
		Tax: formatMoney(inv.Tax), Note: inv.Note, AttachmentName: inv.AttachmentName,
		DisputeCode: inv.RejectionCode, DisputeReason: inv.DisputeReason,
		PaymentReference: inv.PaymentReference, AmountPaid: formatMoney(inv.PaidAmount),
		RemitTo: inv.RemitTo, TaxTreatment: cmp.Or(inv.TaxTreatment, TaxStandard), TaxReference: inv.TaxReference,
		IsDraft: inv.Status == StatusDraft,
		Created: inv.CreatedAt.UTC().Format("2006-01-02 15:04 MST"),
	}
	if inv.AttachmentName != "" {
		v.AttachmentSize = humanSize(inv.AttachmentSize)
	}
	if !inv.SubmittedAt.IsZero() {
		v.Submitted = inv.SubmittedAt.UTC().Format("2006-01-02 15:04 MST")
	}
	v.SubmitAction = v.Href + "/submit"
	v.DeleteAction = v.Href + "/delete"
	v.ConfirmSubmit = fmt.Sprintf("Submit invoice %s to %s? A submitted invoice cannot be changed.", inv.Number, s.cfg.Buyer)
	v.ConfirmDelete = fmt.Sprintf("Delete draft invoice %s?", inv.Number)
	for _, l := range inv.Lines {
		v.Lines = append(v.Lines, poLineRow{
			LineNo: l.LineNo, PartNumber: l.PartNumber, Description: l.Description,
			Quantity: formatQty(l.Quantity), UOM: l.UOM, UnitPrice: formatPrice(l.UnitPrice), Amount: formatMoney(l.Amount),
		})
	}
	data := s.userPageLocked(sess, "Invoice "+inv.Number, "invoices")
	s.mu.Unlock()
	data.Page = v
	s.render(w, http.StatusOK, "invoice", data)
}

func (s *Server) invoiceNotFound(w http.ResponseWriter, sess *session) {
	s.renderUserError(w, sess, http.StatusNotFound, "Invoice not found", msgNoSuchInvoice, "/invoices")
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) invoiceSubmit(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	inv, err := s.submitInvoiceLocked(sess.username, r.PathValue("id"))
	s.afterInvoiceAction(w, r, sess, inv, err, msgSubmitted, "")
}

func (s *Server) invoiceDelete(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	inv, err := s.deleteDraftLocked(sess.username, r.PathValue("id"))
	s.afterInvoiceAction(w, r, sess, inv, err, msgDraftDeleted, "/invoices")
}

// afterInvoiceAction answers a Submit or Delete button: the invoice page
// (or target) with a success or error flash. It is called with s.mu held and
// releases it.
func (s *Server) afterInvoiceAction(w http.ResponseWriter, r *http.Request, sess *session, inv *Invoice, err error, ok, target string) {
	var ae *actionError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusNotFound:
		s.mu.Unlock()
		s.invoiceNotFound(w, sess)
		return
	case errors.As(err, &ae):
		sess.flash = &flash{Kind: "error", Message: ae.msg}
	case err != nil:
		s.mu.Unlock()
		s.internalError(w, err)
		return
	default:
		sess.flash = &flash{Kind: "success", Message: ok}
	}
	s.mu.Unlock()
	if target == "" || err != nil {
		target = "/invoices/" + url.PathEscape(inv.ID)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// submitInvoiceLocked sends username's draft id to the buyer: Draft →
// Pending Approval, after checking it again against the live rules. A refusal
// is an *actionError (404 unknown invoice, 409 with the message for the UI);
// other errors are failures to save. inv is set whenever the invoice exists.
// s.mu must be held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) submitInvoiceLocked(username, id string) (*Invoice, error) {
	inv := s.invoiceLocked(username, id)
	if inv == nil {
		return nil, &actionError{http.StatusNotFound, msgNoSuchInvoice}
	}
	if msg := s.submitProblemLocked(inv); msg != "" {
		return inv, &actionError{http.StatusConflict, msg}
	}
	now := s.now()
	consumed := inv.Status.consumesBalance()
	inv.Status, inv.SubmittedAt, inv.UpdatedAt = StatusPendingApproval, now, now
	s.touchPOLocked(inv, consumed)
	s.logLocked("submitted", username, inv.Number,
		fmt.Sprintf("%s on PO %s, total %s %s", inv.ID, inv.PONumber, formatMoney(inv.Total), inv.Currency))
	return inv, s.persistLocked()
}

// submitProblemLocked says why inv cannot be submitted now, or "". The
// draft is checked again against its PO and the live rules, because other
// invoices may have used the PO balance, the PO may have changed and the
// buyer may have changed its rules since the draft was saved. s.mu must be
// held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) submitProblemLocked(inv *Invoice) string {
	if inv.Status != StatusDraft {
		return fmt.Sprintf("Only draft invoices can be submitted. This invoice is %s.", inv.Status)
	}
	po := s.pos[inv.Supplier][inv.PONumber]
	if po == nil {
		return fmt.Sprintf("Purchase order %s is no longer available.", inv.PONumber)
	}
	l := s.ledgerLocked(inv.Supplier, po)
	if !l.canInvoice() {
		return notInvoiceable(po, l)
	}
	rules := s.rulesLocked()
	for _, il := range inv.Lines {
		pl, ok := po.line(il.LineNo)
		switch {
		case !ok:
			return fmt.Sprintf("Line %d is no longer on purchase order %s.", il.LineNo, po.Number)
		case il.Quantity.GreaterThan(pl.Quantity):
			return fmt.Sprintf("Line %d: quantity %s exceeds the PO quantity %s.", il.LineNo, formatQty(il.Quantity), formatQty(pl.Quantity))
		case rules.LinesMirrorPO && !il.UnitPrice.Equal(pl.UnitPrice):
			return mirrorMessage(pl)
		}
	}
	if msg := s.balanceProblemLocked(po, l, inv.Total); msg != "" {
		return msg
	}
	if msg := s.dateProblemLocked(inv.InvoiceDate); msg != "" {
		return msg
	}
	if msg := s.remitToProblemLocked(inv.RemitTo); msg != "" {
		return msg
	}
	if inv.TaxTreatment == TaxExempt && inv.TaxReference == "" && rules.TaxExemptionNeedsReference {
		return msgTaxReference
	}
	var a *attachment
	if inv.AttachmentName != "" || inv.AttachmentSize > 0 {
		a = &attachment{name: inv.AttachmentName, size: inv.AttachmentSize, kind: inv.AttachmentType}
	}
	return s.attachmentProblemLocked(a)
}

// deleteDraftLocked deletes username's draft id. A refusal is an
// *actionError (404 unknown invoice, 409 not a draft, with the message for
// the UI); other errors are failures to save. s.mu must be held.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) deleteDraftLocked(username, id string) (*Invoice, error) {
	inv := s.invoiceLocked(username, id)
	if inv == nil {
		return nil, &actionError{http.StatusNotFound, msgNoSuchInvoice}
	}
	if inv.Status != StatusDraft {
		return inv, &actionError{http.StatusConflict, fmt.Sprintf("Only draft invoices can be deleted. This invoice is %s.", inv.Status)}
	}
	s.invoices = slices.DeleteFunc(s.invoices, func(x *Invoice) bool { return x == inv })
	s.logLocked("draft_deleted", username, inv.Number, inv.ID)
	return inv, s.persistLocked()
}
