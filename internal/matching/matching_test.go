package matching

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// po makes an open USD PO of customer acme with one line per (part, quantity, price) triple.
func po(number, remaining string, lines ...string) PO {
	p := PO{Number: number, CustomerID: "acme", Currency: "USD", Total: dec(remaining), Remaining: dec(remaining), Status: "Open"}
	for i := 0; i+2 < len(lines); i += 3 {
		p.Lines = append(p.Lines, POLine{LineNo: i/3 + 1, PartNumber: lines[i], Quantity: dec(lines[i+1]), UnitPrice: dec(lines[i+2])})
	}
	return p
}

// inv makes a USD invoice of customer acme with one line per (part, quantity, price) triple; the total is
// the sum of the lines unless total is set.
func inv(poNumber, total string, lines ...string) Invoice {
	in := Invoice{ID: "erp-1", CustomerID: "acme", PONumber: poNumber, Currency: "USD"}
	sum := decimal.Zero
	for i := 0; i+2 < len(lines); i += 3 {
		l := InvoiceLine{LineNo: i/3 + 1, POLineNo: i/3 + 1, PartNumber: lines[i], Quantity: dec(lines[i+1]), UnitPrice: dec(lines[i+2])}
		in.Lines = append(in.Lines, l)
		sum = sum.Add(l.Quantity.Mul(l.UnitPrice))
	}
	in.Total = sum
	if total != "" {
		in.Total = dec(total)
	}
	return in
}

func with(p PO, f func(*PO)) PO { f(&p); return p }

func TestMatchRules(t *testing.T) {
	acmePOs := []PO{
		po("PO-4500012", "2650", "HB-M8-40", "5000", "0.42", "HN-M8", "5000", "0.11"),
		po("PO-4500013", "300", "FW-M8", "10000", "0.03"),
		po("PO-4500014", "1147.45", "TR-M10-1M", "200", "3.85", "SVC-CUT", "10", "45.00"),
	}
	for _, tc := range []struct {
		name   string
		pos    []PO
		inv    Invoice
		status string
		po     string // the Result's PONumber
		rule   string
		reason string // in the Result's reasons
	}{
		// (a) PO number after normalising
		{name: "number as written", pos: acmePOs, inv: inv("PO-4500012", "", "HB-M8-40", "2000", "0.42"),
			status: StatusMatched, po: "PO-4500012", rule: RulePONumber, reason: "is the invoice's PO number"},
		{name: "number in other case and spacing", pos: acmePOs, inv: inv("po 4500012", "", "HB-M8-40", "2000", "0.42"),
			status: StatusMatched, po: "PO-4500012", rule: RulePONumber, reason: "ignoring case, removing spaces, dashes and prefix PO"},
		{name: "number with prefix and leading zeros", pos: acmePOs, inv: inv("po-0045 00012", "", "HB-M8-40", "2000", "0.42"),
			status: StatusMatched, po: "PO-4500012", rule: RulePONumber, reason: "prefix PO and leading zeros"},
		{name: "number with PO# and no parts", pos: acmePOs, inv: inv("PO#4500013", "10", "", "1", "10"),
			status: StatusMatched, po: "PO-4500013", rule: RulePONumber},
		{name: "number of another customer's PO still matches, with the reason",
			pos: []PO{with(acmePOs[0], func(p *PO) { p.CustomerID = "globex" })}, inv: inv("PO-4500012", "10", "X", "1", "10"),
			status: StatusMatched, po: "PO-4500012", rule: RulePONumber, reason: "customer globex's, not the invoice's customer acme"},
		{name: "negative: number not synced and nothing else fits", pos: acmePOs, inv: inv("PO-4500099", "5", "ZZ-1", "1", "5"),
			status: StatusUnmatched, reason: "PO PO-4500099 is not among the POs synced from the portal"},
		{name: "negative: the named PO is closed (nothing else is tried)",
			pos:    []PO{with(acmePOs[0], func(p *PO) { p.Status = "Closed" }), po("PO-9", "840", "HB-M8-40", "5000", "0.42")},
			inv:    inv("PO-4500012", "", "HB-M8-40", "2000", "0.42"),
			status: StatusUnmatched, po: "PO-4500012", reason: "PO PO-4500012 is Closed in the portal"},
		{name: "negative: the named PO is in another currency",
			pos: []PO{with(acmePOs[0], func(p *PO) { p.Currency = "EUR" })}, inv: inv("PO-4500012", "", "HB-M8-40", "2000", "0.42"),
			status: StatusUnmatched, po: "PO-4500012", reason: "PO PO-4500012 is in EUR, the invoice in USD"},
		{name: "negative: the named PO's remaining balance is too low", pos: acmePOs, inv: inv("PO-4500013", "", "FW-M8", "10001", "0.03"),
			status: StatusUnmatched, po: "PO-4500013", reason: "invoice total 300.03 USD is above the PO's remaining balance 300"},
		{name: "exact number beats a normalised one",
			pos: []PO{po("PO-12", "100"), po("PO-0012", "100")}, inv: inv("PO-12", "10", "A", "1", "10"),
			status: StatusMatched, po: "PO-12", rule: RulePONumber},
		{name: "two numbers normalise alike: ambiguous",
			pos: []PO{po("PO-12", "100"), po("PO-0012", "100")}, inv: inv("po 12", "10", "A", "1", "10"),
			status: StatusAmbiguous, reason: "a person must choose"},

		// (b) remaining balance equals the invoice total
		{name: "balance", pos: acmePOs, inv: inv("", "1147.45", "TR-M10-1M", "1", "1"),
			status: StatusMatched, po: "PO-4500014", rule: RuleBalance, reason: "remaining balance 1,147.45 USD equals the invoice total"},
		{name: "balance when the named PO is unknown", pos: acmePOs, inv: inv("4711", "1147.45"),
			status: StatusMatched, po: "PO-4500014", rule: RuleBalance, reason: "PO 4711 is not among the POs synced"},
		{name: "negative: balance of another customer's PO",
			pos: []PO{with(acmePOs[2], func(p *PO) { p.CustomerID = "globex" })}, inv: inv("", "1147.45"),
			status: StatusUnmatched, reason: "no open PO of customer acme has a remaining balance of 1,147.45 USD"},
		{name: "negative: balance of a closed PO",
			pos: []PO{with(acmePOs[2], func(p *PO) { p.Status = "Fully Invoiced" })}, inv: inv("", "1147.45"),
			status: StatusUnmatched, reason: "no open PO of customer acme has a remaining balance"},
		{name: "negative: balance in another currency",
			pos: []PO{with(acmePOs[2], func(p *PO) { p.Currency = "EUR" })}, inv: inv("", "1147.45"),
			status: StatusUnmatched},
		{name: "negative: balance of a PO matched to no customer",
			pos: []PO{with(acmePOs[2], func(p *PO) { p.CustomerID = "" })}, inv: inv("", "1147.45"),
			status: StatusUnmatched},

		// (c) lines: part numbers, unit prices, quantities within the PO line's
		{name: "lines", pos: acmePOs, inv: inv("", "", "hb m8 40", "2000", "0.42", "HN-M8", "2000", "0.11"),
			status: StatusMatched, po: "PO-4500012", rule: RuleLines, reason: "same part number, unit price and quantity within the PO line's 5000"},
		{name: "negative: quantity above the PO line's", pos: acmePOs, inv: inv("", "", "HB-M8-40", "6000", "0.42"),
			status: StatusUnmatched, reason: "below the threshold"},
		{name: "negative: unit price differs", pos: acmePOs, inv: inv("", "", "HB-M8-40", "100", "0.45"),
			status: StatusUnmatched, reason: "unit price 0.42 differs"},
		{name: "negative: parts no PO has", pos: acmePOs, inv: inv("", "", "ZZ-9", "1", "0.42"),
			status: StatusUnmatched, reason: "no open PO of customer acme with at least 0.42 USD remaining has part ZZ9"},
		{name: "negative: lines fit but the remaining balance is too low",
			pos: []PO{po("PO-1", "10", "A", "100", "1")}, inv: inv("", "", "A", "50", "1"),
			status: StatusUnmatched},

		// several about equally good: a person decides
		{name: "recurring orders with the same balance and lines: ambiguous",
			pos: []PO{po("PO-1", "42", "A", "42", "1"), po("PO-2", "42", "A", "42", "1")}, inv: inv("", "", "A", "42", "1"),
			status: StatusAmbiguous, reason: "2 POs of the customer fit about equally well: PO-1 (score 95) and PO-2 (score 95)"},
		{name: "balance without lines against lines without balance: ambiguous",
			pos: []PO{po("PO-1", "42", "B", "100", "7"), po("PO-2", "500", "A", "100", "1")}, inv: inv("", "", "A", "42", "1"),
			status: StatusAmbiguous},
		{name: "balance and lines beat lines alone",
			pos: []PO{po("PO-1", "42", "A", "100", "1"), po("PO-2", "500", "A", "100", "1")}, inv: inv("", "", "A", "42", "1"),
			status: StatusMatched, po: "PO-1", rule: RuleBalance},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Match(tc.inv, tc.pos, Options{})
			if r.Status != tc.status || r.PONumber != tc.po || r.Rule != tc.rule && tc.rule != "" {
				t.Fatalf("got %s %q rule %q (score %d), want %s %q rule %q\n%s", r.Status, r.PONumber, r.Rule, r.Score, tc.status, tc.po, tc.rule, dump(r))
			}
			if tc.reason != "" && !strings.Contains(dump(r), tc.reason) {
				t.Fatalf("no reason %q in\n%s", tc.reason, dump(r))
			}
			if r.Status == StatusMatched && (len(r.Candidates) == 0 || r.Candidates[0].PONumber != r.PONumber || r.Score < 65) {
				t.Fatalf("the match is not the best candidate: %s", dump(r))
			}
			if r.Status == StatusAmbiguous && (r.PONumber != "" || len(r.Candidates) < 2) {
				t.Fatalf("an ambiguous match guessed: %s", dump(r))
			}
			if r.Status == StatusMatched && !r.Remaining.Equal(poByNumber(tc.pos, r.PONumber).Remaining) {
				t.Fatalf("remaining %s", r.Remaining)
			}
		})
	}
}

func poByNumber(pos []PO, n string) PO {
	for _, p := range pos {
		if p.Number == n {
			return p
		}
	}
	return PO{}
}

func dump(r Result) string {
	var b strings.Builder
	b.WriteString(r.Status + " " + r.PONumber + ": " + r.Reason() + "\n")
	for _, c := range r.Candidates {
		b.WriteString("  " + c.PONumber + " " + c.Rule + " " + strings.Join(c.Reasons, "; ") + "\n")
	}
	return b.String()
}

func TestTooCommonPartsAndBalancesGoToAPerson(t *testing.T) {
	var pos []PO
	for i := range 5 {
		pos = append(pos, po("PO-"+string(rune('A'+i)), "100", "COMMON", "100", "1"))
	}
	r := Match(inv("", "", "COMMON", "10", "1"), pos, Options{MaxFanout: 3})
	if r.Status != StatusUnmatched || !strings.Contains(r.Reason(), "part COMMON is on more than 3 open POs") {
		t.Fatalf("common part: %s", dump(r))
	}
	r = Match(inv("", "100", "X", "1", "100"), pos, Options{MaxFanout: 3})
	if r.Status != StatusAmbiguous || !strings.Contains(r.Reason(), "more than 3 open POs of customer acme have a remaining balance of 100.00 USD") {
		t.Fatalf("common balance: %s", dump(r))
	}
	// Within the fanout, the same invoice is an ordinary ambiguity.
	if r := Match(inv("", "", "COMMON", "10", "1"), pos, Options{}); r.Status != StatusAmbiguous {
		t.Fatalf("within the fanout: %s", dump(r))
	}
}

func TestMatchIsDeterministicWhateverThePOOrder(t *testing.T) {
	pos, invs := Generate(20_000, 500)
	want := NewIndex(pos, Options{}).MatchAll(invs)
	shuffled := append([]PO(nil), pos...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := NewIndex(shuffled, Options{}).MatchAll(invs)
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Fatalf("invoice %d differs after shuffling the POs:\n%s\n%s", i, dump(want[i]), dump(got[i]))
		}
	}
}

// The batch index (only what the batch's invoices can find) answers exactly as the full index.
func TestBatchIndexAnswersAsTheFullIndex(t *testing.T) {
	pos, invs := Generate(50_000, 2_000)
	full := NewIndex(pos, Options{}).MatchAll(invs)
	batch := MatchBatch(pos, invs, Options{})
	counts := map[string]int{}
	for i := range full {
		if !reflect.DeepEqual(full[i], batch[i]) {
			t.Fatalf("invoice %d:\nfull  %s\nbatch %s", i, dump(full[i]), dump(batch[i]))
		}
		counts[full[i].Status]++
	}
	// The generated batch has every outcome.
	if counts[StatusMatched] == 0 || counts[StatusAmbiguous] == 0 || counts[StatusUnmatched] == 0 {
		t.Fatalf("outcomes %v", counts)
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct{ d, cur, want string }{
		{"1147.45", "USD", "1,147.45 USD"}, {"1234567.5", "usd", "1,234,567.50 USD"}, {"12", "JPY", "12 JPY"},
		{"-1000", "EUR", "-1,000.00 EUR"}, {"0.5", "XYZ", "0.5 XYZ"},
	} {
		if got := formatAmount(dec(tc.d), tc.cur); got != tc.want {
			t.Errorf("formatAmount(%s, %s) = %q, want %q", tc.d, tc.cur, got, tc.want)
		}
	}
}

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		d     string
		floor int64
		exact bool
	}{
		{"1147.45", 1147450000, true}, {"1147.450000", 1147450000, true}, {"0", 0, true}, {"-1.5", -1500000, true},
		{"0.0000005", 0, false}, {"-0.0000005", -1, false}, {"1e3", 1000000000, true},
	} {
		if got := toMicros(dec(tc.d)); got.floor != tc.floor || got.exact != tc.exact {
			t.Errorf("toMicros(%s) = %+v", tc.d, got)
		}
	}
	if got := toMicros(dec("99999999999999999999")); got.exact || got.floor <= 0 {
		t.Errorf("a huge amount saturates: %+v", got)
	}
}
