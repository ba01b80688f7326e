package simulator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	chromium "portico/internal/browser"
)

// TestAribaSPAInChromium drives the single-page app in real headless
// Chromium: deep link while signed out, sign in in place, walk the invoice
// wizard (a refused save first), save, read the toast, submit through the
// confirm dialog.
func TestAribaSPAInChromium(t *testing.T) {
	if _, err := os.Stat(chromium.DefaultExecPath); err != nil {
		t.Skipf("no Chromium at %s", chromium.DefaultExecPath)
	}
	e := newAribaEnv(t, Config{Rules: Rules{RememberBrowserDays: 30}})
	e.seedPO("PO-1", POOpen)
	pdfPath := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(pdfPath, pdf.content, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := chromium.Start(ctx, chromium.Options{ExecPath: chromium.DefaultExecPath})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, closeTab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTab()

	// Accept every confirm dialog and remember what it said.
	var dialogMu sync.Mutex
	var dialogs []string
	dialogEvents := chromedp.Events(tab, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogEvents {
			if err != nil {
				return
			}
			dialogMu.Lock()
			dialogs = append(dialogs, ev.Message)
			dialogMu.Unlock()
			_, _ = chromedp.Call(tab, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	// waitFor waits until the view is rendered (aria-busy="false") and cond holds.
	waitFor := func(what, cond string) {
		t.Helper()
		js := `document.querySelector('main').getAttribute('aria-busy') === 'false' && (` + cond + `)`
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](js,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v\nmain: %s", what, err, eval(`document.querySelector('main').innerText`))
		}
	}
	heading := func(text string) string {
		b, _ := json.Marshal(text)
		return `(document.querySelector('main h1') || {}).textContent === ` + string(b)
	}
	toast := func(text string) string {
		b, _ := json.Marshal(text)
		return `[...document.querySelectorAll('[role=status]')].some(el => el.textContent === ` + string(b) + `)`
	}
	// axHas checks that the accessibility tree, which a label-driven driver
	// reads, has each "role:name" and none of the absent ones.
	axHas := func(what string, present []string, absent ...string) {
		t.Helper()
		res, err := chromedp.Call(tab, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			t.Fatalf("accessibility tree: %v", err)
		}
		have := map[string]bool{}
		for _, n := range res.Nodes {
			if n.Ignored || n.Role == nil || n.Name == nil {
				continue
			}
			var role, name string
			_ = json.Unmarshal(n.Role.Value, &role)
			_ = json.Unmarshal(n.Name.Value, &name)
			have[role+":"+name] = true
		}
		for _, want := range present {
			if !have[want] {
				t.Errorf("%s: no %q in the accessibility tree", what, want)
			}
		}
		for _, no := range absent {
			if have[no] {
				t.Errorf("%s: %q is in the accessibility tree", what, no)
			}
		}
	}
	click := func(what, sel string) {
		t.Helper()
		do("click "+what, chromedp.Click(chromedp.CSS(sel)))
	}

	// A deep link while signed out renders the sign-in in place.
	do("open the order", chromedp.Navigate(e.ts.URL+"/app/orders/PO-1"))
	waitFor("the sign-in view", heading("Supplier sign in"))
	axHas("sign-in", []string{"heading:Supplier sign in", "textbox:Email or user ID", "textbox:Password", "button:Continue"})
	do("password step",
		chromedp.SendKeys(chromedp.CSS("#sn-login-id"), testUser),
		chromedp.SendKeys(chromedp.CSS("#sn-login-secret"), testPassword),
		chromedp.Click(chromedp.CSS("#sn-continue")))
	waitFor("the code view", heading("Verify your identity")+` && !!document.querySelector('#sn-trust')`)
	axHas("code", []string{"textbox:Authentication code", "checkbox:Trust this device", "button:Verify"})
	do("code step",
		chromedp.SendKeys(chromedp.CSS("#sn-otp"), e.code()),
		chromedp.Click(chromedp.CSS("#sn-verify")))
	waitFor("the requested order", heading("Order PO-1"))
	axHas("order", []string{"heading:Order PO-1", "table:Order lines", "columnheader:No.", "columnheader:Part #",
		"columnheader:Item", "columnheader:Qty", "columnheader:Unit", "columnheader:Price", "button:Create Invoice"})
	// From here on nothing may load a page: a marker on window must survive.
	eval(`window.__snMarker = 'same page'; 'ok'`)

	click("Create Invoice", "#sn-create-invoice")
	waitFor("the wizard", `location.pathname === '/app/orders/PO-1/invoice' && document.querySelector('#sn-stepper').textContent === 'Step 1 of 4'`)

	next := func(step int) {
		t.Helper()
		n := strconv.Itoa(step)
		click("Next on step "+n, `section[data-step="`+n+`"] .sn-actions button:last-child`)
	}
	// Straight to Review with no invoice number: the save is refused.
	next(1)
	waitFor("step 2", `document.querySelector('#sn-stepper').textContent === 'Step 2 of 4'`)
	axHas("lines step", []string{"heading:Lines", "table:Invoice lines", "columnheader:Ordered", "columnheader:Amount",
		"textbox:Qty for line 1", "textbox:Price for line 2", "checkbox:Remove line 2", "button:Back", "button:Next"},
		"textbox:Invoice No.", "button:Save")
	next(2)
	next(3)
	waitFor("the review", `document.querySelector('#sn-stepper').textContent === 'Step 4 of 4'`)
	click("Save", `section[data-step="4"] button[type=submit]`)
	waitFor("the refusal", `!!document.querySelector('#sn-wizard-alert [role=alert]')`)
	alert := eval(`document.querySelector('#sn-wizard-alert [role=alert]').innerText`)
	if !strings.Contains(alert, "Invoice No.: Invoice number is required.") || !strings.Contains(alert, "Invoice Date: Invoice date is required.") {
		t.Fatalf("alert: %q", alert)
	}
	if got := eval(`document.querySelector('#sn-inv-no').getAttribute('aria-invalid') + ' ' +
		document.getElementById(document.querySelector('#sn-inv-no').getAttribute('aria-describedby')).textContent`); got != "true Invoice number is required." {
		t.Fatalf("invoice number input: %q", got)
	}
	if got := eval(`document.querySelector('#sn-stepper').textContent`); got != "Step 4 of 4" {
		t.Fatalf("after a refused save the wizard is at %q", got)
	}

	// Back to the header, fill everything in, save.
	for _, step := range []string{"4", "3", "2"} {
		click("Back", `section[data-step="`+step+`"] .sn-actions button:first-child`)
	}
	waitFor("step 1 again", `document.querySelector('#sn-stepper').textContent === 'Step 1 of 4'`)
	do("header",
		chromedp.SendKeys(chromedp.CSS("#sn-inv-no"), "INV-B1"),
		chromedp.SetValue(chromedp.CSS("#sn-inv-date"), "2025-03-10"))
	next(1)
	do("lines",
		chromedp.SetValue(chromedp.CSS("#sn-qty-1"), "4"),
		chromedp.Click(chromedp.CSS("#sn-remove-2")))
	next(2)
	do("tax and attachment",
		chromedp.SetValue(chromedp.CSS("#sn-tax-pct"), "10"),
		chromedp.SendKeys(chromedp.CSS("#sn-comments"), "Partial delivery"),
		chromedp.SetUploadFiles(chromedp.CSS("#sn-document"), []string{pdfPath}))
	next(3)
	waitFor("the review", `document.querySelector('#sn-stepper').textContent === 'Step 4 of 4'`)
	summary := eval(`document.querySelector('#sn-review-summary').innerText`)
	if !strings.Contains(summary, "55.00 EUR") || !strings.Contains(summary, "invoice.pdf") {
		t.Fatalf("review summary: %q", summary)
	}
	click("Save", `section[data-step="4"] button[type=submit]`)
	waitFor("the saved invoice", heading("Invoice INV-B1")+` && `+toast("Invoice INV-B1 saved as draft."))
	if got := eval(`location.pathname`); got != "/app/invoices/INV-000001" {
		t.Fatalf("after save the app is at %s", got)
	}

	// Submit through the confirm dialog.
	click("Submit", "#sn-submit-invoice")
	waitFor("the submitted invoice", toast("Invoice INV-B1 sent to Acme Manufacturing.")+
		` && [...document.querySelectorAll('main dt')].some(dt => dt.textContent === 'Status' && dt.nextElementSibling.textContent === 'Sent')`)
	dialogMu.Lock()
	got := append([]string(nil), dialogs...)
	dialogMu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "Submit invoice INV-B1") {
		t.Fatalf("dialogs: %q", got)
	}
	if got := eval(`String(window.__snMarker)`); got != "same page" {
		t.Fatalf("the app loaded a new page (marker %q)", got)
	}

	// The list shows the invoice with its Ariba words.
	click("Invoices", `#sn-nav a[href="/app/invoices"]`)
	waitFor("the invoice list", heading("Invoices")+` && !!document.querySelector('table[aria-label=Invoices] tbody tr')`)
	row := eval(`[...document.querySelectorAll('table[aria-label=Invoices] tbody tr td')].map(td => td.textContent).join('|')`)
	if row != "INV-B1|PO-1|2025-03-10|55.00|EUR|Sent|Sent" {
		t.Fatalf("invoice row: %q", row)
	}
	invs := e.srv.Invoices(testUser)
	if len(invs) != 1 || invs[0].Status != StatusPendingApproval || invs[0].AttachmentName != "invoice.pdf" || invs[0].Note != "Partial delivery" {
		t.Fatalf("stored invoices: %+v", invs)
	}
}
