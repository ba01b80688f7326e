package money

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// FuzzParse feeds arbitrary text to Parse and ParseAmount. Properties:
//   - neither panics;
//   - an accepted amount is made only of digits, at most one '.' and a leading sign (around spaces), and its
//     printed forms (String, and Format in each currency that takes it) parse back to the same decimal;
//   - ParseAmount accepts exactly what Parse accepts and has no more decimals than the currency's minor
//     units, and then Format prints it without rounding;
//   - a refusal wraps ErrInvalidAmount (or ErrUnknownCurrency) and says what is wrong with the input:
//     "empty", or the input quoted followed by a reason.
//
// The seed corpus is in testdata/fuzz/FuzzParse; `go test` runs it as a regular test.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		// Accepted (TestParse, TestRoundUsesCurrencyMinorUnits, TestParseAmountRefusesExtraDecimals).
		"1234.50", " 7 ", "-0.25", "+3.", "10.005", "10.250", "1234.5", "-2.675", ".5", "0", "-0",
		"00012.3400", "99999999999999.999999", "123456789012345678901234567890.123456789",
		// Refused.
		"", "1,234.50", "1e3", "$12", "12.3.4", "-", ".", "NaN", "1 000", "+-1", "1-", "Inf", "0x10", "١٢٣",
		"\t", "--1", "+.", "1_000", "12\x00", "\xff1",
	} {
		f.Add(s, "USD")
	}
	f.Add("10.5", "JPY")
	f.Add("1.2345", "KWD")
	f.Add("10.005", "usd")
	f.Add("1", "XXX")
	f.Add("1", " eur ")

	f.Fuzz(func(t *testing.T, text, currency string) {
		d, err := Parse(text)
		if err != nil {
			checkRefusal(t, "Parse", text, err)
		} else {
			checkAccepted(t, text, d)
		}

		n, curErr := MinorUnits(currency)
		a, aErr := ParseAmount(text, currency)
		switch {
		case err != nil:
			// ParseAmount reads with Parse first: the same refusal.
			if aErr == nil || aErr.Error() != err.Error() {
				t.Fatalf("ParseAmount(%q, %q) = %s, %v; Parse refused it with %v", text, currency, a, aErr, err)
			}
		case curErr != nil:
			if !errors.Is(aErr, ErrUnknownCurrency) || !strings.Contains(aErr.Error(), fmt.Sprintf("%q", currency)) {
				t.Fatalf("ParseAmount(%q, %q): want ErrUnknownCurrency naming the currency, got %v", text, currency, aErr)
			}
		case !d.Round(n).Equal(d):
			if !errors.Is(aErr, ErrInvalidAmount) {
				t.Fatalf("ParseAmount(%q, %q) = %s, %v; want ErrInvalidAmount (more than %d decimals)", text, currency, a, aErr, n)
			}
			checkRefusal(t, "ParseAmount", text, aErr)
			if !strings.Contains(aErr.Error(), fmt.Sprintf("allows %d decimals", n)) {
				t.Fatalf("ParseAmount(%q, %q): %v does not say how many decimals %s allows", text, currency, aErr, currency)
			}
		default:
			if aErr != nil || !a.Equal(d) {
				t.Fatalf("ParseAmount(%q, %q) = %s, %v; want %s", text, currency, a, aErr, d)
			}
			s, err := Format(a, currency)
			if err != nil {
				t.Fatalf("Format(%s, %q): %v", a, currency, err)
			}
			back, err := ParseAmount(s, currency)
			if err != nil || !back.Equal(a) {
				t.Fatalf("ParseAmount(%q, %q) = %s, %v; want %s (Format of %q)", s, currency, back, err, a, text)
			}
		}
	})
}

// checkAccepted: only plain decimal text is accepted, and each printed form of the value reads back the same.
func checkAccepted(t *testing.T, text string, d decimal.Decimal) {
	t.Helper()
	s := strings.TrimSpace(text)
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || strings.Count(body, ".") > 1 || strings.Trim(body, "0123456789.") != "" ||
		strings.Trim(body, ".") == "" {
		t.Fatalf("Parse(%q) = %s: accepted text that is not a plain decimal", text, d)
	}
	back, err := Parse(d.String())
	if err != nil || !back.Equal(d) {
		t.Fatalf("Parse(%q) = %s, %v; want %s (String of Parse(%q))", d.String(), back, err, d, text)
	}
	for _, cur := range []string{"JPY", "USD", "KWD"} {
		n, _ := MinorUnits(cur)
		f, err := Format(d, cur)
		if err != nil {
			t.Fatalf("Format(%s, %s): %v", d, cur, err)
		}
		back, err := Parse(f)
		if want := d.Round(n); err != nil || !back.Equal(want) {
			t.Fatalf("Parse(%q) = %s, %v; want %s (Format of %s in %s)", f, back, err, want, d, cur)
		}
	}
}

// checkRefusal: a refused amount wraps ErrInvalidAmount and names the problem; anything but an empty
// input is quoted, so the caller sees which text was refused.
func checkRefusal(t *testing.T, fn, text string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("%s(%q): %v does not wrap ErrInvalidAmount", fn, text, err)
	}
	msg := err.Error()
	if !utf8.ValidString(msg) && utf8.ValidString(text) {
		t.Fatalf("%s(%q): error %q is not valid UTF-8", fn, text, msg)
	}
	if strings.TrimSpace(text) == "" {
		if msg != ErrInvalidAmount.Error()+": empty" {
			t.Fatalf("%s(%q): error %q does not say the amount is empty", fn, text, msg)
		}
		return
	}
	quoted := ErrInvalidAmount.Error() + " " + fmt.Sprintf("%q", text) + ": "
	reason, ok := strings.CutPrefix(msg, quoted)
	if !ok || strings.TrimSpace(reason) == "" {
		t.Fatalf("%s(%q): error %q does not quote the input and give a reason", fn, text, msg)
	}
}
