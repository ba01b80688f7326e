package driver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"portico/internal/portal"
	"portico/internal/portaldef"
)

var varRE = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

// fill replaces {{variables}}; escape, if not nil, escapes each value (URLs). An unknown variable is a
// definition error, reported by name.
func fill(tmpl string, vars map[string]string, escape func(before, v string) string) (string, error) {
	var missing string
	out := varRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := varRE.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = name
			return m
		}
		if escape != nil {
			before := tmpl[:strings.Index(tmpl, m)]
			return escape(before, v)
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("portal definition uses {{%s}}, which this step does not provide", missing)
	}
	return out, nil
}

// urlEscape escapes a value for where it sits in a URL template: query values and path segments differ.
func urlEscape(before, v string) string {
	if strings.Contains(before, "?") {
		return url.QueryEscape(v)
	}
	return url.PathEscape(v)
}

// errRelogin means the portal asked for a sign-in in the middle of a flow; the engine logged in again and
// the flow must start over, because whatever the form held is gone.
var errRelogin = errors.New("portal asked for a new sign-in mid-flow")

// open loads a portal page, logging in first when the portal asks. It returns the HTTP status so callers
// tell a missing record (404) from an outage (5xx, which is an error here).
func (s *Session) open(step, pathTmpl string, vars map[string]string) (int64, error) {
	path, err := fill(pathTmpl, vars, urlEscape)
	if err != nil {
		return 0, err
	}
	s.step(step)
	status, err := s.navigate(step, path)
	// A sign-in form is answered by taking a session another tab of the account signed in to meanwhile,
	// or else by signing in; one that comes back right after a sign-in is the portal not keeping it.
	for signedIn := false; err == nil; {
		wants, werr := s.wantsLogin(step)
		if werr != nil || !wants {
			return status, werr
		}
		if signedIn {
			return status, fmt.Errorf("step %s: the portal asked for a sign-in again right after one: %w", step, portal.ErrUnavailable)
		}
		took, lerr := s.login()
		if lerr != nil {
			return 0, lerr
		}
		signedIn = !took
		status, err = s.navigate(step, path)
	}
	return status, err
}

// navigate loads a page and waits for it to settle.
func (s *Session) navigate(step, path string) (int64, error) {
	defer s.timed(StepPageLoad)()
	ctx, cancel := s.stepCtx()
	defer cancel()
	s.d.pageLoads.Add(1)
	s.savedPage = ""
	errsBefore, _, _ := s.net.snapshot()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(s.url(path)))
	if err != nil {
		return 0, s.stepErr(step, err)
	}
	var status int64
	if resp != nil {
		status = resp.Status
	}
	if status >= 500 {
		return status, s.unavailable(step, fmt.Sprintf("HTTP %d", status))
	}
	if err := s.settle(step); err != nil {
		return status, err
	}
	// A single-page app loads its data by XHR: a 5xx there is the portal being down, not a layout change.
	if errsAfter, last, _ := s.net.snapshot(); errsAfter > errsBefore {
		return status, s.unavailable(step, last)
	}
	return status, nil
}

// unavailable is the retryable outage error, naming what the portal said.
func (s *Session) unavailable(step, what string) error {
	title, _ := chromedp.Run(s.tab, chromedp.Evaluate[string](`(document.querySelector('h1') || {}).innerText || ''`))
	if title != "" {
		what += ": " + strings.TrimSpace(title)
	}
	return fmt.Errorf("step %s: %s: %w", step, what, portal.ErrUnavailable)
}

// settle waits until a single-page app has rendered: nothing matches the definition's busy selector and no
// XHR is in flight.
func (s *Session) settle(step string) error {
	if s.def.Busy == "" {
		return nil
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	deadline := time.Now().Add(s.d.cfg.Settle)
	for {
		busy, err := s.busy(ctx)
		if err != nil {
			return s.stepErr(step, err)
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			_, last, _ := s.net.snapshot()
			what := "the page did not finish loading"
			if last != "" {
				what += " (last server error: " + last + ")"
			}
			return s.unavailable(step, what)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return s.stepErr(step, err)
		}
	}
}

func (s *Session) busy(ctx context.Context) (bool, error) {
	if s.def.Busy == "" {
		return false, nil
	}
	busy, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.readyState !== 'complete' || !!document.querySelector(%s)`, jsString(s.def.Busy))))
	if err != nil {
		return false, err
	}
	if busy {
		return true, nil
	}
	_, _, inflight := s.net.snapshot()
	return inflight > 0, nil
}

// wantsLogin reports whether the page shows the portal's sign-in form.
func (s *Session) wantsLogin(step string) (bool, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	ok, err := s.present(ctx, s.def.Login.Form)
	if err != nil {
		return false, s.stepErr(step, err)
	}
	return ok, nil
}

// runSteps runs a flow of steps. Files are the attachments an upload step may use.
func (s *Session) runSteps(flow string, steps []portaldef.Step, vars map[string]string, x stepExtras) error {
	for i, st := range steps {
		if st.If != "" && vars[st.If] == "" {
			continue
		}
		name := fmt.Sprintf("%s step %d", flow, i+1)
		if err := s.runStep(name, st, vars, x); err != nil {
			return err
		}
	}
	return nil
}

// stepExtras carries what some steps need besides variables.
type stepExtras struct {
	lines      []portal.DraftLine
	uploadPath string
}

func (s *Session) runStep(name string, st portaldef.Step, vars map[string]string, x stepExtras) error {
	switch {
	case st.Navigate != "":
		status, err := s.open(name+": open "+st.Navigate, st.Navigate, vars)
		if err != nil {
			return err
		}
		if status == 404 {
			return fmt.Errorf("%s: %w", name, portal.ErrNotFound)
		}
		return nil
	case st.Fill != nil:
		return s.fillField(name, *st.Fill, st.Value, vars, st.Optional)
	case st.Select != nil:
		return s.selectOption(name, *st.Select, st.Value, vars, st.Optional)
	case st.Check != nil:
		return s.check(name, *st.Check, vars, st.Optional)
	case st.Click != nil:
		return s.click(name, *st.Click, vars, st)
	case st.Upload != nil:
		return s.upload(name, *st.Upload, vars, x.uploadPath)
	case st.Lines != nil:
		return s.fillLines(name, *st.Lines, vars, x.lines)
	case st.Wait != nil:
		return s.wait(name, *st.Wait)
	}
	return fmt.Errorf("%s: step does nothing", name)
}

// controlResult is what the page-side half of a field action reports.
type controlResult struct {
	OK      bool     `json:"ok"`
	Why     string   `json:"why"`     // why the element is not the kind of control the step needs
	Value   string   `json:"value"`   // what the field holds afterwards
	Options []string `json:"options"` // the choices of a list that had none matching
}

// onControl finds the locator's element and runs fn on it with the step's value. It reports found=false
// for an absent optional control.
func (s *Session) onControl(step string, l portaldef.Locator, tmpl string, vars map[string]string, optional bool, fn string) (res controlResult, value string, found bool, err error) {
	if value, err = fill(tmpl, vars, nil); err != nil {
		return res, value, false, err
	}
	el, err := s.find(step, l, vars, optional)
	if err != nil || el == nil {
		return res, value, false, err
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	if err := s.call(ctx, el, fn, &res, value); err != nil {
		return res, value, true, s.stepErr(step, err)
	}
	return res, value, true, nil
}

func (s *Session) fillField(step string, l portaldef.Locator, tmpl string, vars map[string]string, optional bool) error {
	// Only text-entry controls take typed text: a label that now names a checkbox, a button or a file
	// field means the form changed, and typing there would be typing into the wrong field.
	got, value, found, err := s.onControl(step, l, tmpl, vars, optional, `function(v) {
		const t = (this.type || '').toLowerCase();
		const text = this instanceof HTMLTextAreaElement || (this instanceof HTMLInputElement &&
			!['hidden','checkbox','radio','file','submit','button','reset','image'].includes(t));
		if (!text) return {ok: false, why: 'is a ' + this.tagName.toLowerCase() + (t ? ' of type ' + t : '') + ', not a text field'};
		if (this.disabled || this.readOnly) return {ok: false, why: 'is read-only'};
		this.focus();
		const proto = this instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
		Object.getOwnPropertyDescriptor(proto, 'value').set.call(this, v);
		this.dispatchEvent(new Event('input', {bubbles: true}));
		this.dispatchEvent(new Event('change', {bubbles: true}));
		this.blur();
		return {ok: true, value: this.value};
	}`)
	if err != nil || !found {
		return err
	}
	if !got.OK {
		return s.drift(step, l.String(), "the field "+got.Why)
	}
	if got.Value != value {
		return s.drift(step, l.String(), fmt.Sprintf("the field did not take %q (it shows %q)", value, got.Value))
	}
	return nil
}

func (s *Session) selectOption(step string, l portaldef.Locator, tmpl string, vars map[string]string, optional bool) error {
	got, value, found, err := s.onControl(step, l, tmpl, vars, optional, `function(v) {
		if (!(this instanceof HTMLSelectElement)) return {ok: false, why: 'not a list to choose from'};
		const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
		const opts = Array.from(this.options);
		const hit = opts.filter(o => norm(o.text) === norm(v) || o.value === v);
		if (hit.length !== 1) return {ok: false, options: opts.map(o => norm(o.text)).filter(Boolean)};
		this.value = hit[0].value;
		this.dispatchEvent(new Event('input', {bubbles: true}));
		this.dispatchEvent(new Event('change', {bubbles: true}));
		return {ok: true};
	}`)
	if err != nil || !found {
		return err
	}
	if got.Why != "" {
		return s.drift(step, l.String(), "the field is "+got.Why)
	}
	if !got.OK {
		label := l.Label
		if label == "" {
			label = l.String()
		}
		return &portal.RejectedError{Step: step, Fields: map[string]string{label: fmt.Sprintf("the portal offers no option %q (it offers: %s)", value, strings.Join(got.Options, "; "))}}
	}
	return nil
}

func (s *Session) check(step string, l portaldef.Locator, vars map[string]string, optional bool) error {
	got, _, found, err := s.onControl(step, l, "", vars, optional, `function() {
		if (!(this instanceof HTMLInputElement) || this.type !== 'checkbox') return {ok: false, why: 'is not a checkbox'};
		if (!this.checked) this.click();
		return {ok: this.checked, why: this.checked ? '' : 'did not stay ticked'};
	}`)
	if err != nil || !found {
		return err
	}
	if !got.OK {
		return s.drift(step, l.String(), "the control "+got.Why)
	}
	return nil
}

// click clicks like a mouse does, at the element's centre. On a pages portal the click is expected to
// navigate; on an SPA the next step waits for what the click renders.
func (s *Session) click(step string, l portaldef.Locator, vars map[string]string, st portaldef.Step) error {
	if err := s.clickAt(step, l, vars, st); err != nil {
		return err
	}
	if wants, err := s.wantsLogin(step); err != nil {
		return err
	} else if wants {
		if _, err := s.login(); err != nil {
			return err
		}
		return errRelogin
	}
	return nil
}

// clickAt clicks without checking for a sign-in form afterwards (sign-in steps themselves).
func (s *Session) clickAt(step string, l portaldef.Locator, vars map[string]string, st portaldef.Step) error {
	el, err := s.find(step, l, vars, st.Optional)
	if err != nil || el == nil {
		return err
	}
	navigates := s.def.Kind == portaldef.KindPages
	if st.Navigates != nil {
		navigates = *st.Navigates
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	var enabled bool
	if err := s.call(ctx, el, `function() { return !(this.disabled || this.getAttribute('aria-disabled') === 'true'); }`, &enabled); err != nil {
		return s.stepErr(step, err)
	}
	if !enabled {
		return s.drift(step, l.String(), "the control is disabled")
	}
	if _, err := chromedp.Call(ctx, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{BackendNodeID: el.backend}); err != nil {
		return s.stepErr(step, err)
	}
	quads, err := chromedp.Call(ctx, dom.GetContentQuads, dom.GetContentQuadsParams{BackendNodeID: el.backend})
	if err != nil {
		return s.stepErr(step, err)
	}
	if len(quads.Quads) == 0 || len(quads.Quads[0]) < 8 {
		return s.drift(step, l.String(), "the control has no size on the page")
	}
	q := quads.Quads[0]
	x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
	if st.Confirm != "" {
		s.confirm.Store(&st.Confirm)
		defer s.confirm.Store(nil)
	}
	errsBefore, _, _ := s.net.snapshot()
	s.step(step + ": click " + l.String())
	s.savedPage = ""
	if navigates {
		s.d.pageLoads.Add(1)
		resp, err := chromedp.RunResponse(ctx, chromedp.MouseClickXY(x, y))
		if err != nil {
			return s.stepErr(step, err)
		}
		if resp != nil && resp.Status >= 500 {
			return s.unavailable(step, fmt.Sprintf("HTTP %d", resp.Status))
		}
	} else if _, err := chromedp.Run(ctx, chromedp.MouseClickXY(x, y)); err != nil {
		return s.stepErr(step, err)
	}
	_, _ = chromedp.Call(s.tab, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: objectGroup})
	if err := s.settle(step); err != nil {
		return err
	}
	if errsAfter, last, _ := s.net.snapshot(); errsAfter > errsBefore {
		return s.unavailable(step, last)
	}
	return nil
}

func (s *Session) upload(step string, l portaldef.Locator, vars map[string]string, path string) error {
	if path == "" {
		return nil
	}
	el, err := s.find(step, l, vars, false)
	if err != nil {
		return err
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	var isFile bool
	if err := s.call(ctx, el, `function() { return this instanceof HTMLInputElement && this.type === 'file'; }`, &isFile); err != nil {
		return s.stepErr(step, err)
	}
	if !isFile {
		return s.drift(step, l.String(), "the field is not a file field")
	}
	if _, err := chromedp.Call(ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{path}, BackendNodeID: el.backend}); err != nil {
		return s.stepErr(step, err)
	}
	return nil
}

// fillLines keys the ERP's quantities into the form's lines. Lines the invoice does not bill are removed
// (or set to zero where the portal offers no removal); an ERP line for a PO line the form lacks stops.
func (s *Session) fillLines(step string, ls portaldef.Lines, vars map[string]string, lines []portal.DraftLine) error {
	rows, err := s.readTable(step, ls.Table, vars, []string{ls.LineColumn})
	if err != nil {
		return err
	}
	var formLines []string
	for _, r := range rows {
		formLines = append(formLines, r.Cells[ls.LineColumn])
	}
	bill := map[string]portal.DraftLine{}
	for _, l := range lines {
		n := fmt.Sprint(l.POLineNo)
		found := false
		for _, f := range formLines {
			found = found || f == n
		}
		if !found {
			return &portal.MismatchError{What: "PO lines", Portal: "lines " + strings.Join(formLines, ", "), ERP: "a line billing PO line " + n}
		}
		bill[n] = l
	}
	for _, n := range formLines {
		lv := map[string]string{"line": n}
		for k, v := range vars {
			lv[k] = v
		}
		l, billed := bill[n]
		if !billed {
			if ls.Remove != nil {
				el, err := s.find(step, *ls.Remove, lv, false)
				if err != nil {
					return err
				}
				ctx, cancel := s.stepCtx()
				var isBox bool
				err = s.call(ctx, el, `function() { return this instanceof HTMLInputElement && this.type === 'checkbox'; }`, &isBox)
				cancel()
				if err != nil {
					return s.stepErr(step, err)
				}
				if isBox {
					err = s.check(step, *ls.Remove, lv, false)
				} else {
					no := false
					err = s.click(step, *ls.Remove, lv, portaldef.Step{Navigates: &no})
				}
				if err != nil {
					return err
				}
				continue
			}
			if err := s.fillField(step, ls.Quantity, "0", lv, false); err != nil {
				return err
			}
			continue
		}
		if err := s.fillField(step, ls.Quantity, l.Quantity.String(), lv, false); err != nil {
			return err
		}
		if ls.UnitPrice != nil && !l.UnitPrice.IsZero() {
			if err := s.fillField(step, *ls.UnitPrice, l.UnitPrice.String(), lv, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// pageMessages reads the page's error messages: banners (Messages.Error) and every invalid field by its
// label, with the message the field points to. These are the portal's own words.
func (s *Session) pageMessages(ctx context.Context) (map[string]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[map[string]string](fmt.Sprintf(`((errSel) => {
		const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
		const out = {};
		const banners = [];
		for (const e of document.querySelectorAll(errSel)) {
			const t = norm(e.innerText);
			if (t && e.getClientRects().length && !banners.includes(t)) banners.push(t);
		}
		if (banners.length) out[''] = banners.join(' ');
		for (const el of document.querySelectorAll('[aria-invalid=true]')) {
			const label = norm(el.labels && el.labels.length ? el.labels[0].innerText : (el.getAttribute('aria-label') || el.name || el.id));
			const ids = (el.getAttribute('aria-describedby') || el.getAttribute('aria-errormessage') || '').split(/\s+/).filter(Boolean);
			out[label] = norm(ids.map(id => (document.getElementById(id) || {}).innerText || '').join(' ')) || 'invalid';
		}
		return out;
	})(%s)`, jsString(s.def.Messages.Error))))
}

// successShown reports whether a success message containing text is shown.
func (s *Session) successShown(ctx context.Context, text string) (bool, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`((sel, want) => Array.from(document.querySelectorAll(sel)).some(e =>
		e.getClientRects().length && e.innerText.toLowerCase().includes(want)))(%s, %s)`, jsString(s.def.Messages.Success), jsString(strings.ToLower(text)))))
}

// wait waits for the portal's success signal; an error message instead is the portal refusing what was
// entered, with its own words. Neither within the settle time is a drift (the signal changed) unless the
// portal is visibly still working, which is an outage.
func (s *Session) wait(step string, w portaldef.Wait) error {
	ctx, cancel := s.stepCtx()
	defer cancel()
	var urlRE *regexp.Regexp
	if w.URL != "" {
		urlRE = regexp.MustCompile(w.URL) // validated when the definition was parsed
	}
	deadline := time.Now()
	if s.def.Kind == portaldef.KindSPA {
		deadline = deadline.Add(s.d.cfg.Settle)
	}
	errsBefore, _, _ := s.net.snapshot()
	for {
		if w.Success != "" {
			ok, err := s.successShown(ctx, w.Success)
			if err != nil {
				return s.stepErr(step, err)
			}
			if ok {
				return nil
			}
		}
		if urlRE != nil {
			if u, err := url.Parse(s.location()); err == nil && urlRE.MatchString(strings.TrimPrefix(u.Path, strings.TrimRight(s.base.Path, "/"))) {
				return nil
			}
		}
		msgs, err := s.pageMessages(ctx)
		if err != nil {
			return s.stepErr(step, err)
		}
		if errs, last, _ := s.net.snapshot(); errs > errsBefore {
			return s.unavailable(step, last) // the app's error banner is about the outage, not the invoice
		}
		if len(msgs) > 0 {
			return &portal.RejectedError{Step: step, Fields: msgs}
		}
		if time.Now().After(deadline) {
			if errs, last, inflight := s.net.snapshot(); inflight > 0 || errs > errsBefore {
				return s.unavailable(step, fmt.Sprintf("no answer from the portal (%d requests pending; %s)", inflight, last))
			}
			return s.drift(step, fmt.Sprintf("success message %q", w.Success), "the portal showed neither it nor an error")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return s.stepErr(step, err)
		}
	}
}
