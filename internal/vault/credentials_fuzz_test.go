package vault

import (
	"encoding/base32"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// refusalTail is everything a refusal of a plain (non-URI) secret may add to ErrInvalidTOTPSecret: a fixed
// reason or a byte count, never any of the text that was pasted.
var refusalTail = regexp.MustCompile(`^: (empty|not base32|\d+ bytes is too short \(at least 10\))$`)

var canonicalBase32 = regexp.MustCompile(`^[A-Z2-7]+$`)

// FuzzNormalizeTOTPSecret feeds arbitrary text to NormalizeTOTPSecret. Properties:
//   - it never panics;
//   - an accepted secret is canonical base32: capitals and 2-7 only, no padding, exactly the unpadded
//     encoding of the bytes it decodes to, at least 10 of them (80 bits, RFC 4226's minimum), and
//     normalizing it again gives it back unchanged;
//   - a refusal wraps ErrInvalidTOTPSecret and does not repeat the secret: a plain (non-URI) secret is
//     refused with a fixed reason or a byte count only, so nothing of it shows at any length; an otpauth
//     URI's refusal may quote its type, algorithm, digits or period, but never contains the URI itself
//     (checked from 8 characters on, in what the refusal adds to ErrInvalidTOTPSecret's fixed text).
//
// The seed corpus is in testdata/fuzz/FuzzNormalizeTOTPSecret; `go test` runs it as a regular test.
func FuzzNormalizeTOTPSecret(f *testing.F) {
	for _, s := range []string{
		// Accepted (TestNormalizeTOTPSecret).
		"JBSWY3DPEHPK3PXP", "jbsw y3dp ehpk 3pxp", "JBSW-Y3DP-EHPK-3PXP",
		"otpauth://totp/Acme:s1?secret=jbswy3dpehpk3pxp&issuer=Acme",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=sha1&digits=6&period=30",
		"JBSWY3DPEHPK3PXP====", "\tGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", "GEZDGNBVGY3TQOJQGE",
		// Refused.
		"", "not base32 !!", "JBSW", "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=60", "otpauth://totp/x", "otpauth://%zz",
		"JBSWY3DPEHPK3PX", "JBSWY3DPEHPK3PX1", "JBSWY3DP", "12345678901234567890", "JBSWY3DPEHPK3PXP\x00",
		// Found by this target: the decoder skips newlines and ignores a dangling character or stray low
		// bits, so these were accepted as they were, and the first three then failed at login.
		"JBSWY3DP\nEHPK3PXP", "JBSWY3DPEHPK3PXPX", "22222222222222222", "GEZDGNBVGY3TQOJQGF",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeTOTPSecret(in)
		if err != nil {
			checkTOTPRefusal(t, in, err)
			return
		}
		if !canonicalBase32.MatchString(out) {
			t.Fatalf("NormalizeTOTPSecret(%q) = %q: not upper-case unpadded base32", in, out)
		}
		enc := base32.StdEncoding.WithPadding(base32.NoPadding)
		raw, err := enc.DecodeString(out)
		if err != nil {
			t.Fatalf("NormalizeTOTPSecret(%q) = %q, which does not decode: %v", in, out, err)
		}
		if len(raw) < 10 {
			t.Fatalf("NormalizeTOTPSecret(%q) = %q: only %d bytes", in, out, len(raw))
		}
		if again := enc.EncodeToString(raw); again != out {
			t.Fatalf("NormalizeTOTPSecret(%q) = %q, but those bytes encode as %q: not canonical", in, out, again)
		}
		again, err := NormalizeTOTPSecret(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeTOTPSecret(%q) = %q, %v; want it unchanged (it is the normal form of %q)", out, again, err, in)
		}
	})
}

func checkTOTPRefusal(t *testing.T, in string, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidTOTPSecret) {
		t.Fatalf("NormalizeTOTPSecret(%q): %v does not wrap ErrInvalidTOTPSecret", in, err)
	}
	msg := err.Error()
	// What the refusal adds to ErrInvalidTOTPSecret's fixed text is where a secret could show.
	tail, ok := strings.CutPrefix(msg, ErrInvalidTOTPSecret.Error())
	if !ok {
		t.Fatalf("NormalizeTOTPSecret(%q): error %q does not begin with ErrInvalidTOTPSecret's text", in, msg)
	}
	trimmed := strings.TrimSpace(in)
	if !strings.HasPrefix(strings.ToLower(trimmed), "otpauth://") {
		// A plain secret is refused with a fixed reason: nothing of it is repeated, whatever its length.
		if !refusalTail.MatchString(tail) {
			t.Fatalf("NormalizeTOTPSecret(%q): error %q says more than a fixed reason", in, msg)
		}
		return
	}
	// An otpauth URI's refusal may quote its type or parameters, never the URI itself.
	for _, s := range []string{in, trimmed} {
		if len(s) >= 8 && strings.Contains(tail, s) {
			t.Fatalf("NormalizeTOTPSecret(%q): the error repeats the secret: %q", in, msg)
		}
	}
}
