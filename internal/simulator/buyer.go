package simulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// actionError is a refused buyer action with the HTTP status that fits it.
type actionError struct {
	status int
	msg    string
}

func (e *actionError) Error() string { return e.msg }

// DisputeCodes are the reason codes a buyer dispute carries (Invoice.RejectionCode).
var DisputeCodes = []string{
	"DUPLICATE_NUMBER", "PO_INVALID", "OVER_BALANCE", "LINE_MISMATCH", "TAX_MISSING",
	"DATE_INVALID", "REMIT_TO_WRONG", "ATTACHMENT_MISSING", "OTHER",
}

// defaultDisputeCode is the code of a dispute that names none.
const defaultDisputeCode = "OTHER"

// buyerInput is what a buyer action carries: code and reason for dispute,
// reference and amount for pay.
type buyerInput struct {
	Code      string `json:"code"`
	Reason    string `json:"reason"`
	Reference string `json:"reference"`
	Amount    string `json:"amount"` // pay: decimal; "" = what is left to pay
}

// buyerAction moves an invoice through the buyer's side of its life:
// Pending Approval → Approved or Disputed; Approved or Partially Paid →
// Partially Paid or Paid (payments accumulate in PaidAmount); Pending
// Approval, Approved or Disputed → Voided. An invoice the buyer never pays
// simply stays Approved.
func (s *Server) buyerAction(id, action string, in buyerInput) (Invoice, error) {
	in.Code = strings.ToUpper(strings.TrimSpace(in.Code))
	in.Reason = strings.TrimSpace(in.Reason)
	in.Reference = strings.TrimSpace(in.Reference)
	in.Amount = strings.TrimSpace(in.Amount)
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
	var kind string
	switch action {
	case "approve":
		from, kind = []InvoiceStatus{StatusPendingApproval}, "approved"
	case "dispute":
		if in.Code == "" {
			in.Code = defaultDisputeCode
		}
		if !slices.Contains(DisputeCodes, in.Code) {
			return Invoice{}, &actionError{http.StatusBadRequest,
				fmt.Sprintf("unknown dispute code %q (want one of %s)", in.Code, strings.Join(DisputeCodes, ", "))}
		}
		if in.Reason == "" {
			return Invoice{}, &actionError{http.StatusBadRequest, "a dispute needs a reason"}
		}
		from, kind = []InvoiceStatus{StatusPendingApproval}, "disputed"
	case "pay":
		if in.Reference == "" {
			return Invoice{}, &actionError{http.StatusBadRequest, "a payment needs a reference"}
		}
		from, kind = []InvoiceStatus{StatusApproved, StatusPartiallyPaid}, "paid"
	case "void":
		from, kind = []InvoiceStatus{StatusPendingApproval, StatusApproved, StatusDisputed}, "voided"
	default:
		return Invoice{}, &actionError{http.StatusNotFound, fmt.Sprintf("unknown action %q", action)}
	}
	if !slices.Contains(from, inv.Status) {
		return Invoice{}, &actionError{http.StatusConflict,
			fmt.Sprintf("invoice %s is %s; it cannot be %s", inv.ID, inv.Status, kind)}
	}
	detail := inv.ID
	consumed := inv.Status.consumesBalance()
	switch action {
	case "approve":
		inv.Status = StatusApproved
	case "dispute":
		inv.Status, inv.RejectionCode, inv.DisputeReason = StatusDisputed, in.Code, in.Reason
		detail += " " + in.Code + ": " + in.Reason
	case "pay":
		left := inv.Total.Sub(inv.PaidAmount)
		amount := left
		if in.Amount != "" {
			a, err := decimal.NewFromString(in.Amount)
			switch {
			case err != nil:
				return Invoice{}, &actionError{http.StatusBadRequest, fmt.Sprintf("amount %q is not a decimal number", in.Amount)}
			case !a.IsPositive():
				return Invoice{}, &actionError{http.StatusBadRequest, "a payment amount must be positive"}
			case !a.Equal(a.Round(2)):
				return Invoice{}, &actionError{http.StatusBadRequest, "a payment amount has at most 2 decimals"}
			case a.GreaterThan(left):
				return Invoice{}, &actionError{http.StatusBadRequest,
					fmt.Sprintf("payment %s exceeds the unpaid %s %s", formatMoney(a), formatMoney(left), inv.Currency)}
			}
			amount = a
		}
		inv.PaidAmount = inv.PaidAmount.Add(amount)
		if inv.PaymentReference == "" {
			inv.PaymentReference = in.Reference
		} else {
			inv.PaymentReference += ", " + in.Reference
		}
		inv.Status = StatusPaid
		if inv.PaidAmount.LessThan(inv.Total) {
			inv.Status, kind = StatusPartiallyPaid, "partially_paid"
		}
		detail += fmt.Sprintf(" %s: %s %s, paid %s of %s", in.Reference, formatMoney(amount), inv.Currency,
			formatMoney(inv.PaidAmount), formatMoney(inv.Total))
	case "void":
		inv.Status = StatusVoided
	}
	inv.UpdatedAt = s.now()
	s.touchPOLocked(inv, consumed)
	s.logLocked(kind, inv.Supplier, inv.Number, detail)
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
	var body buyerInput
	// approve and void take no body; an empty one is fine.
	if err := decodeJSON(w, r, &body); err != nil && !errors.Is(err, io.EOF) {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	inv, err := s.buyerAction(r.PathValue("id"), r.PathValue("action"), body)
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
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
	Supplier, DisputeCode, DisputeReason string
	PaymentReference, PaidAmount, Unpaid string
	CanApprove, CanPay, CanVoid          bool
}

type buyerView struct {
	Rows  []buyerRow
	Codes []string
	Token string // repeated in form actions when the page was opened with ?token=
}

func (s *Server) buyerPage(w http.ResponseWriter, r *http.Request) {
	s.renderBuyer(w, r, http.StatusOK, nil)
}

func (s *Server) renderBuyer(w http.ResponseWriter, r *http.Request, status int, f *flash) {
	if f == nil {
		switch msg := r.URL.Query().Get("done"); msg {
		case "approved", "disputed", "paid", "partially paid", "voided":
			f = &flash{Kind: "success", Message: "Invoice " + msg + "."}
		}
	}
	invs := s.buyerInvoices("", "")
	slices.Reverse(invs)
	view := buyerView{Token: r.URL.Query().Get("token"), Codes: DisputeCodes}
	for i := range invs {
		inv := &invs[i]
		row := buyerRow{
			invoiceRow: newInvoiceRow(inv), Supplier: inv.Supplier,
			DisputeCode: inv.RejectionCode, DisputeReason: inv.DisputeReason, PaymentReference: inv.PaymentReference,
			CanApprove: inv.Status == StatusPendingApproval,
			CanPay:     inv.Status == StatusApproved || inv.Status == StatusPartiallyPaid,
			CanVoid:    inv.Status == StatusPendingApproval || inv.Status == StatusApproved || inv.Status == StatusDisputed,
		}
		if inv.PaidAmount.IsPositive() {
			row.PaidAmount = formatMoney(inv.PaidAmount)
		}
		row.Unpaid = formatMoney(inv.Total.Sub(inv.PaidAmount))
		view.Rows = append(view.Rows, row)
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
	in := buyerInput{
		Code: r.PostFormValue("code"), Reason: r.PostFormValue("reason"),
		Reference: r.PostFormValue("reference"), Amount: r.PostFormValue("amount"),
	}
	inv, err := s.buyerAction(r.PathValue("id"), action, in)
	if err != nil {
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
	done := map[string]string{"approve": "approved", "dispute": "disputed", "pay": "paid", "void": "voided"}[action]
	if inv.Status == StatusPartiallyPaid {
		done = "partially paid"
	}
	v.Set("done", done)
	http.Redirect(w, r, "/buyer?"+v.Encode(), http.StatusSeeOther)
}
