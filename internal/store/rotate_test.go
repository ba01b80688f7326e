package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
)

// keyEntries makes fresh key entries with the given IDs.
func keyEntries(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		e, err := vault.NewKeyEntry(id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = e
	}
	return out
}

// openWith opens a store on dsn with a keyring of the given entries (the first is the primary), as a
// worker restarted with another key configuration would.
func openWith(t *testing.T, dsn string, entries ...string) *store.Store {
	t.Helper()
	keys, err := vault.NewKeyring(entries...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

const rotatedAccounts = 3 // more than one batch of 2

func password(i int) string { return fmt.Sprintf("Passw0rd-%d!", i) }

// seedSealed makes rotatedAccounts accounts, and saved sessions for all but the last, under st's key.
func seedSealed(t *testing.T, st *store.Store) {
	t.Helper()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	for i := range rotatedAccounts {
		id := fmt.Sprintf("acct-%d", i)
		if err := st.UpsertPortalAccount(ctx, store.PortalAccount{ID: id, CustomerID: "acme", Portal: "coupa-sim", BaseURL: "http://x", Username: "u"}, password(i), "JBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
		if i < rotatedAccounts-1 {
			if err := st.SavePortalSession(ctx, id, []byte("cookies of "+id)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkSealed checks that st opens every seeded value to what was sealed.
func checkSealed(t *testing.T, st *store.Store) {
	t.Helper()
	for i := range rotatedAccounts {
		id := fmt.Sprintf("acct-%d", i)
		c, err := st.Credentials(ctx, id)
		if err != nil || c.Password != password(i) || c.TOTPSecret != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("%s credentials: %v", id, err)
		}
		got, ok, err := st.PortalSession(ctx, id)
		if i < rotatedAccounts-1 && (err != nil || !ok || string(got) != "cookies of "+id) {
			t.Fatalf("%s session: %q %v %v", id, got, ok, err)
		}
	}
}

func keyIDs(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	m, err := st.SecretKeyIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRotateSecretsMovesEveryValueToThePrimaryKey(t *testing.T) {
	defer func(n int) { *store.RotateBatchSize = n }(*store.RotateBatchSize)
	*store.RotateBatchSize = 2

	k := keyEntries(t, "key-a", "key-b")
	dsn := testenv.Database(t)
	stA := openWith(t, dsn, k["key-a"])
	seedSealed(t, stA)
	total := 2*rotatedAccounts + rotatedAccounts - 1
	if m := keyIDs(t, stA); len(m) != 1 || m["key-a"] != total {
		t.Fatalf("before: %v", m)
	}
	// A refusal recorded before the rotation still holds after it: a rotation is no credentials update.
	if err := stA.RecordLoginRefusal(ctx, "acct-0", "account acct-0: portal: login rejected"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)

	stBA := openWith(t, dsn, k["key-b"], k["key-a"])
	rep, err := stBA.RotateSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ColumnRotation{
		{Column: "portal_accounts.password_enc", ReEncrypted: rotatedAccounts},
		{Column: "portal_accounts.totp_secret_enc", ReEncrypted: rotatedAccounts},
		{Column: "portal_sessions.cookies_enc", ReEncrypted: rotatedAccounts - 1},
	}
	if rep.PrimaryKeyID != "key-b" || fmt.Sprint(rep.Columns) != fmt.Sprint(want) || rep.ReEncrypted() != total {
		t.Fatalf("first rotation: %+v", rep)
	}
	if m := keyIDs(t, stBA); len(m) != 1 || m["key-b"] != total {
		t.Fatalf("after: %v", m)
	}
	checkSealed(t, stBA)
	if _, refused, err := stBA.LoginRefusal(ctx, "acct-0"); err != nil || !refused {
		t.Fatalf("the rotation cleared a login refusal: %v %v", refused, err)
	}

	// A second run finds everything current.
	rep, err = stBA.RotateSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []store.ColumnRotation{
		{Column: "portal_accounts.password_enc", Current: rotatedAccounts},
		{Column: "portal_accounts.totp_secret_enc", Current: rotatedAccounts},
		{Column: "portal_sessions.cookies_enc", Current: rotatedAccounts - 1},
	}
	if fmt.Sprint(rep.Columns) != fmt.Sprint(want) || rep.ReEncrypted() != 0 {
		t.Fatalf("second rotation: %+v", rep)
	}

	// The old key can go: key B alone opens everything, key A alone nothing.
	checkSealed(t, openWith(t, dsn, k["key-b"]))
	if _, err := openWith(t, dsn, k["key-a"]).Credentials(ctx, "acct-0"); !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("old key alone: %v", err)
	}
}

// TestRotateSecretsNamesAMissingKey: a keyring that lacks the key a value is under makes the rotation stop
// with an error naming the account, the column and the missing key ID, and changes nothing.
func TestRotateSecretsNamesAMissingKey(t *testing.T) {
	k := keyEntries(t, "key-a", "key-b")
	dsn := testenv.Database(t)
	seedSealed(t, openWith(t, dsn, k["key-a"]))

	stB := openWith(t, dsn, k["key-b"])
	_, err := stB.RotateSecrets(ctx)
	var re *store.RotationError
	if !errors.As(err, &re) || !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("want a RotationError for an unknown key, got %v", err)
	}
	if re.AccountID != "acct-0" || re.Column != "portal_accounts.password_enc" || re.KeyID != "key-a" {
		t.Fatalf("error names %+v", re)
	}
	msg := err.Error()
	if !strings.Contains(msg, "acct-0") || !strings.Contains(msg, `"key-a"`) || !strings.Contains(msg, "missing from the keyring") || strings.Contains(msg, "Passw0rd") {
		t.Fatalf("error %q", msg)
	}
	if m := keyIDs(t, stB); len(m) != 1 || m["key-a"] != 2*rotatedAccounts+rotatedAccounts-1 {
		t.Fatalf("the failed rotation changed values: %v", m)
	}
}

// TestRotateSecretsDoesNotOverwriteAConcurrentUpdate: a credentials update that holds the account's row
// when the rotation reaches it is waited for, and its new password is what the rotation re-encrypts, not
// the value the row had before.
func TestRotateSecretsDoesNotOverwriteAConcurrentUpdate(t *testing.T) {
	k := keyEntries(t, "key-a", "key-b")
	dsn := testenv.Database(t)
	stA := openWith(t, dsn, k["key-a"])
	seedSealed(t, stA)
	keysA, err := vault.NewKeyring(k["key-a"])
	if err != nil {
		t.Fatal(err)
	}
	newPw, err := keysA.Seal([]byte("Upd4ted-Passw0rd!"), "portal_account/acct-1/password")
	if err != nil {
		t.Fatal(err)
	}

	// An update in flight, by a worker that still has key A as its primary.
	tx, err := stA.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `UPDATE portal_accounts SET password_enc = $1, updated_at = now() WHERE id = 'acct-1'`, newPw); err != nil {
		t.Fatal(err)
	}

	stBA := openWith(t, dsn, k["key-b"], k["key-a"])
	type result struct {
		rep store.RotationReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := stBA.RotateSecrets(ctx)
		done <- result{rep, err}
	}()
	// Wait until the rotation waits for the update's row lock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := stA.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the rotation finished without waiting for the update: %+v %v", r.rep, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotation never waited for the row lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	c, err := stBA.Credentials(ctx, "acct-1")
	if err != nil || c.Password != "Upd4ted-Passw0rd!" {
		t.Fatalf("after rotation acct-1 has password %v (err %v): the concurrent update was overwritten", c.Password == password(1), err)
	}
	if m := keyIDs(t, stBA); len(m) != 1 {
		t.Fatalf("after: %v", m)
	}
}
