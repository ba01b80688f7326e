package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultWindow is how far a request's Portico-Timestamp may be from the server clock, either way: wide
// enough for ordinary clock drift and a slow network, narrow enough that the nonce table stays small.
const DefaultWindow = 5 * time.Minute

// purgeEvery spaces out the deletion of expired nonces; once a minute keeps the table at a few windows'
// worth of rows without a DELETE on every request.
const purgeEvery = time.Minute

// MinSecretBytes is the shortest HMAC secret accepted: the size of the SHA-256 output, below which the
// secret, not the hash, is the weak part.
const MinSecretBytes = 32

// Scheme is how a client proves who it is.
type Scheme string

// The authentication schemes, spelled as in PORTICO_API_KEYS entries.
const (
	// SchemeHMAC signs each request with a shared secret (Portico-Signature); the secret never travels.
	SchemeHMAC Scheme = "hmac"
	// SchemeBearer sends a token in Authorization; the server knows only the token's SHA-256.
	SchemeBearer Scheme = "bearer-sha256"
)

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	noncePattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)
	sigHexPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Key is one credential of an API client. A client may have several (secret rotation: configure the new
// one next to the old, move the client over, then drop the old one).
type Key struct {
	ClientID string
	Scheme   Scheme
	// Secret is the shared HMAC secret (SchemeHMAC).
	Secret []byte
	// Digest is the SHA-256 of the bearer token (SchemeBearer), 32 bytes.
	Digest []byte
}

// String keeps the secret out of logs and error messages that print a Key.
func (k Key) String() string { return k.ClientID + ":" + string(k.Scheme) + ":<redacted>" }

// GoString keeps the secret out of %#v as well.
func (k Key) GoString() string { return "api.Key{" + k.String() + "}" }

// LogValue keeps the secret out of slog output.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

func (k Key) validate() error {
	if !clientIDPattern.MatchString(k.ClientID) {
		return errors.New("client id must be 1-64 characters of A-Z a-z 0-9 . _ -")
	}
	switch k.Scheme {
	case SchemeHMAC:
		if len(k.Secret) < MinSecretBytes {
			return fmt.Errorf("client %q: hmac secret is shorter than %d bytes", k.ClientID, MinSecretBytes)
		}
	case SchemeBearer:
		if len(k.Digest) != sha256.Size {
			return fmt.Errorf("client %q: bearer-sha256 digest must be %d bytes", k.ClientID, sha256.Size)
		}
	default:
		return fmt.Errorf("client %q: scheme must be %s or %s", k.ClientID, SchemeHMAC, SchemeBearer)
	}
	return nil
}

type clientKeys struct {
	secrets [][]byte
	digests [][]byte
}

// Authenticator decides whether a request comes from a configured API client and is not a replay. With no
// clients it refuses everything: an API left unconfigured must not be an open one.
type Authenticator struct {
	// Window is how far Portico-Timestamp may be from the server clock; zero means DefaultWindow.
	Window time.Duration

	clients   map[string]*clientKeys
	lastPurge atomic.Int64 // unix nanoseconds of the last nonce purge
}

// NewAuthenticator makes an Authenticator for the given keys; it copies them, so the caller may wipe its
// own copies.
func NewAuthenticator(keys ...Key) (*Authenticator, error) {
	a := &Authenticator{clients: make(map[string]*clientKeys)}
	for i, k := range keys {
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("api: key %d: %w", i+1, err)
		}
		c := a.clients[k.ClientID]
		if c == nil {
			c = &clientKeys{}
			a.clients[k.ClientID] = c
		}
		if k.Scheme == SchemeHMAC {
			c.secrets = append(c.secrets, slices.Clone(k.Secret))
		} else {
			c.digests = append(c.digests, slices.Clone(k.Digest))
		}
	}
	return a, nil
}

// Clients lists the configured client IDs, sorted, so the worker can log whom it accepts at start.
func (a *Authenticator) Clients() []string {
	if a == nil {
		return nil
	}
	ids := make([]string, 0, len(a.clients))
	for id := range a.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (a *Authenticator) window() time.Duration {
	if a.Window > 0 {
		return a.Window
	}
	return DefaultWindow
}

// NonceStore records the nonces of accepted requests; *store.Store is one. ClaimAPINonce must be atomic
// across processes (it reports false for a nonce already claimed), since any worker may get the replay.
type NonceStore interface {
	ClaimAPINonce(ctx context.Context, clientID, nonce string, seenAt time.Time) (bool, error)
	PurgeAPINonces(ctx context.Context, before time.Time) (int64, error)
}

// AuthError is a refused request. Reason is written for the caller and never holds a secret or the expected
// signature; Err, when set, is an internal cause for the log only.
type AuthError struct {
	Status int
	// ClientID is the client the request named or the token matched; not proof of who sent it.
	ClientID string
	Reason   string
	Err      error
}

// Error includes the internal cause, for logs; the caller is shown Reason alone.
func (e *AuthError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap gives errors.Is access to the internal cause (a database error, say).
func (e *AuthError) Unwrap() error { return e.Err }

func refuse(clientID, format string, args ...any) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, ClientID: clientID, Reason: fmt.Sprintf(format, args...)}
}

// Authenticate checks req (whose body has already been read into body) and returns the client it comes
// from, or an *AuthError. The nonce is claimed last, only once the credentials check out, so that forged
// requests cannot fill the nonce table or burn the nonces of a real client.
func (a *Authenticator) Authenticate(ctx context.Context, req *http.Request, body []byte, nonces NonceStore, now time.Time) (string, error) {
	if a == nil || len(a.clients) == 0 {
		return "", refuse("", "no API clients are configured on this server (set PORTICO_API_KEYS or PORTICO_API_KEYS_FILE); every request is refused")
	}
	var named string
	if v, ok, err := single(req, HeaderClient); err != nil {
		return "", err
	} else if ok {
		named = v
	}
	authz, hasAuthz, err := single(req, "Authorization")
	if err != nil {
		return "", refuse(named, "%s", err.Reason)
	}
	sig, hasSig, err := single(req, HeaderSignature)
	if err != nil {
		return "", refuse(named, "%s", err.Reason)
	}
	if hasAuthz && hasSig {
		return "", refuse(named, "send either Authorization: Bearer or %s, not both", HeaderSignature)
	}
	if !hasAuthz {
		var missing []string
		for _, h := range []string{HeaderClient, HeaderTimestamp, HeaderNonce, HeaderSignature} {
			if len(req.Header.Values(h)) == 0 {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			return "", refuse(named, "missing header %s (sign the request with HMAC, or send Authorization: Bearer with %s and %s)",
				strings.Join(missing, ", "), HeaderTimestamp, HeaderNonce)
		}
	}
	tsText, ok, err := single(req, HeaderTimestamp)
	if err != nil {
		return "", refuse(named, "%s", err.Reason)
	}
	if !ok {
		return "", refuse(named, "missing header %s", HeaderTimestamp)
	}
	nonce, ok, err := single(req, HeaderNonce)
	if err != nil {
		return "", refuse(named, "%s", err.Reason)
	}
	if !ok {
		return "", refuse(named, "missing header %s", HeaderNonce)
	}

	var clientID string
	if hasAuthz {
		clientID, err = a.bearer(authz, named)
	} else {
		clientID, err = a.client(named)
	}
	if err != nil {
		return "", err
	}
	ts, perr := strconv.ParseInt(tsText, 10, 64)
	if perr != nil || tsText[0] == '+' || tsText[0] == '-' || len(tsText) > 12 {
		return "", refuse(clientID, "%s must be the request time in unix seconds", HeaderTimestamp)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > a.window() || skew < -a.window() {
		return "", refuse(clientID, "timestamp %s is %s off the server clock, outside the %s window",
			time.Unix(ts, 0).UTC().Format(time.RFC3339), shortDuration(skew.Abs().Round(time.Second)), shortDuration(a.window()))
	}
	if !noncePattern.MatchString(nonce) {
		return "", refuse(clientID, "%s must be 16-128 characters of A-Z a-z 0-9 _ -", HeaderNonce)
	}
	if !hasAuthz {
		if err := a.verifySignature(req, body, clientID, tsText, nonce, sig); err != nil {
			return "", err
		}
	}
	fresh, cerr := nonces.ClaimAPINonce(ctx, clientID, nonce, now)
	if cerr != nil {
		// Fail closed: without the nonce recorded the request could be replayed.
		return "", &AuthError{Status: http.StatusServiceUnavailable, ClientID: clientID, Reason: "could not record the request nonce; try again", Err: cerr}
	}
	if !fresh {
		return "", refuse(clientID, "replayed request: %s was already used by client %s", HeaderNonce, clientID)
	}
	return clientID, nil
}

// single returns a header that may be sent at most once: with two values a proxy and this server could
// disagree about which one counts.
func single(req *http.Request, name string) (string, bool, *AuthError) {
	vs := req.Header.Values(name)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		v := strings.TrimSpace(vs[0])
		if v == "" {
			return "", false, refuse("", "header %s is empty", name)
		}
		return v, true, nil
	default:
		return "", false, refuse("", "header %s is sent %d times; send it once", name, len(vs))
	}
}

func (a *Authenticator) client(id string) (string, *AuthError) {
	if !clientIDPattern.MatchString(id) {
		return "", refuse("", "%s must be 1-64 characters of A-Z a-z 0-9 . _ -", HeaderClient)
	}
	if c := a.clients[id]; c == nil || len(c.secrets) == 0 {
		return "", refuse(id, "unknown client %q: no HMAC secret is configured for it", id)
	}
	return id, nil
}

func (a *Authenticator) bearer(authz, named string) (string, *AuthError) {
	scheme, token, ok := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", refuse(named, "Authorization must be \"Bearer <token>\"")
	}
	sum := sha256.Sum256([]byte(token))
	// Every digest is compared, with no early exit, so the time taken does not tell how close a guess was
	// or which client it nearly matched.
	var found string
	for id, c := range a.clients {
		for _, d := range c.digests {
			if subtle.ConstantTimeCompare(sum[:], d) == 1 {
				found = id
			}
		}
	}
	if found == "" {
		return "", refuse(named, "bearer token is not recognised")
	}
	if named != "" && named != found {
		return "", refuse(found, "bearer token does not belong to the client named in %s", HeaderClient)
	}
	return found, nil
}

func (a *Authenticator) verifySignature(req *http.Request, body []byte, clientID, ts, nonce, header string) *AuthError {
	// Portico-Signature is a comma-separated list so that a client can send a v1 and a later version
	// side by side while servers are upgraded; versions this server does not know are skipped.
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		version, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || version != signatureVersion {
			continue
		}
		value = strings.ToLower(value)
		if !sigHexPattern.MatchString(value) {
			return refuse(clientID, "%s must be v1=<64 hex digits>", HeaderSignature)
		}
		b, _ := hex.DecodeString(value)
		sigs = append(sigs, b)
	}
	if len(sigs) == 0 {
		return refuse(clientID, "%s must be v1=<64 hex digits>", HeaderSignature)
	}
	canonical := CanonicalString(ts, nonce, req.Method, requestTarget(req), body)
	match := false
	for _, secret := range a.clients[clientID].secrets {
		want := mac(secret, canonical)
		for _, got := range sigs {
			if hmac.Equal(want, got) {
				match = true
			}
		}
	}
	if !match {
		return refuse(clientID, "signature does not match (it signs v1, %s, %s, the method, the path with its query and the hex SHA-256 of the body, joined by newlines)", HeaderTimestamp, HeaderNonce)
	}
	return nil
}

// requestTarget is the path and raw query as the client sent them. RequestURI is preferred over URL,
// which a StripPrefix in front of this handler would have rewritten; absolute-form targets (proxies) fall
// back to the parsed URL.
func requestTarget(req *http.Request) string {
	if strings.HasPrefix(req.RequestURI, "/") {
		return req.RequestURI
	}
	return req.URL.RequestURI()
}

// purgeIfDue deletes nonces that can no longer be replayed, at most once per purgeEvery across the
// goroutines of this process (other workers purge on their own; the DELETEs do not conflict). Rows are
// kept for two windows after they were seen: a replay is refused by its timestamp only once the original
// timestamp is a window old, and the original may itself have been up to a window in the future.
func (a *Authenticator) purgeIfDue(ctx context.Context, nonces NonceStore, now time.Time) (int64, bool, error) {
	last := a.lastPurge.Load()
	if now.UnixNano()-last < int64(purgeEvery) || !a.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		return 0, false, nil
	}
	n, err := nonces.PurgeAPINonces(ctx, now.Add(-2*a.window()))
	return n, true, err
}

// shortDuration prints 5m rather than 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
