package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Decision is one decision sent about an invoice, as the audit keeps it: who decided what, through which
// channel, about which draft version, and whether Portico acted on it or refused it (and why).
type Decision struct {
	Kind     string // "approval" or "resolution"
	Channel  string // "signal", "update" or "policy" (a customer's auto-approval)
	Decision string // approve, reject, request_changes; resubmit, void, give_up (as sent, when refused)
	Actor    string // the approver, or who sent the resolution
	Note     string
	// NamedDraft is the draft version the decision named (0: none); DraftVersion the invoice's current one.
	NamedDraft   int
	DraftVersion int
	Accepted     bool
	Refusal      string // why it was refused; empty when accepted
}

// DecisionRecord is a Decision as stored: with the invoice, when, its ERP history row and the stage it
// left the invoice in.
type DecisionRecord struct {
	Decision
	InvoiceID string
	Seq       int
	At        time.Time
	Stage     string
}

// The decision kinds and channels.
const (
	DecisionKindApproval   = "approval"
	DecisionKindResolution = "resolution"
	ChannelSignal          = "signal"
	ChannelUpdate          = "update"
	ChannelPolicy          = "policy"
)

func insertDecision(ctx context.Context, tx pgx.Tx, c StatusChange) error {
	d := c.Decision
	actor := strings.TrimSpace(d.Actor)
	if actor == "" {
		actor = "unknown"
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO decision_audit (invoice_id, seq, at, kind, channel, decision, actor, note, named_draft,
			draft_version, accepted, refusal, stage)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (invoice_id, seq) DO NOTHING`,
		c.InvoiceID, c.Seq, c.At, d.Kind, d.Channel, d.Decision, actor, d.Note, d.NamedDraft, d.DraftVersion,
		d.Accepted, d.Refusal, c.Stage)
	if err != nil {
		return fmt.Errorf("decision audit of invoice %s: %w", c.InvoiceID, err)
	}
	return nil
}

// AuditFilter selects decisions; zero fields select everything.
type AuditFilter struct {
	InvoiceID string
	Actor     string // case-insensitive
	Since     time.Time
	Refused   bool // only refused decisions
	Limit     int  // default 100
}

// Decisions lists audited decisions, newest first.
func (s *Store) Decisions(ctx context.Context, f AuditFilter) ([]DecisionRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `
		SELECT invoice_id, seq, at, kind, channel, decision, actor, note, named_draft, draft_version, accepted,
			refusal, stage
		FROM decision_audit
		WHERE ($1 = '' OR invoice_id = $1) AND ($2 = '' OR lower(actor) = lower($2)) AND at >= $3
			AND (NOT $4 OR NOT accepted)
		ORDER BY at DESC, invoice_id, seq DESC LIMIT $5`,
		f.InvoiceID, f.Actor, f.Since, f.Refused, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DecisionRecord, error) {
		var d DecisionRecord
		err := r.Scan(&d.InvoiceID, &d.Seq, &d.At, &d.Kind, &d.Channel, &d.Decision.Decision, &d.Actor, &d.Note,
			&d.NamedDraft, &d.DraftVersion, &d.Accepted, &d.Refusal, &d.Stage)
		return d, err
	})
}
