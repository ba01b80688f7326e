package simulator

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ledger is a PO's money position as derived from its invoices.
type ledger struct {
	Total, Invoiced, Remaining decimal.Decimal
	Status                     POStatus
}

// invoicedLocked sums, per PO number, the invoices of username that hold PO
// balance; s.mu must be held.
func (s *Server) invoicedLocked(username string) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, inv := range s.invoices {
		if inv.Supplier == username && inv.Status.consumesBalance() {
			out[inv.PONumber] = out[inv.PONumber].Add(inv.Total)
		}
	}
	return out
}

func ledgerFor(po *PO, invoiced decimal.Decimal) ledger {
	l := ledger{Total: po.Total(), Invoiced: invoiced}
	l.Remaining = l.Total.Sub(invoiced)
	l.Status = po.Status
	switch po.Status {
	case POClosed, POCancelled, POFullyInvoiced:
		// set by the buyer; invoicing does not change it
	default:
		switch {
		case l.Total.IsPositive() && invoiced.GreaterThanOrEqual(l.Total):
			l.Status = POFullyInvoiced
		case invoiced.IsPositive() || po.Status == POPartiallyInvoiced:
			l.Status = POPartiallyInvoiced
		default:
			l.Status = POOpen
		}
	}
	return l
}

// canInvoice tells whether the supplier may raise invoices against the PO.
func (l ledger) canInvoice() bool {
	return l.Status == POOpen || l.Status == POPartiallyInvoiced
}

// ledgerLocked is the ledger of one PO; s.mu must be held.
func (s *Server) ledgerLocked(username string, po *PO) ledger {
	return ledgerFor(po, s.invoicedLocked(username)[po.Number])
}

type poRow struct {
	Number, BuyerEntity, OrderDate, Currency, PaymentTerms string
	Total, Invoiced, Remaining                             string
	Status                                                 POStatus
	Href                                                   string
}

func newPORow(po *PO, l ledger) poRow {
	return poRow{
		Number: po.Number, BuyerEntity: po.BuyerEntity, OrderDate: formatDate(po.OrderDate),
		Currency: po.Currency, PaymentTerms: po.PaymentTerms,
		Total: formatMoney(l.Total), Invoiced: formatMoney(l.Invoiced), Remaining: formatMoney(l.Remaining),
		Status: l.Status, Href: "/pos/" + url.PathEscape(po.Number),
	}
}

type poListView struct {
	Query string
	Since string // the updated_since filter, as given
	Rows  []poRow
	Count int
	Pager pager
}

// parseSince reads the optional changed-since filter of a PO list (RFC 3339).
func parseSince(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", v)
	}
	return t, nil
}

// matchPOsLocked returns username's POs that match the search q (number or buyer entity) and changed at or
// after since (zero: any), by number; s.mu must be held.
func (s *Server) matchPOsLocked(username, q string, since time.Time) []*PO {
	var matched []*PO
	for _, po := range s.pos[username] {
		if (q == "" || containsFold(po.Number, q) || containsFold(po.BuyerEntity, q)) && (since.IsZero() || !po.UpdatedAt.Before(since)) {
			matched = append(matched, po)
		}
	}
	slices.SortFunc(matched, func(a, b *PO) int { return cmp.Compare(a.Number, b.Number) })
	return matched
}

func (s *Server) poList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	since, err := parseSince(r.URL.Query().Get("updated_since"))
	if err != nil {
		s.renderUserError(w, sess, http.StatusBadRequest, "Invalid filter", "updated_since: "+err.Error(), "/pos")
		return
	}
	s.mu.Lock()
	invoiced := s.invoicedLocked(sess.username)
	matched := s.matchPOsLocked(sess.username, q, since)
	start, end, pg := paginate(len(matched), s.rulesLocked().PageSize, r.URL.Query(), "/pos")
	view := poListView{Query: q, Count: len(matched), Pager: pg}
	if !since.IsZero() {
		view.Since = since.UTC().Format(time.RFC3339)
	}
	for _, po := range matched[start:end] {
		view.Rows = append(view.Rows, newPORow(po, ledgerFor(po, invoiced[po.Number])))
	}
	data := s.userPageLocked(sess, "Purchase Orders", "pos")
	s.mu.Unlock()
	data.Page = view
	s.render(w, http.StatusOK, "pos", data)
}

type poDetailView struct {
	poRow
	Lines      []poLineRow
	CanInvoice bool
	NewInvoice string
}

type poLineRow struct {
	LineNo                                 int
	PartNumber, Description, Quantity, UOM string
	UnitPrice, Amount                      string
}

func (s *Server) poDetail(w http.ResponseWriter, r *http.Request, sess *session) {
	number := r.PathValue("number")
	s.mu.Lock()
	po := s.pos[sess.username][number]
	if po == nil {
		s.mu.Unlock()
		s.poNotFound(w, sess, number)
		return
	}
	l := s.ledgerLocked(sess.username, po)
	view := poDetailView{poRow: newPORow(po, l), CanInvoice: l.canInvoice()}
	view.NewInvoice = view.Href + "/invoices/new"
	for _, line := range po.Lines {
		view.Lines = append(view.Lines, poLineRow{
			LineNo: line.LineNo, PartNumber: line.PartNumber, Description: line.Description,
			Quantity: formatQty(line.Quantity), UOM: line.UOM,
			UnitPrice: formatPrice(line.UnitPrice), Amount: formatMoney(line.Amount()),
		})
	}
	data := s.userPageLocked(sess, "PO "+po.Number, "pos")
	s.mu.Unlock()
	data.Page = view
	s.render(w, http.StatusOK, "po", data)
}

func (s *Server) poNotFound(w http.ResponseWriter, sess *session, number string) {
	s.renderUserError(w, sess, http.StatusNotFound, "Purchase order not found",
		"Purchase order "+number+" was not found.", "/pos")
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
