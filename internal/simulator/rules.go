package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Rules are one buyer's portal rules (portal-facts.md). Every rule is off, or
// at a lenient default, unless set; Config.Rules sets them at start and
// PUT /control/rules replaces them at run time. Both flavors (the Coupa pages
// and the Ariba SPA) apply the same rules.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA. Read the live rules
// with s.rulesLocked() (s.mu held) or s.Rules(); they change at run time.
type Rules struct {
	// MaxFailedLogins: wrong passwords or codes in a row before lockout. Default 5.
	MaxFailedLogins int `json:"max_failed_logins"`
	// SessionIdle: idle timeout of a supplier session, as a Go duration ("15m"). Default 15m.
	SessionIdle Duration `json:"session_idle"`
	// RememberBrowserDays: 0 = no "Remember this browser"; N > 0 offers the checkbox on the
	// verification page and lets that browser skip the code for N days.
	RememberBrowserDays int `json:"remember_browser_days"`
	// PasswordMaxAgeDays: 0 = passwords never expire; N > 0 = a password older than N days
	// (Account.PasswordChangedAt) must be changed after the next correct password entry.
	PasswordMaxAgeDays int `json:"password_max_age_days"`
	// PageSize: rows per page in PO and invoice lists. Default 25.
	PageSize int `json:"page_size"`
	// TolerancePercent (of the PO total) and ToleranceAmount (in PO currency): how far an
	// invoice total may exceed the PO remaining balance. Zero = no tolerance; when both are
	// set the smaller one applies.
	TolerancePercent decimal.Decimal `json:"tolerance_percent"`
	ToleranceAmount  decimal.Decimal `json:"tolerance_amount"`
	// MaxBackdateDays: 0 = no limit; N > 0 refuses invoice dates more than N days before today.
	MaxBackdateDays int `json:"max_backdate_days"`
	// AttachmentRequired: an invoice must carry an attachment. Default false.
	AttachmentRequired bool `json:"attachment_required"`
	// AttachmentTypes: allowed attachment types, detected by content: pdf, png, jpg, tiff. Default [pdf].
	AttachmentTypes []string `json:"attachment_types"`
	// AttachmentMaxBytes: largest accepted attachment. Default 5 MB (5242880).
	AttachmentMaxBytes int64 `json:"attachment_max_bytes"`
	// ZeroLines: what a line left at quantity 0 means: "drop" (default: not billed) or
	// "reject" (a rejection; the supplier must tick "Remove line N").
	ZeroLines string `json:"zero_lines"`
	// LinesMirrorPO: a unit price different from the PO line's is refused (lines must be
	// quantity x PO price). Default false: a changed unit price is billed as entered.
	LinesMirrorPO bool `json:"lines_mirror_po"`
	// RemitTo: the buyer's remit-to addresses. Non-empty = the form has a required
	// "Remit-To Address" select with these options.
	RemitTo []string `json:"remit_to"`
	// TaxExemptionNeedsReference: Tax Treatment "Exempt" needs a Tax Exemption Reference.
	TaxExemptionNeedsReference bool `json:"tax_exemption_needs_reference"`
}

// The values of Rules.ZeroLines.
const (
	ZeroLinesDrop   = "drop"
	ZeroLinesReject = "reject"
)

// Attachment types of Rules.AttachmentTypes, detected by magic bytes.
const (
	AttachmentPDF  = "pdf"
	AttachmentPNG  = "png"
	AttachmentJPG  = "jpg"
	AttachmentTIFF = "tiff"
)

const (
	defaultMaxFailedLogins = 5
	defaultSessionIdle     = 15 * time.Minute
	defaultPageSize        = 25
	defaultAttachmentMax   = 5 << 20
	maxRuleAttachmentBytes = 50 << 20
)

var attachmentKinds = []string{AttachmentPDF, AttachmentPNG, AttachmentJPG, AttachmentTIFF}

// Duration is a time.Duration written in JSON as a Go duration string ("15m").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90s" or "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// withDefaults fills the rules that have a default.
func (r Rules) withDefaults() Rules {
	if r.MaxFailedLogins <= 0 {
		r.MaxFailedLogins = defaultMaxFailedLogins
	}
	if r.SessionIdle <= 0 {
		r.SessionIdle = Duration(defaultSessionIdle)
	}
	if r.PageSize <= 0 {
		r.PageSize = defaultPageSize
	}
	if len(r.AttachmentTypes) == 0 {
		r.AttachmentTypes = []string{AttachmentPDF}
	}
	if r.AttachmentMaxBytes <= 0 {
		r.AttachmentMaxBytes = defaultAttachmentMax
	}
	if r.ZeroLines == "" {
		r.ZeroLines = ZeroLinesDrop
	}
	// Private copies, so that a caller's slices cannot change the live rules.
	r.AttachmentTypes = slices.Clone(r.AttachmentTypes)
	r.RemitTo = slices.Clone(r.RemitTo)
	return r
}

// normalized trims and lower-cases what people type loosely, before validation.
func (r Rules) normalized() Rules {
	types := make([]string, 0, len(r.AttachmentTypes))
	for _, t := range r.AttachmentTypes {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "jpeg" {
			t = AttachmentJPG
		}
		if t == "tif" {
			t = AttachmentTIFF
		}
		types = append(types, t)
	}
	r.AttachmentTypes = types
	remit := make([]string, 0, len(r.RemitTo))
	for _, a := range r.RemitTo {
		remit = append(remit, strings.TrimSpace(a))
	}
	r.RemitTo = remit
	r.ZeroLines = strings.ToLower(strings.TrimSpace(r.ZeroLines))
	return r
}

// validate refuses rules that make no sense.
func (r Rules) validate() error {
	var errs []error
	for name, v := range map[string]int{
		"max_failed_logins": r.MaxFailedLogins, "remember_browser_days": r.RememberBrowserDays,
		"password_max_age_days": r.PasswordMaxAgeDays, "page_size": r.PageSize, "max_backdate_days": r.MaxBackdateDays,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	if r.SessionIdle < 0 {
		errs = append(errs, errors.New("session_idle must not be negative"))
	}
	if r.TolerancePercent.IsNegative() || r.TolerancePercent.GreaterThan(hundred) {
		errs = append(errs, errors.New("tolerance_percent must be between 0 and 100"))
	}
	if r.ToleranceAmount.IsNegative() {
		errs = append(errs, errors.New("tolerance_amount must not be negative"))
	}
	if r.AttachmentMaxBytes < 0 || r.AttachmentMaxBytes > maxRuleAttachmentBytes {
		errs = append(errs, fmt.Errorf("attachment_max_bytes must be between 0 (default) and %d", maxRuleAttachmentBytes))
	}
	seen := map[string]bool{}
	for _, t := range r.AttachmentTypes {
		if !slices.Contains(attachmentKinds, t) {
			errs = append(errs, fmt.Errorf("attachment_types: %q is not one of pdf, png, jpg, tiff", t))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("attachment_types: %q is repeated", t))
		}
		seen[t] = true
	}
	switch r.ZeroLines {
	case "", ZeroLinesDrop, ZeroLinesReject:
	default:
		errs = append(errs, fmt.Errorf("zero_lines: %q is not %q or %q", r.ZeroLines, ZeroLinesDrop, ZeroLinesReject))
	}
	seen = map[string]bool{}
	for _, a := range r.RemitTo {
		switch {
		case a == "":
			errs = append(errs, errors.New("remit_to: an address is empty"))
		case seen[a]:
			errs = append(errs, fmt.Errorf("remit_to: %q is repeated", a))
		}
		seen[a] = true
	}
	return errors.Join(errs...)
}

// prepareRules normalizes, validates and defaults rules.
func prepareRules(r Rules) (Rules, error) {
	r = r.normalized()
	if err := r.validate(); err != nil {
		return Rules{}, fmt.Errorf("simulator: rules: %w", err)
	}
	return r.withDefaults(), nil
}

// applyConfigRules merges the older top-level Config fields (MaxFailedLogins,
// SessionIdle, PageSize) into cfg.Rules, where a rule set in Rules wins, and
// writes the effective values back so that both places agree.
func applyConfigRules(cfg *Config) error {
	if cfg.Rules.MaxFailedLogins == 0 {
		cfg.Rules.MaxFailedLogins = cfg.MaxFailedLogins
	}
	if cfg.Rules.SessionIdle == 0 {
		cfg.Rules.SessionIdle = Duration(cfg.SessionIdle)
	}
	if cfg.Rules.PageSize == 0 {
		cfg.Rules.PageSize = cfg.PageSize
	}
	r, err := prepareRules(cfg.Rules)
	if err != nil {
		return err
	}
	cfg.Rules = r
	cfg.syncRuleFields()
	return nil
}

// syncRuleFields copies the live rules into the older Config fields; with a
// running Server s.mu must be held.
func (cfg *Config) syncRuleFields() {
	cfg.MaxFailedLogins = cfg.Rules.MaxFailedLogins
	cfg.SessionIdle = time.Duration(cfg.Rules.SessionIdle)
	cfg.PageSize = cfg.Rules.PageSize
}

// rulesLocked returns the live rules; s.mu must be held. The slices are shared
// with the live rules: read them, do not change them.
//
// SHARED CORE: used by the Coupa pages and the Ariba SPA.
func (s *Server) rulesLocked() Rules { return s.cfg.Rules }

// Rules returns a copy of the live rules.
func (s *Server) Rules() Rules {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.cfg.Rules
	r.AttachmentTypes = slices.Clone(r.AttachmentTypes)
	r.RemitTo = slices.Clone(r.RemitTo)
	return r
}

// SetRules replaces the rules (zero values take the defaults) and returns the
// effective ones. Sessions, drafts and invoices are kept; the new rules apply
// from the next request on.
func (s *Server) SetRules(r Rules) (Rules, error) {
	r, err := prepareRules(r)
	if err != nil {
		return Rules{}, err
	}
	s.mu.Lock()
	s.cfg.Rules = r
	s.cfg.syncRuleFields()
	s.logLocked("rules_changed", "", "", "")
	err = s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return Rules{}, err
	}
	return s.Rules(), nil
}

// tolerance is how far an invoice on a PO with this total may go over the PO's
// remaining balance: the percent of the PO total and/or the amount, the
// smaller of the two when both are set.
func (r Rules) tolerance(poTotal decimal.Decimal) decimal.Decimal {
	pct := decimal.Zero
	if r.TolerancePercent.IsPositive() {
		pct = roundMoney(poTotal.Mul(r.TolerancePercent).Div(hundred))
	}
	switch {
	case r.TolerancePercent.IsPositive() && r.ToleranceAmount.IsPositive():
		return decimal.Min(pct, r.ToleranceAmount)
	case r.TolerancePercent.IsPositive():
		return pct
	case r.ToleranceAmount.IsPositive():
		return r.ToleranceAmount
	}
	return decimal.Zero
}

// attachmentTypeNames lists the allowed types for messages: "PDF", "PDF or PNG", "PDF, PNG or JPG".
func (r Rules) attachmentTypeNames() string {
	names := make([]string, 0, len(r.AttachmentTypes))
	for _, t := range r.AttachmentTypes {
		names = append(names, strings.ToUpper(t))
	}
	switch len(names) {
	case 0:
		return "PDF"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// attachmentAccept is the file input's accept attribute for the allowed types.
func (r Rules) attachmentAccept() string {
	var parts []string
	for _, t := range r.AttachmentTypes {
		switch t {
		case AttachmentPDF:
			parts = append(parts, "application/pdf", ".pdf")
		case AttachmentPNG:
			parts = append(parts, "image/png", ".png")
		case AttachmentJPG:
			parts = append(parts, "image/jpeg", ".jpg", ".jpeg")
		case AttachmentTIFF:
			parts = append(parts, "image/tiff", ".tif", ".tiff")
		}
	}
	return strings.Join(parts, ",")
}

// sizeLimitText prints a byte limit the way the messages show it: "5 MB", "512 KB", "100 bytes".
func sizeLimitText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
