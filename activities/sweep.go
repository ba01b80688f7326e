package activities

import (
	"context"

	"portico/internal/portal"
)

// SweepResult is what a status sweep read from an account's invoice list.
type SweepResult struct {
	// Pages is the number of invoice list pages read: the sweep's page loads, but for a sign-in.
	Pages int
	// Statuses is every listed invoice's canonical status, by its portal invoice number. An invoice the
	// list showed twice (rows moved while the sweep paged) is in it once, with the later reading.
	Statuses map[string]portal.Status
	// ByStatus counts Statuses by status.
	ByStatus map[portal.Status]int
}

// SweepInvoiceStatuses reads the status of every invoice of the account from the portal's invoice list,
// one page load per list page, without opening any invoice (driver.Session.SweepStatuses). It changes
// nothing, in the portal or in PostgreSQL: comparing the statuses with the invoices Portico tracks, and
// reading the invoices whose status changed, is the caller's. The result holds about 40 bytes per
// invoice, well under Temporal's payload limit for accounts of up to some ten thousand invoices.
func (b *Browser) SweepInvoiceStatuses(ctx context.Context, accountID string) (SweepResult, error) {
	s, err := b.session(ctx, accountID, "")
	if err != nil {
		return SweepResult{}, err
	}
	defer s.Close()
	res := SweepResult{Statuses: map[string]portal.Status{}, ByStatus: map[portal.Status]int{}}
	err = s.SweepStatuses(func(page int, invs []portal.Invoice) error {
		res.Pages = page
		for _, inv := range invs {
			res.Statuses[inv.Number] = inv.Status
		}
		return ctx.Err()
	})
	if err != nil {
		return SweepResult{}, portalError(err)
	}
	for _, st := range res.Statuses {
		res.ByStatus[st]++
	}
	return res, nil
}
