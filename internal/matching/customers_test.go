package matching

import (
	"strings"
	"testing"
)

func TestCustomerMatching(t *testing.T) {
	ix := NewCustomerIndex([]Customer{
		{ID: "acme", Name: "Acme Manufacturing", BuyerEntity: "Acme Corp"},
		{ID: "acme-eu", Name: "Acme Europe B.V.", Aliases: []string{"Acme Corp Europe", "ACME EMEA"}},
		{ID: "globex", Name: "Globex Corporation"},
		{ID: "initech-us", Name: "Initech"},
		{ID: "initech-uk", Name: "Initech Ltd"},
	})
	for _, tc := range []struct {
		entity, account, want string
		reason                string
	}{
		{"Acme Corp", "", "acme", `equals customer acme's buyer entity "Acme Corp"`},
		{"ACME CORP.", "", "acme", "after normalising"},
		{"Acme Corporation", "", "acme", "buyer entity"},
		{"acme manufacturing inc", "", "acme", "name"},
		{"Acme Corp Europe", "", "acme-eu", "alias"},
		{"Acme EMEA GmbH", "", "acme-eu", "alias"},
		{"acme europe", "", "acme-eu", "name"},
		{"GLOBEX", "", "globex", "globex"},
		{"", "acme", "acme", "the portal account belongs to customer acme"},
		// negatives: no customer, several customers, no entity and no account customer
		{"Umbrella Corp", "acme", "", "is no customer's name"},
		{"Initech, Inc.", "", "", "fits customers initech-uk, initech-us"},
		{"  ", "", "", "names no buyer entity"},
	} {
		m := ix.Match(tc.entity, tc.account)
		if m.CustomerID != tc.want || !strings.Contains(m.Reason, tc.reason) {
			t.Errorf("Match(%q, %q) = %+v, want %q with reason containing %q", tc.entity, tc.account, m, tc.want, tc.reason)
		}
		if m.Matched() != (tc.want != "") {
			t.Errorf("Matched() of %q", tc.entity)
		}
	}
	if m := ix.Match("Initech", ""); len(m.Candidates) != 2 {
		t.Errorf("ambiguous entity lists its candidates: %+v", m)
	}
}
