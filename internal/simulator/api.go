package simulator

import (
	"errors"
	"fmt"
	"strings"
)

// AddAccount creates a supplier account, or updates the password, TOTP
// secret and supplier name of an existing one. An update keeps the lockout
// and TOTP history, so re-seeding a persisted portal does not unlock anyone.
func (s *Server) AddAccount(a Account) error {
	a.Username = strings.TrimSpace(a.Username)
	if a.Username == "" {
		return errors.New("username is required")
	}
	if a.Password == "" {
		return errors.New("password is required")
	}
	secret, err := normalizeSecret(a.TOTPSecret)
	if err != nil {
		return err
	}
	a.TOTPSecret = secret
	if a.Supplier == "" {
		a.Supplier = a.Username
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.accounts[a.Username]
	if a.PasswordChangedAt.IsZero() {
		a.PasswordChangedAt = s.now()
		if cur != nil && cur.Password == a.Password && !cur.PasswordChangedAt.IsZero() {
			a.PasswordChangedAt = cur.PasswordChangedAt // re-seeding the same password does not renew it
		}
	}
	if cur != nil {
		if cur.Password != a.Password {
			cur.MustChangePassword = false // a new password from the administrator
		}
		cur.Account = a
	} else {
		s.accounts[a.Username] = &account{Account: a}
	}
	return s.persistLocked()
}

// ExpirePassword makes the account's password expired now, whatever
// Rules.PasswordMaxAgeDays says: the next correct password entry leads to
// the "Password expired" form.
func (s *Server) ExpirePassword(username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[username]
	if a == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAccount, username)
	}
	a.MustChangePassword = true
	s.logLocked("password_expired", username, "", "expired by the administrator")
	return s.persistLocked()
}

// SetPassword sets an account's password, valid from now (what the buyer's
// administrator does, or a test after the supplier changed it elsewhere).
func (s *Server) SetPassword(username, password string) error {
	if password == "" {
		return errors.New("password is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[username]
	if a == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAccount, username)
	}
	s.setPasswordLocked(a, password, "set by the administrator")
	return s.persistLocked()
}

// Unlock clears the lockout and failed-attempt count of an account, which is
// what the buyer's administrator does on request.
func (s *Server) Unlock(username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[username]
	if a == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAccount, username)
	}
	a.Locked, a.FailedLogins = false, 0
	s.logLocked("unlocked", username, "", "")
	return s.persistLocked()
}

// AddPurchaseOrders gives username the POs, replacing any PO with the same
// number. Invoices already raised against a replaced PO stay and keep
// counting toward its balance. A PO without UpdatedAt is updated now, unless it
// replaces an identical PO, which keeps its time.
func (s *Server) AddPurchaseOrders(username string, pos []PO) error {
	clean := make([]*PO, 0, len(pos))
	for i, po := range pos {
		p, err := validatePO(po)
		if err != nil {
			return fmt.Errorf("purchase order %d (%q): %w", i+1, po.Number, err)
		}
		clean = append(clean, p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accounts[username] == nil {
		return fmt.Errorf("%w: %s", ErrUnknownAccount, username)
	}
	if s.pos[username] == nil {
		s.pos[username] = map[string]*PO{}
	}
	now := s.now()
	for _, p := range clean {
		if p.UpdatedAt.IsZero() {
			p.UpdatedAt = now
			if cur := s.pos[username][p.Number]; cur != nil && samePO(cur, p) {
				p.UpdatedAt = cur.UpdatedAt
			}
		}
		s.pos[username][p.Number] = p
	}
	return s.persistLocked()
}

// samePO tells whether two POs are the same but for UpdatedAt.
func samePO(a, b *PO) bool {
	if a.Number != b.Number || a.BuyerEntity != b.BuyerEntity || !a.OrderDate.Equal(b.OrderDate) || a.Currency != b.Currency ||
		a.PaymentTerms != b.PaymentTerms || a.Status != b.Status || len(a.Lines) != len(b.Lines) {
		return false
	}
	for i, l := range a.Lines {
		m := b.Lines[i]
		if l.LineNo != m.LineNo || l.PartNumber != m.PartNumber || l.Description != m.Description || !l.Quantity.Equal(m.Quantity) ||
			l.UOM != m.UOM || !l.UnitPrice.Equal(m.UnitPrice) {
			return false
		}
	}
	return true
}

// touchPOLocked marks the PO an invoice bills as changed now, when the invoice
// started or stopped holding PO balance (its invoiced amount changed); s.mu
// must be held.
func (s *Server) touchPOLocked(inv *Invoice, consumedBefore bool) {
	if inv.Status.consumesBalance() == consumedBefore {
		return
	}
	if po := s.pos[inv.Supplier][inv.PONumber]; po != nil {
		po.UpdatedAt = s.now()
	}
}

// validatePO checks a seeded PO and returns a private copy of it.
func validatePO(po PO) (*PO, error) {
	po.Number = strings.TrimSpace(po.Number)
	switch {
	case po.Number == "":
		return nil, errors.New("number is required")
	case strings.ContainsAny(po.Number, "/?#%"):
		return nil, errors.New("number must not contain / ? # or %")
	case strings.TrimSpace(po.Currency) == "":
		return nil, errors.New("currency is required")
	case len(po.Lines) == 0:
		return nil, errors.New("at least one line is required")
	}
	if po.Status == "" {
		po.Status = POOpen
	}
	if !po.Status.valid() {
		return nil, fmt.Errorf("status %q is not one of Open, Partially Invoiced, Fully Invoiced, Closed, Cancelled", po.Status)
	}
	seen := map[int]bool{}
	for _, l := range po.Lines {
		switch {
		case l.LineNo <= 0:
			return nil, errors.New("line_no must be positive")
		case seen[l.LineNo]:
			return nil, fmt.Errorf("line_no %d is repeated", l.LineNo)
		case !l.Quantity.IsPositive():
			return nil, fmt.Errorf("line %d: quantity must be positive", l.LineNo)
		case l.UnitPrice.IsNegative():
			return nil, fmt.Errorf("line %d: unit_price must not be negative", l.LineNo)
		}
		seen[l.LineNo] = true
	}
	po.Lines = append([]POLine(nil), po.Lines...)
	return &po, nil
}

// Invoices returns a snapshot of username's invoices (drafts included) in
// creation order; an empty username returns every supplier's invoices.
func (s *Server) Invoices(username string) []Invoice {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Invoice{}
	for _, inv := range s.invoices {
		if username == "" || inv.Supplier == username {
			out = append(out, inv.clone())
		}
	}
	return out
}

// Events returns a snapshot of the audit log, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event{}, s.events...)
}

// hasAccount tells whether username exists.
func (s *Server) hasAccount(username string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[username] != nil
}

// CountEvents counts the audit events of a kind, for one invoice number or, with "", for any. Tests use it
// to prove the portal saw exactly one draft, one submission or one failed login.
func (s *Server) CountEvents(kind, invoiceNumber string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if e.Kind == kind && (invoiceNumber == "" || e.InvoiceNumber == invoiceNumber) {
			n++
		}
	}
	return n
}
