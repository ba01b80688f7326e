package evidence_test

import (
	"os"
	"testing"
	"time"

	"portico/internal/evidence"
)

func TestPutKeepsFilesByDayAndRefusesEscapes(t *testing.T) {
	fs := &evidence.FileStore{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 22, 13, 4, 5, 0, time.UTC) }}
	ref, err := fs.Put("drift-screenshot", "png", []byte("\x89PNG..."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := fs.Path(ref)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "\x89PNG..." || ref[:11] != "2026-11-22/" {
		t.Fatalf("ref %s: %q %v", ref, b, err)
	}
	for _, bad := range []string{"../etc/passwd", "/etc/passwd", ".."} {
		if _, err := fs.Path(bad); err == nil {
			t.Fatalf("%s: reference outside the store accepted", bad)
		}
	}
	if _, err := fs.Put("../x", "png", nil); err == nil {
		t.Fatal("bad kind accepted")
	}
	if _, err := (&evidence.FileStore{}).Put("x", "png", nil); err == nil {
		t.Fatal("a store without a directory accepted evidence")
	}
}
