package matching

import (
	"fmt"
	"sort"
	"strings"
)

// Customer is an ERP customer as buyer entities are matched to it: its ID, name, buyer entity and the
// aliases configured for it (table customer_aliases).
type Customer struct {
	ID          string
	Name        string
	BuyerEntity string
	Aliases     []string
}

// CustomerMatch is the ERP customer a portal PO's buyer entity belongs to, or why none was chosen.
type CustomerMatch struct {
	// CustomerID is the matched customer; empty when none or several fit (Candidates lists them).
	CustomerID string
	Reason     string
	Candidates []string `json:",omitempty"`
}

// Matched reports whether a customer was found.
func (m CustomerMatch) Matched() bool { return m.CustomerID != "" }

// CustomerIndex finds customers by the normalised form (EntityKey) of their buyer entity, name, ID and
// aliases. Build it once per batch.
type CustomerIndex struct {
	byKey map[string][]customerHit
}

type customerHit struct {
	id, field, value string
}

// NewCustomerIndex indexes the customers. Keys that normalise to nothing are left out.
func NewCustomerIndex(customers []Customer) *CustomerIndex {
	ix := &CustomerIndex{byKey: map[string][]customerHit{}}
	add := func(id, field, value string) {
		k := EntityKey(value)
		if k == "" {
			return
		}
		for _, h := range ix.byKey[k] {
			if h.id == id {
				return // the customer is already found by this key
			}
		}
		ix.byKey[k] = append(ix.byKey[k], customerHit{id: id, field: field, value: value})
	}
	for _, c := range customers {
		add(c.ID, "buyer entity", c.BuyerEntity)
		add(c.ID, "name", c.Name)
		add(c.ID, "ID", c.ID)
		for _, a := range c.Aliases {
			add(c.ID, "alias", a)
		}
	}
	return ix
}

// Match finds the customer of a buyer entity. A PO without a buyer entity belongs to the portal account's
// own customer (accountCustomerID; empty: unmatched). A buyer entity that fits several customers is
// unmatched, for a person to decide: a customer is never guessed.
func (ix *CustomerIndex) Match(buyerEntity, accountCustomerID string) CustomerMatch {
	if strings.TrimSpace(buyerEntity) == "" {
		if accountCustomerID == "" {
			return CustomerMatch{Reason: "the PO names no buyer entity"}
		}
		return CustomerMatch{CustomerID: accountCustomerID,
			Reason: fmt.Sprintf("the PO names no buyer entity; the portal account belongs to customer %s", accountCustomerID)}
	}
	k := EntityKey(buyerEntity)
	hits := ix.byKey[k]
	switch len(hits) {
	case 0:
		return CustomerMatch{Reason: fmt.Sprintf("buyer entity %q (normalised %q) is no customer's name, ID, buyer entity or alias: add an alias or match the PO by hand", buyerEntity, k)}
	case 1:
		h := hits[0]
		how := "equals"
		if h.value != buyerEntity {
			how = "matches"
		}
		r := fmt.Sprintf("buyer entity %q %s customer %s's %s %q", buyerEntity, how, h.id, h.field, h.value)
		if how == "matches" {
			r += " after normalising case, punctuation, spacing and legal form"
		}
		return CustomerMatch{CustomerID: h.id, Reason: r}
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.id
	}
	sort.Strings(ids)
	return CustomerMatch{Candidates: ids,
		Reason: fmt.Sprintf("buyer entity %q (normalised %q) fits customers %s: match the PO by hand", buyerEntity, k, strings.Join(ids, ", "))}
}
