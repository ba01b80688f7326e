package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"

	"portico/internal/demo"
	"portico/internal/store"
	"portico/workflows"
)

// check is one assertion of the run, with the counts behind it.
type check struct {
	name   string
	ok     bool
	detail string
}

// expectedHistory is every ERP status change of an invoice that goes straight to Paid, as stage/portal
// status: nothing may be missing and nothing repeated, however often the worker died.
var expectedHistory = []string{
	"matching/", "checking/", "drafting/", "awaiting_approval/Draft", "submitting/Draft",
	"with_buyer/Pending Approval", "with_buyer/Approved", "paid/Paid",
}

// verify makes the run's assertions from the simulator's own records and the ERP tables.
func (r *run) verify(ctx context.Context) []check {
	var checks []check
	add := func(name string, ok bool, format string, args ...any) {
		checks = append(checks, check{name: name, ok: ok, detail: fmt.Sprintf(format, args...)})
	}
	n := len(r.batch)
	st := r.s.store

	// Every invoice paid: its workflow completed with Paid, and the ERP row says so.
	var notPaid []string
	for i, inv := range r.batch {
		res := r.results[i]
		row, err := st.Invoice(ctx, inv.ID)
		if res.status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && res.err == nil && res.result.Stage == workflows.StagePaid &&
			err == nil && row.Stage == string(workflows.StagePaid) && row.PortalStatus == "Paid" {
			continue
		}
		notPaid = append(notPaid, fmt.Sprintf("%s (workflow %s, result %+v %v; ERP %s/%s %q; driver: %v)",
			inv.Number, res.status, res.result, res.err, row.Stage, row.PortalStatus, row.StatusReason, r.outcomes[i].err))
	}
	add("every invoice reached Paid", len(notPaid) == 0, "%d/%d paid (workflow completed, ERP stage paid)%s", n-len(notPaid), n, listed(notPaid))

	// One draft and one submission per invoice, by the portal's own audit log.
	numbers := map[string]bool{}
	maxDrafts, minDrafts, maxSubs, minSubs := 0, 1<<30, 0, 1<<30
	var odd []string
	for _, inv := range r.batch {
		numbers[strings.ToLower(inv.Number)] = true
		d, s := r.s.sim.CountEvents("draft_created", inv.Number), r.s.sim.CountEvents("submitted", inv.Number)
		maxDrafts, minDrafts, maxSubs, minSubs = max(maxDrafts, d), min(minDrafts, d), max(maxSubs, s), min(minSubs, s)
		if d != 1 || s != 1 {
			odd = append(odd, fmt.Sprintf("%s: %d drafts, %d submissions", inv.Number, d, s))
		}
	}
	// A renumbered or otherwise extra draft shows up under another number; the demo's own invoices are
	// never started.
	extra, deleted := 0, r.s.sim.CountEvents("draft_deleted", "")
	for _, e := range r.s.sim.Events() {
		if (e.Kind == "draft_created" || e.Kind == "submitted") && !numbers[strings.ToLower(e.InvoiceNumber)] {
			extra++
			odd = append(odd, fmt.Sprintf("%s of unexpected number %s", e.Kind, e.InvoiceNumber))
		}
	}
	add("one draft per invoice", maxDrafts == 1 && minDrafts == 1 && extra == 0 && deleted == 0,
		"drafts per invoice max %d, min %d; drafts under other numbers %d; drafts deleted %d%s", maxDrafts, minDrafts, extra, deleted, listed(odd))
	add("one submission per invoice", maxSubs == 1 && minSubs == 1, "submissions per invoice max %d, min %d", maxSubs, minSubs)

	// The ERP history: numbered 1..n without a gap, every expected change once and in order, ending paid.
	// Refused approvals (a retried approval whose first try had gone through) are recorded rows too.
	missing, unexpected, gaps, refusals := 0, 0, 0, 0
	var histProblems []string
	for _, inv := range r.batch {
		hist, err := st.StatusHistory(ctx, inv.ID)
		if err != nil {
			histProblems = append(histProblems, fmt.Sprintf("%s: %v", inv.Number, err))
			missing += len(expectedHistory)
			continue
		}
		var seen []string
		for i, h := range hist {
			if h.Seq != i+1 {
				gaps++
				histProblems = append(histProblems, fmt.Sprintf("%s: row %d has seq %d", inv.Number, i+1, h.Seq))
			}
			if strings.HasPrefix(h.Source, "approver:") && strings.HasPrefix(h.Reason, "refused ") {
				refusals++
				continue
			}
			seen = append(seen, h.Stage+"/"+h.PortalStatus)
		}
		m, u := diffHistory(expectedHistory, seen)
		missing, unexpected = missing+m, unexpected+u
		if m > 0 || u > 0 || len(hist) == 0 || hist[len(hist)-1].Stage != string(workflows.StagePaid) {
			histProblems = append(histProblems, fmt.Sprintf("%s: %q", inv.Number, seen))
		}
	}
	add("no ERP status change missing", missing == 0 && unexpected == 0 && gaps == 0 && len(histProblems) == 0,
		"missing changes %d, unexpected changes %d, seq gaps %d over %d invoices; refused-approval rows %d%s",
		missing, unexpected, gaps, n, refusals, listed(histProblems))

	// The decision audit: exactly one accepted approval per invoice, by the approver the test played.
	var auditProblems []string
	accepted := 0
	for _, inv := range r.batch {
		ds, err := st.Decisions(ctx, store.AuditFilter{InvoiceID: inv.ID})
		if err != nil {
			auditProblems = append(auditProblems, fmt.Sprintf("%s: %v", inv.Number, err))
			continue
		}
		k := 0
		for _, d := range ds {
			if d.Accepted && d.Kind == store.DecisionKindApproval {
				k++
				if !strings.EqualFold(d.Actor, approver) || d.Decision.Decision != workflows.DecisionApprove {
					auditProblems = append(auditProblems, fmt.Sprintf("%s: accepted %s by %s", inv.Number, d.Decision.Decision, d.Actor))
				}
			}
		}
		accepted += k
		if k != 1 {
			auditProblems = append(auditProblems, fmt.Sprintf("%s: %d accepted approvals", inv.Number, k))
		}
	}
	add("one accepted approval per invoice", len(auditProblems) == 0, "%d accepted approvals for %d invoices%s", accepted, n, listed(auditProblems))

	// The portal account: not locked in the simulator's saved state, no lockout event, no login refusal
	// remembered by Portico.
	locked, failedNow, maxFailed, acctErr := r.accountState()
	lockEvents := r.s.sim.CountEvents("locked", "")
	failures := r.s.sim.CountEvents("login_failed", "") + r.s.sim.CountEvents("totp_failed", "")
	reused := r.s.sim.CountEvents("totp_reused", "")
	reason, refused, refErr := st.LoginRefusal(ctx, demo.AccountID)
	add("no portal account locked", acctErr == nil && locked == 0 && lockEvents == 0 && !refused && refErr == nil,
		"locked accounts %d, lockout events %d, failed logins %d in all (%d in a row now, lockout at %d), TOTP codes refused as reused %d, "+
			"logins %d; login refusal in the store: %v %q%s",
		locked, lockEvents, failures, failedNow, maxFailed, reused, r.s.sim.CountEvents("totp_ok", "")+r.s.sim.CountEvents("totp_remembered", ""),
		refused, reason, listed(errStrings(acctErr, refErr)))

	// The kills: each took the worker's Chromium down with it.
	r.mu.Lock()
	kills := slices.Clone(r.kills)
	events := slices.Clone(r.events)
	r.mu.Unlock()
	chromium, leftovers := 0, 0
	for _, k := range kills {
		chromium += k.report.Chromium
		leftovers += len(k.report.Leftover)
	}
	add("no Chromium outlived a kill", leftovers == 0, "%d Chromium processes killed with their worker in %d kills, %d outlived it", chromium, len(kills), leftovers)

	races, panics, first := r.s.worker.logFindings()
	add("worker log clean", races == 0 && panics == 0, "data races %d, panics %d%s", races, panics, listed(errStrings(nonEmpty(first))))

	// The plan itself: a run that did not shake what it meant to proves less.
	pg, tmp, faults := 0, 0, 0
	for _, e := range events {
		if e.err != nil {
			continue
		}
		switch e.kind {
		case "postgres":
			pg++
		case "temporal":
			tmp++
		case "fault":
			faults++
		}
	}
	add("chaos carried out", len(kills) >= r.plan.kills && pg == 1 && tmp == 1 && faults == len(r.plan.faults),
		"kills %d/%d, PostgreSQL restarts %d/1, Temporal restarts %d/1, faults %d/%d", len(kills), r.plan.kills, pg, tmp, faults, len(r.plan.faults))
	return checks
}

// diffHistory matches seen against want in order and counts the changes of want that are not there and
// the changes of seen that are not in want.
func diffHistory(want, seen []string) (missing, unexpected int) {
	// The longest common subsequence: both are short.
	l := make([][]int, len(want)+1)
	for i := range l {
		l[i] = make([]int, len(seen)+1)
	}
	for i := len(want) - 1; i >= 0; i-- {
		for j := len(seen) - 1; j >= 0; j-- {
			if want[i] == seen[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	common := l[0][0]
	return len(want) - common, len(seen) - common
}

// accountState reads the supplier account's lockout state from the simulator's state file: how many
// accounts are locked, the failed logins in a row now, and the limit.
func (r *run) accountState() (locked, failedNow, limit int, err error) {
	b, err := os.ReadFile(r.s.simPath)
	if err != nil {
		return 0, 0, 0, err
	}
	var state struct {
		Accounts []struct {
			Username     string `json:"username"`
			FailedLogins int    `json:"failed_logins"`
			Locked       bool   `json:"locked"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(b, &state); err != nil {
		return 0, 0, 0, err
	}
	for _, a := range state.Accounts {
		if a.Locked {
			locked++
		}
		if a.Username == demo.Supplier {
			failedNow = a.FailedLogins
		}
	}
	return locked, failedNow, r.s.sim.Rules().MaxFailedLogins, nil
}

func listed(items []string) string {
	if len(items) == 0 {
		return ""
	}
	const most = 8
	more := ""
	if len(items) > most {
		more = fmt.Sprintf("; and %d more", len(items)-most)
		items = items[:most]
	}
	return ": " + strings.Join(items, "; ") + more
}

func errStrings(errs ...error) []string {
	var out []string
	for _, err := range errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// nonEmpty is s as an error, or nil when s is empty.
func nonEmpty(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}
