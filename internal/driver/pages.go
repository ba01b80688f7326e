package driver

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"portico/internal/portal"
)

func jsString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// row is one table row keyed by column header, plus the row's data-* attributes and first link.
type row struct {
	Cells map[string]string `json:"cells"`
	Data  map[string]string `json:"data"`
	Href  string            `json:"href"`
}

type tableData struct {
	Heads []string `json:"heads"`
	Rows  []row    `json:"rows"`
}

// readTable reads a table by its column headers, not positions, so reordered columns still read right.
// A missing table or column is a layout drift.
func (s *Session) readTable(step, sel string, columns ...string) ([]row, error) {
	js := fmt.Sprintf(`((sel) => {
		const t = document.querySelector(sel);
		if (!t) return null;
		const headRow = t.tHead ? t.tHead.rows[0] : t.rows[0];
		const heads = Array.from(headRow.cells).map(c => c.innerText.trim());
		const body = t.tBodies.length ? Array.from(t.tBodies).flatMap(b => Array.from(b.rows)) : Array.from(t.rows).slice(1);
		return {heads, rows: body.filter(r => r.cells.length === heads.length).map(r => {
			const cells = {};
			Array.from(r.cells).forEach((c, i) => { cells[heads[i]] = c.innerText.trim(); });
			const a = r.querySelector('a[href]');
			return {cells, data: Object.assign({}, r.dataset), href: a ? a.getAttribute('href') : ''};
		})};
	})(%s)`, jsString(sel))
	res, err := eval[*tableData](s, step, js)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, s.drift(step, "table "+sel+" is missing")
	}
	have := map[string]bool{}
	for _, h := range res.Heads {
		have[h] = true
	}
	for _, c := range columns {
		if !have[c] {
			return nil, s.drift(step, fmt.Sprintf("table %s has no column %q (columns: %s)", sel, c, strings.Join(res.Heads, ", ")))
		}
	}
	return res.Rows, nil
}

func (s *Session) drift(step, detail string) error {
	u, _ := s.location()
	at := ""
	if u != nil {
		at = u.String()
	}
	return &portal.DriftError{Step: step, URL: at, Detail: detail}
}

// amount reads an amount as a portal shows it ("1,234.50").
func (s *Session) amount(step, what, text string) (decimal.Decimal, error) {
	clean := strings.NewReplacer(",", "", " ", "", "\u00a0", "").Replace(text)
	d, err := decimal.NewFromString(clean)
	if err != nil {
		return d, s.drift(step, fmt.Sprintf("%s %q is not an amount", what, text))
	}
	return d, nil
}

func (s *Session) date(step, what, text string) (time.Time, error) {
	if text == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", text)
	if err != nil {
		return t, s.drift(step, fmt.Sprintf("%s %q is not a date (YYYY-MM-DD)", what, text))
	}
	return t, nil
}
