// Package money holds Portico's rules for amounts: decimal only, rounded by the currency's own minor units.
package money

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// ErrUnknownCurrency is returned for a currency code Portico has no minor-unit rule for.
var ErrUnknownCurrency = errors.New("unknown currency")

// ErrInvalidAmount is returned for text that is not a plain decimal amount.
var ErrInvalidAmount = errors.New("invalid amount")

// minorUnits lists ISO 4217 minor units. Rounding to the wrong number of decimals is exactly the kind of
// line mismatch portals reject, so a currency not listed here is an error, not a guess of two.
var minorUnits = map[string]int32{
	"AED": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2,
	"EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0,
	"KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2,
	"SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "USD": 2, "VND": 0, "ZAR": 2,
}

// MinorUnits returns the number of decimals the currency uses (2 for USD, 0 for JPY, 3 for KWD).
func MinorUnits(currency string) (int32, error) {
	n, ok := minorUnits[strings.ToUpper(strings.TrimSpace(currency))]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownCurrency, currency)
	}
	return n, nil
}

// ValidCurrency reports whether Portico knows the currency's minor units.
func ValidCurrency(currency string) bool {
	_, err := MinorUnits(currency)
	return err == nil
}

// Round rounds an amount half away from zero to the currency's minor units, as invoices print it.
func Round(amount decimal.Decimal, currency string) (decimal.Decimal, error) {
	n, err := MinorUnits(currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return amount.Round(n), nil
}

// Format prints an amount with exactly the currency's minor units, the way portal forms expect it.
func Format(amount decimal.Decimal, currency string) (string, error) {
	n, err := MinorUnits(currency)
	if err != nil {
		return "", err
	}
	return amount.StringFixed(n), nil
}

// Parse reads a plain decimal amount ("1234.50", "-3", "0.125"). Thousands separators, exponents and
// currency symbols are refused: an ERP that sends "1,234.50" must be told, not second-guessed.
func Parse(text string) (decimal.Decimal, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return decimal.Decimal{}, fmt.Errorf("%w: empty", ErrInvalidAmount)
	}
	digits, dot := 0, false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' && !dot:
			dot = true
		case (r == '-' || r == '+') && i == 0:
		default:
			return decimal.Decimal{}, fmt.Errorf("%w %q: only digits, one '.' and a leading sign are allowed", ErrInvalidAmount, text)
		}
	}
	if digits == 0 {
		return decimal.Decimal{}, fmt.Errorf("%w %q: no digits", ErrInvalidAmount, text)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w %q: %v", ErrInvalidAmount, text, err)
	}
	return d, nil
}

// ParseAmount reads an amount and checks it is already expressed in the currency's minor units, so that
// "10.005 USD" is an error rather than a silent rounding of what the ERP booked.
func ParseAmount(text, currency string) (decimal.Decimal, error) {
	d, err := Parse(text)
	if err != nil {
		return decimal.Decimal{}, err
	}
	n, err := MinorUnits(currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !d.Round(n).Equal(d) {
		return decimal.Decimal{}, fmt.Errorf("%w %q: %s allows %d decimals", ErrInvalidAmount, text, strings.ToUpper(currency), n)
	}
	return d, nil
}
