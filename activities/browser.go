package activities

import (
	"context"
	"errors"
	"fmt"

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
	// in, for the approver. TODO(activities helper)
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

// SaveDraft keys the ERP invoice into the portal and saves it as a draft. It first looks for the invoice
// number in the portal, so a retry never creates a second draft; an invoice already past Draft is returned
// as it is for the workflow to pick up where the portal stands.
func (b *Browser) SaveDraft(ctx context.Context, invoiceID string) (DraftResult, error) {
	inv, err := b.Store.Invoice(ctx, invoiceID)
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
	existing, found, err := s.FindInvoice(inv.Number)
	if err != nil {
		return DraftResult{}, portalError(err)
	}
	if found {
		if existing.Status == portal.StatusDraft {
			if err := driver.CheckDraft(existing, d); err != nil {
				return DraftResult{}, portalError(err)
			}
		}
		return DraftResult{Invoice: existing, Reused: true}, nil
	}
	saved, err := s.CreateDraft(d)
	if err != nil {
		return DraftResult{}, portalError(err)
	}
	return DraftResult{Invoice: saved}, nil
}

func draftOf(inv store.Invoice, attachment []byte) portal.Draft {
	d := portal.Draft{
		Number: inv.Number, PONumber: inv.PONumber, Date: inv.Date, TaxRate: inv.TaxRate, Note: inv.Note,
		ExpectedTotal: inv.Total, AttachmentName: inv.AttachmentName, Attachment: attachment,
	}
	for _, l := range inv.Lines {
		d.Lines = append(d.Lines, portal.DraftLine{POLineNo: l.POLineNo, Quantity: l.Quantity})
	}
	return d
}

// SubmitInvoice submits the invoice's draft. Submitting an invoice that is already submitted returns its
// status and changes nothing.
func (b *Browser) SubmitInvoice(ctx context.Context, invoiceID string) (portal.Invoice, error) {
	return withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (portal.Invoice, error) {
		return s.Submit(inv.Number)
	})
}

// DeleteDraft deletes the invoice's draft from the portal (after an approver rejected it).
func (b *Browser) DeleteDraft(ctx context.Context, invoiceID string) error {
	_, err := withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (struct{}, error) {
		return struct{}{}, s.DeleteDraft(inv.Number)
	})
	return err
}

// CheckStatus reads the invoice's status in the portal.
func (b *Browser) CheckStatus(ctx context.Context, invoiceID string) (portal.Invoice, error) {
	return withInvoiceSession(ctx, b, invoiceID, func(s *driver.Session, inv store.Invoice) (portal.Invoice, error) {
		return s.InvoiceStatus(inv.Number)
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
