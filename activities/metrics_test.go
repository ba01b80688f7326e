package activities_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"portico/activities"
	"portico/internal/demo"
	"portico/internal/driver"
	"portico/internal/metrics"
	"portico/internal/metrics/metricstest"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/testenv"
)

// A draft saved and submitted through the simulator in Chromium, each activity run twice as a retry
// would, leaves the metrics endpoint serving one draft, one submission, the logins and step times of the
// run and the browser's size; and every line the activities logged names the invoice or the account and
// holds no secret.
func TestMetricsAndLogsAfterDraftAndSubmit(t *testing.T) {
	st := testenv.Store(t)
	sim, _, data := testenv.DemoPortal(t, st, "")
	br := testenv.Browser(t)
	m := metrics.New()
	if err := m.WatchChromium(br); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Logs{}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	s.SetMetricsHandler(m.TemporalHandler())
	act := s.NewTestActivityEnvironment()
	portals, err := portaldef.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	act.RegisterActivity(&activities.Browser{
		Store: st, Portals: portals, Metrics: m,
		Driver: driver.New(br, driver.Config{Claims: st, Guard: st, Observer: m}),
	})

	id := data.InvoiceIDs[1]
	for i := range 2 {
		v, err := act.ExecuteActivity(b.SaveDraft, id)
		if err != nil {
			t.Fatalf("save draft %d: %v", i+1, err)
		}
		var res activities.DraftResult
		if err := v.Get(&res); err != nil || res.Reused != (i == 1) {
			t.Fatalf("save draft %d: %+v %v", i+1, res, err)
		}
	}
	for i := range 2 {
		v, err := act.ExecuteActivity(b.SubmitInvoice, id)
		if err != nil {
			t.Fatalf("submit %d: %v", i+1, err)
		}
		var inv portal.Invoice
		if err := v.Get(&inv); err != nil || inv.Status != portal.StatusWithBuyer {
			t.Fatalf("submit %d: %+v %v", i+1, inv, err)
		}
	}
	inv, err := st.Invoice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	number := inv.PortalNumber
	if n := sim.CountEvents("draft_created", number); n != 1 {
		t.Fatalf("%d drafts in the portal", n)
	}
	if n := sim.CountEvents("submitted", number); n != 1 {
		t.Fatalf("%d submissions in the portal", n)
	}

	p := metricstest.Scrape(t, m.Handler())
	check := func(name string, ok func(float64) bool, want string, labels ...string) {
		t.Helper()
		v, found := p.Value(name, labels...)
		if !found || !ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", name, labels, v, found, want)
		}
	}
	is := func(w float64) func(float64) bool { return func(v float64) bool { return v == w } }
	atLeast := func(w float64) func(float64) bool { return func(v float64) bool { return v >= w } }
	const portalName = "coupa-sim"
	check(metrics.DraftsSaved, is(1), "1 (the retry found the draft)", "portal", portalName)
	check(metrics.Submissions, is(1), "1 (the retry found it submitted)", "portal", portalName)
	check(metrics.Logins, atLeast(1), "≥ 1", "portal", portalName, "outcome", driver.LoginOK)
	for _, step := range []string{driver.StepCreateDraft, driver.StepSubmit, driver.StepFindInvoice, driver.StepReadStatus, driver.StepPageLoad, driver.StepLogin, driver.StepCaptureInvoice} {
		check(metrics.StepSeconds+"_count", atLeast(1), "≥ 1", "portal", portalName, "step", step)
	}
	check(metrics.StepSeconds+"_count", is(1), "1 (one draft keyed)", "step", driver.StepCreateDraft)
	check(metrics.StepSeconds+"_count", is(1), "1 (one submit flow)", "step", driver.StepSubmit)
	check(metrics.ChromiumProcs, atLeast(1), "> 0")
	check(metrics.ChromiumMemory, atLeast(1), "> 0")
	// Step labels come from the driver's closed set: no invoice number, PO or URL in a label.
	steps := []string{driver.StepPageLoad, driver.StepLogin, driver.StepListPOs, driver.StepReadPO, driver.StepFindPO, driver.StepFindInvoice,
		driver.StepReadStatus, driver.StepCreateDraft, driver.StepSubmit, driver.StepDeleteDraft, driver.StepCaptureInvoice}
	for _, mt := range p.Families[metrics.StepSeconds].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "step" && !slices.Contains(steps, l.GetValue()) {
				t.Errorf("step label %q is not one of the driver's step names", l.GetValue())
			}
		}
	}
	if t.Failed() {
		t.Log(p.Text)
	}

	creds, err := st.Credentials(context.Background(), demo.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	text := logs.String()
	for _, secret := range []string{creds.Password, creds.TOTPSecret} {
		if secret != "" && strings.Contains(text, secret) {
			t.Error("a secret is in the logs")
		}
	}
	ours := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["ActivityType"] == nil {
			continue // the test environment's own lines
		}
		msg, _ := rec["msg"].(string)
		ours[msg]++
		if rec["invoice"] != id && rec["account"] != demo.AccountID {
			t.Errorf("log line without the invoice or account: %s", line)
		}
		if msg == "portal step" && rec["invoice"] != id {
			t.Errorf("a step of an invoice's activity does not name the invoice: %s", line)
		}
	}
	for _, msg := range []string{"portal step", "draft saved", "draft already in the portal", "invoice submitted"} {
		if ours[msg] == 0 {
			t.Errorf("no %q line logged (logged: %v)", msg, ours)
		}
	}
	if ours["draft saved"] != 1 || ours["invoice submitted"] != 1 {
		t.Errorf("draft saved %d times, submitted %d times in the logs", ours["draft saved"], ours["invoice submitted"])
	}
}
