package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"portico/internal/vault"
)

// sessionColumn names the sealed portal_sessions value in its vault context, so that a cookie blob copied
// into a password column (or to another account) fails to open.
const sessionColumn = "cookies"

// SavePortalSession keeps the cookies of an account's last good login, sealed like its password, so that a
// worker started later reuses the portal session instead of logging in (and spending a TOTP step) again.
// The cookies are opaque here: the driver chooses their encoding. An unknown account is ErrNotFound.
func (s *Store) SavePortalSession(ctx context.Context, accountID string, cookies []byte) error {
	if s.keys == nil {
		return vault.ErrNoKey
	}
	sealed, err := s.keys.Seal(cookies, secretContext(accountID, sessionColumn))
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO portal_sessions (account_id, cookies_enc) VALUES ($1, $2)
		ON CONFLICT (account_id) DO UPDATE SET cookies_enc = EXCLUDED.cookies_enc, saved_at = now()`,
		accountID, sealed)
	if isForeignKeyViolation(err) {
		return fmt.Errorf("save portal session: portal account %s: %w", accountID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("save portal session of portal account %s: %w", accountID, err)
	}
	return nil
}

// PortalSession returns the account's saved session cookies; false when none is saved. A saved value that
// does not open (tampered, moved from another account, or under a key the keyring lacks) is an error
// naming the account and the vault's reason, so that it is never mistaken for "no session".
func (s *Store) PortalSession(ctx context.Context, accountID string) ([]byte, bool, error) {
	if s.keys == nil {
		return nil, false, vault.ErrNoKey
	}
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT cookies_enc FROM portal_sessions WHERE account_id = $1`, accountID).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read saved portal session of portal account %s: %w", accountID, err)
	}
	cookies, err := s.keys.Open(sealed, secretContext(accountID, sessionColumn))
	if err != nil {
		return nil, false, fmt.Errorf("portal account %s saved portal session: %w", accountID, err)
	}
	return cookies, true, nil
}

// ForgetPortalSession drops the account's saved session, once the portal has shown it is over or a login
// failed: no worker should start from it again. Forgetting a session that is not saved is not an error.
func (s *Store) ForgetPortalSession(ctx context.Context, accountID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM portal_sessions WHERE account_id = $1`, accountID); err != nil {
		return fmt.Errorf("forget saved portal session of portal account %s: %w", accountID, err)
	}
	return nil
}
