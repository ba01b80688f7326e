package driver

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/chromedp/chromedp"

	"portico/internal/portal"
)

var invoiceColumns = []string{"Invoice #", "PO Number", "Total", "Status"}

// FindInvoice looks the invoice number up in the portal's invoice list. It reports false when the portal
// has no such invoice; that is how drafting stays idempotent across retries and crashes.
func (s *Session) FindInvoice(number string) (portal.Invoice, bool, error) {
	step := "find invoice " + number
	if _, err := s.open(step, "/invoices?q="+url.QueryEscape(number)); err != nil {
		return portal.Invoice{}, false, err
	}
	rows, err := s.readTable(step, "#invoice-table", invoiceColumns...)
	if err != nil {
		return portal.Invoice{}, false, err
	}
	for _, r := range rows {
		if r.Cells["Invoice #"] != number {
			continue // the portal's search matches substrings
		}
		inv := portal.Invoice{Number: number, PONumber: r.Cells["PO Number"], PortalStatus: r.Cells["Status"], PortalID: path.Base(r.Href)}
		if inv.Total, err = s.amount(step, "total", r.Cells["Total"]); err != nil {
			return inv, false, err
		}
		if inv.Status, err = portal.CanonicalStatus(inv.PortalStatus); err != nil {
			return inv, false, err
		}
		return inv, true, nil
	}
	return portal.Invoice{}, false, nil
}

// readInvoicePage reads the invoice detail page the browser is on.
func (s *Session) readInvoicePage(step string) (portal.Invoice, error) {
	if err := s.need(step, "#invoice-status"); err != nil {
		return portal.Invoice{}, err
	}
	v, err := eval[map[string]string](s, step, `(() => {
		const t = (sel) => { const e = document.querySelector(sel); return e ? e.innerText.trim() : ''; };
		return {title: t('h1'), status: t('#invoice-status'), reason: t('#dispute-reason'),
			payref: t('#payment-reference'), total: t('#invoice-total')};
	})()`)
	if err != nil {
		return portal.Invoice{}, err
	}
	u, err := s.location()
	if err != nil {
		return portal.Invoice{}, err
	}
	inv := portal.Invoice{
		PortalID:         path.Base(u.Path),
		Number:           strings.TrimSpace(strings.TrimPrefix(v["title"], "Invoice")),
		PortalStatus:     v["status"],
		Reason:           v["reason"],
		PaymentReference: v["payref"],
	}
	if v["total"] != "" {
		if inv.Total, err = s.amount(step, "total", v["total"]); err != nil {
			return inv, err
		}
	}
	inv.Status, err = portal.CanonicalStatus(inv.PortalStatus)
	return inv, err
}

// CreateDraft flips the PO into an invoice and saves it as a draft. It does not look for an existing
// draft first: callers do that with FindInvoice, so that the check and its outcome are visible.
func (s *Session) CreateDraft(d portal.Draft) (portal.Invoice, error) {
	step := "open invoice form for PO " + d.PONumber
	status, err := s.open(step, "/pos/"+url.PathEscape(d.PONumber)+"/invoices/new")
	if err != nil {
		return portal.Invoice{}, err
	}
	found, err := s.exists(step, "#invoice-form")
	if err != nil {
		return portal.Invoice{}, err
	}
	if status >= 400 || !found["#invoice-form"] {
		return portal.Invoice{}, s.whyNoForm(d.PONumber)
	}
	fields := []string{"#invoice-number", "#invoice-date", "#tax-rate", "#save-draft", "#invoice-lines"}
	if len(d.Attachment) > 0 {
		fields = append(fields, "#attachment")
	}
	if d.Note != "" {
		fields = append(fields, "#supplier-note")
	}
	if err := s.need(step, fields...); err != nil {
		return portal.Invoice{}, err
	}
	formLines, err := eval[[]string](s, step, `Array.from(document.querySelectorAll('#invoice-lines tr[data-line]')).map(r => r.dataset.line)`)
	if err != nil {
		return portal.Invoice{}, err
	}
	qty := map[string]string{}
	for _, n := range formLines {
		qty[n] = "0" // a PO line the invoice does not bill is set to zero, so the portal drops it
	}
	for _, l := range d.Lines {
		n := fmt.Sprint(l.POLineNo)
		if _, ok := qty[n]; !ok {
			return portal.Invoice{}, &portal.MismatchError{What: "PO lines", Portal: "lines " + strings.Join(formLines, ", "), ERP: "a line billing PO line " + n}
		}
		qty[n] = l.Quantity.String()
	}
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.SetValue(chromedp.CSS("#invoice-number"), d.Number),
		chromedp.SetValue(chromedp.CSS("#invoice-date"), d.Date.Format("2006-01-02")),
		chromedp.SetValue(chromedp.CSS("#tax-rate"), d.TaxRate.String()),
	}
	for n, q := range qty {
		sel := fmt.Sprintf("#invoice-lines input[name=%q]", "qty_"+n)
		if err := s.need(step, sel); err != nil {
			return portal.Invoice{}, err
		}
		actions = append(actions, chromedp.SetValue(chromedp.CSS(sel), q))
	}
	if d.Note != "" {
		actions = append(actions, chromedp.SetValue(chromedp.CSS("#supplier-note"), d.Note))
	}
	s.step("fill invoice " + d.Number)
	if err := s.do("fill invoice "+d.Number, actions...); err != nil {
		return portal.Invoice{}, err
	}
	if len(d.Attachment) > 0 {
		// The browser reads the file when the form is posted, so it must outlive the save below.
		path, cleanup, err := tempFile(d.AttachmentName, d.Attachment)
		if err != nil {
			return portal.Invoice{}, err
		}
		defer cleanup()
		if err := s.do("attach "+d.AttachmentName, chromedp.SetUploadFiles(chromedp.CSS("#attachment"), []string{path})); err != nil {
			return portal.Invoice{}, err
		}
	}
	s.step("save draft " + d.Number)
	if _, err := s.navigate("save draft", chromedp.Click(chromedp.CSS("#save-draft"))); err != nil {
		return portal.Invoice{}, err
	}
	onForm, err := s.exists("save draft", "#invoice-form")
	if err != nil {
		return portal.Invoice{}, err
	}
	if onForm["#invoice-form"] {
		msgs, err := s.flashErrors("save draft")
		if err != nil {
			return portal.Invoice{}, err
		}
		if len(msgs) == 0 {
			return portal.Invoice{}, s.drift("save draft", "the form came back with no error message")
		}
		return portal.Invoice{}, &portal.RejectedError{Step: "save draft", Fields: msgs}
	}
	inv, err := s.readInvoicePage("read saved draft")
	if err != nil {
		return inv, err
	}
	if inv.Number != d.Number {
		return inv, s.drift("read saved draft", fmt.Sprintf("saved page shows invoice %q, expected %q", inv.Number, d.Number))
	}
	return inv, checkTotal(inv, d)
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

// whyNoForm names why the invoice form for a PO did not open.
func (s *Session) whyNoForm(po string) error {
	step := "open PO " + po
	status, err := s.open(step, "/pos/"+url.PathEscape(po))
	if err != nil {
		return err
	}
	if status == 404 {
		return fmt.Errorf("PO %s: %w", po, portal.ErrNotFound)
	}
	found, err := s.exists(step, "#create-invoice", "#po-lines")
	if err != nil {
		return err
	}
	if !found["#po-lines"] {
		return s.drift(step, "PO page has no lines table")
	}
	if !found["#create-invoice"] {
		return fmt.Errorf("PO %s: %w (no Create Invoice action: closed, cancelled or fully invoiced)", po, portal.ErrNotInvoiceable)
	}
	return s.drift(step, "the PO has a Create Invoice action but its form did not open")
}

// Submit submits a draft, confirming the portal's dialog. An invoice already past Draft is returned as it
// is, so a retried or replayed submission never submits twice.
func (s *Session) Submit(number string) (portal.Invoice, error) {
	inv, err := s.openInvoice(number)
	if err != nil {
		return inv, err
	}
	if inv.Status != portal.StatusDraft {
		return inv, nil
	}
	if err := s.need("submit "+number, "#submit-invoice"); err != nil {
		return inv, err
	}
	return s.confirmAndRead("submit "+number, "#submit-invoice", func(after portal.Invoice) bool { return after.Status != portal.StatusDraft })
}

// DeleteDraft deletes a draft. An invoice that is already gone counts as deleted; one past Draft cannot be.
func (s *Session) DeleteDraft(number string) error {
	inv, err := s.openInvoice(number)
	if err != nil {
		if errors.Is(err, portal.ErrNotFound) {
			return nil
		}
		return err
	}
	if inv.Status != portal.StatusDraft {
		return fmt.Errorf("invoice %s is %s in the portal; only drafts can be deleted", number, inv.PortalStatus)
	}
	step := "delete draft " + number
	if err := s.need(step, "#delete-draft"); err != nil {
		return err
	}
	s.step(step)
	armed := ""
	s.confirm.Store(&armed)
	defer s.confirm.Store(nil)
	if _, err := s.navigate(step, chromedp.Click(chromedp.CSS("#delete-draft"))); err != nil {
		return err
	}
	if _, still, err := s.FindInvoice(number); err != nil || still {
		if err == nil {
			err = s.drift(step, "the draft is still listed after Delete")
		}
		return err
	}
	return nil
}

// InvoiceStatus reads the invoice's current status, with the dispute reason or payment reference.
func (s *Session) InvoiceStatus(number string) (portal.Invoice, error) {
	return s.openInvoice(number)
}

// openInvoice finds the invoice by number and opens its detail page.
func (s *Session) openInvoice(number string) (portal.Invoice, error) {
	found, ok, err := s.FindInvoice(number)
	if err != nil {
		return found, err
	}
	if !ok {
		return found, fmt.Errorf("invoice %s: %w", number, portal.ErrNotFound)
	}
	step := "open invoice " + number
	if _, err := s.open(step, "/invoices/"+url.PathEscape(found.PortalID)); err != nil {
		return found, err
	}
	inv, err := s.readInvoicePage(step)
	if err != nil {
		return inv, err
	}
	if inv.Total.IsZero() {
		inv.Total = found.Total
	}
	inv.PONumber = found.PONumber
	return inv, nil
}

// confirmAndRead clicks a button behind a confirm dialog and reads the invoice page that follows.
func (s *Session) confirmAndRead(step, button string, ok func(portal.Invoice) bool) (portal.Invoice, error) {
	s.step(step)
	armed := ""
	s.confirm.Store(&armed)
	defer s.confirm.Store(nil)
	if _, err := s.navigate(step, chromedp.Click(chromedp.CSS(button))); err != nil {
		return portal.Invoice{}, err
	}
	inv, err := s.readInvoicePage(step)
	if err != nil {
		return inv, err
	}
	if !ok(inv) {
		msgs, ferr := s.flashErrors(step)
		if ferr != nil {
			return inv, ferr
		}
		if len(msgs) == 0 {
			return inv, s.drift(step, "nothing changed and no message was shown")
		}
		return inv, &portal.RejectedError{Step: step, Fields: msgs}
	}
	return inv, nil
}
