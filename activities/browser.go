package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// session opens a portal tab for an account. Each step heartbeats, so a hung browser is detected by
// Temporal's heartbeat timeout instead of holding the activity until its overall timeout.
func (b *Browser) session(ctx context.Context, accountID string) (*driver.Session, error) {
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
	onStep := func(step string) {
		activity.RecordHeartbeat(ctx, step)
		activity.GetLogger(ctx).Debug("portal step", "account", accountID, "step", step)
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
	s, err := b.session(ctx, inv.AccountID)
	if err != nil {
		return DraftResult{}, err
	}
	defer s.Close()
	d := draftOf(inv, attachment)
	existing, found, err := s.FindInvoice(d.Number)
	if err != nil {
		return DraftResult{}, portalError(err)
	}
	if found && existing.PONumber != "" && !samePO(existing.PONumber, inv.PONumber) {
		msg := fmt.Sprintf("invoice number %s is already used in the portal by an invoice on %s (%s, portal id %s); this invoice bills %s: it needs another number",
			d.Number, poRef(existing.PONumber), existing.PortalStatus, existing.PortalID, poRef(inv.PONumber))
		b.recordNumberCheck(ctx, invoiceID, false, msg)
		return DraftResult{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeNumberUsed, nil)
	}
	if found {
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
	png, err := s.CaptureInvoice(d.Number)
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
		Number: inv.PortalNumber, PONumber: inv.PONumber, Date: inv.PortalDate, TaxRate: inv.TaxRate, Note: inv.Note,
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
		return s.Submit(inv.PortalNumber)
	})
}

// DeleteDraft deletes the invoice's draft from the portal (after an approver rejected it).
func (b *Browser) DeleteDraft(ctx context.Context, invoiceID string) error {
	_, err := withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (struct{}, error) {
		return struct{}{}, s.DeleteDraft(inv.PortalNumber)
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
	s, err := b.session(ctx, inv.AccountID)
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
	s, err := b.session(ctx, accountID)
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

// SyncResult counts what a PO sync read and changed.
type SyncResult struct {
	Pages   int
	POs     int
	Changed int
}

// SyncPurchaseOrders pulls every PO of the account, with lines, into PostgreSQL page by page. Its
// heartbeat details carry the progress so far.
func (b *Browser) SyncPurchaseOrders(ctx context.Context, accountID string) (SyncResult, error) {
	s, err := b.session(ctx, accountID)
	if err != nil {
		return SyncResult{}, err
	}
	defer s.Close()
	var res SyncResult
	err = s.ListPurchaseOrders(true, func(page int, pos []portal.PurchaseOrder) error {
		n, err := b.Store.UpsertPurchaseOrders(ctx, accountID, pos)
		if err != nil {
			return err
		}
		res.Pages, res.POs, res.Changed = page, res.POs+len(pos), res.Changed+n
		activity.RecordHeartbeat(ctx, res)
		return nil
	})
	if err != nil {
		return res, portalError(err)
	}
	return res, nil
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
