package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"portico/internal/codec"
	"portico/internal/config"
	"portico/internal/demo"
	"portico/internal/devstack"
	"portico/internal/erp"
	"portico/internal/money"
	"portico/internal/service"
	"portico/internal/store"
	"portico/internal/testenv"
	"portico/internal/vault"
	"portico/workflows"
)

// runMainEnv makes the test binary run main itself, so that TestMainExitCodes checks the real entry point.
const runMainEnv = "STARTER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(testenv.RunWithPostgres(m))
}

// TestMainExitCodes runs main as a process: the help lists every command on stdout and exits 0, a mistake
// exits 2 with the usage on stderr.
func TestMainExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--help"}, exitOK, "Usage: starter <command>"},
		{[]string{"help", "drafts"}, exitOK, "Usage: starter drafts"},
		{[]string{"frobnicate"}, exitUsage, ""},
		{[]string{"aging", "-format", "xml"}, exitUsage, ""},
	} {
		cmd := exec.Command(os.Args[0], c.args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.HasPrefix(out.String(), c.out) || (c.code == exitUsage && !strings.Contains(errb.String(), "Usage: starter")) {
			t.Errorf("starter %v: exit %d, want %d\nstdout: %s\nstderr: %s", c.args, code, c.code, out.String(), errb.String())
		}
		if c.args[0] == "--help" {
			for _, cm := range commands() {
				contains(t, "starter --help", out.String(), "  "+cm.name+" ")
			}
		}
	}
}

// result is what one in-process run of the command line printed.
type result struct {
	out, err string
	code     int
}

// cli runs the command line in-process, as main does, with its output captured.
func cli(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, dir: dir, now: time.Now, pollEvery: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, e, args)
	return result{out: out.String(), err: errb.String(), code: code}
}

// ok runs the command line and fails the test unless it succeeded; it returns stdout.
func ok(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := cli(t, dir, args...)
	if r.code != exitOK {
		t.Fatalf("starter %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// fails runs the command line and fails the test unless it exited with code.
func fails(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := cli(t, t.TempDir(), args...)
	if r.code != code {
		t.Fatalf("starter %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.out, r.err)
	}
	return r
}

func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// lineWith is the first line of out that mentions s.
func lineWith(out, s string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, s) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func TestHelpListsEveryCommandAndEachCommandHasUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := cli(t, "", args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d", args, r.code)
		}
		for _, c := range commands() {
			if line := lineWith(r.out, "  "+c.name+" "); !strings.Contains(line, c.summary) {
				t.Errorf("%v: no line for %s: %q", args, c.name, line)
			}
		}
	}
	for _, name := range []string{"start", "drafts", "approve", "reject", "request-changes", "resolve", "state", "history", "evidence",
		"aging", "matches", "approvers", "audit", "schedules", "keys"} {
		if _, ok := lookup(name); !ok {
			t.Errorf("command %s is missing", name)
		}
	}
	// Every command, and every action of those that have actions, explains itself with -h and --help,
	// without connecting anywhere.
	cases := [][]string{{"schedules", "ensure"}, {"schedules", "trigger"}, {"schedules", "pause"}, {"schedules", "unpause"},
		{"schedules", "runs"}, {"keys", "new"}, {"keys", "status"}, {"keys", "rotate"}}
	for _, c := range commands() {
		if c.name != "help" {
			cases = append(cases, []string{c.name})
		}
	}
	for _, c := range cases {
		for _, h := range []string{"-h", "--help"} {
			r := cli(t, "", append(c, h)...)
			want := "Usage: starter " + strings.Join(c, " ")
			if r.code != exitOK || !strings.HasPrefix(r.out, want) {
				t.Errorf("%v %s: exit %d, stdout %q", c, h, r.code, r.out)
			}
		}
	}
	r := cli(t, "", "approve", "-h")
	contains(t, "approve -h", r.out, "-approver", "-note", "-draft version")
	r = cli(t, "", "help", "aging")
	contains(t, "help aging", r.out, "Usage: starter aging", "-as-of", "-format", "current = not yet due", "90+")

	// Mistakes in the command line exit 2 with the usage on stderr.
	for _, args := range [][]string{{}, {"frobnicate"}, {"approve"}, {"start"}, {"state", "a", "b"}, {"drafts", "-older-than", "soon"},
		{"aging", "-as-of", "31/12/2026"}, {"aging", "-format", "xml"}, {"schedules", "bogus"}, {"keys"}, {"keys", "bogus"},
		{"approvers"}, {"evidence"}, {"resolve", "erp-1"}, {"help", "frobnicate"}, {"drafts", "-customer", `a"b`}} {
		r := cli(t, "", args...)
		if r.code != exitUsage || !strings.Contains(r.err, "Usage: starter") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.err)
		}
	}
}

func TestAgeFlagTakesDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"3d": 72 * time.Hour, "90m": 90 * time.Minute, "36h": 36 * time.Hour, "0d": 0} {
		var a age
		if err := a.Set(in); err != nil || time.Duration(a) != want {
			t.Errorf("%s: %v %v", in, time.Duration(a), err)
		}
	}
	for _, in := range []string{"", "d", "-1d", "3 days", "-5m"} {
		var a age
		if err := a.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	for d, want := range map[time.Duration]string{30 * time.Second: "<1m", 42 * time.Minute: "42m", 26*time.Hour + 5*time.Minute: "26h05m", 76 * time.Hour: "3d04h"} {
		if got := formatAge(d); got != want {
			t.Errorf("%s: %s, want %s", d, got, want)
		}
	}
}

// stack is the real Portico the commands run against: the Temporal dev server, PostgreSQL, the portal
// simulator seeded with the demo customer, Chromium, and a worker in this process. The command line
// reaches it only through the environment, as it would in production.
type stack struct {
	client client.Client
	codec  *codec.Codec
	store  *store.Store
	data   demo.Data
}

func startStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{Headless: true, SearchAttributes: workflows.SearchAttributes, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop() })
	logs := &testenv.Logs{}
	log := slog.New(slog.NewMultiHandler(
		slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	payloadEntry, err := vault.NewKeyEntry("starter-payload-1")
	if err != nil {
		t.Fatal(err)
	}
	payloadKeys, err := vault.NewKeyring(payloadEntry)
	if err != nil {
		t.Fatal(err)
	}
	cd := codec.New(payloadKeys)
	c, err := client.DialContext(ctx, codec.ClientOptions(client.Options{HostPort: tmp.HostPort(), Logger: tlog.NewStructuredLogger(log)}, cd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	vaultEntry, err := vault.NewKeyEntry("starter-vault-1")
	if err != nil {
		t.Fatal(err)
	}
	vaultKeys, err := vault.NewKeyring(vaultEntry)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.Database(t)
	st, err := store.Open(ctx, dsn, vaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, data := testenv.DemoPortal(t, st, "")

	for k, v := range map[string]string{
		"TEMPORAL_ADDRESS": tmp.HostPort(), "TEMPORAL_NAMESPACE": "default", "PORTICO_DATABASE_URL": dsn,
		"PORTICO_PAYLOAD_KEY": payloadEntry, "PORTICO_PAYLOAD_KEY_FILE": "", "PORTICO_VAULT_KEY": vaultEntry,
		"PORTICO_VAULT_KEY_FILE": "", "TEMPORAL_UI_URL": "http://ui.example:8233", "USER": "",
	} {
		t.Setenv(k, v)
	}

	done := make(chan error, 1)
	wctx, stopWorker := context.WithCancel(ctx)
	go func() {
		done <- service.RunWorker(wctx, config.Config{BrowserSlots: 2}, service.RoleAll, service.Deps{Store: st, Client: c, Logger: log})
	}()
	t.Cleanup(func() {
		stopWorker()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &stack{client: c, codec: cd, store: st, data: data}
}

// eventually retries check until it reports true or the time is up.
func eventually(t *testing.T, timeout time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *stack) waitStage(t *testing.T, invoiceID string, stages ...workflows.Stage) workflows.InvoiceState {
	t.Helper()
	var last workflows.InvoiceState
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := erp.State(context.Background(), s.client, invoiceID)
		last = st
		for _, want := range stages {
			if err == nil && st.Stage == want {
				return st
			}
		}
		if time.Now().After(deadline) {
			s.dump(t, workflows.InvoiceWorkflowID(invoiceID))
			t.Fatalf("invoice %s never reached %s (last %+v, %v)", invoiceID, fmtStages(stages), last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dump logs where a workflow is stuck: its pending activities, their attempts and last failures.
func (s *stack) dump(t *testing.T, workflowID string) {
	d, err := s.client.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		t.Logf("describe %s: %v", workflowID, err)
		return
	}
	t.Logf("%s: %s", workflowID, d.GetWorkflowExecutionInfo().GetStatus())
	fc := codec.FailureConverter(codec.DataConverter(s.codec))
	for _, a := range d.GetPendingActivities() {
		msg := ""
		if f := a.GetLastFailure(); f != nil {
			msg = fc.FailureToError(f).Error()
		}
		t.Logf("pending %s (%s) attempt %d: %s", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt(), msg)
	}
}

func fmtStages(stages []workflows.Stage) string {
	var s []string
	for _, st := range stages {
		s = append(s, string(st))
	}
	return strings.Join(s, " or ")
}

// TestCommandsAgainstTheRealStack runs every command against one real stack, in the order people use
// them: sync the account's POs, start the demo invoices, see their drafts and evidence, decide on them,
// read their history, the AR aging report and the audit, and look after approvers and keys.
func TestCommandsAgainstTheRealStack(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	ids := s.data.InvoiceIDs
	if len(ids) != 3 {
		t.Fatalf("demo invoices %v", ids)
	}
	approved, rejected, changed := ids[0], ids[1], ids[2]
	const approver = "ops@boltnut.example"

	// First, so that the sync's login leaves a portal session the invoices' browser activities reuse,
	// instead of logging in side by side and waiting for TOTP steps of their own.
	t.Run("schedules", func(t *testing.T) {
		contains(t, "schedules ensure", ok(t, "", "schedules", "ensure"), "po-sync/"+demo.AccountID+" created")
		contains(t, "schedules", ok(t, "", "schedules"), "po-sync/"+demo.AccountID+" updated")
		out := ok(t, "", "schedules", "trigger", demo.AccountID, "-wait")
		t.Logf("starter schedules trigger -wait:\n%s", out)
		contains(t, "trigger -wait", out, "po-sync/"+demo.AccountID+": triggered", "sync started: workflow po-sync/"+demo.AccountID,
			"(full): finished, 1 pages, 4 rows", "finished in ", "full sync, 1 pages, 4 rows")
		out = ok(t, "", "schedules", "runs", demo.AccountID)
		if line := lineWith(out, "finished"); !strings.Contains(line, "full") {
			t.Errorf("runs: %q\n%s", line, out)
		}
		contains(t, "runs of an account without syncs", ok(t, "", "schedules", "runs", "elsewhere"), "no PO syncs of account elsewhere yet")

		h := s.client.ScheduleClient().GetHandle(ctx, workflows.POSyncScheduleID(demo.AccountID))
		contains(t, "pause", ok(t, "", "schedules", "pause", demo.AccountID, "-note", "portal maintenance"), "paused (portal maintenance)")
		if d, err := h.Describe(ctx); err != nil || !d.Schedule.State.Paused || d.Schedule.State.Note != "portal maintenance" {
			t.Fatalf("after pause: %+v %v", d.Schedule.State, err)
		}
		contains(t, "unpause", ok(t, "", "schedules", "unpause", demo.AccountID), "unpaused")
		if d, err := h.Describe(ctx); err != nil || d.Schedule.State.Paused {
			t.Fatalf("after unpause: %+v %v", d.Schedule.State, err)
		}
		fails(t, exitError, "schedules", "trigger", "elsewhere", "-wait")
		fails(t, exitUsage, "schedules", "pause")
	})

	t.Run("start", func(t *testing.T) {
		out := ok(t, "", append([]string{"start"}, ids...)...)
		for i, id := range ids {
			contains(t, "start", out, "["+strconv.Itoa(i+1)+"/3] "+workflows.InvoiceWorkflowID(id)+" started (run ")
		}
		// Starting again is harmless, and one bad ID does not stop the others.
		r := cli(t, "", "start", approved, "erp-nope")
		if r.code != exitError {
			t.Fatalf("exit %d", r.code)
		}
		contains(t, "second start", r.out, "[1/2] invoice/"+approved+" already exists", "[2/2] invoice/erp-nope not started")
		contains(t, "second start", r.err, "1 of 2 invoices not started")
		for _, id := range ids {
			s.waitStage(t, id, workflows.StageAwaitingApproval)
		}
	})

	t.Run("drafts", func(t *testing.T) {
		var out string
		// Visibility follows the workflows' search attributes a moment later.
		eventually(t, 30*time.Second, "three drafts listed", func() bool {
			out = ok(t, "", "drafts")
			return strings.Contains(out, "3 drafts await a decision")
		})
		t.Logf("starter drafts:\n%s", out)
		contains(t, "drafts", out, `Visibility query: InvoiceStage in ("awaiting_approval", "escalated") AND ExecutionStatus = "Running"`,
			"Temporal UI: http://ui.example:8233/namespaces/default/workflows?query=InvoiceStage+in", "starter evidence ev_",
			"-approver <e-mail> -draft <DRAFT>")
		for _, id := range ids {
			inv, err := s.store.Invoice(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			amount, _ := money.Format(inv.Total, inv.Currency)
			line := lineWith(out, id+" ")
			for _, w := range append([]string{inv.Number, "acme", inv.PONumber, amount + " USD", "awaiting_approval"}, demo.Approvers...) {
				if !strings.Contains(line, w) {
					t.Errorf("draft line of %s lacks %q: %q", id, w, line)
				}
			}
			if !strings.Contains(line, "<1m") && !strings.Contains(line, "m  ") {
				t.Errorf("draft line of %s shows no age: %q", id, line)
			}
			state, err := erp.State(ctx, s.client, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range state.Evidence {
				contains(t, "drafts", out, "starter evidence "+ev)
			}
		}
		out = ok(t, "", "drafts", "-customer", "acme", "-account", demo.AccountID)
		contains(t, "drafts -customer acme", out, `AND CustomerID = "acme" AND PortalAccount = "acme-coupa"`, "3 drafts await a decision")
		out = ok(t, "", "drafts", "-customer", "globex")
		contains(t, "drafts of another customer", out, "No drafts await a decision.")
		out = ok(t, "", "drafts", "-older-than", "1d")
		contains(t, "drafts older than a day", out, "No drafts await a decision.")
	})

	t.Run("evidence", func(t *testing.T) {
		state, err := erp.State(ctx, s.client, approved)
		if err != nil {
			t.Fatal(err)
		}
		var shot, values string
		for _, id := range state.Evidence {
			kind, _, _, err := s.store.Evidence(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if kind == store.EvidenceDraftScreenshot {
				shot = id
			} else {
				values = id
			}
		}
		if shot == "" || values == "" {
			t.Fatalf("evidence %v", state.Evidence)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "draft.png")
		out := ok(t, "", "evidence", shot, "-o", path)
		if strings.TrimSpace(out) != path {
			t.Fatalf("printed %q, want %q", out, path)
		}
		png, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
			t.Fatalf("%s is no PNG screenshot (%d bytes): %v", path, len(png), err)
		}
		// Without -o the file is named after the evidence, in the current directory.
		out = ok(t, dir, "evidence", values)
		if want := filepath.Join(dir, values+".json"); strings.TrimSpace(out) != want {
			t.Fatalf("printed %q, want %q", out, want)
		}
		data, err := os.ReadFile(filepath.Join(dir, values+".json"))
		if err != nil || !json.Valid(data) || !strings.Contains(string(data), state.Number) {
			t.Fatalf("values: %s %v", data, err)
		}
		if out := ok(t, "", "evidence", values, "-o", "-"); out != string(data) {
			t.Fatalf("-o - wrote %q", out)
		}
		fails(t, exitError, "evidence", "ev_nope")
	})

	t.Run("approve", func(t *testing.T) {
		out := ok(t, "", "approve", approved, "-approver", approver, "-draft", "1", "-note", "checked against the delivery note")
		contains(t, "approve", out, "invoice/"+approved+": approve by "+approver+" accepted; stage now submitting")
		// Someone who is not an approver is refused, and the refusal is audited.
		r := fails(t, exitError, "approve", rejected, "-approver", "mallory@example.com")
		contains(t, "refused approval", r.err, "mallory@example.com is not an approver of customer acme")
		fails(t, exitUsage, "approve", rejected) // USER is empty: nobody named
		s.waitStage(t, approved, workflows.StageSubmitting, workflows.StageWithBuyer)
		var st workflows.InvoiceState
		if err := json.Unmarshal([]byte(ok(t, "", "state", approved)), &st); err != nil {
			t.Fatal(err)
		}
		if st.Stage != workflows.StageSubmitting && st.Stage != workflows.StageWithBuyer || st.Approval == nil || st.Approval.Approver != approver {
			t.Fatalf("state after approval: %+v", st)
		}
		s.waitStage(t, approved, workflows.StageWithBuyer)
		eventually(t, 30*time.Second, "ERP row with_buyer", func() bool {
			inv, err := s.store.Invoice(ctx, approved)
			return err == nil && inv.Stage == "with_buyer"
		})
		fails(t, exitError, "state", "erp-nope")
	})

	t.Run("reject and request changes", func(t *testing.T) {
		out := ok(t, "", "reject", rejected, "-approver", approver, "-note", "wrong quantity")
		contains(t, "reject", out, "reject by "+approver+" accepted")
		out = ok(t, "", "request-changes", changed, "-approver", approver, "-draft", "1", "-note", "bill PO line 2 too")
		contains(t, "request-changes", out, "request_changes by "+approver+" accepted")
		s.waitStage(t, changed, workflows.StageChangesRequested)
		fails(t, exitError, "resolve", approved, "-by", approver, "-action", "void") // with the buyer: no resolution
		out = ok(t, "", "resolve", changed, "-by", approver, "-action", "give_up", "-note", "billed on another invoice")
		contains(t, "resolve", out, "invoice/"+changed+": give_up sent by "+approver)
		eventually(t, 30*time.Second, "ERP rows rejected and failed_submission", func() bool {
			r, err1 := s.store.Invoice(ctx, rejected)
			c, err2 := s.store.Invoice(ctx, changed)
			return err1 == nil && err2 == nil && r.Stage == "rejected" && c.Stage == "failed_submission"
		})
		out = ok(t, "", "drafts")
		contains(t, "drafts after the decisions", out, "No drafts await a decision.")
	})

	t.Run("history", func(t *testing.T) {
		out := ok(t, "", "history", approved)
		t.Logf("starter history:\n%s", out)
		contains(t, "history", out, "Invoice "+approved+" (INV-2026-1101): customer acme", "Stage: with_buyer (portal: Pending Approval)",
			"Workflow: invoice/"+approved+" run ", "(Running)", "Temporal UI: http://ui.example:8233/namespaces/default/workflows/invoice%2F"+approved+"/")
		for _, w := range []string{"matching", "checking", "drafting", "awaiting_approval", "Draft", "submitting", "approver:" + approver, "with_buyer"} {
			if !strings.Contains(out[strings.Index(out, "Status history"):], w) {
				t.Errorf("status history lacks %q", w)
			}
		}
		decisions := out[strings.Index(out, "Decisions (1, oldest first)"):]
		if line := lineWith(decisions, approver); !strings.Contains(line, "approval") || !strings.Contains(line, "accepted") ||
			!strings.Contains(line, "update") || !strings.Contains(line, "checked against the delivery note") {
			t.Errorf("decision line %q", line)
		}
		out = ok(t, "", "history", rejected)
		contains(t, "history of the rejected invoice", out, "refused: mallory@example.com is not an approver", "Stage: rejected", "(Completed)")
		out = ok(t, "", "history", changed)
		contains(t, "history of the given-up invoice", out, "changes_requested", "failed_submission", "give_up", "(Failed)")
		fails(t, exitError, "history", "erp-nope")
	})

	t.Run("aging", func(t *testing.T) { testAging(t, s) })

	t.Run("matches", func(t *testing.T) {
		out := ok(t, "", "matches")
		contains(t, "matches", out, "POs without a customer:", "Invoices whose PO a person must choose:")
		out = ok(t, "", "matches", demo.AccountID, "-limit", "5")
		contains(t, "matches of the account", out, "POs without a customer:")
	})

	t.Run("approvers", func(t *testing.T) {
		contains(t, "approvers", ok(t, "", "approvers", "acme"), "approvers of customer acme:", "  you@example.com")
		out := ok(t, "", "approvers", "acme", "add", "New.Person@Example.com")
		contains(t, "approvers add", out, "  new.person@example.com", "keep the approvers they loaded")
		out = ok(t, "", "approvers", "acme", "remove", "new.person@example.com")
		if strings.Contains(out, "new.person") || !strings.Contains(out, "ops@boltnut.example") {
			t.Fatalf("approvers remove:\n%s", out)
		}
		fails(t, exitUsage, "approvers", "acme", "promote", "x@example.com")
		fails(t, exitError, "approvers", "nobody")
	})

	t.Run("audit", func(t *testing.T) {
		out := ok(t, "", "audit")
		for _, w := range []string{"approve", "reject", "request_changes", "give_up", "refused: mallory@example.com is not an approver"} {
			contains(t, "audit", out, w)
		}
		out = ok(t, "", "audit", "-invoice", approved, "-since", "1d")
		if strings.Contains(out, rejected) || !strings.Contains(out, approved) {
			t.Fatalf("audit of one invoice:\n%s", out)
		}
		out = ok(t, "", "audit", "-refused")
		if lines := strings.Count(strings.TrimSpace(out), "\n"); lines != 1 || !strings.Contains(out, "mallory@example.com") {
			t.Fatalf("refused only:\n%s", out)
		}
		contains(t, "audit by nobody", ok(t, "", "audit", "-actor", "nobody@example.com"), "no decisions match")
	})

	t.Run("keys", func(t *testing.T) {
		out := ok(t, "", "keys", "status")
		contains(t, "keys status", out, "starter-vault-1", "yes, primary", "stored secrets are under the primary key starter-vault-1")
		out = ok(t, "", "keys", "rotate")
		contains(t, "keys rotate", out, "0 secrets re-encrypted under key starter-vault-1")
		out = ok(t, "", "keys", "new", "-id", "k-test")
		if !strings.HasPrefix(out, "k-test:") {
			t.Fatalf("keys new: %q", out)
		}
		fails(t, exitUsage, "keys", "new", "-id", "a,b")
	})
}

// testAging adds ERP invoices dated in the past, in several stages, beside the demo's, and checks that the
// report puts each in its bucket with its stage and portal status, and totals each currency apart.
func testAging(t *testing.T, s *stack) {
	ctx := context.Background()
	if err := s.store.UpsertCustomer(ctx, store.Customer{ID: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	daysAgo := func(n int) time.Time { return today.AddDate(0, 0, -n) }
	type aged struct {
		id, customer, terms, currency, total string
		dated                                int // days ago
		stages                               []store.StatusChange
		bucket, stage, portal                string
		days                                 int
	}
	sent := func(n int) store.StatusChange {
		return store.StatusChange{At: daysAgo(n).Add(9 * time.Hour), Stage: "with_buyer", PortalStatus: "Pending Approval"}
	}
	then := func(n int, stage, portal string) store.StatusChange {
		return store.StatusChange{At: daysAgo(n).Add(10 * time.Hour), Stage: stage, PortalStatus: portal}
	}
	invoices := []aged{
		{"age-current", "acme", "Net 30", "USD", "100.00", 10, []store.StatusChange{sent(9)}, "current", "with_buyer", "Pending Approval", -20},
		{"age-15", "acme", "Net 30", "USD", "200.00", 45, []store.StatusChange{sent(44)}, "1-30", "with_buyer", "Pending Approval", 15},
		{"age-45", "acme", "2/10 Net 30", "EUR", "300.00", 75, []store.StatusChange{sent(74), then(50, "disputed", "Disputed")}, "31-60", "disputed", "Disputed", 45},
		{"age-75", "acme", "Due on receipt", "EUR", "400.00", 75, []store.StatusChange{sent(74), then(60, "needs_attention", "Rejected")}, "61-90", "needs_attention", "Rejected", 75},
		{"age-120", "acme", "Net 30", "USD", "500.00", 150, []store.StatusChange{sent(149), then(100, "partially_paid", "Partially Paid")}, "90+", "partially_paid", "Partially Paid", 120},
		{"age-eom", "acme", "Net 30 EOM", "USD", "600.00", 40, []store.StatusChange{sent(39)}, "31-60", "with_buyer", "Pending Approval", 40},
		{"age-paid", "acme", "Net 30", "USD", "700.00", 100, []store.StatusChange{sent(99), then(3, "paid", "Paid")}, "", "", "", 0},
		{"age-globex", "globex", "Net 45", "USD", "800.00", 50, []store.StatusChange{sent(49)}, "1-30", "with_buyer", "Pending Approval", 5},
	}
	for _, a := range invoices {
		inv := store.Invoice{ID: a.id, CustomerID: a.customer, AccountID: demo.AccountID, Number: "INV-" + a.id, PONumber: "PO-4500012",
			Date: daysAgo(a.dated), Currency: a.currency, Total: decimal.RequireFromString(a.total), PaymentTerms: a.terms}
		if err := s.store.InsertInvoice(ctx, inv, nil); err != nil {
			t.Fatal(err)
		}
		for i, c := range a.stages {
			c.InvoiceID, c.Seq, c.Source = a.id, i+1, "portal"
			if err := s.store.RecordStatus(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}

	out := ok(t, "", "aging")
	t.Logf("starter aging:\n%s", out)
	contains(t, "aging", out, "AR aging as of "+today.Format(time.DateOnly), "every stage but paid, voided, rejected",
		"(*) payment terms Portico cannot read", "partially_paid invoices are shown at their full amount", "Totals per currency")
	for _, a := range invoices {
		line := lineWith(out, a.id+" ")
		if a.bucket == "" {
			if line != "" {
				t.Errorf("settled %s is in the report: %q", a.id, line)
			}
			continue
		}
		if !strings.HasPrefix(line, a.bucket+" ") || !strings.Contains(line, a.stage) || !strings.Contains(line, a.portal) ||
			!strings.Contains(line, a.total+" "+a.currency) {
			t.Errorf("%s: want bucket %s, %s, %q: %q", a.id, a.bucket, a.stage, a.portal, line)
		}
	}
	// The demo invoices: the approved one is with the buyer, the given-up one still owed, the rejected one not.
	if line := lineWith(out, s.data.InvoiceIDs[0]+" "); !strings.HasPrefix(line, "current ") || !strings.Contains(line, "with_buyer") {
		t.Errorf("approved demo invoice: %q", line)
	}
	if line := lineWith(out, s.data.InvoiceIDs[2]+" "); !strings.Contains(line, "failed_submission") {
		t.Errorf("given-up demo invoice: %q", line)
	}
	if line := lineWith(out, s.data.InvoiceIDs[1]+" "); line != "" {
		t.Errorf("rejected demo invoice is in the report: %q", line)
	}

	// CSV: one row per invoice, then totals that add each currency apart.
	recs, err := csv.NewReader(strings.NewReader(ok(t, "", "aging", "-format", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	rows := map[string][]string{}
	sums := map[string]decimal.Decimal{}
	totals := map[string]string{}
	for _, r := range recs[1:] {
		switch r[col["row"]] {
		case "invoice":
			rows[r[col["invoice_id"]]] = r
			sums[r[col["currency"]]] = sums[r[col["currency"]]].Add(decimal.RequireFromString(r[col["amount"]]))
		case "total":
			totals[r[col["currency"]]+"/"+r[col["bucket"]]] = r[col["amount"]]
		}
	}
	for _, a := range invoices {
		r, found := rows[a.id]
		if found != (a.bucket != "") {
			t.Errorf("%s in the CSV: %v", a.id, found)
			continue
		}
		if found && (r[col["bucket"]] != a.bucket || r[col["days_past_due"]] != strconv.Itoa(a.days) || r[col["stage"]] != a.stage ||
			r[col["portal_status"]] != a.portal || r[col["amount"]] != a.total || r[col["currency"]] != a.currency) {
			t.Errorf("%s: CSV row %v", a.id, r)
		}
	}
	if rows["age-eom"][col["terms_read"]] != "false" || rows["age-15"][col["due_date"]] != daysAgo(15).Format(time.DateOnly) {
		t.Errorf("terms and due dates: %v %v", rows["age-eom"], rows["age-15"])
	}
	for cur, sum := range sums {
		if got := totals[cur+"/all"]; got != sum.StringFixed(2) {
			t.Errorf("%s total %s, the rows add up to %s", cur, got, sum.StringFixed(2))
		}
	}
	if totals["EUR/31-60"] != "300.00" || totals["EUR/61-90"] != "400.00" || totals["EUR/all"] != "700.00" || totals["USD/90+"] != "500.00" {
		t.Errorf("totals %v", totals)
	}

	out = ok(t, "", "aging", "-customer", "globex")
	if !strings.Contains(out, "age-globex") || strings.Contains(out, "age-15") || !strings.Contains(out, "1 open invoices") {
		t.Errorf("globex only:\n%s", out)
	}
	// Twenty days ago the invoice paid three days ago was still with the buyer, and invoices dated since did
	// not exist.
	out = ok(t, "", "aging", "-as-of", daysAgo(20).Format(time.DateOnly))
	if line := lineWith(out, "age-paid "); !strings.HasPrefix(line, "31-60 ") || !strings.Contains(line, "Pending Approval") {
		t.Errorf("age-paid twenty days ago: %q\n%s", line, out)
	}
	if strings.Contains(out, "age-current ") || strings.Contains(out, s.data.InvoiceIDs[0]) {
		t.Errorf("invoices dated after the day are in the report:\n%s", out)
	}
}
