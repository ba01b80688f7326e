package driver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"portico/internal/driver"
	"portico/internal/portal"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/testenv"
)

// The store is the driver's session store in production.
var _ driver.SessionStore = (*store.Store)(nil)

func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m)) }

// sessionStore makes the fixture's account in a fresh store, for drivers that keep sessions there.
func sessionStore(t *testing.T, f *fixture) *store.Store {
	t.Helper()
	st := testenv.Store(t)
	ctx := context.Background()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	a := store.PortalAccount{ID: f.acct.ID, CustomerID: "acme", Portal: f.acct.Portal.Name, BaseURL: f.url, Username: user}
	if err := st.UpsertPortalAccount(ctx, a, pass, secret); err != nil {
		t.Fatal(err)
	}
	return st
}

// worker is a Driver as a fresh worker process makes it: nothing in memory, sessions and TOTP claims in
// the shared store.
func worker(t *testing.T, st *store.Store) *driver.Driver {
	t.Helper()
	return driver.New(testenv.Browser(t), driver.Config{Claims: st, Sessions: st, StepTimeout: 10 * time.Second})
}

// workerAhead is a worker whose TOTP clock runs one step ahead. The portal accepts the next step's code, so
// its login needs no wait for a step the first worker's login has not used: the tests stay fast.
func workerAhead(t *testing.T, st *store.Store) *driver.Driver {
	t.Helper()
	ahead := func() time.Time { return time.Now().Add(30 * time.Second) }
	return driver.New(testenv.Browser(t), driver.Config{Claims: st, Sessions: st, StepTimeout: 10 * time.Second, Now: ahead})
}

// findWith opens a tab of the account on drv and looks an invoice up, which logs in if the portal asks.
func findWith(t *testing.T, f *fixture, drv *driver.Driver) error {
	t.Helper()
	s, err := drv.Open(context.Background(), f.acct, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	_, _, err = s.FindInvoice("INV-S")
	return err
}

type storedCookie struct {
	Name    string  `json:"name"`
	Value   string  `json:"value"`
	Expires float64 `json:"expires"`
}

// savedCookies opens the account's saved session, by name.
func savedCookies(t *testing.T, st *store.Store, accountID string) map[string]storedCookie {
	t.Helper()
	blob, ok, err := st.PortalSession(context.Background(), accountID)
	if err != nil || !ok {
		t.Fatalf("saved session: ok=%v err=%v", ok, err)
	}
	var ss struct{ Cookies []storedCookie }
	if err := json.Unmarshal(blob, &ss); err != nil {
		t.Fatal(err)
	}
	out := map[string]storedCookie{}
	for _, c := range ss.Cookies {
		out[c.Name] = c
	}
	return out
}

func rawSession(t *testing.T, st *store.Store, accountID string) []byte {
	t.Helper()
	var raw []byte
	if err := st.Pool().QueryRow(context.Background(), `SELECT cookies_enc FROM portal_sessions WHERE account_id = $1`, accountID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func hasSavedSession(t *testing.T, st *store.Store, accountID string) bool {
	t.Helper()
	_, ok, err := st.PortalSession(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestSavedSessionServesANewWorker: a worker process started after another logged in reuses that login's
// session from the store: the portal sees no new login and the new worker counts none. The stored session
// holds no cookie name or value in the clear.
func TestSavedSessionServesANewWorker(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		st := sessionStore(t, f)
		first := worker(t, st)
		if err := findWith(t, f, first); err != nil {
			t.Fatal(err)
		}
		if n := first.Stats().Logins; n != 1 {
			t.Fatalf("first worker: %d logins", n)
		}
		cookies := savedCookies(t, st, f.acct.ID)
		if cookies["sim_session"].Value == "" {
			t.Fatalf("no session cookie saved: %v", len(cookies))
		}
		raw := rawSession(t, st, f.acct.ID)
		for name, c := range cookies {
			if bytes.Contains(raw, []byte(name)) || len(c.Value) > 3 && bytes.Contains(raw, []byte(c.Value)) {
				t.Fatalf("cookie %s in the clear in portal_sessions", name)
			}
		}

		second := worker(t, st)
		if err := findWith(t, f, second); err != nil {
			t.Fatal(err)
		}
		if n := second.Stats().Logins; n != 0 {
			t.Fatalf("second worker: %d logins, want 0 (saved session reused)", n)
		}
		if ok, totp := f.sim.CountEvents("login_ok", ""), f.sim.CountEvents("totp_ok", ""); ok != 1 || totp != 1 {
			t.Fatalf("the portal saw %d logins and %d codes, want 1 and 1", ok, totp)
		}
	})
}

// TestExpiredSavedSessionIsReplaced: the portal ended the saved session; the next worker logs in exactly
// once and saves its new session in place of the dead one, which a third worker then reuses.
func TestExpiredSavedSessionIsReplaced(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		st := sessionStore(t, f)
		if err := findWith(t, f, worker(t, st)); err != nil {
			t.Fatal(err)
		}
		before := savedCookies(t, st, f.acct.ID)["sim_session"].Value
		inject(t, f, simulator.Fault{Kind: simulator.FaultKillSession, Account: user})

		second := workerAhead(t, st)
		if err := findWith(t, f, second); err != nil {
			t.Fatal(err)
		}
		if n := second.Stats().Logins; n != 1 {
			t.Fatalf("second worker: %d logins, want 1", n)
		}
		if n := f.sim.CountEvents("login_ok", ""); n != 2 {
			t.Fatalf("the portal saw %d logins, want 2", n)
		}
		after := savedCookies(t, st, f.acct.ID)["sim_session"].Value
		if after == "" || after == before {
			t.Fatal("the saved session was not replaced by the new login's")
		}

		third := worker(t, st)
		if err := findWith(t, f, third); err != nil {
			t.Fatal(err)
		}
		if n, portalLogins := third.Stats().Logins, f.sim.CountEvents("login_ok", ""); n != 0 || portalLogins != 2 {
			t.Fatalf("the third worker logged in again: %d logins, the portal saw %d", n, portalLogins)
		}
	})
}

// TestRememberedBrowserIsSavedWithTheSession: the "remember this browser" cookie is part of the saved
// session, with its expiry, so a worker that has never run this account's login still skips the code when
// the session ends.
func TestRememberedBrowserIsSavedWithTheSession(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		r := f.sim.Rules()
		r.RememberBrowserDays = 30
		if _, err := f.sim.SetRules(r); err != nil {
			t.Fatal(err)
		}
		st := sessionStore(t, f)
		if err := findWith(t, f, worker(t, st)); err != nil {
			t.Fatal(err)
		}
		rem, ok := savedCookies(t, st, f.acct.ID)["sim_remember"]
		if !ok || rem.Expires < float64(time.Now().Add(29*24*time.Hour).Unix()) {
			t.Fatalf("remember cookie saved: %v, expires %v", ok, rem.Expires)
		}
		inject(t, f, simulator.Fault{Kind: simulator.FaultKillSession, Account: user})

		second := worker(t, st)
		if err := findWith(t, f, second); err != nil {
			t.Fatal(err)
		}
		if n := second.Stats().Logins; n != 1 {
			t.Fatalf("second worker: %d logins, want 1", n)
		}
		if ok, remembered := f.sim.CountEvents("totp_ok", ""), f.sim.CountEvents("totp_remembered", ""); ok != 1 || remembered != 1 {
			t.Fatalf("totp_ok %d, totp_remembered %d", ok, remembered)
		}
	})
}

// TestFailedLoginForgetsTheSavedSession: the portal ended the session and refuses the password; nothing is
// left saved for a later worker to start from.
func TestFailedLoginForgetsTheSavedSession(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		st := sessionStore(t, f)
		if err := findWith(t, f, worker(t, st)); err != nil {
			t.Fatal(err)
		}
		if err := f.sim.SetPassword(user, "changed at the portal"); err != nil {
			t.Fatal(err)
		}
		inject(t, f, simulator.Fault{Kind: simulator.FaultKillSession, Account: user})
		second := worker(t, st)
		if err := findWith(t, f, second); !errors.Is(err, portal.ErrLoginRejected) {
			t.Fatalf("want ErrLoginRejected, got %v", err)
		}
		if hasSavedSession(t, st, f.acct.ID) {
			t.Fatal("the dead session is still saved after a failed login")
		}
	})
}

// TestUnusableSavedSessionMeansALogin: a saved session that does not open (here, tampered with) is dropped
// and the worker logs in as if there were none, then saves its own; the error never quotes a cookie.
func TestUnusableSavedSessionMeansALogin(t *testing.T) {
	eachFlavor(t, func(t *testing.T, f *fixture) {
		st := sessionStore(t, f)
		if err := findWith(t, f, worker(t, st)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(context.Background(), `UPDATE portal_sessions SET cookies_enc = set_byte(cookies_enc, length(cookies_enc) - 1, get_byte(cookies_enc, length(cookies_enc) - 1) # 1)`); err != nil {
			t.Fatal(err)
		}
		second := workerAhead(t, st)
		if err := findWith(t, f, second); err != nil {
			t.Fatal(err)
		}
		if n := second.Stats().Logins; n != 1 {
			t.Fatalf("second worker: %d logins, want 1", n)
		}
		if !hasSavedSession(t, st, f.acct.ID) {
			t.Fatal("the new login's session was not saved")
		}
	})
}
