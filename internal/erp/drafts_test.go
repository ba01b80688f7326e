package erp

import (
	"testing"
	"time"

	"portico/internal/store"
)

func TestDraftsQuery(t *testing.T) {
	q, err := DraftsQuery(DraftFilter{})
	if want := `InvoiceStage in ("awaiting_approval", "escalated") AND ExecutionStatus = "Running"`; err != nil || q != want {
		t.Fatalf("%q %v, want %q", q, err, want)
	}
	q, err = DraftsQuery(DraftFilter{CustomerID: "acme", AccountID: "acme-coupa"})
	if want := `InvoiceStage in ("awaiting_approval", "escalated") AND ExecutionStatus = "Running" AND CustomerID = "acme" AND PortalAccount = "acme-coupa"`; err != nil || q != want {
		t.Fatalf("%q %v, want %q", q, err, want)
	}
	if _, err := DraftsQuery(DraftFilter{CustomerID: `acme" OR CustomerID != "`}); err == nil {
		t.Fatal("a quote in a value must be refused")
	}
}

func TestWaitingSince(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	row := func(min int, stage string) store.StatusChange {
		return store.StatusChange{At: t0.Add(time.Duration(min) * time.Minute), Stage: stage}
	}
	for _, c := range []struct {
		name string
		hist []store.StatusChange
		want time.Time
	}{
		{"none", nil, time.Time{}},
		{"waiting", []store.StatusChange{row(0, "matching"), row(1, "drafting"), row(2, "awaiting_approval"), row(3, "awaiting_approval"), row(90, "escalated")}, t0.Add(2 * time.Minute)},
		{"second draft", []store.StatusChange{row(2, "awaiting_approval"), row(3, "changes_requested"), row(5, "drafting"), row(6, "awaiting_approval")}, t0.Add(6 * time.Minute)},
		{"moved on", []store.StatusChange{row(2, "awaiting_approval"), row(3, "submitting")}, time.Time{}},
	} {
		if got := WaitingSince(c.hist); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestWorkflowURL(t *testing.T) {
	got := WorkflowURL("http://127.0.0.1:8233/", "default", "invoice/erp-1", "0199-ab")
	if want := "http://127.0.0.1:8233/namespaces/default/workflows/invoice%2Ferp-1/0199-ab/history"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}
