package payterms

import (
	"testing"
	"time"
)

func TestDays(t *testing.T) {
	for terms, want := range map[string]int{
		"Net 30": 30, "NET30": 30, "net 45 days": 45, "30 days": 30, "30 Days Net": 30, "N60": 60, "2/10 Net 30": 30,
		"Due on receipt": 0, "Upon Receipt": 0, "Immediate": 0, "Net 0": 0, " Net  15. ": 15,
	} {
		if got, ok := Days(terms); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", terms, got, ok, want)
		}
	}
	for _, terms := range []string{"", "Net 30 EOM", "30 days end of month", "EOM", "Net", "1% 10 Net 30 prox", "COD 30"} {
		if got, ok := Days(terms); ok {
			t.Errorf("%q read as %d days", terms, got)
		}
	}
}

func TestDueDate(t *testing.T) {
	date := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		terms string
		want  string
		ok    bool
	}{
		{"Net 30", "2026-03-02", true},
		{"2/10 Net 30", "2026-03-02", true},
		{"Due on receipt", "2026-01-31", true},
		{"Net 30 EOM", "2026-01-31", false},
		{"", "2026-01-31", false},
	} {
		due, ok := DueDate(date, c.terms)
		if got := due.Format(time.DateOnly); got != c.want || ok != c.ok {
			t.Errorf("%q: %s %v, want %s %v", c.terms, got, ok, c.want, c.ok)
		}
	}
}
