package simulator

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// flash is a one-off message shown at the top of the next page.
type flash struct {
	Kind     string // error, success or info
	Message  string
	Messages []string // details, e.g. every validation error of a form
}

// pageData is what every page template gets; Page holds the page's own view.
type pageData struct {
	Title    string
	Buyer    string
	User     string // signed-in username, empty on the login pages
	Supplier string
	Nav      string // which header link is current
	CSRF     string
	Flash    *flash
	Page     any
}

var templateFuncs = template.FuncMap{
	"money": formatMoney,
	"price": formatPrice,
	"qty":   formatQty,
	"date": func(t time.Time) string {
		return formatDate(t)
	},
	"badge": badgeClass,
	"path":  url.PathEscape,
	"dec": func(d decimal.Decimal) string {
		return d.String()
	},
	"field": func(errs map[string]string, name string) string {
		return errs[name]
	},
	// invalid marks an input whose field has an error: aria-invalid and
	// aria-describedby pointing at the error span that fieldError writes.
	"invalid": func(errs map[string]string, name string) template.HTMLAttr {
		if errs[name] == "" {
			return ""
		}
		return template.HTMLAttr(` aria-invalid="true" aria-describedby="` + template.HTMLEscapeString(name) + `-error"`)
	},
	// fieldError writes the error span of a field, if it has an error.
	"fieldError": func(errs map[string]string, name string) template.HTML {
		msg := errs[name]
		if msg == "" {
			return ""
		}
		n := template.HTMLEscapeString(name)
		return template.HTML(`<span class="field-error" id="` + n + `-error" data-field="` + n + `">` +
			template.HTMLEscapeString(msg) + `</span>`)
	},
}

// badgeClass maps a status word to its CSS class, e.g. "Pending Approval" →
// "badge-pending-approval".
func badgeClass(status any) string {
	return "badge-" + strings.ReplaceAll(strings.ToLower(fmt.Sprint(status)), " ", "-")
}

// parsePages builds one template set per page, each with the shared layout,
// because every page defines its own "content" block.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render executes a page into a buffer first so that a template error turns
// into a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, data pageData) {
	data.Buyer = s.cfg.Buyer
	t, ok := s.pages[page]
	if !ok {
		http.Error(w, "internal error: unknown page "+page, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		slog.Error("render page", "page", page, "err", err)
		http.Error(w, "internal error while rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorView struct {
	Status  int
	Heading string
	Message string
	Back    string
}

func (s *Server) renderError(w http.ResponseWriter, status int, heading, message string) {
	s.render(w, status, "error", pageData{
		Title: heading,
		Page:  errorView{Status: status, Heading: heading, Message: message},
	})
}

// renderUserError is renderError with the signed-in header and a way back.
func (s *Server) renderUserError(w http.ResponseWriter, sess *session, status int, heading, message, back string) {
	s.mu.Lock()
	data := s.userPageLocked(sess, heading, "")
	s.mu.Unlock()
	data.Page = errorView{Status: status, Heading: heading, Message: message, Back: back}
	s.render(w, status, "error", data)
}

func (s *Server) internalError(w http.ResponseWriter, err error) {
	slog.Error("simulator", "err", err)
	s.renderError(w, http.StatusInternalServerError, "Something went wrong",
		"The portal could not complete your request. Please try again later.")
}

func (s *Server) forbiddenCSRF(w http.ResponseWriter) {
	s.renderError(w, http.StatusForbidden, "Security check failed",
		"The form's security token is missing or invalid. Go back, reload the page and try again.")
}

// userPageLocked fills the header of a signed-in page and takes the pending
// flash; s.mu must be held.
func (s *Server) userPageLocked(sess *session, title, nav string) pageData {
	d := pageData{Title: title, User: sess.username, CSRF: sess.csrf, Nav: nav, Flash: sess.flash}
	sess.flash = nil
	if a := s.accounts[sess.username]; a != nil {
		d.Supplier = a.Supplier
	}
	return d
}
