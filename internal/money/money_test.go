package money

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestRoundUsesCurrencyMinorUnits(t *testing.T) {
	cases := []struct{ in, cur, want string }{
		{"10.005", "USD", "10.01"},
		{"10.004", "EUR", "10"},
		{"1234.5", "JPY", "1235"},
		{"1.2345", "KWD", "1.235"},
		{"-2.675", "USD", "-2.68"},
	}
	for _, c := range cases {
		got, err := Round(decimal.RequireFromString(c.in), c.cur)
		if err != nil {
			t.Fatalf("Round(%s, %s): %v", c.in, c.cur, err)
		}
		if !got.Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("Round(%s, %s) = %s, want %s", c.in, c.cur, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	got, err := Format(decimal.RequireFromString("1500"), "USD")
	if err != nil || got != "1500.00" {
		t.Fatalf("Format USD = %q, %v", got, err)
	}
	got, err = Format(decimal.RequireFromString("1500"), "JPY")
	if err != nil || got != "1500" {
		t.Fatalf("Format JPY = %q, %v", got, err)
	}
}

func TestUnknownCurrencyIsAnError(t *testing.T) {
	if _, err := Round(decimal.NewFromInt(1), "XXX"); !errors.Is(err, ErrUnknownCurrency) {
		t.Fatalf("want ErrUnknownCurrency, got %v", err)
	}
	if ValidCurrency("usd") != true || ValidCurrency("US") != false {
		t.Fatal("ValidCurrency is wrong")
	}
}

func TestParse(t *testing.T) {
	good := map[string]string{"1234.50": "1234.5", " 7 ": "7", "-0.25": "-0.25", "+3.": "3"}
	for in, want := range good {
		d, err := Parse(in)
		if err != nil || !d.Equal(decimal.RequireFromString(want)) {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "1,234.50", "1e3", "$12", "12.3.4", "-", ".", "NaN", "1 000"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalidAmount", in, err)
		}
	}
}

func TestParseAmountRefusesExtraDecimals(t *testing.T) {
	if _, err := ParseAmount("10.005", "USD"); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("10.005 USD: want ErrInvalidAmount, got %v", err)
	}
	if _, err := ParseAmount("10.5", "JPY"); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("10.5 JPY: want ErrInvalidAmount, got %v", err)
	}
	d, err := ParseAmount("10.250", "KWD")
	if err != nil || d.String() != "10.25" {
		t.Fatalf("10.250 KWD = %s, %v", d, err)
	}
}
