package simulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

const (
	msgSubmitted    = "Invoice submitted."
	msgDraftDeleted = "Draft deleted."
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
	start, end, pg := paginate(len(matched), s.cfg.PageSize, r.URL.Query(), "/invoices")
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
	DisputeReason, PaymentReference      string
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
		DisputeReason: inv.DisputeReason, PaymentReference: inv.PaymentReference,
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
	s.renderUserError(w, sess, http.StatusNotFound, "Invoice not found",
		"The invoice was not found. It may have been deleted.", "/invoices")
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
	inv := s.invoiceLocked(sess.username, r.PathValue("id"))
	if inv == nil {
		s.mu.Unlock()
		s.invoiceNotFound(w, sess)
		return
	}
	target := "/invoices/" + url.PathEscape(inv.ID)
	if msg := s.submitProblemLocked(inv); msg != "" {
		sess.flash = &flash{Kind: "error", Message: msg}
		s.mu.Unlock()
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	now := s.now()
	inv.Status, inv.SubmittedAt, inv.UpdatedAt = StatusPendingApproval, now, now
	s.logLocked("submitted", sess.username, inv.Number,
		fmt.Sprintf("%s on PO %s, total %s %s", inv.ID, inv.PONumber, formatMoney(inv.Total), inv.Currency))
	sess.flash = &flash{Kind: "success", Message: msgSubmitted}
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// submitProblemLocked says why inv cannot be submitted now, or "". The PO is
// checked again because other invoices may have used its balance since the
// draft was saved. s.mu must be held.
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
	if inv.Total.GreaterThan(l.Remaining) {
		return overBalance(inv.Total, l.Remaining, po.Currency)
	}
	return ""
}

func (s *Server) invoiceDelete(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	inv := s.invoiceLocked(sess.username, r.PathValue("id"))
	if inv == nil {
		s.mu.Unlock()
		s.invoiceNotFound(w, sess)
		return
	}
	if inv.Status != StatusDraft {
		sess.flash = &flash{Kind: "error", Message: fmt.Sprintf("Only draft invoices can be deleted. This invoice is %s.", inv.Status)}
		s.mu.Unlock()
		http.Redirect(w, r, "/invoices/"+url.PathEscape(inv.ID), http.StatusSeeOther)
		return
	}
	s.invoices = slices.DeleteFunc(s.invoices, func(x *Invoice) bool { return x == inv })
	s.logLocked("draft_deleted", sess.username, inv.Number, inv.ID)
	sess.flash = &flash{Kind: "success", Message: msgDraftDeleted}
	err := s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		s.internalError(w, err)
		return
	}
	http.Redirect(w, r, "/invoices", http.StatusSeeOther)
}
