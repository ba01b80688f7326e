package activities

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"portico/internal/driver"
	"portico/internal/portal"
	"portico/internal/portaldef"
	"portico/internal/store"
)

// Browser are the activities that drive portals in Chromium. They take account and invoice IDs and read
// credentials themselves, so no secret is ever an activity input or result.
type Browser struct {
	Store   *store.Store
	Driver  *driver.Driver
	Portals *portaldef.Registry
	// SyncOverlap is how far before the last sync's start a changed-only PO sync asks from; default
	// DefaultSyncOverlap.
	SyncOverlap time.Duration
	// FullSyncEvery is how often a PO sync reads the whole list although the portal lists changes; default
	// DefaultFullSyncEvery.
	FullSyncEvery time.Duration
	// Metrics counts the drafts and submissions these activities make; nil counts nothing.
	Metrics Recorder
}

// Recorder counts what the browser activities changed in the portals, for metrics; *metrics.Metrics is
// one. It is injected rather than reached through activity.GetMetricsHandler so that the counters carry
// exactly their documented labels (the portal), not the SDK's per-activity tags, and so that they are
// counted the same with or without a Temporal worker around the activity.
type Recorder interface {
	// DraftSaved counts a draft saved in the portal (not one a retry found already there).
	DraftSaved(portal string)
	// Submitted counts a draft submitted in the portal (not one a retry found already submitted).
	Submitted(portal string)
}

// DraftResult is the draft in the portal; Reused is set when a draft with the number was already there
// (a retry, or a worker that died after saving it).
type DraftResult struct {
	Invoice portal.Invoice
	Reused  bool
	// Evidence are the IDs (table evidence) of the draft page's screenshot and of the exact values keyed
	// in, for the approver.
	Evidence []string `json:",omitempty"`
}

// session opens a portal tab for an account, for work on an invoice (invoiceID, or "" for none: it names
// the invoice in the log of each step). Each step heartbeats, so a hung browser is detected by Temporal's
// heartbeat timeout instead of holding the activity until its overall timeout.
func (b *Browser) session(ctx context.Context, accountID, invoiceID string) (*driver.Session, error) {
	return b.openSession(ctx, accountID, invoiceID, func(step string) { activity.RecordHeartbeat(ctx, step) })
}

// openSession is session with the heartbeat of each step given by the caller.
func (b *Browser) openSession(ctx context.Context, accountID, invoiceID string, heartbeat func(step string)) (*driver.Session, error) {
	acct, err := b.Store.PortalAccount(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMisconfigured, nil)
	}
	if err != nil {
		return nil, err
	}
	def, err := b.Portals.Lookup(acct.Portal)
	if err != nil {
		// A missing or broken definition needs a person (fix the file or the account), not a retry.
		return nil, temporal.NewNonRetryableApplicationError("portal account "+accountID+": "+err.Error(), ErrTypeMisconfigured, nil)
	}
	creds, err := b.Store.Credentials(ctx, accountID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("portal account "+accountID+": cannot read credentials: "+err.Error(), ErrTypeMisconfigured, nil)
	}
	ids := []any{"account", accountID}
	if invoiceID != "" {
		ids = append(ids, "invoice", invoiceID)
	}
	onStep := func(step string) {
		heartbeat(step)
		activity.GetLogger(ctx).Debug("portal step", append(slices.Clip(ids), "step", step)...)
	}
	return b.Driver.Open(ctx, driver.Account{ID: accountID, BaseURL: acct.BaseURL, Portal: def, Credentials: creds}, onStep)
}

// SaveDraft keys the ERP invoice, with its portal fixes (number, date, remit-to, tax reference, dropped
// zero lines), into the portal and saves it as a draft. It first looks for the portal number in the
// portal, so a retry never creates a second draft; an invoice already past Draft is returned as it is for
// the workflow to pick up where the portal stands. A number the portal already has on another PO is the
// check number_unused failing: a non-retryable ErrTypeNumberUsed naming that PO. For the approver it keeps
// a screenshot of the draft's page and the exact values keyed in (DraftResult.Evidence); failing to keep
// them never fails the draft.
func (b *Browser) SaveDraft(ctx context.Context, invoiceID string) (DraftResult, error) {
	inv, err := b.Store.Invoice(ctx, invoiceID)
	if errors.Is(err, store.ErrNotFound) {
		return DraftResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("ERP invoice %q does not exist", invoiceID), ErrTypeInvoiceNotFound, nil)
	}
	if err != nil {
		return DraftResult{}, err
	}
	attachment, err := b.Store.InvoiceAttachment(ctx, invoiceID)
	if err != nil {
		return DraftResult{}, err
	}
	s, err := b.session(ctx, inv.AccountID, invoiceID)
	if err != nil {
		return DraftResult{}, err
	}
	defer s.Close()
	d := draftOf(inv, attachment)
	existing, found, err := s.FindInvoice(d.Number)
	if err != nil {
		return DraftResult{}, portalError(err)
	}
	if found && existing.PONumber != "" && !samePO(existing.PONumber, portalPO(inv)) {
		msg := fmt.Sprintf("invoice number %s is already used in the portal by an invoice on %s (%s, portal id %s); this invoice bills %s: it needs another number",
			d.Number, poRef(existing.PONumber), existing.PortalStatus, existing.PortalID, poRef(portalPO(inv)))
		b.recordNumberCheck(ctx, invoiceID, false, msg)
		return DraftResult{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeNumberUsed, nil)
	}
	if found {
		activity.GetLogger(ctx).Info("draft already in the portal", "invoice", invoiceID, "account", inv.AccountID,
			"number", d.Number, "portal_id", existing.PortalID, "portal_status", existing.PortalStatus)
		b.recordNumberCheck(ctx, invoiceID, true, fmt.Sprintf("%s is this invoice's own, on %s", d.Number, poRef(existing.PONumber)))
		res := DraftResult{Invoice: existing, Reused: true}
		if existing.Status == portal.StatusDraft {
			if err := driver.CheckDraft(existing, d); err != nil {
				return DraftResult{}, portalError(err)
			}
			res.Evidence = b.keepDraftEvidence(ctx, s, invoiceID, d, existing)
		}
		return res, nil
	}
	b.recordNumberCheck(ctx, invoiceID, true, fmt.Sprintf("the portal has no invoice numbered %s", d.Number))
	saved, err := s.CreateDraft(d)
	// A total the portal computed differently is found after the save: that draft is in the portal too.
	var mismatch *portal.MismatchError
	if err == nil || errors.As(err, &mismatch) {
		if b.Metrics != nil {
			b.Metrics.DraftSaved(s.Portal())
		}
		activity.GetLogger(ctx).Info("draft saved", "invoice", invoiceID, "account", inv.AccountID, "number", d.Number,
			"portal_id", saved.PortalID, "total_matches", err == nil)
	}
	if err != nil {
		return DraftResult{}, portalError(err)
	}
	return DraftResult{Invoice: saved, Evidence: b.keepDraftEvidence(ctx, s, invoiceID, d, saved)}, nil
}

func samePO(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }

// recordNumberCheck stores the outcome of the portal-side check number_unused beside CheckInvoice's, for
// the ERP to read. It is a record only: failing to write it is logged, not an error of the draft.
func (b *Browser) recordNumberCheck(ctx context.Context, invoiceID string, passed bool, detail string) {
	err := b.Store.RecordChecks(ctx, invoiceID, []store.CheckResult{{Name: checkNumberUnused, Passed: passed, Detail: detail}})
	if err != nil {
		activity.GetLogger(ctx).Warn("cannot record the number_unused check", "invoice", invoiceID, "error", err)
	}
}

// draftValues is the evidence of what Portico keyed into the portal: the draft without the attachment's
// bytes, the attachment's facts, and the invoice as the portal listed it afterwards.
type draftValues struct {
	Draft      portal.Draft
	Attachment *attachmentFacts `json:",omitempty"`
	Portal     portal.Invoice
	KeptAt     time.Time
}

type attachmentFacts struct {
	Name   string
	Size   int
	SHA256 string
}

// keepDraftEvidence stores a screenshot of the draft's page and the values keyed in, and returns the IDs
// it kept. Evidence is for the approver; failing to keep it is logged and never fails the draft.
func (b *Browser) keepDraftEvidence(ctx context.Context, s *driver.Session, invoiceID string, d portal.Draft, inv portal.Invoice) []string {
	log := activity.GetLogger(ctx)
	var ids []string
	vals := draftValues{Draft: d, Portal: inv, KeptAt: time.Now().UTC()}
	if len(d.Attachment) > 0 {
		sum := sha256.Sum256(d.Attachment)
		vals.Attachment = &attachmentFacts{Name: d.AttachmentName, Size: len(d.Attachment), SHA256: hex.EncodeToString(sum[:])}
	}
	if js, err := json.MarshalIndent(vals, "", "  "); err != nil {
		log.Warn("draft values not kept", "invoice", invoiceID, "error", err)
	} else if id, err := b.Store.PutEvidence(ctx, invoiceID, store.EvidenceDraftValues, "application/json", js); err != nil {
		log.Warn("draft values not kept", "invoice", invoiceID, "error", err)
	} else {
		ids = append(ids, id)
	}
	png, err := s.CaptureInvoice(inv) // the portal ID is known: no second search of the invoice list
	if err != nil {
		log.Warn("draft screenshot not taken", "invoice", invoiceID, "error", err)
		return ids
	}
	if id, err := b.Store.PutEvidence(ctx, invoiceID, store.EvidenceDraftScreenshot, "image/png", png); err != nil {
		log.Warn("draft screenshot not kept", "invoice", invoiceID, "error", err)
	} else {
		ids = append(ids, id)
	}
	return ids
}

// draftOf is what Portico keys into the portal for an ERP invoice: its portal number and date (the fixes'
// when set), remit-to and tax reference, and its lines at the ERP's quantities and unit prices; lines at
// zero are left out (not billed) after a drop_zero_lines fix.
func draftOf(inv store.Invoice, attachment []byte) portal.Draft {
	d := portal.Draft{
		Number: inv.PortalNumber, PONumber: portalPO(inv), Date: inv.PortalDate, TaxRate: inv.TaxRate, Note: inv.Note,
		RemitTo: inv.RemitTo, TaxReference: inv.TaxReference,
		ExpectedTotal: inv.Total, AttachmentName: inv.AttachmentName, Attachment: attachment,
	}
	for _, l := range inv.Lines {
		if inv.DropZeroLines && l.Quantity.IsZero() {
			continue
		}
		d.Lines = append(d.Lines, portal.DraftLine{POLineNo: l.POLineNo, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	return d
}

// SubmitInvoice submits the invoice's draft (found by its portal number, like every activity below). Submitting an invoice that is already submitted returns its
// status and changes nothing.
func (b *Browser) SubmitInvoice(ctx context.Context, invoiceID string) (portal.Invoice, error) {
	return withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (portal.Invoice, error) {
		out, submitted, err := s.SubmitDraft(inv.PortalNumber)
		if submitted {
			if b.Metrics != nil {
				b.Metrics.Submitted(s.Portal())
			}
			activity.GetLogger(ctx).Info("invoice submitted", "invoice", invoiceID, "account", inv.AccountID,
				"number", inv.PortalNumber, "portal_id", out.PortalID, "portal_status", out.PortalStatus)
		}
		return out, err
	})
}

// DeleteDraft deletes the invoice's draft from the portal (after an approver rejected it).
func (b *Browser) DeleteDraft(ctx context.Context, invoiceID string) error {
	_, err := withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (struct{}, error) {
		err := s.DeleteDraft(inv.PortalNumber)
		if err == nil {
			activity.GetLogger(ctx).Info("draft gone from the portal", "invoice", invoiceID, "account", inv.AccountID, "number", inv.PortalNumber)
		}
		return struct{}{}, err
	})
	return err
}

// CheckStatus reads the invoice's status in the portal.
func (b *Browser) CheckStatus(ctx context.Context, invoiceID string) (portal.Invoice, error) {
	return withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (portal.Invoice, error) {
		return s.InvoiceStatus(inv.PortalNumber)
	})
}

func withInvoiceSession[T any](ctx context.Context, b *Browser, invoiceID string, fn func(*driver.Session, store.Invoice) (T, error)) (T, error) {
	var zero T
	inv, err := b.Store.Invoice(ctx, invoiceID)
	if err != nil {
		return zero, err
	}
	s, err := b.session(ctx, inv.AccountID, invoiceID)
	if err != nil {
		return zero, err
	}
	defer s.Close()
	out, err := fn(s, inv)
	return out, portalError(err)
}

// FetchPurchaseOrder looks one PO up in the portal and stores it, for an invoice whose PO has not been
// synced yet. It reports whether the portal has the PO.
func (b *Browser) FetchPurchaseOrder(ctx context.Context, accountID, poNumber string) (bool, error) {
	s, err := b.session(ctx, accountID, "")
	if err != nil {
		return false, err
	}
	defer s.Close()
	po, err := s.PurchaseOrder(poNumber)
	if errors.Is(err, portal.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, portalError(err)
	}
	if _, err := b.Store.UpsertPurchaseOrders(ctx, accountID, []portal.PurchaseOrder{po}); err != nil {
		return false, err
	}
	return true, nil
}

// SyncResult is what a PO sync read and changed.
type SyncResult struct {
	RunID string
	// Mode is store.SyncFull (the whole PO list) or store.SyncChanged (only what the portal says changed
	// since the last sync).
	Mode string
	// Pages and POs are the list pages and rows the sync stored, resumed pages included.
	Pages int
	POs   int
	// Details counts the PO pages read for lines: new POs and POs whose total, currency or status changed.
	Details int
	// Changed counts the POs that were new or changed (header or lines).
	Changed int
	// ResumedAt is the page a retried attempt went on from (0: the run started in this attempt).
	ResumedAt int `json:",omitempty"`
}

// SyncProgress is the heartbeat detail of a PO sync (visible in the Temporal UI on the pending activity): the
// run, the pages and rows it has stored, and the portal step under way. A retried attempt reads it back
// (activity.GetHeartbeatDetails) and goes on with the same run at page PagesDone+1.
type SyncProgress struct {
	RunID     string
	PagesDone int
	RowsDone  int
	Step      string `json:",omitempty"`
}

// Defaults of the PO sync's schedule of full and changed-only syncs.
const (
	// DefaultSyncOverlap is how far before the last sync's start a changed-only sync asks from, for the
	// clocks of the portal and the worker to differ and for changes made while that sync ran.
	DefaultSyncOverlap = 5 * time.Minute
	// DefaultFullSyncEvery is how often a sync reads the whole list even where the portal lists changes: a
	// portal's change filter may miss what it does not count as a change.
	DefaultFullSyncEvery = 7 * 24 * time.Hour
)

// SyncPurchaseOrders pulls the account's POs into PostgreSQL as one sync run (store.SyncRun). The first
// sync reads every PO, open and closed, page by page; later ones, where the portal definition has
// po_list.changed_url, read only the POs changed since the last sync started (a full sync every
// FullSyncEvery). Each list page is staged in PostgreSQL (with the lines of the POs that are new or whose
// total, currency or status changed: the lines of other POs are kept, not read) and the heartbeat records
// {RunID, PagesDone, RowsDone}; at the end one transaction merges the run into purchase_orders, so nobody
// sees half a sync. A retried attempt continues the same run at its next page.
func (b *Browser) SyncPurchaseOrders(ctx context.Context, accountID string) (SyncResult, error) {
	info := activity.GetInfo(ctx)
	key := info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID
	var hb SyncProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &hb); err != nil {
			hb = SyncProgress{} // not ours (an older worker's step name): find the run by the activity's identity
		}
	}
	run, found, err := b.Store.ResumeSyncRun(ctx, accountID, hb.RunID, key)
	if err != nil {
		return SyncResult{}, err
	}
	if found && run.Status == store.SyncFinished {
		return syncResult(run, 0), nil // merged by an attempt that died before reporting it
	}
	log := activity.GetLogger(ctx)
	progress := SyncProgress{RunID: run.ID, PagesDone: run.PagesDone, RowsDone: run.RowsDone}
	s, err := b.openSession(ctx, accountID, "", func(step string) {
		p := progress
		p.Step = step
		activity.RecordHeartbeat(ctx, p)
	})
	if err != nil {
		return SyncResult{}, err
	}
	defer s.Close()
	resumedAt := 0
	if found {
		resumedAt = run.PagesDone + 1
		log.Info("resuming PO sync", "account", accountID, "run", run.ID, "page", resumedAt, "rows", run.RowsDone)
	} else {
		mode, since, err := b.syncMode(ctx, s, accountID)
		if err != nil {
			return SyncResult{}, err
		}
		if run, err = b.Store.BeginSyncRun(ctx, accountID, key, mode, since); err != nil {
			return SyncResult{}, err
		}
	}
	progress = SyncProgress{RunID: run.ID, PagesDone: run.PagesDone, RowsDone: run.RowsDone}
	activity.RecordHeartbeat(ctx, progress)
	opts := driver.ListOptions{StartPage: run.PagesDone + 1, Lines: b.linesToRead(ctx, accountID)}
	if run.Mode == store.SyncChanged {
		opts.Since = run.Since
	}
	err = s.ListPurchaseOrders(opts, func(page int, pos []portal.PurchaseOrder) error {
		staged, err := b.Store.StageSyncPage(ctx, run.ID, page, pos)
		if err != nil {
			return err
		}
		run = staged
		progress = SyncProgress{RunID: run.ID, PagesDone: run.PagesDone, RowsDone: run.RowsDone}
		activity.RecordHeartbeat(ctx, progress)
		return nil
	})
	if err != nil {
		return syncResult(run, resumedAt), portalError(err)
	}
	if run, err = b.Store.FinishSyncRun(ctx, run.ID); err != nil {
		return syncResult(run, resumedAt), err
	}
	log.Info("PO sync finished", "account", accountID, "run", run.ID, "mode", run.Mode, "pages", run.PagesDone,
		"rows", run.RowsDone, "details", run.DetailsRead, "changed", run.Changed)
	return syncResult(run, resumedAt), nil
}

func syncResult(r store.SyncRun, resumedAt int) SyncResult {
	return SyncResult{RunID: r.ID, Mode: r.Mode, Pages: r.PagesDone, POs: r.RowsDone, Details: r.DetailsRead, Changed: r.Changed, ResumedAt: resumedAt}
}

// syncMode decides between a full sync and one of only the POs changed since the last sync started.
func (b *Browser) syncMode(ctx context.Context, s *driver.Session, accountID string) (string, time.Time, error) {
	if !s.ListsChanged() {
		return store.SyncFull, time.Time{}, nil
	}
	last, lastFull, err := b.Store.LastSyncStarts(ctx, accountID)
	if err != nil {
		return "", time.Time{}, err
	}
	every := cmp.Or(b.FullSyncEvery, DefaultFullSyncEvery)
	if last.IsZero() || lastFull.IsZero() || time.Since(lastFull) >= every {
		return store.SyncFull, time.Time{}, nil
	}
	return store.SyncChanged, last.Add(-cmp.Or(b.SyncOverlap, DefaultSyncOverlap)), nil
}

// linesToRead picks, per list page, the POs whose page a sync opens for lines: POs it does not have (or has
// no lines of), and POs whose total, currency or status differ from the stored copy. A PO whose lines
// changed shows another total; the lines of every other PO are kept as stored, at no page load.
func (b *Browser) linesToRead(ctx context.Context, accountID string) func(int, []portal.PurchaseOrder) ([]bool, error) {
	return func(_ int, pos []portal.PurchaseOrder) ([]bool, error) {
		numbers := make([]string, len(pos))
		for i, po := range pos {
			numbers[i] = po.Number
		}
		stored, err := b.Store.PurchaseOrderHeaders(ctx, accountID, numbers)
		if err != nil {
			return nil, err
		}
		want := make([]bool, len(pos))
		for i, po := range pos {
			h, ok := stored[po.Number]
			want[i] = !ok || !h.HasLines || h.Currency != po.Currency || !h.Total.Equal(po.Total) || h.Status != po.Status
		}
		return want, nil
	}
}

// portalError turns the driver's named errors into Temporal errors: what a retry cannot fix (a refused
// login, a layout change, a portal refusal) is non-retryable and names what a person must do; an outage is
// retried with backoff.
func portalError(err error) error {
	if err == nil {
		return nil
	}
	var drift *portal.DriftError
	var rejected *portal.RejectedError
	var mismatch *portal.MismatchError
	nonRetryable := func(typ string) error {
		return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
	}
	switch {
	case errors.Is(err, portal.ErrAccountLocked):
		return nonRetryable(ErrTypePortalLocked)
	case errors.Is(err, portal.ErrLoginRejected), errors.Is(err, portal.ErrTOTPRejected), errors.Is(err, portal.ErrPasswordExpired):
		return nonRetryable(ErrTypePortalLogin)
	case errors.As(err, &drift):
		return nonRetryable(ErrTypePortalLayoutChanged)
	case errors.As(err, &rejected):
		return nonRetryable(ErrTypePortalRejected)
	case errors.As(err, &mismatch):
		return nonRetryable(ErrTypePortalMismatch)
	case errors.Is(err, portal.ErrNotInvoiceable):
		return nonRetryable(ErrTypePONotInvoiceable)
	case errors.Is(err, portal.ErrNotFound):
		return nonRetryable(ErrTypePortalNotFound)
	}
	return fmt.Errorf("portal: %w", err)
}
