package portaldef_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"portico/internal/portaldef"
)

const fuzzSource = "fuzz.yaml"

// problemStart is how each problem validate reports begins: a path under one of the definition's fields
// (create_draft.steps[2].value, statuses.Paid, po_list.columns.remaining, kind).
var problemStart = regexp.MustCompile(`^(name|kind|statuses|login|po_list|po|invoice_list|invoice|create_draft|submit|delete)(\.|\[|: )`)

// continued are the problems whose text may go on over more lines: their path holds a key of the file
// (a status word, a column name) or they quote a regular expression's error, and either may contain a
// newline.
var continued = regexp.MustCompile(`^(statuses\.|[a-z_]+\.(columns|terms)\.|.*\.wait\.url: )`)

// decodeWhere is how a YAML or JSON decoding error says where the problem is: the line, the field
// (Go's json names the struct field and its JSON path, "Step.login.steps.fill"), the field's name
// (unknown or duplicate), or the whole document (a definition that is not a mapping).
var decodeWhere = regexp.MustCompile(`line \d+|Go struct field \S+|unknown field "|key "|field \S+ already set|Go value of type portaldef\.Definition`)

// FuzzParse feeds arbitrary bytes to Parse, as a user's definition file. Properties:
//   - it never panics;
//   - a refusal is a *portaldef.Error naming the file, and its message says where in the file: a value of
//     the wrong type or an unknown field is named (json: "Go struct field Step.login.steps.fill",
//     unknown field "kidn"); a validation error is one problem a line, each beginning with the path of its
//     field (create_draft.steps[2].value); a YAML syntax error gives its line, except where the YAML library
//     has none to give (an error on the first line, bad UTF-8, an alias loop, a null or composite map
//     key): those name the file only;
//   - an accepted definition marshals back to YAML that parses to an equal definition (defaults filled in
//     included), and marshals again to the same bytes: a definition can be saved and reloaded as is.
//
// The seed corpus is in testdata/fuzz/FuzzParse; `go test` runs it as a regular test.
func FuzzParse(f *testing.F) {
	var good []string
	for _, name := range []string{"coupa-sim", "ariba-sim"} {
		b, err := os.ReadFile(filepath.Join("builtin", name+".yaml"))
		if err != nil {
			f.Fatal(err)
		}
		good = append(good, string(b))
		f.Add(b)
	}
	coupa := good[0]
	// The mistakes of TestBadDefinitionsNameTheField, and a few more.
	for _, c := range []struct{ from, to string }{
		{"\nkind: pages", "\nkidn: pages"},
		{"kind: pages", "kind: desktop"},
		{"Paid: paid", "Paid: money_sent"},
		{"    - click: {button: Sign in}", "    - click: {button: Sign in}\n      navigate: /x"},
		{"      value: \"{{invoice_number}}\"\n", ""},
		{"    remaining: Remaining\n", ""},
		{"wait: {success: Draft saved}", "wait: {url: \"([\"}"},
		{"name: coupa-sim", "name: Coupa Sim"},
		{"changed_url: /pos?updated_since={{since}}&page={{page}}", "changed_url: /pos?page={{page}}"},
		{"changed_url: /pos?updated_since={{since}}&page={{page}}", "changed_url: /pos?updated_since={{since}}&page={{page}}&q={{search}}"},
		{"url: /pos?page={{page}}", "url: /pos"},
		{"search_url: /invoices?q={{search}}", "search_url: /invoices?q={{search}}\n  changed_url: /invoices?since={{since}}"},
		{"Paid: paid", "Paid: paid\n  paid: paid"},
		{"Paid: paid", "Paid: paid\nname: twice"},
		{"  steps:\n    - fill: {label: User name}", "  steps: {fill: x}\n    - fill: {label: User name}"},
		{"form: {label: Password}", "form: {label: [Password]}"},
		{"optional: true", "optional: maybe"},
		{"    number: PO Number\n", "    number: PO Number\n    colour: Colour\n"},
		{"- wait: {success: deleted}", "- wait: {}"},
		{"form: {label: Password}", "form: {}"},
	} {
		src := strings.Replace(coupa, c.from, c.to, 1)
		if src == coupa {
			f.Fatalf("seed %q does not change the definition", c.from)
		}
		f.Add([]byte(src))
	}
	for _, s := range []string{"", "name: coupa-sim\n", "[]", "42", "null", "{", "\t", "name: &a [*a]", "{\"name\": \"x\"}", "\xff"} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := portaldef.Parse(data, fuzzSource)
		if err != nil {
			checkDefinitionError(t, data, err)
			return
		}
		if d.Source != fuzzSource {
			t.Fatalf("Source %q, want %q", d.Source, fuzzSource)
		}
		out, err := yaml.Marshal(d)
		if err != nil {
			t.Fatalf("marshal the definition parsed from %q: %v", data, err)
		}
		again, err := portaldef.Parse(out, fuzzSource)
		if err != nil {
			t.Fatalf("the definition parsed from %q, marshalled, does not parse:\n%s\n%v", data, out, err)
		}
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("the definition parsed from %q changes when marshalled and parsed again:\n%#v\n%#v", data, d, again)
		}
		if out2, err := yaml.Marshal(again); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshalling is not stable: %v\n%s\n%s", err, out, out2)
		}
	})
}

func checkDefinitionError(t *testing.T, data []byte, err error) {
	t.Helper()
	var de *portaldef.Error
	if !errors.As(err, &de) {
		t.Fatalf("Parse(%q): %T %v, want a *portaldef.Error", data, err, err)
	}
	if de.Source != fuzzSource || !strings.HasPrefix(err.Error(), "portal definition "+fuzzSource+": ") {
		t.Fatalf("Parse(%q): %q does not name the file", data, err)
	}
	msg := de.Msg
	if yamlErr, ok := strings.CutPrefix(msg, "error converting YAML to JSON: "); ok {
		// The YAML library gives the line of most syntax errors, but none for one on the first line, an
		// encoding error, an alias loop or a map key JSON cannot have ("? " with no key): those name the
		// file only.
		if strings.TrimSpace(strings.TrimPrefix(yamlErr, "yaml: ")) == "" {
			t.Fatalf("Parse(%q): %q does not say what is wrong", data, msg)
		}
		return
	}
	if strings.HasPrefix(msg, "error unmarshaling JSON: ") {
		if !decodeWhere.MatchString(msg) {
			t.Fatalf("Parse(%q): %q names no line, field or document", data, msg)
		}
		return
	}
	lines := strings.Split(msg, "\n")
	canContinue := false
	for i, line := range lines {
		if problemStart.MatchString(line) {
			canContinue = continued.MatchString(line)
			continue
		}
		if i == 0 || !canContinue {
			t.Fatalf("Parse(%q): problem %q (in %q) does not begin with its field", data, line, msg)
		}
	}
}
