package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DateLayout is how dates are written in portal overrides (YYYY-MM-DD).
const DateLayout = "2006-01-02"

// PortalOverrides are fixes Portico keys into the portal instead of the ERP's own values (which it never
// changes), kept in erp_invoices.portal_overrides. Empty fields override nothing.
type PortalOverrides struct {
	Number        string `json:"number,omitempty"`
	Date          string `json:"date,omitempty"` // YYYY-MM-DD
	TaxReference  string `json:"tax_reference,omitempty"`
	RemitTo       string `json:"remit_to,omitempty"`
	DropZeroLines bool   `json:"drop_zero_lines,omitempty"`
}

// IsZero reports whether the overrides change nothing.
func (o PortalOverrides) IsZero() bool { return o == PortalOverrides{} }

func (o PortalOverrides) normalized() (PortalOverrides, error) {
	o.Number = strings.TrimSpace(o.Number)
	o.Date = strings.TrimSpace(o.Date)
	o.TaxReference = strings.TrimSpace(o.TaxReference)
	o.RemitTo = strings.TrimSpace(o.RemitTo)
	if o.Date != "" {
		if _, err := time.Parse(DateLayout, o.Date); err != nil {
			return o, fmt.Errorf("date %q is not YYYY-MM-DD", o.Date)
		}
	}
	return o, nil
}

// applyTo fills the invoice's portal values: the overrides where set, else the ERP's.
func (o PortalOverrides) applyTo(inv *Invoice) error {
	inv.PortalNumber, inv.PortalDate = inv.Number, inv.Date
	if o.Number != "" {
		inv.PortalNumber = o.Number
	}
	if o.Date != "" {
		d, err := time.Parse(DateLayout, o.Date)
		if err != nil {
			return fmt.Errorf("date %q is not YYYY-MM-DD", o.Date)
		}
		inv.PortalDate = d
	}
	inv.RemitTo, inv.TaxReference, inv.DropZeroLines = o.RemitTo, o.TaxReference, o.DropZeroLines
	return nil
}

// ApplyFix merges the overrides that are set into the invoice's portal overrides: a later fix of the same
// value replaces the earlier one, the others stay. Applying the same fix twice changes nothing, so a
// retried call is harmless. An unknown invoice is ErrNotFound.
func (s *Store) ApplyFix(ctx context.Context, invoiceID string, fix PortalOverrides) error {
	fix, err := fix.normalized()
	if err != nil {
		return fmt.Errorf("store: fix for invoice %s: %w", invoiceID, err)
	}
	if fix.IsZero() {
		return errors.New("store: fix for invoice " + invoiceID + " changes nothing")
	}
	patch, err := json.Marshal(fix)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE erp_invoices SET portal_overrides = portal_overrides || $2::jsonb WHERE id = $1`, invoiceID, string(patch))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("invoice %s: %w", invoiceID, ErrNotFound)
	}
	return nil
}
