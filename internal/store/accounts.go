package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"portico/internal/vault"
)

// Customer is a buyer the supplier invoices through a portal.
type Customer struct {
	ID          string
	Name        string
	BuyerEntity string
}

// PortalAccount is the supplier's login at one buyer's portal. Its secrets live only in the encrypted columns.
type PortalAccount struct {
	ID         string
	CustomerID string
	Portal     string // which portal definition drives it, e.g. "coupa-sim"
	BaseURL    string
	Username   string
	TimeZone   string
	SyncCron   string
}

// UpsertCustomer inserts or updates a customer.
func (s *Store) UpsertCustomer(ctx context.Context, c Customer) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO customers (id, name, buyer_entity) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, buyer_entity = EXCLUDED.buyer_entity`,
		c.ID, c.Name, c.BuyerEntity)
	return err
}

// UpsertPortalAccount inserts or updates an account and stores its password and TOTP secret encrypted.
// The TOTP secret is normalised first, so a secret pasted with spaces or as an otpauth:// URI works.
// It drops the account's saved portal session: a session made with the old credentials is not trusted.
func (s *Store) UpsertPortalAccount(ctx context.Context, a PortalAccount, password, totpSecret string) error {
	if s.keys == nil {
		return vault.ErrNoKey
	}
	if password == "" {
		return errors.New("store: portal account " + a.ID + ": password is empty")
	}
	secret, err := vault.NormalizeTOTPSecret(totpSecret)
	if err != nil {
		return fmt.Errorf("store: portal account %s: %w", a.ID, err)
	}
	pw, err := s.keys.Seal([]byte(password), secretContext(a.ID, "password"))
	if err != nil {
		return err
	}
	ts, err := s.keys.Seal([]byte(secret), secretContext(a.ID, "totp"))
	if err != nil {
		return err
	}
	if a.TimeZone == "" {
		a.TimeZone = "UTC"
	}
	if a.SyncCron == "" {
		a.SyncCron = "0 0,6,12,18 * * *"
	}
	// The saved portal session goes in the same transaction: it was made with the old credentials (maybe
	// another user, or a password the portal has since revoked), so no worker may start from it after this.
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO portal_accounts (id, customer_id, portal, base_url, username, password_enc, totp_secret_enc, time_zone, sync_cron)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, portal = EXCLUDED.portal,
				base_url = EXCLUDED.base_url, username = EXCLUDED.username, password_enc = EXCLUDED.password_enc,
				totp_secret_enc = EXCLUDED.totp_secret_enc, time_zone = EXCLUDED.time_zone,
				sync_cron = EXCLUDED.sync_cron, updated_at = now()`,
			a.ID, a.CustomerID, a.Portal, a.BaseURL, a.Username, pw, ts, a.TimeZone, a.SyncCron)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM portal_sessions WHERE account_id = $1`, a.ID)
		return err
	})
}

func secretContext(accountID, column string) string {
	return "portal_account/" + accountID + "/" + column
}

const accountColumns = `id, customer_id, portal, base_url, username, time_zone, sync_cron`

// PortalAccount returns one account, without its secrets.
func (s *Store) PortalAccount(ctx context.Context, id string) (PortalAccount, error) {
	var a PortalAccount
	err := s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM portal_accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.CustomerID, &a.Portal, &a.BaseURL, &a.Username, &a.TimeZone, &a.SyncCron)
	return a, notFound(err, "portal account "+id)
}

// PortalAccounts lists every account, without secrets, ordered by ID.
func (s *Store) PortalAccounts(ctx context.Context) ([]PortalAccount, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM portal_accounts ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PortalAccount
	for rows.Next() {
		var a PortalAccount
		if err := rows.Scan(&a.ID, &a.CustomerID, &a.Portal, &a.BaseURL, &a.Username, &a.TimeZone, &a.SyncCron); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Credentials decrypts an account's login. Only browser activities call it, right before they log in.
func (s *Store) Credentials(ctx context.Context, accountID string) (vault.Credentials, error) {
	if s.keys == nil {
		return vault.Credentials{}, vault.ErrNoKey
	}
	var user string
	var pw, ts []byte
	err := s.pool.QueryRow(ctx, `SELECT username, password_enc, totp_secret_enc FROM portal_accounts WHERE id = $1`, accountID).
		Scan(&user, &pw, &ts)
	if err != nil {
		return vault.Credentials{}, notFound(err, "portal account "+accountID)
	}
	p, err := s.keys.Open(pw, secretContext(accountID, "password"))
	if err != nil {
		return vault.Credentials{}, fmt.Errorf("portal account %s password: %w", accountID, err)
	}
	t, err := s.keys.Open(ts, secretContext(accountID, "totp"))
	if err != nil {
		return vault.Credentials{}, fmt.Errorf("portal account %s TOTP secret: %w", accountID, err)
	}
	return vault.Credentials{Username: user, Password: string(p), TOTPSecret: string(t)}, nil
}

// ClaimTOTPStep records that a login of this account will use the TOTP code of step. It reports false when
// that step (or a later one) was already claimed: the portal would refuse the code as already used.
func (s *Store) ClaimTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE portal_accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, accountID, step)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// RecordLoginRefusal remembers that the portal refused the account's current credentials, with the error to
// give every later attempt, so that no worker tries them again until they are updated.
func (s *Store) RecordLoginRefusal(ctx context.Context, accountID, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE portal_accounts SET login_refused_at = clock_timestamp(), login_refused_reason = $2 WHERE id = $1`, accountID, reason)
	return err
}

// LoginRefusal returns the reason the portal refused the account's current credentials, if it did.
// Updating the credentials (UpsertPortalAccount) clears it.
func (s *Store) LoginRefusal(ctx context.Context, accountID string) (string, bool, error) {
	var reason string
	var refused bool
	err := s.pool.QueryRow(ctx, `SELECT login_refused_reason, coalesce(login_refused_at >= updated_at, false) FROM portal_accounts WHERE id = $1`, accountID).Scan(&reason, &refused)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("portal account %s: %w", accountID, ErrNotFound)
	}
	return reason, refused, err
}
