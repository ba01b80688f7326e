package simulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// actionError is a refused buyer action with the HTTP status that fits it.
type actionError struct {
	status int
	msg    string
}

func (e *actionError) Error() string { return e.msg }

// buyerAction moves an invoice through the buyer's side of its life:
// Pending Approval → Approved or Disputed, Approved → Paid, and (an
// addition to the Coupa flow the tests need) Pending Approval, Approved or
// Disputed → Voided.
func (s *Server) buyerAction(id, action, arg string) (Invoice, error) {
	arg = strings.TrimSpace(arg)
	s.mu.Lock()
	defer s.mu.Unlock()
	var inv *Invoice
	for _, x := range s.invoices {
		if x.ID == id {
			inv = x
		}
	}
	if inv == nil {
		return Invoice{}, &actionError{http.StatusNotFound, fmt.Sprintf("invoice %s not found", id)}
	}
	var from []InvoiceStatus
	var to InvoiceStatus
	var kind string
	switch action {
	case "approve":
		from, to, kind = []InvoiceStatus{StatusPendingApproval}, StatusApproved, "approved"
	case "dispute":
		if arg == "" {
			return Invoice{}, &actionError{http.StatusBadRequest, "a dispute needs a reason"}
		}
		from, to, kind = []InvoiceStatus{StatusPendingApproval}, StatusDisputed, "disputed"
	case "pay":
		if arg == "" {
			return Invoice{}, &actionError{http.StatusBadRequest, "a payment needs a reference"}
		}
		from, to, kind = []InvoiceStatus{StatusApproved}, StatusPaid, "paid"
	case "void":
		from, to, kind = []InvoiceStatus{StatusPendingApproval, StatusApproved, StatusDisputed}, StatusVoided, "voided"
	default:
		return Invoice{}, &actionError{http.StatusNotFound, fmt.Sprintf("unknown action %q", action)}
	}
	if !slices.Contains(from, inv.Status) {
		return Invoice{}, &actionError{http.StatusConflict,
			fmt.Sprintf("invoice %s is %s; it cannot be %s", inv.ID, inv.Status, kind)}
	}
	inv.Status, inv.UpdatedAt = to, s.now()
	switch to {
	case StatusDisputed:
		inv.DisputeReason = arg
	case StatusPaid:
		inv.PaymentReference = arg
	}
	s.logLocked(kind, inv.Supplier, inv.Number, strings.TrimSpace(inv.ID+" "+arg))
	if err := s.persistLocked(); err != nil {
		return Invoice{}, err
	}
	return inv.clone(), nil
}

// buyerInvoices lists what the buyer can see: every submitted invoice.
// Drafts stay private to their supplier, as in real portals.
func (s *Server) buyerInvoices(supplier, number string) []Invoice {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Invoice{}
	for _, inv := range s.invoices {
		if inv.Status == StatusDraft ||
			(supplier != "" && inv.Supplier != supplier) ||
			(number != "" && !strings.EqualFold(inv.Number, number)) {
			continue
		}
		out = append(out, inv.clone())
	}
	return out
}

func (s *Server) buyerAPIList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, s.buyerInvoices(q.Get("supplier"), q.Get("number")))
}

func (s *Server) buyerAPIAction(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason    string `json:"reason"`
		Reference string `json:"reference"`
	}
	// approve and void take no body; an empty one is fine.
	if err := decodeJSON(w, r, &body); err != nil && !errors.Is(err, io.EOF) {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	action := r.PathValue("action")
	inv, err := s.buyerAction(r.PathValue("id"), action, actionArg(action, body.Reason, body.Reference))
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

// actionArg picks the argument that action uses.
func actionArg(action, reason, reference string) string {
	switch action {
	case "dispute":
		return reason
	case "pay":
		return reference
	}
	return ""
}

func writeActionError(w http.ResponseWriter, err error) {
	var ae *actionError
	if errors.As(err, &ae) {
		writeJSONError(w, ae.status, ae.msg)
		return
	}
	writeJSONError(w, http.StatusInternalServerError, err.Error())
}

type buyerRow struct {
	invoiceRow
	Supplier, DisputeReason, PaymentReference string
	CanApprove, CanPay, CanVoid               bool
}

type buyerView struct {
	Rows  []buyerRow
	Token string // repeated in form actions when the page was opened with ?token=
}

func (s *Server) buyerPage(w http.ResponseWriter, r *http.Request) {
	s.renderBuyer(w, r, http.StatusOK, nil)
}

func (s *Server) renderBuyer(w http.ResponseWriter, r *http.Request, status int, f *flash) {
	if f == nil {
		switch msg := r.URL.Query().Get("done"); msg {
		case "approved", "disputed", "paid", "voided":
			f = &flash{Kind: "success", Message: "Invoice " + msg + "."}
		}
	}
	invs := s.buyerInvoices("", "")
	slices.Reverse(invs)
	view := buyerView{Token: r.URL.Query().Get("token")}
	for i := range invs {
		inv := &invs[i]
		view.Rows = append(view.Rows, buyerRow{
			invoiceRow: newInvoiceRow(inv), Supplier: inv.Supplier,
			DisputeReason: inv.DisputeReason, PaymentReference: inv.PaymentReference,
			CanApprove: inv.Status == StatusPendingApproval,
			CanPay:     inv.Status == StatusApproved,
			CanVoid:    inv.Status != StatusPaid && inv.Status != StatusVoided,
		})
	}
	s.render(w, status, "buyer", pageData{Title: "Buyer: Invoices", Flash: f, Page: view})
}

// buyerForm handles the buttons of the buyer page. The page is a test and
// demo tool behind the control token, so it has no CSRF token of its own.
func (s *Server) buyerForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.renderBuyer(w, r, http.StatusBadRequest, &flash{Kind: "error", Message: "The form could not be read."})
		return
	}
	action := r.PathValue("action")
	arg := actionArg(action, r.PostFormValue("reason"), r.PostFormValue("reference"))
	if _, err := s.buyerAction(r.PathValue("id"), action, arg); err != nil {
		status := http.StatusInternalServerError
		var ae *actionError
		if errors.As(err, &ae) {
			status = ae.status
		}
		s.renderBuyer(w, r, status, &flash{Kind: "error", Message: err.Error()})
		return
	}
	v := url.Values{}
	if t := r.URL.Query().Get("token"); t != "" {
		v.Set("token", t)
	}
	v.Set("done", map[string]string{"approve": "approved", "dispute": "disputed", "pay": "paid", "void": "voided"}[action])
	http.Redirect(w, r, "/buyer?"+v.Encode(), http.StatusSeeOther)
}
