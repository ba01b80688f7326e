package matching

import (
	"math"
	"strings"

	"github.com/shopspring/decimal"

	"portico/internal/money"
)

var pow10 = [...]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
	10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
	1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000}

// micros is an amount in millionths (the precision of the numeric(20,6) columns) as an int64, for
// comparing and indexing amounts without big-number arithmetic. floor is the amount rounded down and
// saturated at the int64 range; exact says that floor is the amount itself.
type micros struct {
	floor int64
	exact bool
}

func toMicros(d decimal.Decimal) micros {
	exp := d.Exponent()
	// At most 18 digits fit an int64; NumDigits and CoefficientInt64 read the coefficient without copying it.
	if d.NumDigits() <= 18 {
		c := d.CoefficientInt64()
		shift := int(exp) + 6
		switch {
		case shift >= 0 && shift < len(pow10):
			p := pow10[shift]
			if c == 0 {
				return micros{0, true}
			}
			if c > 0 && c <= math.MaxInt64/p || c < 0 && c >= math.MinInt64/p {
				return micros{c * p, true}
			}
		case shift < 0 && -shift < len(pow10):
			p := pow10[-shift]
			q, r := c/p, c%p
			if r < 0 {
				q-- // floor, not truncation
			}
			return micros{q, r == 0}
		case shift < 0:
			if c >= 0 {
				return micros{0, c == 0}
			}
			return micros{-1, false}
		}
	}
	// Beyond int64 millionths (over 9.2 trillion): saturate, keeping the order.
	if d.Sign() > 0 {
		return micros{math.MaxInt64, false}
	}
	return micros{math.MinInt64, false}
}

// formatAmount writes an amount for people: rounded to the currency's minor units with thousands
// separators, then the currency, e.g. "1,147.45 USD".
func formatAmount(d decimal.Decimal, currency string) string {
	cur := Currency(currency)
	s, err := money.Format(d, cur)
	if err != nil {
		s = d.String()
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	if cur != "" {
		b.WriteByte(' ')
		b.WriteString(cur)
	}
	return b.String()
}

// formatQty writes a quantity without trailing zeros ("2000", "2.5").
func formatQty(d decimal.Decimal) string { return d.String() }
