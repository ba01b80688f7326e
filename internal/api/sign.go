package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the request authentication. They are the same for both schemes except Portico-Client and
// Portico-Signature, which a bearer request leaves out (the token names the client).
const (
	HeaderClient    = "Portico-Client"
	HeaderTimestamp = "Portico-Timestamp"
	HeaderNonce     = "Portico-Nonce"
	HeaderSignature = "Portico-Signature"
	// HeaderRequestID is set on every response so that a caller can quote it and ops can find the log line.
	HeaderRequestID = "Portico-Request-Id"
)

// signatureVersion prefixes both the canonical string and the header value, so that a later scheme (other
// fields, another hash) can be told apart and rolled out next to this one.
const signatureVersion = "v1"

// CanonicalString is what an HMAC request signs: every part an attacker could change to reuse a signature
// elsewhere (another time, another nonce, another method, path, query or body). requestURI is the path with
// its raw query, exactly as sent (e.g. "/v1/invoices/INV-1/start?x=1"). The body enters as its SHA-256 so
// the string stays small and the body needs no escaping.
func CanonicalString(timestamp, nonce, method, requestURI string, body []byte) string {
	sum := sha256.Sum256(body)
	return strings.Join([]string{
		signatureVersion,
		timestamp,
		nonce,
		strings.ToUpper(method),
		requestURI,
		hex.EncodeToString(sum[:]),
	}, "\n")
}

func mac(secret []byte, canonical string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return m.Sum(nil)
}

// Sign sets the HMAC headers on req for the given body, which must be exactly the bytes req will send. An
// empty nonce gets a fresh one. Sign does not touch req.Body: the caller sets it, so a streaming body is not
// read twice.
func Sign(req *http.Request, body []byte, clientID string, secret []byte, now time.Time, nonce string) {
	if nonce == "" {
		nonce = NewNonce()
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := mac(secret, CanonicalString(ts, nonce, req.Method, req.URL.RequestURI(), body))
	req.Header.Set(HeaderClient, clientID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, signatureVersion+"="+hex.EncodeToString(sig))
}

// SetBearer sets the bearer-token headers on req. The timestamp and nonce are not signed by anything, but
// the server still refuses a nonce it has seen, so a request captured from a log or a proxy cannot be sent
// again as is.
func SetBearer(req *http.Request, token string, now time.Time, nonce string) {
	if nonce == "" {
		nonce = NewNonce()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderNonce, nonce)
}

// NewNonce returns a random nonce of 32 characters from [A-Za-z0-9_-], which the server accepts.
func NewNonce() string { return base64.RawURLEncoding.EncodeToString(randomBytes(24)) }

// NewClientSecret returns a new random HMAC secret of 32 bytes (the minimum the server accepts); HMACEntry
// writes it as a configuration entry.
func NewClientSecret() []byte { return randomBytes(32) }

// NewToken returns a new random bearer token; configure the server with TokenDigest (or BearerEntry) of it
// and give the token itself only to the client.
func NewToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// TokenDigest is the hex SHA-256 of a bearer token: what the server is configured with, so that a leaked
// configuration does not leak usable tokens.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HMACEntry is the PORTICO_API_KEYS entry that gives clientID the HMAC secret.
func HMACEntry(clientID string, secret []byte) string {
	return clientID + ":" + string(SchemeHMAC) + ":" + base64.StdEncoding.EncodeToString(secret)
}

// BearerEntry is the PORTICO_API_KEYS entry that gives clientID the bearer token (as its digest).
func BearerEntry(clientID, token string) string {
	return clientID + ":" + string(SchemeBearer) + ":" + TokenDigest(token)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return b
}
