package vault

import (
	"bytes"
	"errors"
	"testing"
)

func mustKeyring(t *testing.T, ids ...string) *Keyring {
	t.Helper()
	var entries []string
	for _, id := range ids {
		e, err := NewKeyEntry(id)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	k, err := NewKeyring(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, "k1")
	c, err := k.Seal([]byte("hunter2"), "portal_account/a/password")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c, []byte("hunter2")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	p, err := k.Open(c, "portal_account/a/password")
	if err != nil || string(p) != "hunter2" {
		t.Fatalf("Open = %q, %v", p, err)
	}
	if id, _ := KeyID(c); id != "k1" {
		t.Fatalf("KeyID = %q", id)
	}
}

func TestTamperedOrMovedCiphertextIsRefused(t *testing.T) {
	k := mustKeyring(t, "k1")
	c, _ := k.Seal([]byte("secret"), "ctx-a")
	c[len(c)-1] ^= 1
	if _, err := k.Open(c, "ctx-a"); !errors.Is(err, ErrTampered) {
		t.Fatalf("tampered: %v", err)
	}
	c2, _ := k.Seal([]byte("secret"), "ctx-a")
	if _, err := k.Open(c2, "ctx-b"); !errors.Is(err, ErrTampered) {
		t.Fatalf("moved: %v", err)
	}
	if _, err := k.Open([]byte{9, 9}, "ctx-a"); !errors.Is(err, ErrTampered) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestWrongKeyCannotOpen(t *testing.T) {
	a := mustKeyring(t, "k1")
	b := mustKeyring(t, "k1") // same ID, different key material
	c, _ := a.Seal([]byte("secret"), "x")
	if _, err := b.Open(c, "x"); !errors.Is(err, ErrTampered) {
		t.Fatalf("wrong key: %v", err)
	}
	other := mustKeyring(t, "k2")
	if _, err := other.Open(c, "x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestOldKeysStillOpen(t *testing.T) {
	e1, _ := NewKeyEntry("old")
	e2, _ := NewKeyEntry("new")
	before, _ := NewKeyring(e1)
	c, _ := before.Seal([]byte("s"), "x")
	after, err := NewKeyring(e2, e1)
	if err != nil {
		t.Fatal(err)
	}
	if after.PrimaryKeyID() != "new" {
		t.Fatalf("primary = %s", after.PrimaryKeyID())
	}
	if p, err := after.Open(c, "x"); err != nil || string(p) != "s" {
		t.Fatalf("open with old key: %q %v", p, err)
	}
}

func TestBadKeyEntriesNameTheProblemWithoutTheKey(t *testing.T) {
	for _, e := range []string{"nokey", "id:notbase64!!", "id:c2hvcnQ="} {
		_, err := NewKeyring(e)
		if err == nil {
			t.Fatalf("%q accepted", e)
		}
		if bytes.Contains([]byte(err.Error()), []byte("c2hvcnQ")) {
			t.Fatalf("error leaks key material: %v", err)
		}
	}
	if _, err := NewKeyring(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("empty keyring: %v", err)
	}
}
