package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

const stateVersion = 1

// stateFile is the on-disk form of everything the portal must remember
// across restarts. Sessions are left out on purpose (see Server).
type stateFile struct {
	Version        int             `json:"version"`
	Accounts       []*account      `json:"accounts"`
	PurchaseOrders map[string][]PO `json:"purchase_orders"` // by username
	Invoices       []*Invoice      `json:"invoices"`
	NextInvoiceSeq int             `json:"next_invoice_seq"`
	Events         []Event         `json:"events"`
}

// load reads cfg.StatePath; a missing file is an empty portal.
func (s *Server) load() error {
	b, err := os.ReadFile(s.cfg.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("parse state %s: %w", s.cfg.StatePath, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("state %s: unsupported version %d", s.cfg.StatePath, st.Version)
	}
	for _, a := range st.Accounts {
		if a != nil && a.Username != "" {
			if a.PasswordChangedAt.IsZero() {
				a.PasswordChangedAt = s.now() // saved before password ages were kept
			}
			s.accounts[a.Username] = a
		}
	}
	for user, pos := range st.PurchaseOrders {
		m := map[string]*PO{}
		for _, po := range pos {
			if po.UpdatedAt.IsZero() {
				po.UpdatedAt = s.now() // saved before POs kept their time of change
			}
			m[po.Number] = &po
		}
		s.pos[user] = m
	}
	for _, inv := range st.Invoices {
		if inv != nil {
			if inv.AttachmentName != "" && inv.AttachmentType == "" {
				inv.AttachmentType = AttachmentPDF // saved before types were recorded, when only PDFs were accepted
			}
			s.invoices = append(s.invoices, inv)
		}
	}
	s.nextSeq = max(st.NextInvoiceSeq, 1)
	s.events = st.Events
	return nil
}

// persistLocked saves the state if a state file is configured; s.mu must be
// held so that saves are ordered like the changes they record. The file is
// written to a temporary sibling and renamed, so a crash leaves either the
// old or the new state, never half of one.
func (s *Server) persistLocked() error {
	if s.cfg.StatePath == "" {
		return nil
	}
	st := stateFile{
		Version:        stateVersion,
		PurchaseOrders: map[string][]PO{},
		Invoices:       s.invoices,
		NextInvoiceSeq: s.nextSeq,
		Events:         s.events,
	}
	for _, name := range sortedKeys(s.accounts) {
		st.Accounts = append(st.Accounts, s.accounts[name])
	}
	for user, m := range s.pos {
		for _, number := range sortedKeys(m) {
			st.PurchaseOrders[user] = append(st.PurchaseOrders[user], *m[number])
		}
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(s.cfg.StatePath, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	// The state holds passwords and TOTP secrets: owner only.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
