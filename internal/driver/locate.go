package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"portico/internal/portaldef"
)

// spaGrace is how long a single-page app may take to render a control after it went idle.
const spaGrace = time.Second

// objectGroup groups the page objects the engine holds so they can be released together.
const objectGroup = "portico"

// Roles a form field can have in Chromium's accessibility tree.
var fieldRoles = []string{"textbox", "searchbox", "combobox", "spinbutton", "checkbox", "radio", "listbox", "slider",
	"switch", "Date", "DateTime", "InputTime", "InputMonth", "InputWeek", "textField"}

var tableRoles = []string{"table", "grid", "treegrid", "LayoutTable"}

// element is one element the engine resolved with certainty.
type element struct {
	backend cdp.BackendNodeID
	obj     runtime.RemoteObjectID
	how     string // which strategy found it, for messages
}

// errAmbiguous means a locator matched more than one element: the engine never picks one.
type errAmbiguous struct{ n int }

func (e errAmbiguous) Error() string {
	return fmt.Sprintf("%d elements match; the engine will not pick one", e.n)
}

// expand fills {{variables}} into every part of a locator.
func expand(l portaldef.Locator, vars map[string]string) (portaldef.Locator, error) {
	var err error
	for _, p := range []*string{&l.Label, &l.Button, &l.Link, &l.Table, &l.CSS} {
		if *p, err = fill(*p, vars, nil); err != nil {
			return l, err
		}
	}
	return l, nil
}

// findOnce resolves a locator on the page as it is now: by accessible name and role first, then (for
// fields) by a <label> or aria-label whose text is exactly the label, then by CSS. It returns nil when
// nothing matches and errAmbiguous when several do.
func (s *Session) findOnce(ctx context.Context, l portaldef.Locator) (*element, error) {
	var name string
	var roles []string
	switch {
	case l.Label != "":
		name, roles = l.Label, fieldRoles
	case l.Button != "":
		name, roles = l.Button, []string{"button"}
	case l.Link != "":
		name, roles = l.Link, []string{"link"}
	case l.Table != "":
		name, roles = l.Table, tableRoles
	}
	if name != "" {
		ids, err := s.queryAX(ctx, name, roles)
		if err != nil {
			return nil, err
		}
		if len(ids) > 1 {
			return nil, errAmbiguous{len(ids)}
		}
		if len(ids) == 1 {
			return s.resolve(ctx, ids[0], "accessible name")
		}
		if l.Label != "" {
			// File inputs (and some custom widgets) take no accessible name from their label in
			// Chromium; a person still reads the label next to them.
			el, err := s.findJS(ctx, `(name) => {
				const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
				const seen = new Set();
				for (const lb of document.querySelectorAll('label')) {
					if (norm(lb.textContent) === name && lb.control && lb.getClientRects().length) seen.add(lb.control);
				}
				for (const e of document.querySelectorAll('[aria-label]')) {
					if (norm(e.getAttribute('aria-label')) === name && e.matches('input,select,textarea') && e.getClientRects().length) seen.add(e);
				}
				return Array.from(seen);
			}`, name, "label")
			if el != nil || err != nil {
				return el, err
			}
		}
	}
	if l.CSS != "" {
		return s.findJS(ctx, `(sel) => Array.from(document.querySelectorAll(sel)).filter(e => e.getClientRects().length || e.type === 'file')`, l.CSS, "css fallback")
	}
	return nil, nil
}

// queryAX returns the backend ids of the non-ignored accessibility nodes with the name and one of the roles.
func (s *Session) queryAX(ctx context.Context, name string, roles []string) ([]cdp.BackendNodeID, error) {
	doc, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: "document", ObjectGroup: objectGroup})
	if err != nil {
		return nil, err
	}
	if doc.Result == nil || doc.Result.ObjectID == "" {
		return nil, errors.New("page has no document")
	}
	res, err := chromedp.Call(ctx, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{ObjectID: doc.Result.ObjectID, AccessibleName: name})
	if err != nil {
		return nil, err
	}
	var ids []cdp.BackendNodeID
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil || n.BackendDOMNodeID == 0 {
			continue
		}
		var role string
		_ = json.Unmarshal(n.Role.Value, &role)
		if slices.Contains(roles, role) && !slices.Contains(ids, n.BackendDOMNodeID) {
			ids = append(ids, n.BackendDOMNodeID)
		}
	}
	return ids, nil
}

func (s *Session) resolve(ctx context.Context, id cdp.BackendNodeID, how string) (*element, error) {
	res, err := chromedp.Call(ctx, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: id, ObjectGroup: objectGroup})
	if err != nil {
		return nil, err
	}
	return &element{backend: id, obj: res.Object.ObjectID, how: how}, nil
}

// findJS runs fn(arg) in the page; fn returns an array of elements.
func (s *Session) findJS(ctx context.Context, fn, arg, how string) (*element, error) {
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{
		Expression: fmt.Sprintf("(%s)(%s)", fn, jsString(arg)), ObjectGroup: objectGroup,
	})
	if err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, fmt.Errorf("%s: %s", how, res.ExceptionDetails.Text)
	}
	props, err := chromedp.Call(ctx, runtime.GetProperties, runtime.GetPropertiesParams{ObjectID: res.Result.ObjectID, OwnProperties: ptr(true)})
	if err != nil {
		return nil, err
	}
	var objs []runtime.RemoteObjectID
	for _, p := range props.Result {
		if p.Value != nil && p.Value.ObjectID != "" && p.Value.Subtype == "node" {
			objs = append(objs, p.Value.ObjectID)
		}
	}
	switch len(objs) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, errAmbiguous{len(objs)}
	}
	desc, err := chromedp.Call(ctx, dom.DescribeNode, dom.DescribeNodeParams{ObjectID: objs[0]})
	if err != nil {
		return nil, err
	}
	return &element{backend: desc.Node.BackendNodeID, obj: objs[0], how: how}, nil
}

// find resolves a locator, waiting for a single-page app to render it. A locator that matches nothing or
// several elements is a drift error with evidence.
func (s *Session) find(step string, l portaldef.Locator, vars map[string]string, optional bool) (*element, error) {
	l, err := expand(l, vars)
	if err != nil {
		return nil, err
	}
	// A single-page app renders after its XHRs answer: give it a moment once the page is idle, and up to
	// Settle while it is visibly busy. A server-rendered page is complete when it has loaded.
	ctx, cancel := context.WithTimeout(s.tab, s.d.cfg.StepTimeout+s.d.cfg.Settle)
	defer cancel()
	start := time.Now()
	var grace time.Duration
	if s.def.Kind == portaldef.KindSPA {
		grace = spaGrace
	}
	for {
		el, err := s.findOnce(ctx, l)
		var amb errAmbiguous
		if errors.As(err, &amb) {
			return nil, s.drift(step, l.String(), amb.Error())
		}
		if err != nil {
			return nil, s.stepErr(step, err)
		}
		if el != nil {
			return el, nil
		}
		if optional && grace == 0 {
			// An optional control is one a per-buyer rule shows: on a rendered page it is there or not.
			return nil, nil
		}
		if waited := time.Since(start); waited >= grace {
			busy, berr := s.busy(ctx)
			if berr != nil {
				return nil, s.stepErr(step, berr)
			}
			switch {
			case !busy && optional:
				return nil, nil
			case !busy:
				return nil, s.drift(step, l.String(), "no such element on the page")
			case waited > s.d.cfg.Settle:
				return nil, s.unavailable(step, "the page is still loading")
			}
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, s.stepErr(step, err)
		}
	}
}

// present reports whether a locator matches exactly one element right now.
func (s *Session) present(ctx context.Context, l portaldef.Locator) (bool, error) {
	el, err := s.findOnce(ctx, l)
	var amb errAmbiguous
	if errors.As(err, &amb) {
		return true, nil
	}
	return el != nil, err
}

// call runs fn with the element as `this` and decodes its JSON result into out.
func (s *Session) call(ctx context.Context, el *element, fn string, out any, args ...any) error {
	var cargs []*runtime.CallArgument
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		cargs = append(cargs, &runtime.CallArgument{Value: b})
	}
	res, err := chromedp.Call(ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: fn, ObjectID: el.obj, Arguments: cargs, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
	})
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		msg := res.ExceptionDetails.Text
		if res.ExceptionDetails.Exception != nil {
			msg += " " + res.ExceptionDetails.Exception.Description
		}
		return errors.New(strings.TrimSpace(msg))
	}
	if out == nil || res.Result == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func jsString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func ptr[T any](v T) *T { return &v }
