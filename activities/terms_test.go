package activities

import "testing"

func TestPaymentDays(t *testing.T) {
	for terms, want := range map[string]int{
		"Net 30": 30, "NET30": 30, "net 45 days": 45, "30 days": 30, "30 Days Net": 30, "N60": 60, "2/10 Net 30": 30,
		"Due on receipt": 0, "Upon Receipt": 0, "Immediate": 0, "Net 0": 0, " Net  15. ": 15,
	} {
		if got, ok := paymentDays(terms); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", terms, got, ok, want)
		}
	}
	for _, terms := range []string{"", "Net 30 EOM", "30 days end of month", "EOM", "Net", "1% 10 Net 30 prox", "COD 30"} {
		if got, ok := paymentDays(terms); ok {
			t.Errorf("%q read as %d days", terms, got)
		}
	}
}
