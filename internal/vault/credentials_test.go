package vault

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{Username: "supplier1", Password: "P@ssw0rd-xyz", TOTPSecret: "JBSWY3DPEHPK3PXP"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("login", "creds", c)
	outs := []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c), logs.String(),
		fmt.Errorf("login failed for %v", c).Error()}
	for _, out := range outs {
		if strings.Contains(out, c.Password) || strings.Contains(out, c.TOTPSecret) {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, "supplier1") {
			t.Fatalf("username missing: %s", out)
		}
	}
}

func TestNormalizeTOTPSecret(t *testing.T) {
	good := map[string]string{
		"JBSWY3DPEHPK3PXP":    "JBSWY3DPEHPK3PXP",
		"jbsw y3dp ehpk 3pxp": "JBSWY3DPEHPK3PXP",
		"JBSW-Y3DP-EHPK-3PXP": "JBSWY3DPEHPK3PXP",
		"otpauth://totp/Acme:s1?secret=jbswy3dpehpk3pxp&issuer=Acme": "JBSWY3DPEHPK3PXP",
	}
	for in, want := range good {
		got, err := NormalizeTOTPSecret(in)
		if err != nil || got != want {
			t.Errorf("NormalizeTOTPSecret(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "not base32 !!", "JBSW", "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP",
		"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=SHA256"}
	for _, in := range bad {
		if _, err := NormalizeTOTPSecret(in); !errors.Is(err, ErrInvalidTOTPSecret) {
			t.Errorf("NormalizeTOTPSecret(%q) err = %v", in, err)
		}
	}
}
