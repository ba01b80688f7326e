package store_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
)

const cookieJSON = `[{"name":"sim_session","value":"s3ss10n-value-xyz"}]`

func TestPortalSessionRoundTrip(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if _, ok, err := st.PortalSession(ctx, "acme-coupa"); err != nil || ok {
		t.Fatalf("before any save: ok=%v err=%v", ok, err)
	}
	if err := st.SavePortalSession(ctx, "acme-coupa", []byte(cookieJSON)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.PortalSession(ctx, "acme-coupa")
	if err != nil || !ok || string(got) != cookieJSON {
		t.Fatalf("round trip: %q ok=%v err=%v", got, ok, err)
	}
	var raw []byte
	if err := st.Pool().QueryRow(ctx, `SELECT cookies_enc FROM portal_sessions WHERE account_id = 'acme-coupa'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("s3ss10n")) || bytes.Contains(raw, []byte("sim_session")) {
		t.Fatal("cookie in the clear in portal_sessions")
	}

	// A later login's cookies replace the earlier ones.
	if err := st.SavePortalSession(ctx, "acme-coupa", []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.PortalSession(ctx, "acme-coupa"); string(got) != `[]` {
		t.Fatalf("after a second save: %q", got)
	}

	if err := st.ForgetPortalSession(ctx, "acme-coupa"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.PortalSession(ctx, "acme-coupa"); err != nil || ok {
		t.Fatalf("after forget: ok=%v err=%v", ok, err)
	}
	if err := st.ForgetPortalSession(ctx, "acme-coupa"); err != nil {
		t.Fatalf("forgetting twice: %v", err)
	}
	if err := st.SavePortalSession(ctx, "no-such-account", []byte(cookieJSON)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestTamperedPortalSessionIsAnError: a saved session that fails to open is an error naming the account and
// the vault's reason, never "no session" and never the plaintext.
func TestTamperedPortalSessionIsAnError(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if err := st.SavePortalSession(ctx, "acme-coupa", []byte(cookieJSON)); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		_, ok, err := st.PortalSession(ctx, "acme-coupa")
		if !errors.Is(err, vault.ErrTampered) || ok {
			t.Fatalf("%s: ok=%v err=%v", what, ok, err)
		}
		if !strings.Contains(err.Error(), "acme-coupa") || strings.Contains(err.Error(), "s3ss10n") {
			t.Fatalf("%s: error %q", what, err)
		}
	}
	// One bit flipped in the ciphertext's last byte (the GCM tag).
	if _, err := st.Pool().Exec(ctx, `UPDATE portal_sessions SET cookies_enc = set_byte(cookies_enc, length(cookies_enc) - 1, get_byte(cookies_enc, length(cookies_enc) - 1) # 1)`); err != nil {
		t.Fatal(err)
	}
	check("flipped bit")
	// The account's own password ciphertext, moved into the session column.
	if _, err := st.Pool().Exec(ctx, `UPDATE portal_sessions s SET cookies_enc = a.password_enc FROM portal_accounts a WHERE a.id = s.account_id`); err != nil {
		t.Fatal(err)
	}
	check("password moved into the session column")
	// Another account's session, moved to this one.
	if err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-2", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "u2"}, "pw", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := st.SavePortalSession(ctx, "acme-2", []byte(cookieJSON)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE portal_sessions SET cookies_enc = (SELECT cookies_enc FROM portal_sessions WHERE account_id = 'acme-2') WHERE account_id = 'acme-coupa'`); err != nil {
		t.Fatal(err)
	}
	check("another account's session")
}

func TestCredentialsUpdateDropsSavedSession(t *testing.T) {
	st := testenv.Store(t)
	seedAccount(t, st)
	if err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-2", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "u2"}, "pw", "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme-coupa", "acme-2"} {
		if err := st.SavePortalSession(ctx, id, []byte(cookieJSON)); err != nil {
			t.Fatal(err)
		}
	}
	err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: "acme-coupa", CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://127.0.0.1:1", Username: "supplier1"},
		"N3w-Passw0rd!", "jbsw y3dp ehpk 3pxp")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.PortalSession(ctx, "acme-coupa"); err != nil || ok {
		t.Fatalf("session kept after a credentials update: ok=%v err=%v", ok, err)
	}
	if _, ok, err := st.PortalSession(ctx, "acme-2"); err != nil || !ok {
		t.Fatalf("another account's session dropped: ok=%v err=%v", ok, err)
	}
}
