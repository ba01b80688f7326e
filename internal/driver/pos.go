package driver

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"portico/internal/portal"
)

var poColumns = []string{"PO Number", "Buyer Entity", "Order Date", "Currency", "Total", "Invoiced", "Remaining", "Status", "Payment Terms"}

// ListPurchaseOrders pages through the portal's PO list and hands each page to fn, with lines read from
// each PO's detail page when withLines is set. fn runs before the next page loads, so a caller that
// stores each page keeps what it has if a later page fails.
func (s *Session) ListPurchaseOrders(withLines bool, fn func(page int, pos []portal.PurchaseOrder) error) error {
	path := "/pos"
	for page := 1; ; page++ {
		step := fmt.Sprintf("list POs page %d", page)
		if _, err := s.open(step, path); err != nil {
			return err
		}
		rows, err := s.readTable(step, "#po-table", poColumns...)
		if err != nil {
			return err
		}
		next, err := eval[string](s, step, `(() => { const a = document.querySelector('a[rel=next]'); return a ? a.getAttribute('href') : ''; })()`)
		if err != nil {
			return err
		}
		pos := make([]portal.PurchaseOrder, 0, len(rows))
		for _, r := range rows {
			po, err := s.poFromRow(step, r)
			if err != nil {
				return err
			}
			pos = append(pos, po)
		}
		if withLines {
			for i := range pos {
				lines, err := s.poLines(pos[i].Number)
				if err != nil {
					return err
				}
				pos[i].Lines = lines
			}
		}
		if err := fn(page, pos); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		u, err := url.Parse(next)
		if err != nil {
			return s.drift(step, fmt.Sprintf("next-page link %q does not parse", next))
		}
		path = u.Path
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
	}
}

func (s *Session) poFromRow(step string, r row) (portal.PurchaseOrder, error) {
	c := r.Cells
	po := portal.PurchaseOrder{Number: c["PO Number"], BuyerEntity: c["Buyer Entity"], Currency: c["Currency"], Status: c["Status"], PaymentTerms: c["Payment Terms"]}
	var err error
	if po.OrderDate, err = s.date(step, "order date", c["Order Date"]); err != nil {
		return po, err
	}
	for _, f := range []struct {
		col string
		dst *decimal.Decimal
	}{{"Total", &po.Total}, {"Invoiced", &po.Invoiced}, {"Remaining", &po.Remaining}} {
		if *f.dst, err = s.amount(step, f.col, c[f.col]); err != nil {
			return po, err
		}
	}
	if po.Number == "" {
		return po, s.drift(step, "a PO row has no PO number")
	}
	return po, nil
}

var lineColumns = []string{"Line", "Part Number", "Description", "Quantity", "UOM", "Unit Price"}

// poLines reads one PO's lines from its detail page.
func (s *Session) poLines(number string) ([]portal.POLine, error) {
	step := "read PO " + number
	status, err := s.open(step, "/pos/"+url.PathEscape(number))
	if err != nil {
		return nil, err
	}
	if status == 404 {
		return nil, fmt.Errorf("PO %s: %w", number, portal.ErrNotFound)
	}
	rows, err := s.readTable(step, "#po-lines", lineColumns...)
	if err != nil {
		return nil, err
	}
	lines := make([]portal.POLine, 0, len(rows))
	for _, r := range rows {
		c := r.Cells
		n, err := strconv.Atoi(c["Line"])
		if err != nil {
			return nil, s.drift(step, fmt.Sprintf("line number %q is not a number", c["Line"]))
		}
		l := portal.POLine{LineNo: n, PartNumber: c["Part Number"], Description: c["Description"], UOM: c["UOM"]}
		if l.Quantity, err = s.amount(step, "quantity", c["Quantity"]); err != nil {
			return nil, err
		}
		if l.UnitPrice, err = s.amount(step, "unit price", c["Unit Price"]); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// PurchaseOrder finds one PO through the list's search and reads its lines.
func (s *Session) PurchaseOrder(number string) (portal.PurchaseOrder, error) {
	step := "find PO " + number
	if _, err := s.open(step, "/pos?q="+url.QueryEscape(number)); err != nil {
		return portal.PurchaseOrder{}, err
	}
	rows, err := s.readTable(step, "#po-table", poColumns...)
	if err != nil {
		return portal.PurchaseOrder{}, err
	}
	for _, r := range rows {
		if !strings.EqualFold(r.Cells["PO Number"], strings.TrimSpace(number)) {
			continue
		}
		po, err := s.poFromRow(step, r)
		if err != nil {
			return po, err
		}
		po.Lines, err = s.poLines(po.Number)
		return po, err
	}
	return portal.PurchaseOrder{}, fmt.Errorf("PO %s: %w", number, portal.ErrNotFound)
}
