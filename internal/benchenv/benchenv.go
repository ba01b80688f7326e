// Package benchenv reads benchmark sizes from the environment, so a quick run can shrink the million-row
// benchmarks (PORTICO_BENCH_POS=50000 make bench) without editing them. It imports nothing of Portico's,
// so pure packages' own benchmarks can use it too.
package benchenv

import (
	"os"
	"strconv"
	"testing"
)

// Size returns the positive whole number in the environment variable name, or def when it is unset.
func Size(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
