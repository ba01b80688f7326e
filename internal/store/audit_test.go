package store_test

import (
	"strings"
	"testing"
	"time"

	"portico/internal/store"
	"portico/internal/testenv"
)

func TestDecisionsAreAuditedOnceAndAppendOnly(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	insertInvoice(t, st, "erp-a1", "INV-A1")
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	refused := store.StatusChange{InvoiceID: "erp-a1", Seq: 1, At: t0, Stage: "awaiting_approval", Source: "approver:mallory@example.com",
		Reason: "refused approval update: mallory@example.com is not an approver of customer acme",
		Decision: &store.Decision{Kind: store.DecisionKindApproval, Channel: store.ChannelUpdate, Decision: "approve",
			Actor: "mallory@example.com", DraftVersion: 1, Refusal: "mallory@example.com is not an approver of customer acme"}}
	accepted := store.StatusChange{InvoiceID: "erp-a1", Seq: 2, At: t0.Add(time.Minute), Stage: "submitting", Source: "approver:you@example.com",
		Decision: &store.Decision{Kind: store.DecisionKindApproval, Channel: store.ChannelSignal, Decision: "approve",
			Actor: "You@example.com", Note: "checked", NamedDraft: 1, DraftVersion: 1, Accepted: true}}
	plain := store.StatusChange{InvoiceID: "erp-a1", Seq: 3, At: t0.Add(2 * time.Minute), Stage: "with_buyer", Source: "portal"}
	for _, c := range []store.StatusChange{refused, accepted, plain, accepted, refused} { // retried writes
		if err := st.RecordStatus(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.Decisions(ctx, store.AuditFilter{InvoiceID: "erp-a1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("want 2 audited decisions (a retried write and a row without a decision add none), got %+v", all)
	}
	if got := all[0]; got.Seq != 2 || !got.Accepted || got.Actor != "You@example.com" || got.Stage != "submitting" || got.NamedDraft != 1 || !got.At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("newest first, the accepted one: %+v", got)
	}
	mine, err := st.Decisions(ctx, store.AuditFilter{Actor: "you@EXAMPLE.com"})
	if err != nil || len(mine) != 1 {
		t.Fatalf("by actor, any case: %+v %v", mine, err)
	}
	refusals, err := st.Decisions(ctx, store.AuditFilter{Refused: true})
	if err != nil || len(refusals) != 1 || refusals[0].Refusal != refused.Decision.Refusal || refusals[0].Channel != store.ChannelUpdate {
		t.Fatalf("refused only: %+v %v", refusals, err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE decision_audit SET actor = 'someone-else'`); err == nil {
		t.Fatal("an audit row was changed")
	}
	if _, err := st.Pool().Exec(ctx, `DELETE FROM decision_audit`); err == nil {
		t.Fatal("an audit row was deleted")
	}
}

func TestApproversMustBeBareAddresses(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	p := store.DefaultPolicy("acme")
	p.Approvers = []string{"You@Example.com", "Mallory <mallory@example.com>", "not an address"}
	err := st.UpsertPolicy(ctx, p)
	if err == nil || !strings.Contains(err.Error(), `approver "mallory <mallory@example.com>" is not a bare e-mail address`) || !strings.Contains(err.Error(), `"not an address"`) {
		t.Fatalf("want both bad approvers named, got %v", err)
	}
	p.Approvers = []string{"You@Example.com", "you@example.com ", "ops@example.com"}
	if err := st.UpsertPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := st.Policy(ctx, "acme")
	if err != nil || strings.Join(got.Approvers, ",") != "you@example.com,ops@example.com" {
		t.Fatalf("approvers %v %v", got.Approvers, err)
	}
}
