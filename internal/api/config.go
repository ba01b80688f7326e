package api

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"
)

// Environment variables read by AuthFromEnv.
const (
	// EnvKeys holds comma-separated key entries.
	EnvKeys = "PORTICO_API_KEYS"
	// EnvKeysFile names a file of key entries, one per line, # starting a comment; a file keeps secrets
	// out of the process environment, which is visible to more than the file is.
	EnvKeysFile = "PORTICO_API_KEYS_FILE"
	// EnvWindow overrides DefaultWindow, as a Go duration (e.g. 2m).
	EnvWindow = "PORTICO_API_WINDOW"
)

// maxWindow bounds EnvWindow: a wider window keeps captured requests replayable by timestamp for longer
// and only the nonce table stands in the way.
const maxWindow = time.Hour

// AuthFromEnv builds the Authenticator from PORTICO_API_KEYS or PORTICO_API_KEYS_FILE (not both) and
// PORTICO_API_WINDOW. Neither set is not an error: the Authenticator then refuses every request, and the
// caller may log that Clients() is empty. A malformed entry is an error naming its number, never its
// content, since the content is a secret.
func AuthFromEnv() (*Authenticator, error) {
	list, file := os.Getenv(EnvKeys), os.Getenv(EnvKeysFile)
	var keys []Key
	var err error
	switch {
	case list != "" && file != "":
		return nil, fmt.Errorf("api: set %s or %s, not both", EnvKeys, EnvKeysFile)
	case list != "":
		if keys, err = ParseKeys(list); err != nil {
			return nil, fmt.Errorf("api: %s: %w", EnvKeys, err)
		}
	case file != "":
		if keys, err = ReadKeysFile(file); err != nil {
			return nil, fmt.Errorf("api: %s: %w", EnvKeysFile, err)
		}
	}
	a, err := NewAuthenticator(keys...)
	if err != nil {
		return nil, err
	}
	if w := os.Getenv(EnvWindow); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < time.Second || d > maxWindow {
			return nil, fmt.Errorf("api: %s must be a duration between 1s and %s, such as 5m", EnvWindow, shortDuration(maxWindow))
		}
		a.Window = d
	}
	return a, nil
}

// ParseKeys parses comma-separated entries <client-id>:hmac:<base64 secret> or
// <client-id>:bearer-sha256:<hex digest>. Entries are numbered from 1 by their position in the list; empty
// ones (a trailing comma) are skipped.
func ParseKeys(list string) ([]Key, error) {
	var keys []Key
	for i, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReadKeysFile reads key entries from a file, one per line; blank lines and everything from # on are
// ignored. Errors name the entry number and its line.
func ReadKeysFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(data))
	line, n := 0, 0
	for sc.Scan() {
		line++
		entry, _, _ := strings.Cut(sc.Text(), "#")
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n++
		k, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d (line %d): %w", path, n, line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// parseEntry's errors may quote the client id and the scheme once they are known to be well formed, and
// never the secret or digest.
func parseEntry(entry string) (Key, error) {
	id, rest, ok1 := strings.Cut(entry, ":")
	scheme, value, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Key{}, fmt.Errorf("want <client-id>:%s:<base64 secret> or <client-id>:%s:<hex sha256 of the token>", SchemeHMAC, SchemeBearer)
	}
	id, scheme, value = strings.TrimSpace(id), strings.TrimSpace(scheme), strings.TrimSpace(value)
	if !clientIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("client id must be 1-64 characters of A-Z a-z 0-9 . _ -")
	}
	switch Scheme(scheme) {
	case SchemeHMAC:
		secret, ok := decodeBase64(value)
		if !ok {
			return Key{}, fmt.Errorf("client %q: the hmac secret is not valid base64", id)
		}
		if len(secret) < MinSecretBytes {
			return Key{}, fmt.Errorf("client %q: the hmac secret is shorter than %d bytes", id, MinSecretBytes)
		}
		return Key{ClientID: id, Scheme: SchemeHMAC, Secret: secret}, nil
	case SchemeBearer:
		digest, err := hex.DecodeString(strings.ToLower(value))
		if err != nil || len(digest) != 32 {
			return Key{}, fmt.Errorf("client %q: the %s value must be 64 hex digits, the SHA-256 of the token (not the token itself)", id, SchemeBearer)
		}
		return Key{ClientID: id, Scheme: SchemeBearer, Digest: digest}, nil
	default:
		return Key{}, fmt.Errorf("client %q: the scheme must be %s or %s", id, SchemeHMAC, SchemeBearer)
	}
}

// decodeBase64 accepts standard and URL-safe base64, padded or not, since secrets are pasted from
// whichever tool made them.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
