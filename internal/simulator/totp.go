package simulator

import (
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const totpPeriod = 30 // seconds, RFC 6238 default used by every authenticator app

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// normalizeSecret accepts the secret the way people copy it from an
// enrolment page: grouped with spaces and in any case.
func normalizeSecret(secret string) (string, error) {
	s := strings.ToUpper(strings.Join(strings.Fields(secret), ""))
	s = strings.TrimRight(s, "=")
	if s == "" {
		return "", errors.New("totp_secret is required")
	}
	if _, err := totp.GenerateCodeCustom(s, time.Unix(0, 0), totpOpts); err != nil {
		return "", errors.New("totp_secret is not valid base32")
	}
	return s, nil
}

// matchTOTP finds the 30 s step (now-1, now or now+1) whose code equals code.
// The latest step is tried first so that a fresh code is never mistaken for
// an already-used older one.
func matchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for _, st := range []int64{cur + 1, cur, cur - 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return st, true
		}
	}
	return 0, false
}
