package simulator

import (
	"github.com/shopspring/decimal"
)

var hundred = decimal.NewFromInt(100)

// roundMoney rounds to cents, half away from zero (half-up for the positive
// amounts an invoice carries).
func roundMoney(d decimal.Decimal) decimal.Decimal {
	return d.Round(2)
}

// taxFor is the header tax of an invoice: subtotal times rate percent, in cents.
func taxFor(subtotal, ratePercent decimal.Decimal) decimal.Decimal {
	return roundMoney(subtotal.Mul(ratePercent).Div(hundred))
}

// formatMoney prints an amount with exactly two decimals and no grouping, so
// that drivers can parse what they read back.
func formatMoney(d decimal.Decimal) string {
	return d.StringFixed(2)
}

// formatPrice prints a unit price with at least two decimals, keeping the
// extra precision some POs carry (e.g. 0.125 per piece).
func formatPrice(d decimal.Decimal) string {
	if d.Equal(d.Round(2)) {
		return d.StringFixed(2)
	}
	return d.String()
}

// formatQty prints a quantity without trailing zeros ("10", "2.5").
func formatQty(d decimal.Decimal) string {
	return d.String()
}
