package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portico/internal/api"
)

func TestCanonicalString(t *testing.T) {
	body := []byte(`{"poll_first":"10s"}`)
	sum := sha256.Sum256(body)
	got := api.CanonicalString("1700000000", "nonce-0123456789abcdef", "post", "/v1/invoices/erp-1001/start?dry=1", body)
	want := "v1\n1700000000\nnonce-0123456789abcdef\nPOST\n/v1/invoices/erp-1001/start?dry=1\n" + hex.EncodeToString(sum[:])
	if got != want {
		t.Fatalf("canonical string\n%q\nwant\n%q", got, want)
	}
	// An empty body hashes as the empty string, whose SHA-256 is well known.
	if empty := api.CanonicalString("1", "n", "GET", "/", nil); !strings.HasSuffix(empty, "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Fatalf("empty body: %q", empty)
	}
}

func TestSignSetsHeaders(t *testing.T) {
	secret := api.NewClientSecret()
	body := []byte(`{}`)
	req, _ := http.NewRequest(http.MethodPost, "http://portico.example/v1/invoices/a%2Fb/start?x=1", nil)
	now := time.Unix(1700000000, 0)
	api.Sign(req, body, "erp", secret, now, "nonce-0123456789abcdef")
	if req.Header.Get(api.HeaderClient) != "erp" || req.Header.Get(api.HeaderTimestamp) != "1700000000" || req.Header.Get(api.HeaderNonce) != "nonce-0123456789abcdef" {
		t.Fatalf("headers %v", req.Header)
	}
	// Recomputed independently of the package: HMAC-SHA256 over the canonical string, hex, prefixed v1=.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(api.CanonicalString("1700000000", "nonce-0123456789abcdef", "POST", "/v1/invoices/a%2Fb/start?x=1", body)))
	if got, want := req.Header.Get(api.HeaderSignature), "v1="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	api.Sign(req, body, "erp", secret, now, "")
	if n := req.Header.Get(api.HeaderNonce); len(n) < 16 || n == "nonce-0123456789abcdef" {
		t.Fatalf("no fresh nonce: %q", n)
	}
}

func TestHelpers(t *testing.T) {
	if a, b := api.NewNonce(), api.NewNonce(); a == b || len(a) != 32 || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		t.Fatalf("nonces %q %q", a, b)
	}
	if s := api.NewClientSecret(); len(s) != api.MinSecretBytes {
		t.Fatalf("secret of %d bytes", len(s))
	}
	if d := api.TokenDigest("abc"); d != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("digest %s", d)
	}
}

func TestParseKeys(t *testing.T) {
	secret := api.NewClientSecret()
	token := api.NewToken()
	keys, err := api.ParseKeys(" erp:hmac:" + base64.RawURLEncoding.EncodeToString(secret) + ", ,erp:bearer-sha256:" + strings.ToUpper(api.TokenDigest(token)) + ",")
	if err != nil || len(keys) != 2 || string(keys[0].Secret) != string(secret) || keys[1].ClientID != "erp" || keys[1].Scheme != api.SchemeBearer {
		t.Fatalf("keys %v, %v", keys, err)
	}
	// A Key prints without its secret, however it is printed.
	for _, text := range []string{fmt.Sprint(keys[0]), fmt.Sprintf("%+v %#v %v", keys[0], keys[0], keys), slog.AnyValue(keys[0]).Resolve().String()} {
		if strings.Contains(text, base64.StdEncoding.EncodeToString(secret)) || strings.Contains(text, string(secret)) || !strings.Contains(text, "<redacted>") {
			t.Fatalf("key printed as %q", text)
		}
	}

	good := api.HMACEntry("erp", secret)
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-sec"))
	for _, tc := range []struct{ list, want string }{
		{good + ",erp", "entry 2: want <client-id>:hmac:<base64 secret>"},
		{good + ",,erp:hmac:" + short, `entry 3: client "erp": the hmac secret is shorter than 32 bytes`},
		{"erp:hmac:not base64!", `entry 1: client "erp": the hmac secret is not valid base64`},
		{good + ",erp:bearer-sha256:" + token, `entry 2: client "erp": the bearer-sha256 value must be 64 hex digits, the SHA-256 of the token`},
		{good + ",erp:rsa:" + short, `entry 2: client "erp": the scheme must be hmac or bearer-sha256`},
		{"bad id!:hmac:" + short, "entry 1: client id must be"},
	} {
		_, err := api.ParseKeys(tc.list)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.list, err, tc.want)
			continue
		}
		for _, sec := range []string{short, token, base64.StdEncoding.EncodeToString(secret)} {
			if strings.Contains(err.Error(), sec) {
				t.Errorf("error prints a secret: %v", err)
			}
		}
	}
}

func TestReadKeysFile(t *testing.T) {
	secret := api.NewClientSecret()
	path := filepath.Join(t.TempDir(), "keys")
	content := "# ERP clients\n\n" + api.HMACEntry("erp", secret) + "  # rotated 2026-01\n" + api.BearerEntry("reports", "tok-en") + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := api.ReadKeysFile(path)
	if err != nil || len(keys) != 2 || keys[1].ClientID != "reports" {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if err := os.WriteFile(path, []byte(content+"\n# next\nreports:bearer-sha256:tok-en\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = api.ReadKeysFile(path)
	if err == nil || !strings.Contains(err.Error(), "entry 3 (line 7)") || strings.Contains(err.Error(), "tok-en") {
		t.Fatalf("error %v", err)
	}
}

func TestAuthFromEnv(t *testing.T) {
	secret := api.NewClientSecret()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(api.HMACEntry("from-file", secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys, file, window string
		clients            []string
		err                string
	}{
		{clients: nil},
		{keys: api.HMACEntry("erp", secret) + "," + api.BearerEntry("erp", "t"), window: "2m", clients: []string{"erp"}},
		{file: path, clients: []string{"from-file"}},
		{keys: api.HMACEntry("erp", secret), file: path, err: "set PORTICO_API_KEYS or PORTICO_API_KEYS_FILE, not both"},
		{keys: "erp:hmac:", err: "PORTICO_API_KEYS: entry 1:"},
		{file: path + ".missing", err: "PORTICO_API_KEYS_FILE:"},
		{keys: api.HMACEntry("erp", secret), window: "2 minutes", err: "PORTICO_API_WINDOW must be a duration"},
	} {
		t.Setenv(api.EnvKeys, tc.keys)
		t.Setenv(api.EnvKeysFile, tc.file)
		t.Setenv(api.EnvWindow, tc.window)
		a, err := api.AuthFromEnv()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(a.Clients(), ",") != strings.Join(tc.clients, ",") {
			t.Errorf("%+v: clients %v, %v", tc, a.Clients(), err)
		}
		if tc.window == "2m" && a.Window != 2*time.Minute {
			t.Errorf("window %v", a.Window)
		}
	}
}
