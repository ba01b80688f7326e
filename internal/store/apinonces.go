package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimAPINonce records that clientID used nonce, and reports whether it was the first to: false means the
// request is a replay. The primary key decides, not a prior SELECT, so two workers that receive the same
// request at the same moment cannot both accept it.
func (s *Store) ClaimAPINonce(ctx context.Context, clientID, nonce string, seenAt time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO api_request_nonces (client_id, nonce, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, nonce) DO NOTHING`, clientID, nonce, seenAt)
	if err != nil {
		return false, fmt.Errorf("store: claim API nonce: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PurgeAPINonces deletes the nonces seen before before and returns how many went. A nonce only has to be
// kept while a request carrying it could still pass the timestamp check; after that the timestamp refuses
// the replay on its own, and the table would otherwise grow with every request.
func (s *Store) PurgeAPINonces(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_request_nonces WHERE seen_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: purge API nonces: %w", err)
	}
	return tag.RowsAffected(), nil
}
