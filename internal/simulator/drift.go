package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Drift describes how the pages of a drift fault change. It is applied in the
// browser by static/drift.js, which the simulator adds to every HTML page the
// fault matches; it therefore changes server-rendered pages and the DOM a
// single-page app renders alike. Several modes may be combined.
type Drift struct {
	// Cosmetic is a redesign that keeps every visible text: new ids (and
	// every reference to them), new class names, two extra <div> wrappers
	// around each form field and each button, field groups of each form or
	// fieldset in reverse order with the submit buttons moved to the top of
	// the form, and the columns of every table in reverse order.
	Cosmetic bool `json:"cosmetic,omitempty"`
	// RenameLabel changes the visible text of labels, buttons, links, table
	// headers, dt terms and headings (and aria-label values) equal to From.
	RenameLabel *TextChange `json:"rename_label,omitempty"`
	// StatusWord replaces a status word wherever it is the whole text of an
	// element (badges, table cells, dd values).
	StatusWord *TextChange `json:"status_word,omitempty"`
	// Remove takes away the buttons and links whose text is Text.
	Remove *RemoveAction `json:"remove,omitempty"`
}

// TextChange replaces a visible text From by To.
type TextChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// RemoveAction names an action (button or link text) that disappears.
type RemoveAction struct {
	Text string `json:"text"`
}

func (d *Drift) validate() error {
	if !d.Cosmetic && d.RenameLabel == nil && d.StatusWord == nil && d.Remove == nil {
		return errors.New("set at least one of cosmetic, rename_label, status_word, remove")
	}
	for name, c := range map[string]*TextChange{"rename_label": d.RenameLabel, "status_word": d.StatusWord} {
		if c == nil {
			continue
		}
		c.From, c.To = normalizeText(c.From), normalizeText(c.To)
		if c.From == "" || c.To == "" {
			return fmt.Errorf("%s needs non-empty from and to", name)
		}
		if c.From == c.To {
			return fmt.Errorf("%s: from and to are the same", name)
		}
	}
	if d.Remove != nil {
		d.Remove.Text = normalizeText(d.Remove.Text)
		if d.Remove.Text == "" {
			return errors.New("remove needs a non-empty text")
		}
	}
	return nil
}

func (d *Drift) clone() Drift {
	c := *d
	if d.RenameLabel != nil {
		v := *d.RenameLabel
		c.RenameLabel = &v
	}
	if d.StatusWord != nil {
		v := *d.StatusWord
		c.StatusWord = &v
	}
	if d.Remove != nil {
		v := *d.Remove
		c.Remove = &v
	}
	return c
}

// normalizeText collapses white space as drift.js does when it compares texts.
func normalizeText(s string) string { return strings.Join(strings.Fields(s), " ") }

// driftScriptConfig is what drift.js reads from its data-drift attribute.
type driftScriptConfig struct {
	Seed     string       `json:"seed"` // the ids of the faults: the same faults give the same new names on every load
	Cosmetic bool         `json:"cosmetic"`
	Rename   []TextChange `json:"rename"`
	Status   []TextChange `json:"status"`
	Remove   []string     `json:"remove"`
}

func driftConfigOf(faults []*Fault) driftScriptConfig {
	cfg := driftScriptConfig{Rename: []TextChange{}, Status: []TextChange{}, Remove: []string{}}
	var ids []string
	for _, f := range faults {
		ids = append(ids, f.ID)
		d := f.Drift
		cfg.Cosmetic = cfg.Cosmetic || d.Cosmetic
		if d.RenameLabel != nil {
			cfg.Rename = append(cfg.Rename, *d.RenameLabel)
		}
		if d.StatusWord != nil {
			cfg.Status = append(cfg.Status, *d.StatusWord)
		}
		if d.Remove != nil {
			cfg.Remove = append(cfg.Remove, d.Remove.Text)
		}
	}
	cfg.Seed = strings.Join(ids, "+")
	return cfg
}

// driftScriptTag is the element added to a drifted page.
func driftScriptTag(cfg driftScriptConfig) []byte {
	b, _ := json.Marshal(cfg) // plain strings and bools: cannot fail
	return []byte(`<script src="/static/drift.js" data-drift="` + html.EscapeString(string(b)) + `"></script>`)
}

// injectDriftScript adds the drift script to an HTML document right before
// </body>: a parser-blocking script there runs once the whole server-rendered
// body exists, before DOMContentLoaded and the load event (so before a driver
// considers the page loaded), and after any app script placed at the end of
// the body. Without </body> the script goes before </html>, or at the end.
func injectDriftScript(doc, tag []byte) []byte {
	lower := bytes.ToLower(doc)
	at := bytes.LastIndex(lower, []byte("</body"))
	if at < 0 {
		at = bytes.LastIndex(lower, []byte("</html"))
	}
	if at < 0 {
		at = len(doc)
	}
	out := make([]byte, 0, len(doc)+len(tag)+1)
	out = append(out, doc[:at]...)
	out = append(out, tag...)
	out = append(out, '\n')
	return append(out, doc[at:]...)
}

// driftWriter buffers an HTML response so that the drift script can be added
// to it; anything else passes straight through.
type driftWriter struct {
	w          http.ResponseWriter
	s          *Server
	r          *http.Request
	account    string
	candidates []*Fault

	status    int
	buffering bool
	decided   bool
	buf       bytes.Buffer
}

func (d *driftWriter) Header() http.Header { return d.w.Header() }

// Unwrap lets http.ResponseController reach the real writer.
func (d *driftWriter) Unwrap() http.ResponseWriter { return d.w }

func (d *driftWriter) WriteHeader(status int) {
	if d.decided {
		return
	}
	if status >= 100 && status < 200 {
		d.w.WriteHeader(status) // informational: not the final answer
		return
	}
	d.decided = true
	d.status = status
	h := d.w.Header()
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	d.buffering = mt == "text/html" && h.Get("Content-Encoding") == "" &&
		d.r.Method != http.MethodHead && status != http.StatusNoContent && status != http.StatusNotModified &&
		(status < 300 || status >= 400)
	if !d.buffering {
		d.w.WriteHeader(status)
	}
}

func (d *driftWriter) Write(p []byte) (int, error) {
	if !d.decided {
		if d.w.Header().Get("Content-Type") == "" {
			d.w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		d.WriteHeader(http.StatusOK)
	}
	if d.buffering {
		return d.buf.Write(p)
	}
	return d.w.Write(p)
}

// Flush is a no-op while buffering (the page must be complete to be changed).
func (d *driftWriter) Flush() {
	if d.decided && !d.buffering {
		if f, ok := d.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// finish sends a buffered page, with the drift script when a drift fault
// still applies to it; only such pages count toward a drift's after and count.
func (d *driftWriter) finish() {
	if !d.decided {
		d.WriteHeader(http.StatusOK)
	}
	if !d.buffering {
		return
	}
	body := d.buf.Bytes()
	if applied := d.s.takeDrifts(d.candidates, d.account, d.r); len(applied) > 0 {
		body = injectDriftScript(body, driftScriptTag(driftConfigOf(applied)))
	}
	h := d.w.Header()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("ETag") // the page is not the one the handler tagged
	d.w.WriteHeader(d.status)
	_, _ = d.w.Write(body)
}

// takeDrifts charges the drift faults that still apply to an HTML page.
func (s *Server) takeDrifts(candidates []*Fault, account string, r *http.Request) []*Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var applied []*Fault
	for _, f := range candidates {
		live := false
		for _, g := range s.faults.active {
			live = live || g == f
		}
		if live && s.takeLocked(f, account, r) {
			applied = append(applied, f.cloneRef())
		}
	}
	return applied
}

// cloneRef copies a fault so that its drift can be read without s.mu.
func (f *Fault) cloneRef() *Fault {
	c := f.clone()
	return &c
}
