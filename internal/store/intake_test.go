package store_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"portico/internal/store"
	"portico/internal/testenv"
)

func intakeInvoice(id, number string) store.Invoice {
	return store.Invoice{ID: id, CustomerID: "acme", AccountID: "acme-coupa", Number: number, PONumber: "PO-1",
		Date: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Currency: "USD", TaxRate: dec("0"), Total: dec("10.00"),
		Lines: []store.InvoiceLine{{LineNo: 1, POLineNo: 1, Quantity: dec("1"), UnitPrice: dec("10")}, {LineNo: 2, POLineNo: 2, Quantity: dec("0"), UnitPrice: dec("1")}}}
}

func TestInsertInvoiceOnce(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	pdf := []byte("%PDF-1.4 test")
	inserted, err := st.InsertInvoiceOnce(ctx, intakeInvoice("inv-1", "INV-1"), pdf)
	if err != nil || !inserted {
		t.Fatalf("first: %v, %v", inserted, err)
	}
	got, err := st.Invoice(ctx, "inv-1")
	if err != nil || len(got.Lines) != 2 || !got.Total.Equal(dec("10")) {
		t.Fatalf("stored %+v, %v", got, err)
	}

	// The same ID again, whatever it carries, changes nothing.
	other := intakeInvoice("inv-1", "INV-1")
	other.Total = dec("99")
	if inserted, err = st.InsertInvoiceOnce(ctx, other, nil); err != nil || inserted {
		t.Fatalf("again: %v, %v", inserted, err)
	}
	if got, _ = st.Invoice(ctx, "inv-1"); !got.Total.Equal(dec("10")) {
		t.Fatal("the second insert changed the invoice")
	}
	sum, err := st.InvoiceAttachmentDigest(ctx, "inv-1")
	if want := sha256.Sum256(pdf); err != nil || string(sum) != string(want[:]) {
		t.Fatalf("digest %x, %v", sum, err)
	}

	// Another ID with the number: the error names the invoice that has it, and nothing is written.
	_, err = st.InsertInvoiceOnce(ctx, intakeInvoice("inv-2", "INV-1"), nil)
	var taken *store.InvoiceNumberTakenError
	if !errors.As(err, &taken) || taken.HeldBy != "inv-1" || !errors.Is(err, store.ErrDuplicateInvoice) {
		t.Fatalf("number taken: %v", err)
	}
	if _, err := st.Invoice(ctx, "inv-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("inv-2: %v", err)
	}

	// Without an attachment the digest is nil; an unknown invoice is ErrNotFound.
	if _, err := st.InsertInvoiceOnce(ctx, intakeInvoice("inv-3", "INV-3"), nil); err != nil {
		t.Fatal(err)
	}
	if sum, err := st.InvoiceAttachmentDigest(ctx, "inv-3"); err != nil || sum != nil {
		t.Fatalf("no attachment: %x, %v", sum, err)
	}
	if _, err := st.InvoiceAttachmentDigest(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestInsertInvoiceOnceConcurrently(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	// Many rounds, since the clash on the number's index (not the ID's, which ON CONFLICT absorbs) only
	// shows when the calls overlap just so.
	for round := range 20 {
		id := fmt.Sprintf("inv-%d", round)
		const n = 8
		var wg sync.WaitGroup
		results := make(chan error, n)
		inserted := make(chan bool, n)
		for range n {
			wg.Go(func() {
				ok, err := st.InsertInvoiceOnce(ctx, intakeInvoice(id, "INV-"+id), nil)
				results <- err
				inserted <- ok
			})
		}
		wg.Wait()
		close(results)
		close(inserted)
		for err := range results {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		count := 0
		for ok := range inserted {
			if ok {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("round %d: inserted %d times", round, count)
		}
	}
}

func TestCustomerAccountIDs(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-ariba", CustomerID: "acme", Portal: "ariba-sim", BaseURL: "http://127.0.0.1:1", Username: "s"},
		"pw", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	ids, err := st.CustomerAccountIDs(ctx, "acme")
	if err != nil || len(ids) != 2 || ids[0] != "acme-ariba" || ids[1] != "acme-coupa" {
		t.Fatalf("%v, %v", ids, err)
	}
	if ids, err := st.CustomerAccountIDs(ctx, "nobody"); err != nil || len(ids) != 0 {
		t.Fatalf("nobody: %v, %v", ids, err)
	}
}
