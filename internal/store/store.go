// Package store is Portico's PostgreSQL: the ERP tables Portico reads and writes status back into, the
// portal accounts with their encrypted credentials, and the purchase orders synced from portals.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"portico/internal/vault"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the PostgreSQL store. It holds the keyring so that credentials are encrypted and decrypted here
// and nowhere else.
type Store struct {
	pool *pgxpool.Pool
	keys *vault.Keyring
}

// Open connects a pool to dsn. numeric columns scan into decimal.Decimal; money never passes through float.
func Open(ctx context.Context, dsn string, keys *vault.Keyring) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s@%s:%d/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool, keys: keys}, nil
}

// Migrate brings the schema to the latest embedded migration. Concurrent callers are serialised by tern's
// advisory lock, so every worker may call it at start.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("store: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Pool exposes the pool for tests and tools that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers, for health endpoints.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
