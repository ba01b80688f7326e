package store

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// nullDate stores the zero time as NULL rather than year 1.
func nullDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgtype.Date{Time: t, Valid: true}
}
