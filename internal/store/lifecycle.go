package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// The kinds of evidence kept for a draft.
const (
	EvidenceDraftScreenshot = "draft_screenshot" // PNG of the draft's page in the portal
	EvidenceDraftValues     = "draft_values"     // JSON of the exact values keyed in
)

// PutEvidence keeps one piece of evidence about an invoice and returns its ID. An unknown invoice is
// ErrNotFound.
func (s *Store) PutEvidence(ctx context.Context, invoiceID, kind, contentType string, data []byte) (string, error) {
	if data == nil {
		data = []byte{}
	}
	id := "ev_" + strings.ToLower(rand.Text())
	_, err := s.pool.Exec(ctx, `INSERT INTO evidence (id, invoice_id, kind, content_type, data) VALUES ($1, $2, $3, $4, $5)`,
		id, invoiceID, kind, contentType, data)
	if isForeignKeyViolation(err) {
		return "", fmt.Errorf("invoice %s: %w", invoiceID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: evidence for invoice %s: %w", invoiceID, err)
	}
	return id, nil
}

// Evidence returns one piece of evidence by its ID.
func (s *Store) Evidence(ctx context.Context, id string) (kind, contentType string, data []byte, err error) {
	err = s.pool.QueryRow(ctx, `SELECT kind, content_type, data FROM evidence WHERE id = $1`, id).Scan(&kind, &contentType, &data)
	return kind, contentType, data, notFound(err, "evidence "+id)
}

// Notification is one message to people in the notifications outbox, delivered by whatever sends mail or
// chat (it sets SentAt).
type Notification struct {
	InvoiceID  string
	Seq        int // assigned by the invoice workflow; a retried insert is a no-op
	Kind       string
	Recipients []string
	Text       string
	CreatedAt  time.Time
	SentAt     time.Time // zero until sent
}

// InsertNotification puts a notification into the outbox once: it reports false when (invoice, seq) was
// already there. An unknown invoice is ErrNotFound.
func (s *Store) InsertNotification(ctx context.Context, n Notification) (bool, error) {
	if n.Recipients == nil {
		n.Recipients = []string{}
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO notifications (invoice_id, seq, kind, recipients, text) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (invoice_id, seq) DO NOTHING`,
		n.InvoiceID, n.Seq, n.Kind, n.Recipients, n.Text)
	if isForeignKeyViolation(err) {
		return false, fmt.Errorf("invoice %s: %w", n.InvoiceID, ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Notifications returns an invoice's notifications in order.
func (s *Store) Notifications(ctx context.Context, invoiceID string) ([]Notification, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT invoice_id, seq, kind, recipients, text, created_at, sent_at
		FROM notifications WHERE invoice_id = $1 ORDER BY seq`, invoiceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		var sent *time.Time
		err := r.Scan(&n.InvoiceID, &n.Seq, &n.Kind, &n.Recipients, &n.Text, &n.CreatedAt, &sent)
		if sent != nil {
			n.SentAt = *sent
		}
		return n, err
	})
}

// CheckResult is the outcome of one pre-submission check of an invoice.
type CheckResult struct {
	Name      string
	Passed    bool
	Detail    string
	CheckedAt time.Time // set by RecordChecks
}

// RecordChecks stores the latest outcome of each of the invoice's checks (one row per check name), so the
// ERP can read why an invoice was held. An unknown invoice is ErrNotFound.
func (s *Store) RecordChecks(ctx context.Context, invoiceID string, checks []CheckResult) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, c := range checks {
			if _, err := tx.Exec(ctx, `
				INSERT INTO invoice_checks (invoice_id, name, passed, detail, checked_at) VALUES ($1, $2, $3, $4, clock_timestamp())
				ON CONFLICT (invoice_id, name) DO UPDATE SET passed = EXCLUDED.passed, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at`,
				invoiceID, c.Name, c.Passed, c.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if isForeignKeyViolation(err) {
		return fmt.Errorf("invoice %s: %w", invoiceID, ErrNotFound)
	}
	return err
}

// Checks returns the latest outcome of each of the invoice's checks, by name.
func (s *Store) Checks(ctx context.Context, invoiceID string) ([]CheckResult, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, passed, detail, checked_at FROM invoice_checks WHERE invoice_id = $1 ORDER BY name`, invoiceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CheckResult, error) {
		var c CheckResult
		err := r.Scan(&c.Name, &c.Passed, &c.Detail, &c.CheckedAt)
		return c, err
	})
}
