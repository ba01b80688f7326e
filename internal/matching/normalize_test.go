package matching

import (
	"strings"
	"testing"
)

func TestPOKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"PO4500012", "4500012"},
		{"po-0045 00012", "4500012"},
		{"PO-4500012", "4500012"},
		{"po 4500012", "4500012"},
		{"PO#4500012", "4500012"},
		{"P.O. 4500012", "4500012"},
		{"PO No. 4500012", "4500012"},
		{"PO Nr 4500012", "4500012"},
		{"Purchase Order 4500012", "4500012"},
		{"  po_45-000_12 ", "4500012"},
		{"4500012", "4500012"},
		{"0004500012", "4500012"},
		{"POLAND-7", "POLAND7"}, // a prefix only before a digit
		{"PO-A12", "POA12"},
		{"A-0012", "A0012"}, // leading zeros of the whole key only
		{"PO-0000", ""},
		{"", ""},
		{"#-/", ""},
		{"pö-12", "P12"}, // non-ASCII letters are not compared
	} {
		if got := POKey(tc.in); got != tc.want {
			t.Errorf("POKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got, _ := poKey(tc.in); got != tc.want {
			t.Errorf("poKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPOKeyStepsDescribeTheNormalisation(t *testing.T) {
	_, a := poKey("po-0045 00012")
	_, b := poKey("PO4500012")
	got := a.union(b).describe()
	for _, want := range []string{"ignoring case", "spaces", "dashes", "prefix PO", "leading zeros"} {
		if !strings.Contains(got, want) {
			t.Errorf("describe() = %q, lacks %q", got, want)
		}
	}
	if _, s := poKey("PO4500012"); s.describe() != "removing prefix PO" {
		t.Errorf("describe() = %q", s.describe())
	}
}

func TestPartKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"HB-M8-40", "HBM840"}, {"hb m8/40", "HBM840"}, {"", ""}, {" - ", ""}, {"00-12", "0012"},
	} {
		if got := PartKey(tc.in); got != tc.want {
			t.Errorf("PartKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEntityKey(t *testing.T) {
	same := [][]string{
		{"Acme Corp", "ACME Corp.", "acme corporation", "Acme, Inc.", "acme", "The Acme Company", "Acme LLC", "  ACME   Ltd "},
		{"Bolt & Nut Ltd", "Bolt and Nut Limited", "BOLT+NUT", "Bolt & Nut"},
		{"Bosch GmbH & Co. KG", "Bosch GmbH", "bosch"},
		{"Société Générale S.A.", "SOCIÉTÉ GÉNÉRALE SA", "Société Générale S. A."},
		{"O'Brien Supplies plc", "OBrien Supplies P.L.C.", "O’Brien-Supplies"},
		{"Acme-Corp Europe", "Acme Corp Europe", "ACME CORP. EUROPE"},
	}
	for _, group := range same {
		want := EntityKey(group[0])
		if want == "" {
			t.Fatalf("EntityKey(%q) is empty", group[0])
		}
		for _, s := range group[1:] {
			if got := EntityKey(s); got != want {
				t.Errorf("EntityKey(%q) = %q, want %q (as %q)", s, got, want, group[0])
			}
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"Acme Corp", "Acme Corp Europe"},
		{"Acme", "Acme Europe"},
		{"Bolt & Nut", "Bolt Nut Works"},
	} {
		if EntityKey(tc.a) == EntityKey(tc.b) {
			t.Errorf("%q and %q have the same key %q", tc.a, tc.b, EntityKey(tc.a))
		}
	}
	if got := EntityKey("Inc."); got != "inc" {
		t.Errorf("a name that is only a legal form keeps it: %q", got)
	}
	if got := EntityKey(" - "); got != "" {
		t.Errorf("EntityKey of punctuation = %q", got)
	}
}

func TestOpenAndCurrency(t *testing.T) {
	for _, s := range []string{"Open", "Partially Invoiced", "open", "Approved", ""} {
		if !Open(s) {
			t.Errorf("%q is not open", s)
		}
	}
	for _, s := range []string{"Closed", "CANCELLED", " canceled ", "Fully Invoiced", "fully invoiced\t"} {
		if Open(s) {
			t.Errorf("%q is open", s)
		}
	}
	if Currency(" usd ") != "USD" || Currency("EUR") != "EUR" {
		t.Error("Currency does not normalise")
	}
}
