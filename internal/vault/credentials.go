package vault

import (
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// ErrInvalidTOTPSecret is returned for an authenticator secret that is not base32 (or an otpauth:// URI holding one).
var ErrInvalidTOTPSecret = errors.New("invalid TOTP secret: expected the base32 text shown under the QR code, or an otpauth:// URI")

// Credentials is a portal login. It never prints its secrets: fmt, %v, %+v, %#v and slog all show them redacted,
// so a stray log line or error message cannot leak them.
type Credentials struct {
	Username   string
	Password   string
	TOTPSecret string
}

const redacted = "[redacted]"

// String shows the user name only.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{Username:%q, secrets:%s}", c.Username, redacted)
}

// GoString keeps %#v from printing the secrets.
func (c Credentials) GoString() string { return c.String() }

// Format keeps every fmt verb, %+v included, from printing the secrets.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue keeps slog from printing the secrets.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", c.Username), slog.String("secrets", redacted))
}

// NormalizeTOTPSecret turns what people paste (spaces, dashes, lower case, padding, or a whole otpauth:// URI)
// into canonical base32, and refuses anything that is not a usable secret.
func NormalizeTOTPSecret(in string) (string, error) {
	s := strings.TrimSpace(in)
	if strings.HasPrefix(strings.ToLower(s), "otpauth://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%w: the otpauth URI does not parse", ErrInvalidTOTPSecret)
		}
		if !strings.EqualFold(u.Host, "totp") {
			return "", fmt.Errorf("%w: otpauth URI is %q, only totp is supported", ErrInvalidTOTPSecret, u.Host)
		}
		q := u.Query()
		if a := q.Get("algorithm"); a != "" && !strings.EqualFold(a, "SHA1") {
			return "", fmt.Errorf("%w: algorithm %s is not supported (SHA1 only)", ErrInvalidTOTPSecret, a)
		}
		if d := q.Get("digits"); d != "" && d != "6" {
			return "", fmt.Errorf("%w: %s digits are not supported (6 only)", ErrInvalidTOTPSecret, d)
		}
		if p := q.Get("period"); p != "" && p != "30" {
			return "", fmt.Errorf("%w: period %s s is not supported (30 only)", ErrInvalidTOTPSecret, p)
		}
		s = q.Get("secret")
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t', '\n', '\r', '=':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidTOTPSecret)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	raw, err := enc.DecodeString(s)
	// The decoder also ignores a dangling last character, which the TOTP library refuses at login, and stray
	// low bits in the last one: only text that is exactly the encoding of its bytes is canonical.
	if err != nil || enc.EncodeToString(raw) != s {
		return "", fmt.Errorf("%w: not base32", ErrInvalidTOTPSecret)
	}
	if len(raw) < 10 {
		return "", fmt.Errorf("%w: %d bytes is too short (at least 10)", ErrInvalidTOTPSecret, len(raw))
	}
	return s, nil
}
