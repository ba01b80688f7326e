package simulator

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ariba_api.go is the JSON API the Ariba single-page app reads and writes:
// orders, invoices and the buyer's acknowledgement. Every rule is the shared
// core's (ledgerLocked, buildInvoiceLocked, submitProblemLocked); this file
// only translates words and shapes.

// aribaOrder is a purchase order as the app shows it.
type aribaOrder struct {
	Number          string `json:"number"`
	Customer        string `json:"customer"`
	Date            string `json:"date"`
	Currency        string `json:"currency"`
	Amount          string `json:"amount"`
	AmountInvoiced  string `json:"amount_invoiced"`
	AmountRemaining string `json:"amount_remaining"`
	Status          string `json:"status"`
	Terms           string `json:"terms"`
	CanInvoice      bool   `json:"can_invoice"`
}

// aribaOrderStatus words the shared PO status the way Ariba's order list does.
func aribaOrderStatus(st POStatus) string {
	switch st {
	case POOpen:
		return "New"
	case POPartiallyInvoiced:
		return "Partially Invoiced"
	case POFullyInvoiced:
		return "Invoiced"
	case POClosed:
		return "Closed"
	case POCancelled:
		return "Canceled"
	}
	return string(st)
}

func newAribaOrder(po *PO, l ledger) aribaOrder {
	return aribaOrder{
		Number: po.Number, Customer: po.BuyerEntity, Date: formatDate(po.OrderDate), Currency: po.Currency,
		Amount: formatMoney(l.Total), AmountInvoiced: formatMoney(l.Invoiced), AmountRemaining: formatMoney(l.Remaining),
		Status: aribaOrderStatus(l.Status), Terms: po.PaymentTerms, CanInvoice: l.canInvoice(),
	}
}

// aribaPage is the paging part of a list answer.
type aribaPage struct {
	Page   int    `json:"page"`
	Pages  int    `json:"pages"`
	Total  int    `json:"total"`
	Search string `json:"search"`
	// UpdatedSince is the order list's changed-since filter (RFC 3339), when given.
	UpdatedSince string `json:"updated_since,omitempty"`
}

// aribaPaginate cuts a list of n rows into pages of the rules' page size; s.mu must be held.
func (s *Server) aribaPaginate(n int, r *http.Request, search string) (start, end int, p aribaPage) {
	size := s.rulesLocked().PageSize
	pages := max(1, (n+size-1)/size)
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	page = min(page, pages)
	start = (page - 1) * size
	end = min(start+size, n)
	return start, end, aribaPage{Page: page, Pages: pages, Total: n, Search: search}
}

func (s *Server) aribaOrderList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("search"))
	since, err := parseSince(r.URL.Query().Get("updatedSince"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "updatedSince: "+err.Error())
		return
	}
	s.mu.Lock()
	invoiced := s.invoicedLocked(sess.username)
	matched := s.matchPOsLocked(sess.username, q, since)
	start, end, pg := s.aribaPaginate(len(matched), r, q)
	if !since.IsZero() {
		pg.UpdatedSince = since.UTC().Format(time.RFC3339Nano)
	}
	rows := []aribaOrder{}
	for _, po := range matched[start:end] {
		rows = append(rows, newAribaOrder(po, ledgerFor(po, invoiced[po.Number])))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Orders []aribaOrder `json:"orders"`
		aribaPage
	}{rows, pg})
}

type aribaOrderLine struct {
	No     int    `json:"no"`
	Part   string `json:"part"`
	Item   string `json:"item"`
	Qty    string `json:"qty"`
	Unit   string `json:"unit"`
	Price  string `json:"price"`
	Amount string `json:"amount"`
}

// aribaOrderDetailView is an order with its lines and what the invoice
// wizard offers for it.
type aribaOrderDetailView struct {
	Order aribaOrder       `json:"order"`
	Lines []aribaOrderLine `json:"lines"`
	// Reason says why the order cannot be invoiced, when it cannot.
	Reason string         `json:"reason,omitempty"`
	Form   aribaFormSetup `json:"form"`
}

func (s *Server) aribaOrderDetail(w http.ResponseWriter, r *http.Request, sess *session) {
	number := r.PathValue("number")
	s.mu.Lock()
	po := s.pos[sess.username][number]
	if po == nil {
		s.mu.Unlock()
		writeJSONError(w, http.StatusNotFound, aribaOrderNotFound(number))
		return
	}
	l := s.ledgerLocked(sess.username, po)
	v := aribaOrderDetailView{Order: newAribaOrder(po, l), Lines: []aribaOrderLine{}, Form: s.aribaFormSetupLocked()}
	if !l.canInvoice() {
		v.Reason = notInvoiceable(po, l)
	}
	for _, line := range po.Lines {
		v.Lines = append(v.Lines, aribaOrderLine{
			No: line.LineNo, Part: line.PartNumber, Item: line.Description, Qty: formatQty(line.Quantity),
			Unit: line.UOM, Price: formatPrice(line.UnitPrice), Amount: formatMoney(line.Amount()),
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func aribaOrderNotFound(number string) string {
	return fmt.Sprintf("Order %s was not found.", number)
}

// aribaInvoiceRow is an invoice in the app's list.
type aribaInvoiceRow struct {
	ID            string `json:"id"`
	Number        string `json:"number"`
	OrderNumber   string `json:"order_number"`
	InvoiceDate   string `json:"invoice_date"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	RoutingStatus string `json:"routing_status"`
}

// aribaStatus words the shared invoice status the way Ariba's supplier
// account does, with the routing (delivery) status beside it.
func aribaStatus(inv *Invoice) (status, routing string) {
	// Once the buyer has acted on an invoice it has evidently received it.
	acted := func() string {
		switch inv.RoutingStatus {
		case routingFailed:
			return routingFailed
		case "", routingSent:
			return routingAcknowledged
		}
		return inv.RoutingStatus
	}
	switch inv.Status {
	case StatusDraft:
		return "Saved", ""
	case StatusPendingApproval:
		if inv.RoutingStatus == "" {
			return "Sent", routingSent
		}
		return "Sent", inv.RoutingStatus
	case StatusApproved:
		return "Approved", acted()
	case StatusDisputed:
		if inv.RoutingStatus == routingFailed {
			return "Failed", routingFailed
		}
		return "Rejected", acted()
	case StatusVoided:
		return "Canceled", acted()
	case StatusPartiallyPaid:
		return "Partially Paid", acted()
	case StatusPaid:
		return "Paid", acted()
	}
	return string(inv.Status), acted()
}

func newAribaInvoiceRow(inv *Invoice) aribaInvoiceRow {
	st, routing := aribaStatus(inv)
	return aribaInvoiceRow{
		ID: inv.ID, Number: inv.Number, OrderNumber: inv.PONumber, InvoiceDate: formatDate(inv.InvoiceDate),
		Amount: formatMoney(inv.Total), Currency: inv.Currency, Status: st, RoutingStatus: routing,
	}
}

func (s *Server) aribaInvoiceList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("search"))
	s.mu.Lock()
	var matched []*Invoice
	for _, inv := range s.invoices {
		if inv.Supplier == sess.username && (q == "" || containsFold(inv.Number, q)) {
			matched = append(matched, inv)
		}
	}
	slices.Reverse(matched) // newest first
	start, end, pg := s.aribaPaginate(len(matched), r, q)
	rows := []aribaInvoiceRow{}
	for _, inv := range matched[start:end] {
		rows = append(rows, newAribaInvoiceRow(inv))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Invoices []aribaInvoiceRow `json:"invoices"`
		aribaPage
	}{rows, pg})
}

// aribaInvoiceView is one invoice as its detail view shows it.
type aribaInvoiceView struct {
	aribaInvoiceRow
	TotalAmount      string           `json:"total_amount"`
	Subtotal         string           `json:"subtotal"`
	Tax              string           `json:"tax"`
	TaxRate          string           `json:"tax_rate"`
	Terms            string           `json:"terms"`
	RejectionCode    string           `json:"rejection_code"`
	RejectionReason  string           `json:"rejection_reason"`
	PaymentReference string           `json:"payment_reference"`
	AmountPaid       string           `json:"amount_paid"`
	RemitTo          string           `json:"remit_to"`
	TaxCategory      string           `json:"tax_category"`
	ExemptionRef     string           `json:"exemption_ref"`
	Comments         string           `json:"comments"`
	Document         string           `json:"document"`
	Lines            []aribaOrderLine `json:"lines"`
	CanSubmit        bool             `json:"can_submit"`
	CanDelete        bool             `json:"can_delete"`
	ConfirmSubmit    string           `json:"confirm_submit,omitempty"`
	ConfirmDelete    string           `json:"confirm_delete,omitempty"`
}

func (s *Server) newAribaInvoiceView(inv *Invoice) aribaInvoiceView {
	v := aribaInvoiceView{
		aribaInvoiceRow: newAribaInvoiceRow(inv),
		TotalAmount:     formatMoney(inv.Total) + " " + inv.Currency,
		Subtotal:        formatMoney(inv.Subtotal), Tax: formatMoney(inv.Tax), TaxRate: inv.TaxRate.String(),
		Terms: inv.PaymentTerms, RejectionCode: inv.RejectionCode, PaymentReference: inv.PaymentReference,
		RemitTo: inv.RemitTo, TaxCategory: cmp.Or(inv.TaxTreatment, TaxStandard), ExemptionRef: inv.TaxReference,
		Comments: inv.Note, Document: inv.AttachmentName, Lines: []aribaOrderLine{},
	}
	if inv.Status == StatusDisputed {
		v.RejectionReason = inv.DisputeReason
	} else {
		v.RejectionCode = ""
	}
	if inv.PaidAmount.IsPositive() {
		v.AmountPaid = formatMoney(inv.PaidAmount) + " " + inv.Currency
	}
	if inv.Status == StatusDraft {
		v.CanSubmit, v.CanDelete = true, true
		v.ConfirmSubmit = fmt.Sprintf("Submit invoice %s to %s? A submitted invoice cannot be changed.", inv.Number, s.cfg.Buyer)
		v.ConfirmDelete = fmt.Sprintf("Delete invoice %s? This cannot be undone.", inv.Number)
	}
	for _, l := range inv.Lines {
		v.Lines = append(v.Lines, aribaOrderLine{
			No: l.LineNo, Part: l.PartNumber, Item: l.Description, Qty: formatQty(l.Quantity), Unit: l.UOM,
			Price: formatPrice(l.UnitPrice), Amount: formatMoney(l.Amount),
		})
	}
	return v
}

func (s *Server) aribaInvoiceDetail(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	inv := s.invoiceLocked(sess.username, r.PathValue("id"))
	if inv == nil {
		s.mu.Unlock()
		writeJSONError(w, http.StatusNotFound, msgNoSuchInvoice)
		return
	}
	v := s.newAribaInvoiceView(inv)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"invoice": v})
}

// aribaInvoiceSubmit sends a saved invoice to the buyer. Unlike the Coupa
// flavor, problems the buyer's network finds on arrival do not refuse the
// submission: the invoice is sent and its routing fails, with a rejection
// code the supplier reads in the invoice's status.
func (s *Server) aribaInvoiceSubmit(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.aribaDraftLocked(w, sess, r.PathValue("id"), "submitted")
	if inv == nil {
		return
	}
	fail := func(code, reason string) {
		now := s.now()
		inv.Status, inv.RoutingStatus, inv.RejectionCode, inv.DisputeReason = StatusDisputed, routingFailed, code, reason
		inv.SubmittedAt, inv.UpdatedAt = now, now
		s.logLocked("submitted", sess.username, inv.Number,
			fmt.Sprintf("%s on PO %s, total %s %s", inv.ID, inv.PONumber, formatMoney(inv.Total), inv.Currency))
		s.logLocked("routing_failed", sess.username, inv.Number, inv.ID+" "+code+": "+reason)
	}
	po := s.pos[inv.Supplier][inv.PONumber]
	switch {
	case s.submittedDuplicateLocked(inv):
		fail(rejectDuplicate, fmt.Sprintf("Invoice number %s has already been used.", inv.Number))
	case po == nil:
		fail(rejectPOInvalid, fmt.Sprintf("Purchase order %s is no longer available.", inv.PONumber))
	case !s.ledgerLocked(inv.Supplier, po).canInvoice():
		fail(rejectPOInvalid, notInvoiceable(po, s.ledgerLocked(inv.Supplier, po)))
	default:
		// The shared core re-checks the rest (balance and tolerance, lines,
		// date, remit-to, tax, attachment) and refuses the submission as in the
		// Coupa flavor: the invoice stays saved and the supplier is told why.
		if _, err := s.submitInvoiceLocked(sess.username, inv.ID); err != nil {
			writeActionError(w, err)
			return
		}
		inv.RoutingStatus = routingSent
	}
	if err := s.persistLocked(); err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"invoice": s.newAribaInvoiceView(inv),
		"message": fmt.Sprintf("Invoice %s sent to %s.", inv.Number, s.cfg.Buyer),
	})
}

// submittedDuplicateLocked tells whether another invoice of the same
// supplier with the same number has already been sent to the buyer and still
// stands (not voided, not failed in routing); s.mu must be held.
func (s *Server) submittedDuplicateLocked(inv *Invoice) bool {
	for _, x := range s.invoices {
		if x != inv && x.Supplier == inv.Supplier && strings.EqualFold(x.Number, inv.Number) &&
			x.Status != StatusDraft && x.Status != StatusVoided && x.RoutingStatus != routingFailed {
			return true
		}
	}
	return false
}

// aribaDraftLocked returns the supplier's saved (draft) invoice with the id, or answers 404 or 409 and
// returns nil; verb says what only a saved invoice can be ("submitted", "deleted"). s.mu must be held.
func (s *Server) aribaDraftLocked(w http.ResponseWriter, sess *session, id, verb string) *Invoice {
	inv := s.invoiceLocked(sess.username, id)
	if inv == nil {
		writeJSONError(w, http.StatusNotFound, msgNoSuchInvoice)
		return nil
	}
	if inv.Status != StatusDraft {
		st, _ := aribaStatus(inv)
		writeJSONError(w, http.StatusConflict, fmt.Sprintf("Only saved invoices can be %s. Invoice %s is %s.", verb, inv.Number, st))
		return nil
	}
	return inv
}

func (s *Server) aribaInvoiceDelete(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.aribaDraftLocked(w, sess, r.PathValue("id"), "deleted")
	if inv == nil {
		return
	}
	if _, err := s.deleteDraftLocked(sess.username, inv.ID); err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": fmt.Sprintf("Invoice %s deleted.", inv.Number)})
}

// aribaBuyerAcknowledge is the buyer's system confirming receipt of a routed
// invoice: routing Sent → Acknowledged. It is a buyer API action
// (POST /buyer/api/invoices/{id}/acknowledge) of the Ariba flavor only.
func (s *Server) aribaBuyerAcknowledge(w http.ResponseWriter, r *http.Request) {
	inv, err := s.acknowledge(r.PathValue("id"))
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (s *Server) acknowledge(id string) (Invoice, error) {
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
	if inv.Status != StatusPendingApproval || (inv.RoutingStatus != routingSent && inv.RoutingStatus != "") {
		st, routing := aribaStatus(inv)
		return Invoice{}, &actionError{http.StatusConflict,
			fmt.Sprintf("invoice %s is %s (routing %s); only a sent invoice can be acknowledged", inv.ID, st, routing)}
	}
	inv.RoutingStatus, inv.UpdatedAt = routingAcknowledged, s.now()
	s.logLocked("acknowledged", inv.Supplier, inv.Number, inv.ID)
	if err := s.persistLocked(); err != nil {
		return Invoice{}, err
	}
	return inv.clone(), nil
}
