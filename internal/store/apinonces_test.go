package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"portico/internal/testenv"
)

func TestClaimAPINonce(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	now := time.Now()

	ok, err := st.ClaimAPINonce(ctx, "erp", "nonce-aaaaaaaaaaaa", now)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	ok, err = st.ClaimAPINonce(ctx, "erp", "nonce-aaaaaaaaaaaa", now)
	if err != nil || ok {
		t.Fatalf("second claim of the same nonce was accepted: %v %v", ok, err)
	}
	// Nonces are per client: another client may happen to pick the same one.
	ok, err = st.ClaimAPINonce(ctx, "other", "nonce-aaaaaaaaaaaa", now)
	if err != nil || !ok {
		t.Fatalf("other client's claim: %v %v", ok, err)
	}
}

func TestClaimAPINonceConcurrent(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	won := make(chan bool, n)
	for range n {
		wg.Go(func() {
			ok, err := st.ClaimAPINonce(ctx, "erp", "raced-nonce-0123456789", time.Now())
			if err != nil {
				t.Error(err)
			}
			won <- ok
		})
	}
	wg.Wait()
	close(won)
	winners := 0
	for ok := range won {
		if ok {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d concurrent claims of one nonce succeeded, want 1", winners)
	}
}

func TestPurgeAPINonces(t *testing.T) {
	st := testenv.Store(t)
	ctx := context.Background()
	now := time.Now()
	for nonce, at := range map[string]time.Time{
		"old-nonce-0123456789a": now.Add(-time.Hour),
		"old-nonce-0123456789b": now.Add(-11 * time.Minute),
		"new-nonce-0123456789c": now.Add(-time.Minute),
	} {
		if _, err := st.ClaimAPINonce(ctx, "erp", nonce, at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.PurgeAPINonces(ctx, now.Add(-10*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	// The purged nonce is free again (its timestamp would be refused by then); the recent one is still held.
	if ok, _ := st.ClaimAPINonce(ctx, "erp", "old-nonce-0123456789a", now); !ok {
		t.Fatal("purged nonce still held")
	}
	if ok, _ := st.ClaimAPINonce(ctx, "erp", "new-nonce-0123456789c", now); ok {
		t.Fatal("recent nonce was purged")
	}
}
