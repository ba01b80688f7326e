package driver

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/chromedp/chromedp"

	"portico/internal/portal"
)

// draftOnPage reads the draft a save has just made from the page the portal answered the save with, so
// that CreateDraft need not look it up in the invoice list (one page load more). It reports true only
// when that page shows this very draft with certainty:
//
//   - the tab is on the definition's invoice page (invoice.url), whose address gives the portal ID;
//   - the page names the invoice number keyed in: the definition's `number` term if it has one, else the
//     page's one visible heading (h1), which is the number or ends with it after a space ("Invoice
//     INV-1" names INV-1, not INV-10 or XINV-1);
//   - the `po_number` term, where the definition has one, is the PO the draft was keyed against;
//   - the status term maps to draft and the total term reads as an amount.
//
// Anything else (another page, a heading naming something else, a status other than draft, no total) is
// left to the invoice list, as before: false, with nothing kept as evidence and no error, since the list
// is the authority on what the portal holds.
func (s *Session) draftOnPage(d portal.Draft) (portal.Invoice, bool) {
	step := "read saved draft " + d.Number
	id, ok := s.invoicePageID()
	if !ok {
		return portal.Invoice{}, false
	}
	// A single-page app may still be rendering the draft it navigated to.
	if err := s.settle(step); err != nil {
		return portal.Invoice{}, false
	}
	t := s.def.Invoice.Terms
	if t["status"] == "" || t["total"] == "" {
		return portal.Invoice{}, false
	}
	terms, err := s.readTerms(step, t)
	if err != nil {
		return portal.Invoice{}, false
	}
	if t["number"] != "" {
		if terms["number"] != d.Number {
			return portal.Invoice{}, false
		}
	} else if !s.headingNames(d.Number) {
		return portal.Invoice{}, false
	}
	po := d.PONumber
	if t["po_number"] != "" {
		if !strings.EqualFold(strings.TrimSpace(terms["po_number"]), strings.TrimSpace(d.PONumber)) {
			return portal.Invoice{}, false
		}
		po = terms["po_number"]
	}
	status, err := s.def.Status(terms["status"])
	if err != nil || status != portal.StatusDraft {
		return portal.Invoice{}, false
	}
	total, ok := parseAmount(terms["total"])
	if !ok || terms["total"] == "" {
		return portal.Invoice{}, false
	}
	inv := portal.Invoice{
		PortalID: id, Number: d.Number, PONumber: po, Status: status, PortalStatus: terms["status"], Total: total,
		RoutingStatus: terms["routing_status"], Reason: terms["reason"], Code: terms["code"], PaymentReference: terms["payment_reference"],
	}
	if v := terms["paid_amount"]; v != "" {
		if inv.PaidAmount, ok = parseAmount(v); !ok {
			return portal.Invoice{}, false
		}
	}
	return inv, true
}

// invoicePageID reports the portal ID of the invoice whose page (the definition's invoice.url) the tab
// is on, and false on any other page.
func (s *Session) invoicePageID() (string, bool) {
	re, ok := idPattern(s.def.Invoice.URL)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s.location())
	if err != nil || u.Host != s.base.Host {
		return "", false
	}
	p := strings.TrimPrefix(u.EscapedPath(), strings.TrimRight(s.base.EscapedPath(), "/"))
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	m := re.FindStringSubmatch(p)
	if m == nil {
		return "", false
	}
	id, err := url.PathUnescape(m[1])
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// idPattern turns a URL template whose only variable is {{id}} into a pattern that matches the URLs it
// makes and captures the id; a template with other variables (or none) has no pattern.
func idPattern(tmpl string) (*regexp.Regexp, bool) {
	locs := varRE.FindAllStringSubmatchIndex(tmpl, -1)
	if len(locs) != 1 || tmpl[locs[0][2]:locs[0][3]] != "id" || strings.Contains(tmpl[:locs[0][0]], "?") {
		return nil, false
	}
	loc := locs[0]
	re, err := regexp.Compile("^" + regexp.QuoteMeta(tmpl[:loc[0]]) + `([^/?#]+)` + regexp.QuoteMeta(tmpl[loc[1]:]) + "$")
	return re, err == nil
}

// headingNames reports whether the page's one visible top heading is number or ends with it after a space.
func (s *Session) headingNames(number string) bool {
	ctx, cancel := s.stepCtx()
	defer cancel()
	heads, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('h1'))
		.filter(e => e.getClientRects().length)
		.map(e => (e.innerText || '').replace(/\s+/g, ' ').trim())`))
	if err != nil || len(heads) != 1 {
		return false
	}
	return heads[0] == number || strings.HasSuffix(heads[0], " "+number)
}
