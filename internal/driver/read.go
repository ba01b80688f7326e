package driver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"portico/internal/portaldef"
)

// row is one table row keyed by column header, with the href of its first link.
type row struct {
	Cells map[string]string `json:"cells"`
	Links map[string]string `json:"links"` // column header → href of the cell's link
}

// readTable reads a table by its column headers, not positions, so reordered columns still read right. A
// missing table or column is a drift.
func (s *Session) readTable(step string, l portaldef.Locator, vars map[string]string, columns []string) ([]row, error) {
	el, err := s.find(step, l, vars, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.stepCtx()
	defer cancel()
	var res struct {
		Heads []string `json:"heads"`
		Rows  []row    `json:"rows"`
	}
	err = s.call(ctx, el, `function() {
		const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
		const t = this.tagName === 'TABLE' ? this : this.querySelector('table');
		if (!t) return {heads: [], rows: []};
		const headRow = t.tHead && t.tHead.rows.length ? t.tHead.rows[0] : t.rows[0];
		if (!headRow) return {heads: [], rows: []};
		const heads = Array.from(headRow.cells).map(c => norm(c.innerText));
		const body = t.tBodies.length ? Array.from(t.tBodies).flatMap(b => Array.from(b.rows)) : Array.from(t.rows).slice(1);
		return {heads, rows: body.filter(r => r.cells.length === heads.length && r !== headRow).map(r => {
			const cells = {}, links = {};
			Array.from(r.cells).forEach((c, i) => {
				cells[heads[i]] = norm(c.innerText);
				const a = c.querySelector('a[href]');
				if (a) links[heads[i]] = a.getAttribute('href');
			});
			return {cells, links};
		})};
	}`, &res)
	if err != nil {
		return nil, s.stepErr(step, err)
	}
	have := map[string]bool{}
	for _, h := range res.Heads {
		have[h] = true
	}
	for _, c := range columns {
		if !have[c] {
			return nil, s.drift(step, l.String(), fmt.Sprintf("the table has no column %q (columns: %s)", c, strings.Join(res.Heads, ", ")))
		}
	}
	return res.Rows, nil
}

// readTerms reads the values that follow the given terms on the page (dt/dd pairs or th/td rows). A term
// shown twice with different values is ambiguous, and the engine does not pick one.
func (s *Session) readTerms(step string, terms map[string]string, required ...string) (map[string]string, error) {
	ctx, cancel := s.stepCtx()
	defer cancel()
	js := fmt.Sprintf(`((terms) => {
		const norm = (t) => (t || '').replace(/\s+/g, ' ').trim();
		const out = {};
		for (const [key, term] of Object.entries(terms)) {
			const vals = [];
			for (const e of document.querySelectorAll('dt, th')) {
				if (norm(e.innerText) !== term || !e.getClientRects().length) continue;
				let v = e.nextElementSibling;
				if (e.tagName === 'TH' && !v) continue;
				if (v) vals.push(norm(v.innerText));
			}
			out[key] = Array.from(new Set(vals));
		}
		return out;
	})(%s)`, jsString(terms))
	res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](js))
	if err != nil {
		return nil, s.stepErr(step, err)
	}
	out := map[string]string{}
	for key, vals := range res {
		switch len(vals) {
		case 0:
		case 1:
			out[key] = vals[0]
		default:
			return nil, s.drift(step, fmt.Sprintf("term %q", terms[key]), fmt.Sprintf("shown %d times with different values (%s)", len(vals), strings.Join(vals, " | ")))
		}
	}
	for _, key := range required {
		if _, ok := out[key]; !ok {
			return nil, s.drift(step, fmt.Sprintf("term %q", terms[key]), "not on the page")
		}
	}
	return out, nil
}

// amount reads an amount as a portal shows it ("1,234.50", "USD 1,234.50").
func (s *Session) amount(step, what, text string) (decimal.Decimal, error) {
	d, ok := parseAmount(text)
	if !ok {
		return d, s.drift(step, what, fmt.Sprintf("%q is not an amount", text))
	}
	return d, nil
}

// parseAmount reads an amount as a portal shows it; an empty text is zero. It reports false for a text
// that is not an amount.
func parseAmount(text string) (decimal.Decimal, bool) {
	clean := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return -1
	}, text)
	if clean == "" {
		return decimal.Zero, true
	}
	d, err := decimal.NewFromString(clean)
	return d, err == nil
}

func (s *Session) date(step, what, text string) (time.Time, error) {
	if text == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(s.def.DateLayout, text)
	if err != nil {
		return t, s.drift(step, what, fmt.Sprintf("%q is not a date like %s", text, s.def.DateLayout))
	}
	return t, nil
}

func runBool(ctx context.Context, js string) (bool, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[bool](js))
}
