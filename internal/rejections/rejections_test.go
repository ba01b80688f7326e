package rejections

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"portico/activities"
	"portico/internal/portal"
)

func TestClassify(t *testing.T) {
	today := time.Date(2026, 11, 22, 15, 4, 5, 0, time.UTC)
	full := activities.Policy{RenumberSuffix: "-R%d", TaxReference: "EXEMPT-77", RemitTo: "Boltnut Ltd, PO Box 9"}
	bare := activities.Policy{}
	renumber := func(n string) activities.Fix { return activities.Fix{Kind: FixRenumber, Number: n} }
	disputed := func(code, reason string) portal.Invoice {
		return portal.Invoice{Number: "INV-7", Status: portal.StatusDisputed, PortalStatus: "Disputed", Code: code, Reason: reason}
	}
	cases := []struct {
		name    string
		inv     portal.Invoice
		policy  activities.Policy
		round   int
		problem string
		fixes   []activities.Fix
		reason  string // a part of Decision.Reason
	}{
		{"ariba duplicate", portal.Invoice{Status: portal.StatusDisputed, PortalStatus: "Failed", RoutingStatus: "Failed", Code: "INVOICE_DUPLICATE", Reason: "Invoice number INV-7 has already been used."},
			bare, 1, ProblemDuplicateNumber, []activities.Fix{renumber("INV-7-01")}, `INVOICE_DUPLICATE "Invoice number INV-7 has already been used."; resubmit as INV-7-01`},
		{"buyer duplicate code, policy suffix", disputed("duplicate_number", "We already have this one"),
			full, 2, ProblemDuplicateNumber, []activities.Fix{renumber("INV-7-R2")}, "resubmit as INV-7-R2"},
		{"duplicate in words only", disputed("", "Duplicate invoice"),
			bare, 3, ProblemDuplicateNumber, []activities.Fix{renumber("INV-7-03")}, "INV-7-03"},
		{"number used, other code", disputed("OTHER", "This number has already been used."),
			bare, 1, ProblemDuplicateNumber, []activities.Fix{renumber("INV-7-01")}, ""},
		{"date code", disputed("DATE_INVALID", "Invoice date is in the future"),
			bare, 1, ProblemBackDated, []activities.Fix{{Kind: FixRedate, Date: "2026-11-22"}, renumber("INV-7-01")}, "resubmit dated 2026-11-22, as INV-7-01"},
		{"back-dated in words", disputed("", "Invoice is back-dated"),
			bare, 1, ProblemBackDated, []activities.Fix{{Kind: FixRedate, Date: "2026-11-22"}, renumber("INV-7-01")}, ""},
		{"older than", disputed("OTHER", "Invoice date older than 30 days"),
			bare, 1, ProblemBackDated, []activities.Fix{{Kind: FixRedate, Date: "2026-11-22"}, renumber("INV-7-01")}, ""},
		{"days in the past", disputed("", "Date is more than 60 days in the past"),
			bare, 1, ProblemBackDated, []activities.Fix{{Kind: FixRedate, Date: "2026-11-22"}, renumber("INV-7-01")}, ""},
		{"tax reference with policy", disputed("TAX_MISSING", "Exemption needs a tax reference"),
			full, 1, ProblemTaxMissing, []activities.Fix{{Kind: FixTaxReference, TaxReference: "EXEMPT-77"}, renumber("INV-7-R1")}, "tax reference"},
		{"tax reference in words", disputed("", "Tax exempt without reference"),
			full, 1, ProblemTaxMissing, []activities.Fix{{Kind: FixTaxReference, TaxReference: "EXEMPT-77"}, renumber("INV-7-R1")}, ""},
		{"tax reference, policy has none", disputed("TAX_MISSING", "Exemption needs a tax reference"),
			bare, 1, ProblemTaxMissing, nil, "policy has none"},
		{"tax rate missing", disputed("TAX_MISSING", "No VAT"),
			full, 1, ProblemTaxMissing, nil, "only a person can correct the rate"},
		{"remit-to with policy", disputed("REMIT_TO_WRONG", "Old bank account"),
			full, 1, ProblemRemitToWrong, []activities.Fix{{Kind: FixRemitTo, RemitTo: "Boltnut Ltd, PO Box 9"}, renumber("INV-7-R1")}, "remit-to"},
		{"remit-to, policy has none", disputed("remit_to_wrong", "Old bank account"),
			bare, 1, ProblemRemitToWrong, nil, "names none"},
		{"zero line", disputed("LINE_MISMATCH", "Line 2 billed at quantity 0"),
			bare, 1, ProblemLineMismatch, []activities.Fix{{Kind: FixDropZeroLines, DropZeroLines: true}, renumber("INV-7-01")}, "lines billed at zero"},
		{"zero line in words", disputed("", "Line 3 left at zero"),
			bare, 1, ProblemLineMismatch, []activities.Fix{{Kind: FixDropZeroLines, DropZeroLines: true}, renumber("INV-7-01")}, ""},
		{"line price mismatch", disputed("LINE_MISMATCH", "Line 1 billed at the wrong price"),
			full, 1, ProblemLineMismatch, nil, "only a person"},
		{"price dispute", disputed("", "Price does not match contract"),
			full, 1, ProblemOther, nil, `the portal said "Price does not match contract"; Portico cannot fix`},
		{"over balance", disputed("OVER_BALANCE", "Above the PO"),
			full, 1, ProblemOther, nil, "OVER_BALANCE"},
		{"no reason at all", disputed("", ""),
			full, 1, ProblemOther, nil, "the portal gave no reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Classify(c.inv, c.policy, "INV-7", c.round, today)
			if d.Problem != c.problem {
				t.Errorf("problem %q, want %q", d.Problem, c.problem)
			}
			if !reflect.DeepEqual(d.Fixes, c.fixes) {
				t.Errorf("fixes %+v, want %+v", d.Fixes, c.fixes)
			}
			if d.Fixable() != (c.fixes != nil) {
				t.Errorf("fixable %v", d.Fixable())
			}
			if !strings.Contains(d.Reason, c.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, c.reason)
			}
			if again := Classify(c.inv, c.policy, "INV-7", c.round, today); !reflect.DeepEqual(again, d) {
				t.Errorf("not deterministic: %+v then %+v", d, again)
			}
		})
	}
}

func TestNewNumber(t *testing.T) {
	for _, c := range []struct {
		suffix string
		round  int
		want   string
	}{{"", 1, "INV-7-01"}, {"", 12, "INV-7-12"}, {"/%d", 3, "INV-7/3"}, {"-R%03d", 4, "INV-7-R004"}} {
		if got := NewNumber("INV-7", c.suffix, c.round); got != c.want {
			t.Errorf("NewNumber(%q, %d) = %q, want %q", c.suffix, c.round, got, c.want)
		}
	}
}
