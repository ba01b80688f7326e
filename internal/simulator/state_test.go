package simulator

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStatePersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEnv(t, Config{StatePath: path, MaxFailedLogins: 5})
	e.seedPO("PO-1", POOpen)
	b := e.browser()
	e.login(b)
	draft := e.createDraft(b, "PO-1", "", invoiceFields("", "KEEP-1"))
	b.post(draft.url.Path+"/submit", url.Values{"csrf_token": {draft.csrf()}})
	e.createDraft(b, "PO-1", "", invoiceFields("", "KEEP-2"))
	lastCode := e.code()
	other := e.browser()
	if p := other.submitCode(other.submitLogin(testUser, testPassword), lastCode); p.url.Path != "/pos" {
		t.Fatalf("second login landed on %s", p.url)
	}
	e.browser().submitLogin(testUser, "wrong") // one failure on record
	before := e.srv.Invoices(testUser)
	beforeEvents := len(e.srv.Events())

	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("state file not written: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode %o, want 600", perm)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".state.json.tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	srv2, err := New(Config{StatePath: path, Now: e.clock.Now})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	after := srv2.Invoices(testUser)
	if len(after) != len(before) || len(after) != 2 {
		t.Fatalf("reloaded %d invoices, want %d", len(after), len(before))
	}
	for i := range before {
		a, b := before[i], after[i]
		if a.ID != b.ID || a.Number != b.Number || a.Status != b.Status || !a.Total.Equal(b.Total) ||
			!a.InvoiceDate.Equal(b.InvoiceDate) || !a.SubmittedAt.Equal(b.SubmittedAt) || len(a.Lines) != len(b.Lines) ||
			a.AttachmentName != b.AttachmentName {
			t.Errorf("invoice %d differs after reload:\n before %+v\n after  %+v", i, a, b)
		}
	}
	if got := len(srv2.Events()); got != beforeEvents {
		t.Errorf("reloaded %d events, want %d", got, beforeEvents)
	}
	srv2.mu.Lock()
	acct := srv2.accounts[testUser]
	po := srv2.pos[testUser]["PO-1"]
	srv2.mu.Unlock()
	if acct == nil || acct.LastTOTPStep == 0 || acct.FailedLogins != 1 || po == nil || !po.OrderDate.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("account %+v / PO %+v not restored", acct, po)
	}

	// The reloaded portal keeps working: balances, numbering, TOTP history.
	e2 := &env{t: t, srv: srv2, clock: e.clock}
	e2.ts = newTestServer(t, srv2)
	b2 := e2.browser()
	if p := b2.submitCode(b2.submitLogin(testUser, testPassword), lastCode); p.flashError() != msgCodeReused {
		t.Errorf("a code used before the restart was accepted again: %s %q", p.url, p.flashError())
	}
	e2.clock.Advance(30 * time.Second)
	e2.login(b2)
	if got := b2.get("/pos/PO-1").text("#po-remaining"); got != "150.00" {
		t.Errorf("remaining after reload = %s, want 150.00", got)
	}
	p := e2.createDraft(b2, "PO-1", "", invoiceFields("", "KEEP-3"))
	if p.url.Path != "/invoices/INV-000003" {
		t.Errorf("next invoice after reload is %s, want INV-000003", p.url.Path)
	}
}

func TestCorruptStateFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StatePath: path}); err == nil {
		t.Error("New accepted a corrupt state file")
	}
}
