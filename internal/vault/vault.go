// Package vault encrypts portal credentials at rest with AES-256-GCM under named keys, so that keys can be
// rotated and a database dump alone never reveals a password or TOTP secret.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNoKey is returned when no key is configured; Portico refuses to store secrets in the clear.
var ErrNoKey = errors.New("vault: no encryption key configured: set PORTICO_VAULT_KEY or PORTICO_VAULT_KEY_FILE (see README, Keys)")

// ErrUnknownKey is returned when a ciphertext names a key ID the keyring does not hold.
var ErrUnknownKey = errors.New("vault: ciphertext is under a key this keyring does not hold")

// ErrTampered is returned when a ciphertext fails authentication: altered, moved to another record, or under a wrong key.
var ErrTampered = errors.New("vault: ciphertext failed authentication (tampered, moved, or wrong key)")

const formatVersion = 1

// Keyring holds the AES-256 keys by ID; the primary key encrypts, every key decrypts.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a keyring from "id:base64key" entries; the first entry is the primary.
func NewKeyring(entries ...string) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		id, b64, ok := strings.Cut(e, ":")
		if !ok || id == "" || len(id) > 64 {
			return nil, fmt.Errorf("vault: key entry must be \"id:base64key\" (the key itself is not shown)")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("vault: key %q must be 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: key %q: %w", id, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("vault: key %q is listed twice", id)
		}
		k.aeads[id] = aead
		if k.primary == "" {
			k.primary = id
		}
	}
	if k.primary == "" {
		return nil, ErrNoKey
	}
	return k, nil
}

// FromEnv reads the keyring from PORTICO_VAULT_KEY (comma-separated entries) or PORTICO_VAULT_KEY_FILE
// (one entry a line).
func FromEnv() (*Keyring, error) {
	if v := os.Getenv("PORTICO_VAULT_KEY"); v != "" {
		return NewKeyring(strings.Split(v, ",")...)
	}
	if path := os.Getenv("PORTICO_VAULT_KEY_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vault: read key file: %w", err)
		}
		return NewKeyring(strings.Split(string(data), "\n")...)
	}
	return nil, ErrNoKey
}

// NewKeyEntry makes a fresh random key entry "id:base64key" for a key file.
func NewKeyEntry(id string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// PrimaryKeyID returns the ID of the key new ciphertexts are made under.
func (k *Keyring) PrimaryKeyID() string { return k.primary }

// Seal encrypts plaintext under the primary key. The context (for example "portal_account/acme-1/password")
// is authenticated, so a ciphertext copied into another record or column fails to open.
func (k *Keyring) Seal(plaintext []byte, context string) ([]byte, error) {
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(k.primary)+len(nonce)+len(plaintext)+aead.Overhead())
	out = append(out, formatVersion, byte(len(k.primary)))
	out = append(out, k.primary...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(context)), nil
}

// Open decrypts a ciphertext made by Seal with the same context.
func (k *Keyring) Open(ciphertext []byte, context string) ([]byte, error) {
	id, rest, err := split(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, id)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrTampered
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrTampered
	}
	return plain, nil
}

// KeyID returns the key ID a ciphertext was made under, so a rotation can find what to re-encrypt.
func KeyID(ciphertext []byte) (string, error) {
	id, _, err := split(ciphertext)
	return id, err
}

func split(c []byte) (string, []byte, error) {
	if len(c) < 2 || c[0] != formatVersion || len(c) < 2+int(c[1]) {
		return "", nil, ErrTampered
	}
	n := int(c[1])
	return string(c[2 : 2+n]), c[2+n:], nil
}
