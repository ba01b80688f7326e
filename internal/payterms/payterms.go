// Package payterms reads payment terms as invoices and POs print them ("Net 30", "2/10 Net 30", "Due on
// receipt"). Both the pre-submission terms check and the AR aging report need the number of days, and
// they must agree on it.
package payterms

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	netDays      = regexp.MustCompile(`^(?:.*\s)?net\s*(\d{1,3})(?:\s*days?)?$`) // "Net 30", "NET30", "2/10 Net 30", "net 30 days"
	plainDays    = regexp.MustCompile(`^(\d{1,3})\s*days?(?:\s+net)?$`)          // "30 days", "30 days net"
	shortNetDays = regexp.MustCompile(`^n\s*(\d{1,3})$`)                         // "N30"
	immediate    = regexp.MustCompile(`^(?:due\s+)?(?:on|upon)\s+receipt$|^immediate(?:ly)?$|^net\s*0$|^cash$`)
)

// Days reads how many days after the invoice date payment is due from terms such as "Net 30", "NET30",
// "30 days", "2/10 Net 30" (the discount does not change the due date) or "Due on receipt" (0). Terms it
// cannot read for certain (end of month, "prox.", anything else) are not guessed: it reports false.
func Days(terms string) (int, bool) {
	t := strings.Join(strings.Fields(strings.ToLower(strings.TrimSpace(terms))), " ")
	t = strings.TrimSuffix(t, ".")
	if immediate.MatchString(t) {
		return 0, true
	}
	for _, re := range []*regexp.Regexp{netDays, plainDays, shortNetDays} {
		if m := re.FindStringSubmatch(t); m != nil {
			n, err := strconv.Atoi(m[1])
			return n, err == nil
		}
	}
	return 0, false
}

// DueDate is the date payment is due for an invoice dated invoiceDate under terms. Terms Days cannot read
// make the invoice due on its own date, and ok is false: a receivable is then aged from the oldest date it
// could be due, never made to look younger than it may be.
func DueDate(invoiceDate time.Time, terms string) (due time.Time, ok bool) {
	days, ok := Days(terms)
	return invoiceDate.AddDate(0, 0, days), ok
}
