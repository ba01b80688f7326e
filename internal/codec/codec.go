// Package codec encrypts every payload Portico hands to Temporal (workflow and activity inputs and results,
// signals, queries, updates, memos, summaries, failure messages), so the Temporal server, its database and
// its backups only ever see ciphertext. Supplier invoices, portal responses and error text from portals are
// business data that does not belong in a third system in the clear.
//
// The same codec is served over HTTP (see NewHandler) so the Temporal Web UI and the temporal CLI can show
// payloads decrypted to people who present a token.
package codec

import (
	"errors"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"portico/internal/vault"
)

// EncodingEncrypted is the payload "encoding" metadata value of an encrypted payload. Decode only touches
// payloads carrying it, so plain payloads (say from `temporal workflow signal --input`) keep working.
const EncodingEncrypted = "binary/encrypted"

// MetadataKeyID is the metadata key naming the key a payload was sealed under. It is informational, for
// people looking at raw history; the authenticated key ID is the one inside the ciphertext.
const MetadataKeyID = "encryption-key-id"

// payloadContext is authenticated with every payload so a ciphertext made by the vault for another purpose
// (a portal password, say) cannot be replayed into a workflow history and decrypted by the codec server.
const payloadContext = "temporal-payload/v1"

// Default locations of the demo key and token written by `make run`, relative to the working directory.
const (
	defaultKeyFile   = ".state/payload.key"
	defaultTokenFile = ".state/codec.token"
)

// ErrNoKey is returned when no payload key is configured: Portico refuses to send payloads to Temporal in
// the clear rather than silently degrade.
var ErrNoKey = errors.New("codec: no payload encryption key configured: set PORTICO_PAYLOAD_KEY " +
	`(comma-separated "id:base64key" entries, the first is the primary) or PORTICO_PAYLOAD_KEY_FILE ` +
	"(one entry a line), or create " + defaultKeyFile + "; make a key with `go run ./starter keys new` " +
	`or: echo "p1:$(openssl rand -base64 32)"`)

// Codec is a converter.PayloadCodec that seals each payload whole (metadata and data) with AES-256-GCM under
// the keyring's primary key and opens payloads under any key in the ring, so histories written before a key
// rotation stay readable. It is safe for concurrent use.
type Codec struct {
	keys *vault.Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec over keys. The primary key encrypts; every key decrypts.
func New(keys *vault.Keyring) *Codec {
	if keys == nil {
		panic("codec: New needs a keyring")
	}
	return &Codec{keys: keys}
}

// FromEnv builds the codec from PORTICO_PAYLOAD_KEY or PORTICO_PAYLOAD_KEY_FILE, falling back to
// .state/payload.key (where `make run` keeps the demo key). With none of them it returns ErrNoKey.
func FromEnv() (*Codec, error) {
	entries, err := keyEntriesFromEnv()
	if err != nil {
		return nil, err
	}
	keys, err := vault.NewKeyring(entries...)
	if errors.Is(err, vault.ErrNoKey) {
		// The variable or file was there but held only blanks and comments.
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("codec: payload key: %w", err)
	}
	return New(keys), nil
}

func keyEntriesFromEnv() ([]string, error) {
	if v := os.Getenv("PORTICO_PAYLOAD_KEY"); strings.TrimSpace(v) != "" {
		return strings.Split(v, ","), nil
	}
	if path := os.Getenv("PORTICO_PAYLOAD_KEY_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("codec: read PORTICO_PAYLOAD_KEY_FILE: %w", err)
		}
		return strings.Split(string(data), "\n"), nil
	}
	data, err := os.ReadFile(defaultKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("codec: read %s: %w", defaultKeyFile, err)
	}
	return strings.Split(string(data), "\n"), nil
}

// PrimaryKeyID is the ID of the key new payloads are sealed under; startup logs can show it so an operator
// can tell a rotation took effect without seeing the key.
func (c *Codec) PrimaryKeyID() string { return c.keys.PrimaryKeyID() }

// Encode seals each payload. Payloads that are already encrypted are left as they are: sealing twice would
// leave a payload that one Decode pass cannot turn back into a value (a RawValue re-sent from history, say).
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: payload %d: marshal: %w", i, err)
		}
		sealed, err := c.keys.Seal(plain, payloadContext)
		if err != nil {
			return nil, fmt.Errorf("codec: payload %d: seal: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.keys.PrimaryKeyID()),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode opens encrypted payloads and passes every other payload through untouched, so values sent by tools
// that do not know the key (the stock temporal CLI, the UI's JSON input) still reach the workflow.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := c.keys.Open(p.GetData(), payloadContext)
		if err != nil {
			return nil, newDecodeError(i, p, err)
		}
		decoded := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, decoded); err != nil {
			// Authenticated bytes that are not a payload mean a bug in a writer, never an attacker; the proto
			// error names no content.
			return nil, &DecodeError{Index: i, KeyID: sealedKeyID(p), Err: fmt.Errorf("decrypted bytes are not a Temporal payload: %w", err)}
		}
		out[i] = decoded
	}
	return out, nil
}

func isEncrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == EncodingEncrypted
}

// DecodeError reports an encrypted payload that could not be opened. It names the key and the payload's
// position, never its content, and unwraps to vault.ErrUnknownKey (the ring does not hold the key: wrong
// environment, or the old key was dropped too early after a rotation) or vault.ErrTampered (altered in
// storage, or sealed under a different key that reuses the ID).
type DecodeError struct {
	// Index is the payload's position in the batch being decoded.
	Index int
	// KeyID is the key the payload says it was sealed under.
	KeyID string
	// Err is the cause, usually vault.ErrUnknownKey or vault.ErrTampered.
	Err error
}

// Error reads as a diagnosis an operator can act on.
func (e *DecodeError) Error() string {
	switch {
	case errors.Is(e.Err, vault.ErrUnknownKey):
		return fmt.Sprintf("codec: payload %d is encrypted under key %q, which this keyring does not hold "+
			"(add it to PORTICO_PAYLOAD_KEY after the primary): %v", e.Index, e.KeyID, vault.ErrUnknownKey)
	case errors.Is(e.Err, vault.ErrTampered):
		return fmt.Sprintf("codec: payload %d under key %q failed authentication: altered, or sealed under "+
			"a different key with the same ID: %v", e.Index, e.KeyID, vault.ErrTampered)
	default:
		return fmt.Sprintf("codec: payload %d under key %q: %v", e.Index, e.KeyID, e.Err)
	}
}

// Unwrap lets callers test for vault.ErrUnknownKey and vault.ErrTampered with errors.Is.
func (e *DecodeError) Unwrap() error { return e.Err }

func newDecodeError(i int, p *commonpb.Payload, err error) error {
	return &DecodeError{Index: i, KeyID: sealedKeyID(p), Err: err}
}

// sealedKeyID prefers the key ID inside the ciphertext, which is what Open used; the metadata copy is a
// fallback for ciphertexts too mangled to carry one.
func sealedKeyID(p *commonpb.Payload) string {
	if id, err := vault.KeyID(p.GetData()); err == nil {
		return id
	}
	if id := p.GetMetadata()[MetadataKeyID]; len(id) > 0 {
		return string(id)
	}
	return "(unreadable)"
}

// DataConverter is the default data converter with c applied to every payload, for client.Options and
// workflow/activity code that converts values itself.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter moves failure messages and stack traces into an encoded payload, so they go through dc
// and are encrypted: portal error text and stack traces can quote invoice numbers, amounts or credentials.
// Error types, activity types and retry state stay in the clear, as Temporal needs them.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}

// ClientOptions returns o with the encrypting data converter and failure converter set. Workers made from
// the client inherit both, so one call covers starters and workers. Any converters already on o are
// replaced: a half-encrypting setup is worse than a failing one.
func ClientOptions(o client.Options, c *Codec) client.Options {
	dc := DataConverter(c)
	o.DataConverter = dc
	o.FailureConverter = FailureConverter(dc)
	return o
}
