// Package testenv starts the real services Portico's tests run against: a throwaway PostgreSQL cluster
// per test package, a fresh database per test, and a vault keyring.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"portico/internal/browser"
	"portico/internal/demo"
	"portico/internal/devstack"
	"portico/internal/simulator"
	"portico/internal/store"
	"portico/internal/vault"
)

var (
	adminDSN string
	pgErr    error // PostgreSQL could not start
)

// RunWithPostgres runs a test package's tests with a throwaway PostgreSQL cluster; call it from TestMain.
// When PostgreSQL cannot start, tests that need it fail and benchmarks that need it skip (Database). The
// dev server a test started with Temporal is stopped afterwards too.
func RunWithPostgres(m *testing.M) int {
	defer stopTemporal()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: start PostgreSQL:", err)
		pgErr = err
		return m.Run()
	}
	defer pg.Stop()
	adminDSN = pg.DSN()
	return m.Run()
}

// Database creates an empty database for one test and returns its URL; it is dropped when the test ends. A
// benchmark is skipped when PostgreSQL could not start; a test fails.
func Database(t testing.TB) string {
	t.Helper()
	if pgErr != nil {
		if _, bench := t.(*testing.B); bench {
			t.Skipf("testenv: PostgreSQL did not start: %v", pgErr)
		}
		t.Fatalf("testenv: PostgreSQL did not start: %v", pgErr)
	}
	if adminDSN == "" {
		t.Fatal("testenv: call testenv.RunWithPostgres from TestMain")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + strings.ToLower(hex.EncodeToString(b))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), adminDSN)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(adminDSN)
	u.Path = "/" + name
	return u.String()
}

// Keys returns a fresh keyring.
func Keys(t testing.TB) *vault.Keyring {
	t.Helper()
	e, err := vault.NewKeyEntry("test")
	if err != nil {
		t.Fatal(err)
	}
	k, err := vault.NewKeyring(e)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Store opens a migrated store on a fresh database.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), Database(t), Keys(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// DemoPortal serves a fresh portal simulator on loopback and seeds it and the store with the demo ERP.
func DemoPortal(t testing.TB, st *store.Store, suffix string) (*simulator.Server, string, demo.Data) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	data, err := demo.Seed(context.Background(), st, sim, srv.URL, suffix)
	if err != nil {
		t.Fatal(err)
	}
	return sim, srv.URL, data
}

var (
	browserOnce sync.Once
	sharedBr    *browser.Browser
	browserErr  error
)

// Browser returns one Chromium shared by all tests of the process, as a worker shares one: each test
// still gets isolated tabs, and the package pays for one browser start instead of one per test.
func Browser(t testing.TB) *browser.Browser {
	t.Helper()
	browserOnce.Do(func() { sharedBr, browserErr = browser.Start(context.Background(), browser.Options{}) })
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	return sharedBr
}

// GeneratedAccountID is the portal account GeneratedPortal makes for the first generated supplier.
const GeneratedAccountID = "gen-coupa"

// GeneratedPortal serves a portal simulator (cfg picks the flavor and page size) seeded with
// simulator.Generate(spec), and makes portal account GeneratedAccountID in the store for the first generated
// supplier (its customer "gen-customer"), driven by the flavor's built-in definition.
func GeneratedPortal(t testing.TB, st *store.Store, cfg simulator.Config, spec simulator.GenerateSpec) (*simulator.Server, string, simulator.Generated) {
	t.Helper()
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := simulator.Generate(spec)
	if err := g.Seed(sim); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := st.UpsertCustomer(ctx, store.Customer{ID: "gen-customer", Name: "Acme Manufacturing", BuyerEntity: "Acme Corp"}); err != nil {
		t.Fatal(err)
	}
	portalName := "coupa-sim"
	if cfg.Flavor == simulator.FlavorAriba {
		portalName = "ariba-sim"
	}
	a := g.Accounts[0]
	acct := store.PortalAccount{ID: GeneratedAccountID, CustomerID: "gen-customer", Portal: portalName, BaseURL: srv.URL, Username: a.Username, TimeZone: "UTC"}
	if err := st.UpsertPortalAccount(ctx, acct, a.Password, a.TOTPSecret); err != nil {
		t.Fatal(err)
	}
	return sim, srv.URL, g
}
