package portaldef_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/internal/portal"
	"portico/internal/portaldef"
)

func builtin(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("builtin", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuiltinsParse(t *testing.T) {
	reg, err := portaldef.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	names := reg.Names()
	if len(names) < 2 {
		t.Fatalf("built-in definitions: %v", names)
	}
	for _, n := range names {
		d, err := reg.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != n || d.Source != "embedded:"+n+".yaml" {
			t.Fatalf("%s: %+v", n, d)
		}
	}
	for _, n := range []string{"coupa-sim", "ariba-sim"} {
		if d, _ := reg.Lookup(n); d.POList.ChangedURL == "" {
			t.Errorf("%s lists no changed POs (po_list.changed_url)", n)
		}
	}
	if _, err := reg.Lookup("no-such-portal"); !errors.Is(err, portaldef.ErrUnknownPortal) {
		t.Fatalf("unknown portal: %v", err)
	}
}

func TestStatusWordsMapOrStop(t *testing.T) {
	d, err := portaldef.Parse(builtin(t, "coupa-sim"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := d.Status("  pending   APPROVAL "); err != nil || s != portal.StatusWithBuyer {
		t.Fatalf("pending approval: %v %v", s, err)
	}
	var drift *portal.DriftError
	if _, err := d.Status("Awaiting Approval"); !errors.As(err, &drift) || !strings.Contains(err.Error(), "Awaiting Approval") {
		t.Fatalf("unknown word: %v", err)
	}
}

// TestBadDefinitionsNameTheField: a definition with a mistake is refused with the field to fix, never
// half-loaded.
func TestBadDefinitionsNameTheField(t *testing.T) {
	good := string(builtin(t, "coupa-sim"))
	cases := []struct{ name, from, to, want string }{
		{"typo in a key", "\nkind: pages", "\nkidn: pages", `unknown field "kidn"`},
		{"unknown kind", "kind: pages", "kind: desktop", "kind:"},
		{"unknown canonical status", "Paid: paid", "Paid: money_sent", "statuses.Paid"},
		{"step with two actions", "    - click: {button: Sign in}", "    - click: {button: Sign in}\n      navigate: /x", "login.steps[2]"},
		{"fill without value", "      value: \"{{invoice_number}}\"\n", "", "create_draft.steps[2].value"},
		{"missing column", "    remaining: Remaining\n", "", "po_list.columns.remaining"},
		{"bad wait url", "wait: {success: Draft saved}", "wait: {url: \"([\"}", "wait.url"},
		{"bad name", "name: coupa-sim", "name: Coupa Sim", "name:"},
		{"changed list without since", "changed_url: /pos?updated_since={{since}}&page={{page}}", "changed_url: /pos?page={{page}}", "po_list.changed_url: must use {{since}}"},
		{"paged changed list without page", "changed_url: /pos?updated_since={{since}}&page={{page}}", "changed_url: /pos?updated_since={{since}}", "po_list.changed_url: must use {{page}}"},
		{"changed list with another variable", "changed_url: /pos?updated_since={{since}}&page={{page}}", "changed_url: /pos?updated_since={{since}}&page={{page}}&q={{search}}", "{{search}} is not available"},
		{"paged list without page", "url: /pos?page={{page}}", "url: /pos", "po_list.url: must use {{page}}"},
		{"changed invoice list", "search_url: /invoices?q={{search}}", "search_url: /invoices?q={{search}}\n  changed_url: /invoices?since={{since}}", "invoice_list.changed_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(good, c.from, c.to, 1)
			if src == good {
				t.Fatalf("case does not change the definition")
			}
			_, err := portaldef.Parse([]byte(src), "case.yaml")
			var de *portaldef.Error
			if !errors.As(err, &de) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "case.yaml") {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

// TestUserDefinitionsArePickedUpWithoutRestart: a file dropped into the directory, or changed there, is
// used by the next lookup of the same registry.
func TestUserDefinitionsArePickedUpWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	reg, err := portaldef.NewRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Lookup("acme-portal"); !errors.Is(err, portaldef.ErrUnknownPortal) {
		t.Fatalf("before the file exists: %v", err)
	}
	src := strings.Replace(string(builtin(t, "coupa-sim")), "name: coupa-sim", "name: acme-portal", 1)
	path := filepath.Join(dir, "acme-portal.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := reg.Lookup("acme-portal")
	if err != nil || d.Source != path || d.Title == "changed" {
		t.Fatalf("new file: %+v %v", d, err)
	}
	changed := strings.Replace(src, "title: ", "title: changed #", 1)
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if d, err := reg.Lookup("acme-portal"); err != nil || d.Title != "changed" {
		t.Fatalf("changed file: %+v %v", d, err)
	}
	// A user file overrides the built-in of the same name.
	override := strings.Replace(string(builtin(t, "coupa-sim")), "title: ", "title: ours #", 1)
	if err := os.WriteFile(filepath.Join(dir, "coupa-sim.yaml"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := reg.Lookup("coupa-sim"); err != nil || d.Title != "ours" {
		t.Fatalf("override: %+v %v", d, err)
	}
	// A broken file is an error naming the file, not a silent fall back to the built-in.
	if err := os.WriteFile(filepath.Join(dir, "coupa-sim.yaml"), []byte("name: coupa-sim\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(2 * time.Second)
	_ = os.Chtimes(filepath.Join(dir, "coupa-sim.yaml"), later, later)
	if _, err := reg.Lookup("coupa-sim"); err == nil || !strings.Contains(err.Error(), "coupa-sim.yaml") {
		t.Fatalf("broken override: %v", err)
	}
}
