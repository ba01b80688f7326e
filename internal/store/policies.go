package store

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// The values of Policy.Terms.
const (
	TermsExact         = "exact"          // the invoice's payment terms must be the PO's
	TermsBetterAllowed = "better_allowed" // fewer or as many payment days as the PO's pass too
)

// Policy is a customer's invoicing policy (table customer_policies). See activities.Policy for what each
// field means to the invoice workflow.
type Policy struct {
	CustomerID         string
	Approvers          []string // lower case; empty: nobody may decide until approvers are configured
	AutoApprove        bool
	RemindEvery        time.Duration
	EscalateAfter      time.Duration
	MaxResubmissions   int
	RenumberSuffix     string // fmt pattern applied to the resubmission round
	Terms              string // TermsExact or TermsBetterAllowed
	TolerancePercent   decimal.Decimal
	ToleranceAmount    decimal.Decimal
	MaxBackdateDays    int
	AttachmentRequired bool
	RemitTo            string
	TaxReference       string
}

// DefaultPolicy is the policy of a customer without a row in customer_policies: no approvers (no decision
// is accepted until some are configured), no auto-approval, a reminder a day, escalation after three days, two automatic
// resubmissions renumbered "-01", "-02", exact payment terms, no tolerance, no backdating limit and no
// required attachment.
func DefaultPolicy(customerID string) Policy {
	return Policy{
		CustomerID:       customerID,
		Approvers:        []string{},
		RemindEvery:      24 * time.Hour,
		EscalateAfter:    72 * time.Hour,
		MaxResubmissions: 2,
		RenumberSuffix:   "-%02d",
		Terms:            TermsExact,
		TolerancePercent: decimal.Zero,
		ToleranceAmount:  decimal.Zero,
	}
}

// Policy returns the customer's policy, or DefaultPolicy when the customer has no row. An unknown customer
// is ErrNotFound.
func (s *Store) Policy(ctx context.Context, customerID string) (Policy, error) {
	p := Policy{CustomerID: customerID}
	var hasRow bool
	var remind, escalate pgtype.Interval
	err := s.pool.QueryRow(ctx, `
		SELECT p.customer_id IS NOT NULL, coalesce(p.approvers, '{}'), coalesce(p.auto_approve, false),
		       coalesce(p.remind_every, '0'), coalesce(p.escalate_after, '0'), coalesce(p.max_resubmissions, 0),
		       coalesce(p.renumber_suffix, ''), coalesce(p.terms, ''), coalesce(p.tolerance_percent, 0),
		       coalesce(p.tolerance_amount, 0), coalesce(p.max_backdate_days, 0), coalesce(p.attachment_required, false),
		       coalesce(p.remit_to, ''), coalesce(p.tax_reference, '')
		FROM customers c LEFT JOIN customer_policies p ON p.customer_id = c.id
		WHERE c.id = $1`, customerID).
		Scan(&hasRow, &p.Approvers, &p.AutoApprove, &remind, &escalate, &p.MaxResubmissions, &p.RenumberSuffix, &p.Terms,
			&p.TolerancePercent, &p.ToleranceAmount, &p.MaxBackdateDays, &p.AttachmentRequired, &p.RemitTo, &p.TaxReference)
	if errors.Is(err, pgx.ErrNoRows) {
		return Policy{}, fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	if err != nil {
		return Policy{}, err
	}
	if !hasRow {
		return DefaultPolicy(customerID), nil
	}
	p.RemindEvery, p.EscalateAfter = intervalDuration(remind), intervalDuration(escalate)
	if p.Approvers == nil {
		p.Approvers = []string{}
	}
	return p, nil
}

// UpsertPolicy stores a customer's policy, whole. Start from DefaultPolicy (or Policy) and change what
// differs. Approvers are trimmed, lower-cased and de-duplicated; a policy that could not work (unknown
// terms, no reminder interval, a renumber suffix that makes the same number every round) is refused
// with the field to fix.
func (s *Store) UpsertPolicy(ctx context.Context, p Policy) error {
	p, err := p.normalized()
	if err != nil {
		return fmt.Errorf("store: policy of customer %s: %w", p.CustomerID, err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO customer_policies (customer_id, approvers, auto_approve, remind_every, escalate_after, max_resubmissions,
			renumber_suffix, terms, tolerance_percent, tolerance_amount, max_backdate_days, attachment_required, remit_to, tax_reference)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (customer_id) DO UPDATE SET approvers = EXCLUDED.approvers, auto_approve = EXCLUDED.auto_approve,
			remind_every = EXCLUDED.remind_every, escalate_after = EXCLUDED.escalate_after,
			max_resubmissions = EXCLUDED.max_resubmissions, renumber_suffix = EXCLUDED.renumber_suffix, terms = EXCLUDED.terms,
			tolerance_percent = EXCLUDED.tolerance_percent, tolerance_amount = EXCLUDED.tolerance_amount,
			max_backdate_days = EXCLUDED.max_backdate_days, attachment_required = EXCLUDED.attachment_required,
			remit_to = EXCLUDED.remit_to, tax_reference = EXCLUDED.tax_reference, updated_at = now()`,
		p.CustomerID, p.Approvers, p.AutoApprove, durationInterval(p.RemindEvery), durationInterval(p.EscalateAfter), p.MaxResubmissions,
		p.RenumberSuffix, p.Terms, p.TolerancePercent, p.ToleranceAmount, p.MaxBackdateDays, p.AttachmentRequired,
		strings.TrimSpace(p.RemitTo), strings.TrimSpace(p.TaxReference))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("customer %s: %w", p.CustomerID, ErrNotFound)
	}
	return err
}

func (p Policy) normalized() (Policy, error) {
	approvers := []string{}
	var problems []string
	for _, a := range p.Approvers {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || slices.Contains(approvers, a) {
			continue
		}
		// Approvers are named by address in every decision; a display name or a typo would never match one.
		if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
			problems = append(problems, fmt.Sprintf("approver %q is not a bare e-mail address", a))
			continue
		}
		approvers = append(approvers, a)
	}
	p.Approvers = approvers
	p.Terms = strings.ToLower(strings.TrimSpace(p.Terms))
	if p.Terms != TermsExact && p.Terms != TermsBetterAllowed {
		problems = append(problems, fmt.Sprintf("terms %q is not %q or %q", p.Terms, TermsExact, TermsBetterAllowed))
	}
	if p.RemindEvery <= 0 {
		problems = append(problems, "remind_every must be positive")
	}
	if p.EscalateAfter <= 0 {
		problems = append(problems, "escalate_after must be positive")
	}
	if p.MaxResubmissions < 0 {
		problems = append(problems, "max_resubmissions is negative")
	}
	if p.MaxBackdateDays < 0 {
		problems = append(problems, "max_backdate_days is negative")
	}
	if p.TolerancePercent.IsNegative() || p.ToleranceAmount.IsNegative() {
		problems = append(problems, "tolerances must not be negative")
	}
	if one, two := fmt.Sprintf(p.RenumberSuffix, 1), fmt.Sprintf(p.RenumberSuffix, 2); one == two || strings.Contains(one, "%!") {
		problems = append(problems, fmt.Sprintf("renumber_suffix %q must make a different number each round from one verb, like \"-%%02d\"", p.RenumberSuffix))
	}
	if len(problems) > 0 {
		return p, errors.New(strings.Join(problems, "; "))
	}
	return p, nil
}

func durationInterval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

// intervalDuration reads an interval as a duration, a month counting 30 days.
func intervalDuration(i pgtype.Interval) time.Duration {
	return time.Duration(i.Months)*30*24*time.Hour + time.Duration(i.Days)*24*time.Hour + time.Duration(i.Microseconds)*time.Microsecond
}
