package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"portico/internal/testenv"
)

const testToken = "tok-0123456789abcdef-test"

const uiOrigin = "http://localhost:8233"

type testServer struct {
	*httptest.Server
	h    *handler
	logs *testenv.Logs
}

// endpoint is what a user would give the UI or the CLI.
func (s *testServer) endpoint() string { return s.URL + "/codec" }

// startServer mounts the handler the way a caller is expected to: under /codec with http.StripPrefix.
func startServer(t *testing.T, c *Codec, opts HandlerOptions) *testServer {
	t.Helper()
	logs := &testenv.Logs{}
	if opts.Tokens == nil {
		opts.Tokens = []string{testToken}
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHandler(c, opts)
	mux := http.NewServeMux()
	mux.Handle("/codec/", http.StripPrefix("/codec", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ts := &testServer{Server: srv, h: h.(*handler), logs: logs}
	t.Cleanup(func() {
		// Whatever happened, neither tokens nor payload contents reach the log.
		for _, s := range []string{testToken, secretNumber, "Acme Widgets"} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("log contains %q:\n%s", s, logs.String())
			}
		}
	})
	return ts
}

// encryptedSample returns an invoice and a string encrypted by c, and the same values as plain payloads.
func encryptedSample(t *testing.T, c *Codec) (encrypted, plain []*commonpb.Payload) {
	t.Helper()
	ps, err := converter.GetDefaultDataConverter().ToPayloads(sampleInvoice(), "note for "+secretNumber)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encode(ps.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	return enc, ps.Payloads
}

// post sends payloads as the Web UI does: proto JSON, Content-Type and X-Namespace.
func post(t *testing.T, cl *http.Client, u string, ps []*commonpb.Payload, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func decodedPayloads(t *testing.T, body []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	if err := protojson.Unmarshal(body, &ps); err != nil {
		t.Fatalf("response is not Payloads JSON: %v: %s", err, body)
	}
	return ps.Payloads
}

func assertSamePayloads(t *testing.T, got, want []*commonpb.Payload) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d payloads, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("payload %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// assertNoPlaintext checks a response body for the secret, raw or in the base64 the JSON format uses.
func assertNoPlaintext(t *testing.T, body []byte, plain []*commonpb.Payload) {
	t.Helper()
	if bytes.Contains(body, []byte(secretNumber)) {
		t.Fatalf("response contains plaintext: %s", body)
	}
	for _, p := range plain {
		if bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString(p.GetData()))) {
			t.Fatalf("response contains a plaintext payload: %s", body)
		}
	}
}

func assertJSONError(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("body is not a JSON error: %s", body)
	}
}

func TestHTTPDecodeWithBearerToken(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{})
	enc, plain := encryptedSample(t, c)

	for _, auth := range []string{"Bearer " + testToken, "bearer " + testToken} {
		resp, body := post(t, srv.Client(), srv.endpoint()+"/decode", enc, map[string]string{"Authorization": auth})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: status %d: %s", auth, resp.StatusCode, body)
		}
		got := decodedPayloads(t, body)
		assertSamePayloads(t, got, plain)
		var inv invoice
		if err := converter.GetDefaultDataConverter().FromPayload(got[0], &inv); err != nil || inv.Number != secretNumber {
			t.Fatalf("decoded invoice: %+v %v", inv, err)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("decoded payloads may be cached")
		}
	}

	// Plain payloads come back as they are, next to decrypted ones.
	resp, body := post(t, srv.Client(), srv.endpoint()+"/decode", []*commonpb.Payload{plain[1], enc[0]},
		map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mixed: %d %s", resp.StatusCode, body)
	}
	assertSamePayloads(t, decodedPayloads(t, body), []*commonpb.Payload{plain[1], plain[0]})

	// The UI's old URL building (endpoint + "/decode" with a trailing slash on the endpoint) still lands.
	resp, body = post(t, srv.Client(), srv.endpoint()+"//decode?preserveStorageRefs=true", enc,
		map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("double slash: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPRemoteCodecLikeTheCLI(t *testing.T) {
	// `temporal --codec-endpoint URL --codec-auth "Bearer TOKEN"` uses the SDK's remote codec.
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{})
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: srv.endpoint(),
		ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+testToken)
			return nil
		},
	})
	enc, plain := encryptedSample(t, c)
	got, err := remote.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	assertSamePayloads(t, got, plain)

	// --input on a CLI with the codec endpoint is encoded remotely; the worker's codec reads it.
	sent, err := remote.Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, sent[0], "k1")
	back, err := c.Decode(sent)
	if err != nil {
		t.Fatal(err)
	}
	assertSamePayloads(t, back, plain)

	// Without the token the CLI gets an error, not the payloads.
	anon := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.endpoint()})
	if _, err := anon.Decode(enc); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("anonymous decode: %v", err)
	}
}

func TestHTTPRefusesWithoutValidToken(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{})
	enc, plain := encryptedSample(t, c)

	cases := map[string]map[string]string{
		"no header":           nil,
		"wrong token":         {"Authorization": "Bearer tok-0123456789abcdef-tesX"},
		"token prefix":        {"Authorization": "Bearer " + testToken[:len(testToken)-1]},
		"token extended":      {"Authorization": "Bearer " + testToken + "x"},
		"basic scheme":        {"Authorization": "Basic " + testToken},
		"raw token":           {"Authorization": testToken},
		"empty bearer":        {"Authorization": "Bearer "},
		"token as cookie":     {"Cookie": sessionCookieName + "=" + testToken},
		"garbage cookie":      {"Cookie": sessionCookieName + "=AAAA.BBBB"},
		"allowed origin only": {"Origin": uiOrigin},
	}
	for name, hdr := range cases {
		for _, op := range []string{"decode", "encode"} {
			resp, body := post(t, srv.Client(), srv.endpoint()+"/"+op, enc, hdr)
			assertJSONError(t, resp, body, http.StatusUnauthorized)
			assertNoPlaintext(t, body, plain)
			if name == "no header" && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		}
	}

	// A handler with no tokens refuses everyone.
	none := startServer(t, c, HandlerOptions{Tokens: []string{"", "  "}})
	resp, body := post(t, none.Client(), none.endpoint()+"/decode", enc, map[string]string{"Authorization": "Bearer "})
	assertJSONError(t, resp, body, http.StatusUnauthorized)
}

func newJarClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func postForm(t *testing.T, cl *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := cl.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, cl *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHTTPCookieLogin(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{})
	enc, plain := encryptedSample(t, c)
	cl := newJarClient(t)

	resp, page := get(t, cl, srv.endpoint()+"/login")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<form method="post" action="login">`) ||
		!strings.Contains(page, `name="token"`) || !strings.Contains(page, srv.endpoint()) ||
		!strings.Contains(page, "Include cross-origin credentials") {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, page)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatal("login page can be framed")
	}

	// A wrong token sets nothing.
	resp, page = postForm(t, cl, srv.endpoint()+"/login", url.Values{"token": {"tok-0123456789abcdef-nope"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "not valid") {
		t.Fatalf("wrong token login: %d", resp.StatusCode)
	}
	u, _ := url.Parse(srv.endpoint() + "/decode")
	if len(cl.Jar.Cookies(u)) != 0 {
		t.Fatal("wrong token produced a cookie")
	}

	// Look at the cookie as the server sets it.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = postForm(t, noFollow, srv.endpoint()+"/login", url.Values{"token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "login" {
		t.Fatalf("login: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != sessionCookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/codec" ||
		ck.MaxAge <= 0 || ck.Expires.IsZero() {
		t.Fatalf("cookie attributes: %+v", ck)
	}
	if strings.Contains(ck.Value, testToken) || strings.Contains(ck.Value, base64.RawURLEncoding.EncodeToString([]byte(testToken))) {
		t.Fatal("cookie holds the token")
	}

	// The browser flow: log in (following the redirect), then decode with the cookie alone.
	resp, page = postForm(t, cl, srv.endpoint()+"/login", url.Values{"token": {testToken}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "signed in until") {
		t.Fatalf("after login: %d\n%s", resp.StatusCode, page)
	}
	resp, body := post(t, cl, srv.endpoint()+"/decode", enc, map[string]string{"Origin": uiOrigin})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode with cookie: %d %s", resp.StatusCode, body)
	}
	assertSamePayloads(t, decodedPayloads(t, body), plain)
	if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers on the credentialed response: %v", resp.Header)
	}

	// The same cookie sent by a page on another origin is refused.
	resp, body = post(t, cl, srv.endpoint()+"/decode", enc, map[string]string{"Origin": "http://evil.example"})
	assertJSONError(t, resp, body, http.StatusForbidden)
	assertNoPlaintext(t, body, plain)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for a disallowed origin")
	}

	// Logging out ends it.
	resp, _ = postForm(t, cl, srv.endpoint()+"/logout", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if len(cl.Jar.Cookies(u)) != 0 {
		t.Fatal("cookie survived logout")
	}
	resp, body = post(t, cl, srv.endpoint()+"/decode", enc, nil)
	assertJSONError(t, resp, body, http.StatusUnauthorized)
}

func TestHTTPSessionCookieIsChecked(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{SessionTTL: time.Hour})
	enc, plain := encryptedSample(t, c)

	value, _, err := srv.h.newSession(testToken)
	if err != nil {
		t.Fatal(err)
	}
	withCookie := func(v string) (*http.Response, []byte) {
		return post(t, srv.Client(), srv.endpoint()+"/decode", enc, map[string]string{"Cookie": sessionCookieName + "=" + v})
	}
	if resp, body := withCookie(value); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %d %s", resp.StatusCode, body)
	}

	// Any change to payload or signature is refused.
	for i := range value {
		if value[i] == '.' {
			continue
		}
		b := []byte(value)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		resp, body := withCookie(string(b))
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("forged session (char %d changed) accepted", i)
		}
		assertNoPlaintext(t, body, plain)
	}

	// A session signed by another server (another process) is refused.
	other := NewHandler(c, HandlerOptions{Tokens: []string{testToken}}).(*handler)
	foreign, _, _ := other.newSession(testToken)
	if resp, _ := withCookie(foreign); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("foreign session: %d", resp.StatusCode)
	}

	// Expired sessions are refused.
	srv.h.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	if resp, _ := withCookie(value); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired session: %d", resp.StatusCode)
	}
}

func TestHTTPSessionEndsWhenTokenIsRemoved(t *testing.T) {
	// With a shared session key sessions survive restarts, but not the removal of their token.
	c := newCodec(t, "k1")
	key := bytes.Repeat([]byte{7}, 32)
	first := NewHandler(c, HandlerOptions{Tokens: []string{testToken}, SessionKey: key}).(*handler)
	value, _, err := first.newSession(testToken)
	if err != nil {
		t.Fatal(err)
	}
	restarted := NewHandler(c, HandlerOptions{Tokens: []string{testToken, "another-token-0123456789"}, SessionKey: key}).(*handler)
	if !restarted.validSession(value) {
		t.Fatal("session lost across a restart with the same key")
	}
	rotated := NewHandler(c, HandlerOptions{Tokens: []string{"another-token-0123456789"}, SessionKey: key}).(*handler)
	if rotated.validSession(value) {
		t.Fatal("session outlived its token")
	}
}

func TestHTTPWrongKeyServerReturnsError(t *testing.T) {
	a := newCodec(t, "k1")
	enc, plain := encryptedSample(t, a)
	srv := startServer(t, newCodec(t, "k2"), HandlerOptions{})

	resp, body := post(t, srv.Client(), srv.endpoint()+"/decode", enc, map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("wrong-key server answered 200: %s", body)
	}
	assertNoPlaintext(t, body, plain)
	if !strings.Contains(string(body), `"k1"`) || !strings.Contains(string(body), "does not hold") {
		t.Fatalf("error does not explain the missing key: %s", body)
	}
	if !strings.Contains(srv.logs.String(), "decode failed") {
		t.Fatalf("failure not logged: %s", srv.logs.String())
	}

	// A tampered payload gets a named error too.
	good := startServer(t, a, HandlerOptions{})
	bad := proto.Clone(enc[0]).(*commonpb.Payload)
	bad.Data[len(bad.Data)-1] ^= 1
	resp, body = post(t, good.Client(), good.endpoint()+"/decode", []*commonpb.Payload{bad}, map[string]string{"Authorization": "Bearer " + testToken})
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "failed authentication") {
		t.Fatalf("tampered: %d %s", resp.StatusCode, body)
	}
	assertNoPlaintext(t, body, plain)
}

func preflight(t *testing.T, srv *testServer, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, srv.endpoint()+"/decode", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHTTPCORS(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{})

	for _, origin := range []string{"http://localhost:8233", "http://127.0.0.1:8233"} {
		resp := preflight(t, srv, origin)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s preflight: %d", origin, resp.StatusCode)
		}
		h := resp.Header
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("%s preflight headers: %v", origin, h)
		}
		allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"content-type", "authorization", "x-namespace"} {
			if !strings.Contains(allowed, want) {
				t.Errorf("Allow-Headers lacks %s: %q", want, allowed)
			}
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("Allow-Methods: %q", h.Get("Access-Control-Allow-Methods"))
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Error("no Vary: Origin")
		}
	}

	for _, origin := range []string{"http://evil.example", "http://localhost:8234", "https://localhost:8233", "null"} {
		resp := preflight(t, srv, origin)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%s got CORS headers: %v", origin, resp.Header)
		}
		if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK {
			t.Fatalf("%s preflight status %d", origin, resp.StatusCode)
		}
	}

	// A bearer request from another origin is answered (curl sends no Origin; a browser page cannot read it
	// without CORS headers, and it needs the token anyway), but gets no CORS headers.
	enc, _ := encryptedSample(t, c)
	resp, _ := post(t, srv.Client(), srv.endpoint()+"/decode", enc, map[string]string{
		"Authorization": "Bearer " + testToken, "Origin": "http://evil.example"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for a disallowed origin")
	}

	// Configured origins replace the defaults.
	custom := startServer(t, c, HandlerOptions{AllowedOrigins: []string{"https://temporal.example.com/"}})
	if got := preflight(t, custom, "https://temporal.example.com").Header.Get("Access-Control-Allow-Origin"); got != "https://temporal.example.com" {
		t.Fatalf("custom origin: %q", got)
	}
	if got := preflight(t, custom, uiOrigin).Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("default origin still allowed: %q", got)
	}
	// "*" is never honoured.
	star := startServer(t, c, HandlerOptions{AllowedOrigins: []string{"*"}})
	if got := preflight(t, star, "http://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("wildcard honoured: %q", got)
	}
}

func TestHTTPRoutes(t *testing.T) {
	c := newCodec(t, "k1")
	srv := startServer(t, c, HandlerOptions{MaxBodyBytes: 1 << 10})
	auth := map[string]string{"Authorization": "Bearer " + testToken}

	resp, body := get(t, srv.Client(), srv.endpoint()+"/decode")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET decode: %d %s", resp.StatusCode, body)
	}
	r, b := post(t, srv.Client(), srv.endpoint()+"/other", nil, auth)
	assertJSONError(t, r, b, http.StatusNotFound)

	big := &commonpb.Payload{Data: bytes.Repeat([]byte("x"), 4<<10)}
	r, b = post(t, srv.Client(), srv.endpoint()+"/encode", []*commonpb.Payload{big}, auth)
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized body: %d %s", r.StatusCode, b)
	}
}

func TestTokensFromEnv(t *testing.T) {
	clearTokenEnv := func(t *testing.T) string {
		t.Helper()
		t.Setenv("PORTICO_CODEC_TOKENS", "")
		t.Setenv("PORTICO_CODEC_TOKEN_FILE", "")
		dir := t.TempDir()
		t.Chdir(dir)
		return dir
	}
	second := "second-token-0123456789"

	t.Run("PORTICO_CODEC_TOKENS", func(t *testing.T) {
		clearTokenEnv(t)
		t.Setenv("PORTICO_CODEC_TOKENS", testToken+", "+second+",")
		got, err := TokensFromEnv()
		if err != nil || len(got) != 2 || got[0] != testToken || got[1] != second {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("PORTICO_CODEC_TOKEN_FILE", func(t *testing.T) {
		dir := clearTokenEnv(t)
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, []byte("# ops team\n"+testToken+"\n\n"+second+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PORTICO_CODEC_TOKEN_FILE", path)
		got, err := TokensFromEnv()
		if err != nil || len(got) != 2 {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run(".state/codec.token", func(t *testing.T) {
		dir := clearTokenEnv(t)
		_ = os.Mkdir(filepath.Join(dir, ".state"), 0o700)
		if err := os.WriteFile(filepath.Join(dir, ".state", "codec.token"), []byte(testToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := TokensFromEnv()
		if err != nil || len(got) != 1 || got[0] != testToken {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		clearTokenEnv(t)
		_, err := TokensFromEnv()
		if !errors.Is(err, ErrNoTokens) {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{"PORTICO_CODEC_TOKENS", "PORTICO_CODEC_TOKEN_FILE", ".state/codec.token", "openssl rand"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q", want)
			}
		}
	})
	t.Run("short token refused and not echoed", func(t *testing.T) {
		clearTokenEnv(t)
		t.Setenv("PORTICO_CODEC_TOKENS", "hunter2")
		_, err := TokensFromEnv()
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v", err)
		}
	})
}
