package driver

import (
	"fmt"
	"strconv"

	"portico/internal/portal"
)

// SweepStatuses reads the status of every invoice of the account from the portal's invoice list
// (invoice_list.url), page by page, without opening any invoice: one page load per list page. Each row
// gives the invoice's number, PO, total, portal ID and status word, mapped through the definition as
// InvoiceStatus maps it (an unknown word stops the sweep with a drift error: the engine never guesses).
// What only the invoice's page shows (a dispute reason, a payment reference, a routing status) is not
// read: a caller opens the invoices whose status changed (InvoiceStatus) for that.
//
// fn gets each page's invoices before the next page loads; its error stops the sweep. The list is read as
// the portal pages it at the time of each page load, newest first in both built-in portals: an invoice
// made during the sweep pushes rows down, so a row may be handed over twice (on two pages); one deleted
// during it pulls rows up, so a row may be missed until the next sweep. A list without a next-page
// control (invoice_list.next) is read as one page.
func (s *Session) SweepStatuses(fn func(page int, invs []portal.Invoice) error) error {
	t := s.def.InvoiceList
	for page := 1; ; page++ {
		step := fmt.Sprintf("sweep invoice list page %d", page)
		rows, more, err := s.invoicePage(step, map[string]string{"page": strconv.Itoa(page), "search": ""})
		if err != nil {
			return err
		}
		invs := make([]portal.Invoice, 0, len(rows))
		for _, r := range rows {
			if r.Cells[t.Columns["number"]] == "" {
				return s.drift(step, t.Columns["number"], "an invoice row has no invoice number")
			}
			inv, err := s.invoiceFromRow(step, r)
			if err != nil {
				return err
			}
			invs = append(invs, inv)
		}
		if err := fn(page, invs); err != nil {
			return err
		}
		if !more || len(rows) == 0 {
			return nil
		}
	}
}

// invoicePage loads one page of the invoice list and reads its rows and whether a next page follows.
func (s *Session) invoicePage(step string, vars map[string]string) ([]row, bool, error) {
	defer s.timed(StepListInvoices)()
	t := s.def.InvoiceList
	return s.tablePage(step, t, t.URL, vars)
}
