package driver

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"portico/internal/portal"
	"portico/internal/portaldef"
)

// ListOptions says which part of a portal's PO list to read, and which POs to open for their lines.
type ListOptions struct {
	// StartPage is the first list page to read (default 1): a resumed sync goes on after its last stored page.
	StartPage int
	// Since, when set and the definition has po_list.changed_url, lists only the POs the portal says changed
	// since then; otherwise the whole list (po_list.url) is read.
	Since time.Time
	// Lines decides after each list page which of its POs to open for their lines: want[i] reads pos[i]'s
	// page. Nil opens none (Lines stays nil: header only); AllLines opens every one.
	Lines func(page int, pos []portal.PurchaseOrder) (want []bool, err error)
}

// AllLines reads the lines of every listed PO.
func AllLines(_ int, pos []portal.PurchaseOrder) ([]bool, error) {
	want := make([]bool, len(pos))
	for i := range want {
		want[i] = true
	}
	return want, nil
}

// ListsChanged reports whether the portal can list only the POs changed since a time (po_list.changed_url).
func (s *Session) ListsChanged() bool { return s.def.POList.ChangedURL != "" }

// ListPurchaseOrders pages through the portal's PO list from opts.StartPage and hands each page to fn, with
// the lines opts.Lines asked for read from each PO's page. fn runs before the next page loads, so a caller
// that stores each page keeps what it has if a later page fails, and can resume at the page after it.
func (s *Session) ListPurchaseOrders(opts ListOptions, fn func(page int, pos []portal.PurchaseOrder) error) error {
	t := s.def.POList
	listURL, since := t.URL, ""
	if !opts.Since.IsZero() && t.ChangedURL != "" {
		listURL, since = t.ChangedURL, opts.Since.UTC().Format(time.RFC3339Nano)
	}
	for page := max(opts.StartPage, 1); ; page++ {
		step := fmt.Sprintf("list POs page %d", page)
		rows, more, err := s.listPage(step, listURL, map[string]string{"page": strconv.Itoa(page), "search": "", "since": since})
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
		if opts.Lines != nil && len(pos) > 0 {
			want, err := opts.Lines(page, pos)
			if err != nil {
				return err
			}
			for i := range pos {
				if i >= len(want) || !want[i] {
					continue
				}
				if pos[i].Lines, err = s.poLines(pos[i].Number); err != nil {
					return err
				}
				if pos[i].Lines == nil {
					pos[i].Lines = []portal.POLine{} // read, and empty
				}
			}
		}
		if err := fn(page, pos); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// listPage loads one page of the PO list and reads its rows and whether a next page follows.
func (s *Session) listPage(step, listURL string, vars map[string]string) ([]row, bool, error) {
	defer s.timed(StepListPOs)()
	return s.tablePage(step, s.def.POList, listURL, vars)
}

// tablePage loads one page of a paged list (listURL, one of t's) and reads its rows and whether a next
// page follows.
func (s *Session) tablePage(step string, t portaldef.TableRead, listURL string, vars map[string]string) ([]row, bool, error) {
	if _, err := s.open(step, listURL, vars); err != nil {
		return nil, false, err
	}
	rows, err := s.readTable(step, t.Table, vars, colList(t.Columns))
	if err != nil {
		return nil, false, err
	}
	more := false
	if !t.Next.IsZero() {
		if more, err = s.hasNext(step, t.Next); err != nil {
			return nil, false, err
		}
	}
	return rows, more, nil
}

// hasNext reports whether the list shows an enabled next-page control.
func (s *Session) hasNext(step string, next portaldef.Locator) (bool, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	el, err := s.findOnce(ctx, next)
	if err != nil {
		return false, s.stepErr(step, err)
	}
	if el == nil {
		return false, nil
	}
	var enabled bool
	if err := s.call(ctx, el, `function() { return !(this.disabled || this.getAttribute('aria-disabled') === 'true'); }`, &enabled); err != nil {
		return false, s.stepErr(step, err)
	}
	return enabled, nil
}

func colList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (s *Session) poFromRow(step string, r row) (portal.PurchaseOrder, error) {
	col := s.def.POList.Columns
	c := func(k string) string { return r.Cells[col[k]] }
	po := portal.PurchaseOrder{Number: c("number"), BuyerEntity: c("buyer_entity"), Currency: c("currency"), Status: c("status"), PaymentTerms: c("payment_terms")}
	var err error
	if po.OrderDate, err = s.date(step, "order date", c("order_date")); err != nil {
		return po, err
	}
	for _, f := range []struct {
		key string
		dst *decimal.Decimal
	}{{"total", &po.Total}, {"invoiced", &po.Invoiced}, {"remaining", &po.Remaining}} {
		if *f.dst, err = s.amount(step, col[f.key], c(f.key)); err != nil {
			return po, err
		}
	}
	if po.Number == "" {
		return po, s.drift(step, col["number"], "a PO row has no PO number")
	}
	return po, nil
}

// poLines reads one PO's lines from its page.
func (s *Session) poLines(number string) ([]portal.POLine, error) {
	defer s.timed(StepReadPO)()
	step := "read PO " + number
	vars := map[string]string{"po": number}
	status, err := s.open(step, s.def.PO.URL, vars)
	if err != nil {
		return nil, err
	}
	if status == 404 || s.def.PO.NotFound != "" && s.textShown(s.def.PO.NotFound) {
		return nil, fmt.Errorf("PO %s: %w", number, portal.ErrNotFound)
	}
	col := s.def.PO.Cols
	rows, err := s.readTable(step, s.def.PO.Lines, vars, colList(col))
	if err != nil {
		return nil, err
	}
	lines := make([]portal.POLine, 0, len(rows))
	for _, r := range rows {
		c := func(k string) string { return r.Cells[col[k]] }
		n, err := strconv.Atoi(c("line"))
		if err != nil {
			return nil, s.drift(step, col["line"], fmt.Sprintf("line number %q is not a number", c("line")))
		}
		l := portal.POLine{LineNo: n, PartNumber: c("part_number"), Description: c("description"), UOM: c("uom")}
		if l.Quantity, err = s.amount(step, col["quantity"], c("quantity")); err != nil {
			return nil, err
		}
		if l.UnitPrice, err = s.amount(step, col["unit_price"], c("unit_price")); err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// textShown reports whether the page shows text (case-insensitively) anywhere.
func (s *Session) textShown(text string) bool {
	ctx, cancel := s.stepCtx()
	defer cancel()
	ok, _ := runBool(ctx, fmt.Sprintf(`document.body.innerText.toLowerCase().includes(%s)`, jsString(strings.ToLower(text))))
	return ok
}

// PurchaseOrder finds one PO through the list's search and reads its lines.
func (s *Session) PurchaseOrder(number string) (portal.PurchaseOrder, error) {
	defer s.timed(StepFindPO)()
	step := "find PO " + number
	t := s.def.POList
	search := t.SearchURL
	if search == "" {
		search = t.URL
	}
	vars := map[string]string{"search": strings.TrimSpace(number), "page": "1"}
	if _, err := s.open(step, search, vars); err != nil {
		return portal.PurchaseOrder{}, err
	}
	rows, err := s.readTable(step, t.Table, vars, colList(t.Columns))
	if err != nil {
		return portal.PurchaseOrder{}, err
	}
	for _, r := range rows {
		if !strings.EqualFold(r.Cells[t.Columns["number"]], strings.TrimSpace(number)) {
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

// FindInvoice looks the invoice number up in the portal's invoice list. It reports false when the portal
// has no such invoice; that is how drafting stays idempotent across retries and crashes.
func (s *Session) FindInvoice(number string) (portal.Invoice, bool, error) {
	defer s.timed(StepFindInvoice)()
	step := "find invoice " + number
	t := s.def.InvoiceList
	search := t.SearchURL
	if search == "" {
		search = t.URL
	}
	vars := map[string]string{"search": number, "page": "1"}
	if _, err := s.open(step, search, vars); err != nil {
		return portal.Invoice{}, false, err
	}
	rows, err := s.readTable(step, t.Table, vars, colList(t.Columns))
	if err != nil {
		return portal.Invoice{}, false, err
	}
	for _, r := range rows {
		if r.Cells[t.Columns["number"]] != number {
			continue // the portal's search matches substrings
		}
		inv, err := s.invoiceFromRow(step, r)
		return inv, err == nil, err
	}
	return portal.Invoice{}, false, nil
}

// invoiceFromRow reads one row of the invoice list: number, PO, total, status (mapped through the
// definition: an unknown word is a drift) and the portal ID from the row's link.
func (s *Session) invoiceFromRow(step string, r row) (portal.Invoice, error) {
	col := s.def.InvoiceList.Columns
	href := r.Links[col["number"]]
	inv := portal.Invoice{Number: r.Cells[col["number"]], PONumber: r.Cells[col["po_number"]], PortalStatus: r.Cells[col["status"]], PortalID: path.Base(href)}
	if href == "" {
		return inv, s.drift(step, col["number"], "the invoice row links to no invoice page")
	}
	var err error
	if inv.Total, err = s.amount(step, col["total"], r.Cells[col["total"]]); err != nil {
		return inv, err
	}
	if inv.Status, err = s.def.Status(inv.PortalStatus); err != nil {
		return inv, s.statusDrift(step, err)
	}
	return inv, nil
}

// statusDrift adds the page and evidence to an unknown-status error.
func (s *Session) statusDrift(step string, err error) error {
	var de *portal.DriftError
	if errors.As(err, &de) {
		return s.drift(step, "status word", de.Detail)
	}
	return err
}

// readInvoicePage reads the invoice page the browser is on.
func (s *Session) readInvoicePage(step string, id string) (portal.Invoice, error) {
	terms, err := s.readTerms(step, s.def.Invoice.Terms, "status")
	if err != nil {
		return portal.Invoice{}, err
	}
	inv := portal.Invoice{
		PortalID: id, PortalStatus: terms["status"], RoutingStatus: terms["routing_status"], Reason: terms["reason"],
		Code: terms["code"], PaymentReference: terms["payment_reference"], Number: terms["number"], PONumber: terms["po_number"],
	}
	if inv.Status, err = s.def.Status(inv.PortalStatus); err != nil {
		return inv, s.statusDrift(step, err)
	}
	if v := terms["total"]; v != "" {
		if inv.Total, err = s.amount(step, "total", v); err != nil {
			return inv, err
		}
	}
	if v := terms["paid_amount"]; v != "" {
		if inv.PaidAmount, err = s.amount(step, "amount paid", v); err != nil {
			return inv, err
		}
	}
	return inv, nil
}

// openInvoice finds the invoice by number and opens its page.
func (s *Session) openInvoice(number string) (portal.Invoice, error) {
	defer s.timed(StepReadStatus)()
	found, ok, err := s.FindInvoice(number)
	if err != nil {
		return found, err
	}
	if !ok {
		return found, fmt.Errorf("invoice %s: %w", number, portal.ErrNotFound)
	}
	step := "open invoice " + number
	if _, err := s.open(step, s.def.Invoice.URL, map[string]string{"id": found.PortalID}); err != nil {
		return found, err
	}
	inv, err := s.readInvoicePage(step, found.PortalID)
	if err != nil {
		return inv, err
	}
	inv.Number = number
	if inv.Total.IsZero() {
		inv.Total = found.Total
	}
	if inv.PONumber == "" {
		inv.PONumber = found.PONumber
	}
	return inv, nil
}

// CaptureInvoice opens the invoice's page and returns a PNG screenshot of the whole page, for an approver
// to see the invoice as the portal shows it. An invoice whose portal ID is known (just saved or found) is
// opened directly; otherwise it is looked up by number first. A draft CreateDraft has just read from the
// page the portal answered its save with is captured on that page, without loading it again.
func (s *Session) CaptureInvoice(inv portal.Invoice) ([]byte, error) {
	defer s.timed(StepCaptureInvoice)()
	step := "capture invoice " + inv.Number
	switch {
	case inv.PortalID != "" && inv.PortalID == s.savedPage:
		// The tab shows the draft's page as the portal answered its save (CreateDraft read the draft
		// there) and nothing has moved since: loading it again would show the same page.
	case inv.PortalID == "":
		if _, err := s.openInvoice(inv.Number); err != nil {
			return nil, err
		}
	default:
		status, err := s.open(step, s.def.Invoice.URL, map[string]string{"id": inv.PortalID})
		if err != nil {
			return nil, err
		}
		if status == 404 {
			return nil, fmt.Errorf("invoice %s: %w", inv.Number, portal.ErrNotFound)
		}
	}
	s.step(step)
	ctx, cancel := s.stepCtx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return nil, s.stepErr(step, err)
	}
	return png, nil
}

// InvoiceStatus reads the invoice's current status, with the dispute reason or payment reference.
func (s *Session) InvoiceStatus(number string) (portal.Invoice, error) {
	return s.openInvoice(number)
}

// CreateDraft flips the PO into an invoice and saves it as a draft. It does not look for an existing draft
// first: callers do that with FindInvoice, so that the check and its outcome are visible.
func (s *Session) CreateDraft(d portal.Draft) (portal.Invoice, error) {
	vars := map[string]string{
		"po": d.PONumber, "invoice_number": d.Number, "invoice_date": d.Date.Format(s.def.DateLayout),
		"tax_rate": d.TaxRate.String(), "note": d.Note, "remit_to": d.RemitTo, "tax_reference": d.TaxReference, "attachment": "",
	}
	x := stepExtras{lines: d.Lines}
	if len(d.Attachment) > 0 {
		// The browser reads the file when the form is posted, so it must outlive the save.
		p, cleanup, err := tempFile(d.AttachmentName, d.Attachment)
		if err != nil {
			return portal.Invoice{}, err
		}
		defer cleanup()
		x.uploadPath, vars["attachment"] = p, d.AttachmentName
	}
	flow := "create draft " + d.Number
	done := s.timed(StepCreateDraft)
	err := s.runSteps(flow, s.def.CreateDraft.Steps, vars, x)
	if errors.Is(err, errRelogin) {
		// The portal asked for a sign-in half-way, and the form's contents went with the old session. If
		// that was after the save was posted, the draft is in the portal: keying it again would be refused
		// as a duplicate number (the chaos test caught an invoice failed that way). Look first.
		if inv, saved, ferr := s.savedDraft(d); ferr != nil || saved {
			done()
			if ferr != nil {
				return portal.Invoice{}, ferr
			}
			return inv, checkTotal(inv, d)
		}
		if err = s.runSteps(flow, s.def.CreateDraft.Steps, vars, x); errors.Is(err, errRelogin) {
			err = fmt.Errorf("%s: the portal ended the session twice in a row: %w", flow, portal.ErrUnavailable)
		}
	}
	done()
	if lostSuccess(err) {
		// The draft itself says whether the save went through (see lostSuccess).
		if inv, saved, ferr := s.savedDraft(d); ferr == nil && saved {
			return inv, checkTotal(inv, d)
		}
	}
	if err != nil {
		return portal.Invoice{}, s.explainNoForm(d.PONumber, err)
	}
	// The portal answers the save with the draft's page (both built-in portals do): read the draft there.
	// Only where that page does not show it with certainty is it looked up in the invoice list, which costs
	// a page load.
	if inv, ok := s.draftOnPage(d); ok {
		s.savedPage = inv.PortalID
		return inv, checkTotal(inv, d)
	}
	inv, ok, err := s.FindInvoice(d.Number)
	if err != nil {
		return inv, err
	}
	if !ok {
		return inv, s.drift("read saved draft", "invoice list", fmt.Sprintf("the portal said the draft was saved but lists no invoice %q", d.Number))
	}
	return inv, checkTotal(inv, d)
}

// savedDraft looks in the invoice list for the draft a create-draft flow for d saved: d's number, in
// Draft, on d's PO.
func (s *Session) savedDraft(d portal.Draft) (portal.Invoice, bool, error) {
	inv, found, err := s.FindInvoice(d.Number)
	return inv, err == nil && found && inv.Status == portal.StatusDraft && strings.EqualFold(inv.PONumber, d.PONumber), err
}

// explainNoForm turns a missing Create Invoice action into the named error for a PO that cannot be
// invoiced (or is not there), rather than a drift.
func (s *Session) explainNoForm(po string, err error) error {
	var de *portal.DriftError
	if !errors.As(err, &de) || !strings.Contains(de.Selector, s.def.PO.CreateInvoice.String()) {
		return err
	}
	lines, lerr := s.poLines(po)
	if lerr != nil {
		return lerr // ErrNotFound for a PO the portal does not have
	}
	if len(lines) > 0 {
		return fmt.Errorf("PO %s: %w (no %s action: closed, cancelled or fully invoiced)", po, portal.ErrNotInvoiceable, s.def.PO.CreateInvoice.String())
	}
	return err
}

// checkTotal stops a draft whose portal total differs from the ERP's: the portal rounds or taxes
// differently, and submitting would bill the wrong amount.
func checkTotal(inv portal.Invoice, d portal.Draft) error {
	if d.ExpectedTotal.IsZero() || inv.Total.Equal(d.ExpectedTotal) {
		return nil
	}
	return &portal.MismatchError{What: "invoice total", Portal: inv.Total.String(), ERP: d.ExpectedTotal.String()}
}

// CheckDraft compares an existing draft with what Portico would key in.
func CheckDraft(inv portal.Invoice, d portal.Draft) error { return checkTotal(inv, d) }

// Submit submits a draft, confirming the portal's dialog. An invoice already past Draft is returned as it
// is, so a retried or replayed submission never submits twice.
func (s *Session) Submit(number string) (portal.Invoice, error) {
	inv, _, err := s.SubmitDraft(number)
	return inv, err
}

// SubmitDraft is Submit, also reporting whether this call submitted the draft: true once the portal's
// submit flow went through, even if reading the invoice afterwards failed; false when the invoice was past
// Draft already. Callers count submissions by it, once each, however often they retry.
func (s *Session) SubmitDraft(number string) (inv portal.Invoice, submitted bool, err error) {
	return s.submit(number, 0)
}

func (s *Session) submit(number string, relogins int) (portal.Invoice, bool, error) {
	inv, err := s.openInvoice(number)
	if err != nil || inv.Status != portal.StatusDraft {
		return inv, false, err
	}
	done := s.timed(StepSubmit)
	err = s.runSteps("submit "+number, s.def.Submit.Steps, map[string]string{"id": inv.PortalID, "invoice_number": number}, stepExtras{})
	done()
	if errors.Is(err, errRelogin) && relogins == 0 {
		return s.submit(number, 1) // the session ended before the click took: read the invoice again
	}
	if errors.Is(err, errRelogin) {
		return inv, false, fmt.Errorf("submit %s: the portal ended the session twice in a row: %w", number, portal.ErrUnavailable)
	}
	if lostSuccess(err) {
		// The invoice itself says whether the submission went through (see lostSuccess).
		if now, rerr := s.openInvoice(number); rerr == nil && now.Status != portal.StatusDraft {
			return now, true, nil
		}
	}
	if err != nil {
		return inv, false, err
	}
	inv, err = s.openInvoice(number)
	return inv, true, err
}

// lostSuccess tells whether a flow ended in a drift, such as its success message not shown. The tabs of an
// account share one portal session, and a server-rendered portal shows a success message once, on the
// session's next page: another activity's page load in between takes it (the chaos test caught a
// submission the portal had made reported as a drift, failing the invoice). After such a drift the flow
// checks what the portal now holds before it reports anything; a drift before the action leaves nothing to
// find.
func lostSuccess(err error) bool {
	var drift *portal.DriftError
	return errors.As(err, &drift)
}

// DeleteDraft deletes a draft. An invoice that is already gone counts as deleted; one past Draft cannot be.
func (s *Session) DeleteDraft(number string) error { return s.deleteDraft(number, 0) }

func (s *Session) deleteDraft(number string, relogins int) error {
	inv, err := s.openInvoice(number)
	if errors.Is(err, portal.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if inv.Status != portal.StatusDraft {
		return fmt.Errorf("invoice %s is %s in the portal; only drafts can be deleted", number, inv.PortalStatus)
	}
	done := s.timed(StepDeleteDraft)
	err = s.runSteps("delete "+number, s.def.Delete.Steps, map[string]string{"id": inv.PortalID, "invoice_number": number}, stepExtras{})
	done()
	if errors.Is(err, errRelogin) && relogins == 0 {
		return s.deleteDraft(number, 1)
	}
	if errors.Is(err, errRelogin) {
		return fmt.Errorf("delete %s: the portal ended the session twice in a row: %w", number, portal.ErrUnavailable)
	}
	if lostSuccess(err) {
		// The invoice list says whether the draft is gone (see lostSuccess).
		if _, still, ferr := s.FindInvoice(number); ferr == nil && !still {
			return nil
		}
	}
	if err != nil {
		return err
	}
	if _, still, err := s.FindInvoice(number); err != nil || still {
		if err == nil {
			err = s.drift("delete "+number, "invoice list", "the draft is still listed after Delete")
		}
		return err
	}
	return nil
}
