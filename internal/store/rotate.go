package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"portico/internal/vault"
)

// sealedTable is a table holding vault ciphertexts, keyed by portal account: every value's vault context
// is secretContext(account, context), so a rotation opens and seals it exactly as its writer did.
type sealedTable struct {
	name    string
	key     string // the column holding the portal account ID
	columns []sealedColumn
}

type sealedColumn struct {
	name    string
	context string
}

// sealedTables lists every sealed value Portico stores; a new encrypted column must be added here, or a
// rotation would leave it under the old key and removing that key would make it unreadable.
var sealedTables = []sealedTable{
	{name: "portal_accounts", key: "id", columns: []sealedColumn{{"password_enc", "password"}, {"totp_secret_enc", "totp"}}},
	{name: "portal_sessions", key: "account_id", columns: []sealedColumn{{"cookies_enc", sessionColumn}}},
}

// rotateBatchSize bounds how many rows one rotation transaction locks, so that a rotation of many accounts
// never holds a credentials update (or a login's TOTP claim) for long.
var rotateBatchSize = 100

// RotationReport says what RotateSecrets did, per sealed column.
type RotationReport struct {
	// PrimaryKeyID is the key every value is under once the rotation has finished.
	PrimaryKeyID string
	// Columns has one entry per sealed column, in a fixed order.
	Columns []ColumnRotation
}

// ColumnRotation counts one sealed column's values.
type ColumnRotation struct {
	Column      string // "table.column", e.g. "portal_accounts.password_enc"
	Current     int    // already under the primary key: left as they were
	ReEncrypted int    // opened under an older key and sealed again under the primary key
}

// ReEncrypted is the number of values the rotation re-encrypted, over all columns; 0 means the rotation
// was already complete.
func (r RotationReport) ReEncrypted() int {
	n := 0
	for _, c := range r.Columns {
		n += c.ReEncrypted
	}
	return n
}

// RotationError names the value a rotation could not open, so the operator knows which account and
// column to look at and, for a missing key, which key ID to put back into the keyring. It never holds a
// secret.
type RotationError struct {
	AccountID string
	Column    string // "table.column"
	KeyID     string // the key the value is under; "" when its header is unreadable
	Err       error  // the vault's error: vault.ErrUnknownKey, vault.ErrTampered
}

func (e *RotationError) Error() string {
	switch {
	case errors.Is(e.Err, vault.ErrUnknownKey):
		return fmt.Sprintf("rotate secrets: portal account %s, %s: the value is under key %q, which is missing from the keyring; add that key (after the primary) and run the rotation again: %v",
			e.AccountID, e.Column, e.KeyID, e.Err)
	case e.KeyID == "":
		return fmt.Sprintf("rotate secrets: portal account %s, %s: the value's key header is unreadable: %v", e.AccountID, e.Column, e.Err)
	default:
		return fmt.Sprintf("rotate secrets: portal account %s, %s (under key %q): %v", e.AccountID, e.Column, e.KeyID, e.Err)
	}
}

// Unwrap lets callers test for vault.ErrUnknownKey or vault.ErrTampered.
func (e *RotationError) Unwrap() error { return e.Err }

// RotateSecrets re-encrypts, under the keyring's primary key, every sealed value that is under another
// key, so that the old key can then be removed. It works in small transactions, each locking its rows
// first, so a credentials update that runs meanwhile is neither overwritten nor lost; values already under
// the primary key are not touched, so a second run re-encrypts nothing. On a value it cannot open it stops
// with a *RotationError; the batches done so far stay done (and are counted in the report), and running
// it again after the fix resumes.
func (s *Store) RotateSecrets(ctx context.Context) (RotationReport, error) {
	if s.keys == nil {
		return RotationReport{}, vault.ErrNoKey
	}
	rep := RotationReport{PrimaryKeyID: s.keys.PrimaryKeyID()}
	for _, t := range sealedTables {
		for _, c := range t.columns {
			rep.Columns = append(rep.Columns, ColumnRotation{Column: t.name + "." + c.name})
		}
	}
	at := 0
	for _, t := range sealedTables {
		if err := s.rotateTable(ctx, t, rep.Columns[at:at+len(t.columns)]); err != nil {
			return rep, err
		}
		at += len(t.columns)
	}
	return rep, nil
}

// rotateTable rotates one table batch by batch, adding committed batches' counts to counts.
func (s *Store) rotateTable(ctx context.Context, t sealedTable, counts []ColumnRotation) error {
	cols := make([]string, len(t.columns))
	sets := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = c.name
		sets[i] = fmt.Sprintf("%s = $%d", c.name, i+2)
	}
	// FOR NO KEY UPDATE conflicts with every UPDATE of these rows (so a concurrent credentials update
	// waits for the batch, then writes its own values, or commits first and is what the batch reads) but
	// not with inserts elsewhere that merely reference the account.
	selectSQL := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE $1::text IS NULL OR %s > $1 ORDER BY %s LIMIT $2 FOR NO KEY UPDATE`,
		t.key, strings.Join(cols, ", "), t.name, t.key, t.key)
	// updated_at is left alone: a rotation changes no credential, and LoginRefusal compares against it.
	updateSQL := fmt.Sprintf(`UPDATE %s SET %s WHERE %s = $1`, t.name, strings.Join(sets, ", "), t.key)

	primary := s.keys.PrimaryKeyID()
	var last *string // nil: from the first row
	for {
		batch := make([]ColumnRotation, len(counts))
		var n int
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			type row struct {
				id     string
				values [][]byte
			}
			var rows []row
			rs, err := tx.Query(ctx, selectSQL, last, rotateBatchSize)
			if err != nil {
				return err
			}
			for rs.Next() {
				r := row{values: make([][]byte, len(t.columns))}
				dest := []any{&r.id}
				for i := range r.values {
					dest = append(dest, &r.values[i])
				}
				if err := rs.Scan(dest...); err != nil {
					rs.Close()
					return err
				}
				rows = append(rows, r)
			}
			if err := rs.Err(); err != nil {
				return err
			}
			for _, r := range rows {
				changed := false
				for i, c := range t.columns {
					sealed, rotated, err := s.reseal(r.values[i], r.id, c.context, primary)
					if err != nil {
						var re *RotationError
						if errors.As(err, &re) {
							re.AccountID, re.Column = r.id, t.name+"."+c.name
						}
						return err
					}
					if rotated {
						r.values[i] = sealed
						batch[i].ReEncrypted++
						changed = true
					} else {
						batch[i].Current++
					}
				}
				if changed {
					args := []any{r.id}
					for _, v := range r.values {
						args = append(args, v)
					}
					if _, err := tx.Exec(ctx, updateSQL, args...); err != nil {
						return fmt.Errorf("rotate secrets: portal account %s, %s: %w", r.id, t.name, err)
					}
				}
			}
			n = len(rows)
			if n > 0 {
				last = &rows[n-1].id
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range counts {
			counts[i].Current += batch[i].Current
			counts[i].ReEncrypted += batch[i].ReEncrypted
		}
		if n < rotateBatchSize {
			return nil
		}
	}
}

// reseal returns the value sealed under the primary key, and false when it already was.
func (s *Store) reseal(value []byte, accountID, column, primary string) ([]byte, bool, error) {
	id, err := vault.KeyID(value)
	if err != nil {
		return nil, false, &RotationError{Err: err}
	}
	if id == primary {
		return nil, false, nil
	}
	ctxStr := secretContext(accountID, column)
	plain, err := s.keys.Open(value, ctxStr)
	if err != nil {
		return nil, false, &RotationError{KeyID: id, Err: err}
	}
	sealed, err := s.keys.Seal(plain, ctxStr)
	clear(plain)
	if err != nil {
		return nil, false, err
	}
	return sealed, true, nil
}

// SecretKeyIDs counts the stored sealed values under each key ID, over every sealed column, so that an
// operator can check that no value is left under a key before removing it from the keyring. Values whose
// key header cannot be read (damaged) are counted under "". It reads only the plaintext headers and needs
// no key.
func (s *Store) SecretKeyIDs(ctx context.Context) (map[string]int, error) {
	var parts []string
	for _, t := range sealedTables {
		for _, c := range t.columns {
			// The header is a version byte, a length byte and at most 255 bytes of key ID.
			parts = append(parts, fmt.Sprintf(`SELECT substring(%s FROM 1 FOR 257) FROM %s`, c.name, t.name))
		}
	}
	rows, err := s.pool.Query(ctx, strings.Join(parts, " UNION ALL "))
	if err != nil {
		return nil, fmt.Errorf("count secrets by key: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var head []byte
		if err := rows.Scan(&head); err != nil {
			return nil, err
		}
		id, err := vault.KeyID(head)
		if err != nil {
			id = ""
		}
		out[id]++
	}
	return out, rows.Err()
}
