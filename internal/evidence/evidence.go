// Package evidence keeps what a portal page looked like (screenshots, HTML) when Portico needs to show a
// person why it stopped or what it saved. Workflows carry only the references, never the bytes.
package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Store keeps evidence files and returns references to them.
type Store interface {
	Put(kind, ext string, data []byte) (string, error)
}

// FileStore keeps evidence as files under Dir, one folder per day. References are the file's path relative
// to Dir, so they stay valid when Dir moves.
type FileStore struct {
	Dir string
	Now func() time.Time
}

var extRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
var kindRE = regexp.MustCompile(`^[a-z0-9-]{1,40}$`)

// Put writes data as a new file named after its kind and content hash.
func (f *FileStore) Put(kind, ext string, data []byte) (string, error) {
	if f == nil || f.Dir == "" {
		return "", errors.New("evidence: no store configured")
	}
	if !kindRE.MatchString(kind) || !extRE.MatchString(ext) {
		return "", fmt.Errorf("evidence: bad kind %q or extension %q", kind, ext)
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	sum := sha256.Sum256(data)
	day := now().UTC().Format("2006-01-02")
	rel := filepath.Join(day, fmt.Sprintf("%s-%s-%s.%s", now().UTC().Format("150405"), kind, hex.EncodeToString(sum[:6]), ext))
	path := filepath.Join(f.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("evidence: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("evidence: %w", err)
	}
	return rel, nil
}

// Path returns the file a reference names.
func (f *FileStore) Path(ref string) (string, error) {
	clean := filepath.Clean(ref)
	if filepath.IsAbs(clean) || clean == ".." || len(clean) > 2 && clean[:3] == "../" {
		return "", fmt.Errorf("evidence: reference %q leaves the store", ref)
	}
	return filepath.Join(f.Dir, clean), nil
}
