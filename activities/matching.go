package activities

// Matching after a PO sync: each PO of the account to an ERP customer by its buyer entity, then every open
// ERP invoice of the account that is not with the buyer to a PO (internal/matching).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"portico/internal/matching"
	"portico/internal/store"
)

// MatchSummary counts what MatchAfterSync did for one portal account.
type MatchSummary struct {
	AccountID string
	// POs of the account by customer match: matched (automatically or by a person), unmatched (listed for a
	// person: store.UnmatchedPurchaseOrders), manual (a person's decision, kept).
	POs, POsMatched, POsUnmatched, POsManual int
	// POCustomersChanged is how many POs got a new or different automatic customer match.
	POCustomersChanged int
	// Invoices is how many open ERP invoices not yet with the buyer were matched (store.MatchableStages);
	// Manual how many more a person had matched, kept as they are.
	Invoices, Manual int
	// Matched, Ambiguous and Unmatched count the outcomes; ambiguous and unmatched ones wait for a person
	// (store.InvoiceMatchQueue).
	Matched, Ambiguous, Unmatched int
	// Changed is how many outcomes were new or different from the stored ones.
	Changed int
	// POsLoaded is how many POs the invoices can find (store.MatchPOsFor), loaded in LoadSeconds;
	// MatchSeconds is the time to index them and match every invoice.
	POsLoaded                 int
	LoadSeconds, MatchSeconds float64
}

// MatchAfterSync runs after every PO sync of an account: it matches the account's POs to ERP customers by
// buyer entity (aliases included; a person's match is kept), then matches every open ERP invoice of the
// account that is not with the buyer yet (store.MatchableStages) to a PO, loading the POs they can find
// (store.MatchPOsFor) and building the match index once for all of them, and stores the outcomes. Invoices a person matched are left as they are.
func (a *Activities) MatchAfterSync(ctx context.Context, accountID string) (MatchSummary, error) {
	sum := MatchSummary{AccountID: accountID}
	cust, err := a.MatchCustomers(ctx, accountID)
	if err != nil {
		return sum, err
	}
	sum.POs, sum.POsMatched, sum.POsUnmatched, sum.POsManual, sum.POCustomersChanged = cust.POs, cust.Matched, cust.Unmatched, cust.Manual, cust.Changed
	heartbeat(ctx, sum)

	invs, manual, err := a.Store.MatchableInvoices(ctx, accountID)
	if err != nil {
		return sum, err
	}
	sum.Invoices, sum.Manual = len(invs), manual
	if len(invs) == 0 {
		return sum, nil
	}
	t0 := time.Now()
	pos, err := a.Store.MatchPOsFor(ctx, accountID, invs)
	if err != nil {
		return sum, err
	}
	sum.POsLoaded, sum.LoadSeconds = len(pos), time.Since(t0).Seconds()
	heartbeat(ctx, sum)
	t1 := time.Now()
	results := matching.MatchBatch(pos, invs, matching.DefaultOptions())
	sum.MatchSeconds = time.Since(t1).Seconds()
	out := make([]store.InvoiceMatch, len(results))
	for i, r := range results {
		out[i] = store.InvoiceMatchOf(accountID, invs[i].PONumber, r)
		switch r.Status {
		case matching.StatusMatched:
			sum.Matched++
		case matching.StatusAmbiguous:
			sum.Ambiguous++
		default:
			sum.Unmatched++
		}
	}
	if sum.Changed, err = a.Store.RecordInvoiceMatches(ctx, out); err != nil {
		return sum, err
	}
	activity.GetLogger(ctx).Info("matched after sync", "account", accountID, "pos", sum.POs, "posUnmatched", sum.POsUnmatched,
		"invoices", sum.Invoices, "matched", sum.Matched, "ambiguous", sum.Ambiguous, "unmatched", sum.Unmatched, "changed", sum.Changed)
	return sum, nil
}

// MatchCustomers matches every PO of the account to an ERP customer by its buyer entity (matching.EntityKey:
// case, punctuation, spacing and legal form ignored; names, IDs, buyer entities and aliases), once per
// distinct buyer entity. A PO without a buyer entity belongs to the account's customer; one that fits no
// customer or several is left unmatched for a person. A person's match is never overwritten.
func (a *Activities) MatchCustomers(ctx context.Context, accountID string) (store.CustomerMatchCounts, error) {
	acct, err := a.Store.PortalAccount(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return store.CustomerMatchCounts{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMisconfigured, nil)
	}
	if err != nil {
		return store.CustomerMatchCounts{}, err
	}
	customers, err := a.Store.MatchingCustomers(ctx)
	if err != nil {
		return store.CustomerMatchCounts{}, err
	}
	entities, err := a.Store.BuyerEntities(ctx, accountID)
	if err != nil {
		return store.CustomerMatchCounts{}, err
	}
	ix := matching.NewCustomerIndex(customers)
	ms := make([]store.EntityMatch, len(entities))
	for i, e := range entities {
		m := ix.Match(e, acct.CustomerID)
		ms[i] = store.EntityMatch{BuyerEntity: e, CustomerID: m.CustomerID, Reason: m.Reason}
	}
	c, err := a.Store.ApplyCustomerMatches(ctx, accountID, ms)
	if err != nil {
		return c, fmt.Errorf("match customers of %s: %w", accountID, err)
	}
	return c, nil
}

// heartbeat records progress when running as an activity.
func heartbeat(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}
