package codec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"portico/internal/vault"
)

// secretNumber stands in for invoice data that must never reach Temporal in the clear.
const secretNumber = "INV-SECRET-4711"

type invoice struct {
	Supplier    string
	Number      string
	AmountCents int64
	Lines       []string
}

func sampleInvoice() invoice {
	return invoice{Supplier: "Acme Widgets GmbH", Number: secretNumber, AmountCents: 1234567, Lines: []string{"widgets x 40"}}
}

func keyEntry(t *testing.T, id string) string {
	t.Helper()
	e, err := vault.NewKeyEntry(id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ring(t *testing.T, entries ...string) *vault.Keyring {
	t.Helper()
	k, err := vault.NewKeyring(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCodec(t *testing.T, id string) *Codec {
	t.Helper()
	return New(ring(t, keyEntry(t, id)))
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertEncrypted(t *testing.T, p *commonpb.Payload, keyID string) {
	t.Helper()
	if got := string(p.GetMetadata()[converter.MetadataEncoding]); got != EncodingEncrypted {
		t.Fatalf("encoding = %q, want %q", got, EncodingEncrypted)
	}
	if got := string(p.GetMetadata()[MetadataKeyID]); got != keyID {
		t.Fatalf("%s = %q, want %q", MetadataKeyID, got, keyID)
	}
	if len(p.GetMetadata()) != 2 {
		t.Fatalf("encrypted payload leaks metadata: %v", p.GetMetadata())
	}
}

func TestDataConverterRoundTrip(t *testing.T) {
	c := newCodec(t, "k1")
	dc := DataConverter(c)

	t.Run("struct", func(t *testing.T) {
		in := sampleInvoice()
		p, err := dc.ToPayload(in)
		if err != nil {
			t.Fatal(err)
		}
		assertEncrypted(t, p, "k1")
		raw := marshal(t, p)
		for _, plain := range []string{secretNumber, "Acme Widgets", "json/plain", "1234567"} {
			if bytes.Contains(raw, []byte(plain)) {
				t.Fatalf("encoded payload contains plaintext %q", plain)
			}
		}
		var out invoice
		if err := dc.FromPayload(p, &out); err != nil {
			t.Fatal(err)
		}
		if out.Number != in.Number || out.Supplier != in.Supplier || out.AmountCents != in.AmountCents || len(out.Lines) != 1 {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
	})

	t.Run("string", func(t *testing.T) {
		in := "portal password hunter2 for " + secretNumber
		p, err := dc.ToPayload(in)
		if err != nil {
			t.Fatal(err)
		}
		assertEncrypted(t, p, "k1")
		if bytes.Contains(marshal(t, p), []byte("hunter2")) {
			t.Fatal("encoded payload contains the plaintext string")
		}
		var out string
		if err := dc.FromPayload(p, &out); err != nil {
			t.Fatal(err)
		}
		if out != in {
			t.Fatalf("got %q, want %q", out, in)
		}
	})

	t.Run("nil", func(t *testing.T) {
		p, err := dc.ToPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		// Even the fact that a value is null (binary/null) is not visible.
		assertEncrypted(t, p, "k1")
		out := &invoice{Number: "stale"}
		if err := dc.FromPayload(p, &out); err != nil {
			t.Fatal(err)
		}
		if out != nil {
			t.Fatalf("nil round trip gave %+v", out)
		}
	})

	t.Run("several values and bytes", func(t *testing.T) {
		ps, err := dc.ToPayloads(sampleInvoice(), "second", []byte("raw "+secretNumber))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(marshal(t, ps), []byte(secretNumber)) {
			t.Fatal("encoded payloads contain plaintext")
		}
		var (
			a invoice
			b string
			r []byte
		)
		if err := dc.FromPayloads(ps, &a, &b, &r); err != nil {
			t.Fatal(err)
		}
		if a.Number != secretNumber || b != "second" || string(r) != "raw "+secretNumber {
			t.Fatalf("got %+v %q %q", a, b, r)
		}
	})

	t.Run("nonce is fresh", func(t *testing.T) {
		p1, _ := dc.ToPayload("same")
		p2, _ := dc.ToPayload("same")
		if bytes.Equal(p1.GetData(), p2.GetData()) {
			t.Fatal("two encodings of one value are identical; the nonce is not random")
		}
	})
}

func TestEncodeLeavesEncryptedPayloadsAlone(t *testing.T) {
	c := newCodec(t, "k1")
	plain, _ := converter.GetDefaultDataConverter().ToPayload("x")
	once, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := c.Encode(once)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(once[0], twice[0]) {
		t.Fatal("encoding an encrypted payload sealed it again")
	}
	dec, err := c.Decode(twice)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) {
		t.Fatal("one decode did not restore the original")
	}
}

func TestDecodePassesThroughUnencryptedPayloads(t *testing.T) {
	c := newCodec(t, "k1")
	// What `temporal workflow signal --input '{"approved":true}'` sends without a codec endpoint.
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]bool{"approved": true})
	if err != nil {
		t.Fatal(err)
	}
	bare := &commonpb.Payload{Data: []byte("no metadata at all")}
	out, err := c.Decode([]*commonpb.Payload{plain, bare})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != plain || out[1] != bare {
		t.Fatal("unencrypted payloads were changed")
	}
	var m map[string]bool
	if err := DataConverter(c).FromPayload(plain, &m); err != nil || !m["approved"] {
		t.Fatalf("plain signal through the codec converter: %v %v", m, err)
	}
}

func TestDecodeRefusesTamperedPayload(t *testing.T) {
	c := newCodec(t, "k1")
	dc := DataConverter(c)
	p, err := dc.ToPayload(sampleInvoice())
	if err != nil {
		t.Fatal(err)
	}

	flip := func(i int) *commonpb.Payload {
		q := proto.Clone(p).(*commonpb.Payload)
		q.Data[i] ^= 0x01
		return q
	}

	// The authentication tag is at the end: this is a plain tamper, and the key is named.
	_, err = c.Decode([]*commonpb.Payload{flip(len(p.Data) - 1)})
	if !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("flipped tag: err = %v, want vault.ErrTampered", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.KeyID != "k1" || de.Index != 0 {
		t.Fatalf("error does not name the key and position: %#v", err)
	}
	if !strings.Contains(err.Error(), `"k1"`) || strings.Contains(err.Error(), secretNumber) {
		t.Fatalf("error message: %q", err.Error())
	}
	var out invoice
	if err := dc.FromPayload(flip(len(p.Data)-1), &out); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("FromPayload of tampered payload: %v", err)
	}

	// No single flipped bit anywhere in the ciphertext is accepted.
	for i := range p.Data {
		_, err := c.Decode([]*commonpb.Payload{flip(i)})
		if !errors.Is(err, vault.ErrTampered) && !errors.Is(err, vault.ErrUnknownKey) {
			t.Fatalf("byte %d flipped: err = %v, want tampered or unknown key", i, err)
		}
	}

	// Truncated data is refused too.
	short := proto.Clone(p).(*commonpb.Payload)
	short.Data = short.Data[:len(short.Data)/2]
	if _, err := c.Decode([]*commonpb.Payload{short}); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestVaultCiphertextIsNotAPayload(t *testing.T) {
	// A credential sealed by the vault under the same keyring must not decrypt through the codec server.
	keys := ring(t, keyEntry(t, "k1"))
	c := New(keys)
	inner := marshal(t, &commonpb.Payload{Data: []byte("hunter2")})
	sealed, err := keys.Seal(inner, "portal_account/acme-1/password")
	if err != nil {
		t.Fatal(err)
	}
	p := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(EncodingEncrypted)}, Data: sealed}
	if _, err := c.Decode([]*commonpb.Payload{p}); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("vault ciphertext decoded as a payload: %v", err)
	}
}

func TestDecodeWithDifferentKey(t *testing.T) {
	a := newCodec(t, "k1")
	p, err := DataConverter(a).ToPayload(sampleInvoice())
	if err != nil {
		t.Fatal(err)
	}

	b := newCodec(t, "k2")
	_, err = b.Decode([]*commonpb.Payload{p})
	if !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("err = %v, want vault.ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("error does not name key k1: %q", err)
	}
	var out invoice
	if err := DataConverter(b).FromPayload(p, &out); !errors.Is(err, vault.ErrUnknownKey) || out.Number != "" {
		t.Fatalf("FromPayload with wrong ring: %v %+v", err, out)
	}

	// Same ID, different key material: authentication fails, and the ID is still named.
	same := newCodec(t, "k1")
	_, err = same.Decode([]*commonpb.Payload{p})
	if !errors.Is(err, vault.ErrTampered) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("same ID, other key: %v", err)
	}
}

func TestRotation(t *testing.T) {
	oldEntry, newEntry := keyEntry(t, "2025-01"), keyEntry(t, "2026-07")
	before := New(ring(t, oldEntry))
	after := New(ring(t, newEntry, oldEntry))

	oldPayload, err := DataConverter(before).ToPayload(sampleInvoice())
	if err != nil {
		t.Fatal(err)
	}
	var out invoice
	if err := DataConverter(after).FromPayload(oldPayload, &out); err != nil || out.Number != secretNumber {
		t.Fatalf("rotated ring cannot read old history: %v %+v", err, out)
	}

	newPayload, err := DataConverter(after).ToPayload(sampleInvoice())
	if err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, newPayload, "2026-07")
	if id, err := vault.KeyID(newPayload.GetData()); err != nil || id != "2026-07" {
		t.Fatalf("sealed under %q (%v), want the new primary", id, err)
	}
	if after.PrimaryKeyID() != "2026-07" {
		t.Fatalf("PrimaryKeyID = %q", after.PrimaryKeyID())
	}
	// A worker still on the old ring cannot read new payloads, and says which key it lacks.
	if _, err := before.Decode([]*commonpb.Payload{newPayload}); !errors.Is(err, vault.ErrUnknownKey) ||
		!strings.Contains(err.Error(), "2026-07") {
		t.Fatalf("old ring on new payload: %v", err)
	}
}

func TestFailureConverterEncryptsMessages(t *testing.T) {
	c := newCodec(t, "k1")
	fc := FailureConverter(DataConverter(c))

	msg := "portal rejected " + secretNumber + ": login ap@acme.example / hunter2 expired"
	cause := errors.New("portal body: <td>IBAN DE89-SECRET-CAUSE</td>")
	appErr := temporal.NewApplicationErrorWithCause(msg, "PortalRejected", cause)

	f := fc.ErrorToFailure(appErr)
	raw := marshal(t, f)
	for _, plain := range []string{secretNumber, "hunter2", "SECRET-CAUSE"} {
		if bytes.Contains(raw, []byte(plain)) {
			t.Fatalf("marshalled failure contains %q", plain)
		}
	}
	if f.GetMessage() != "Encoded failure" {
		t.Fatalf("message left in the clear: %q", f.GetMessage())
	}
	assertEncrypted(t, f.GetEncodedAttributes(), "k1")
	assertEncrypted(t, f.GetCause().GetEncodedAttributes(), "k1")
	// The type stays readable: Temporal's retry policy matches on it.
	if f.GetApplicationFailureInfo().GetType() != "PortalRejected" {
		t.Fatalf("type = %q", f.GetApplicationFailureInfo().GetType())
	}

	// Back from the wire, with the right key.
	var wire failurepb.Failure
	if err := proto.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	back := fc.FailureToError(&wire)
	var ae *temporal.ApplicationError
	if !errors.As(back, &ae) {
		t.Fatalf("not an ApplicationError: %T %v", back, back)
	}
	if ae.Message() != msg || ae.Type() != "PortalRejected" {
		t.Fatalf("got message %q type %q", ae.Message(), ae.Type())
	}
	if u := errors.Unwrap(ae); u == nil || !strings.Contains(u.Error(), "SECRET-CAUSE") {
		t.Fatalf("cause not restored: %v", u)
	}

	// With the wrong key the message stays hidden.
	var wire2 failurepb.Failure
	if err := proto.Unmarshal(raw, &wire2); err != nil {
		t.Fatal(err)
	}
	other := FailureConverter(DataConverter(newCodec(t, "k2"))).FailureToError(&wire2)
	if strings.Contains(other.Error(), secretNumber) || strings.Contains(other.Error(), "SECRET-CAUSE") {
		t.Fatalf("wrong key revealed the message: %v", other)
	}
}

func TestClientOptions(t *testing.T) {
	c := newCodec(t, "k1")
	o := ClientOptions(client.Options{HostPort: "127.0.0.1:7233", Namespace: "portico"}, c)
	if o.HostPort != "127.0.0.1:7233" || o.Namespace != "portico" {
		t.Fatal("ClientOptions dropped other options")
	}
	if o.DataConverter == nil || o.FailureConverter == nil {
		t.Fatal("converters not set")
	}
	p, err := o.DataConverter.ToPayload(sampleInvoice())
	if err != nil {
		t.Fatal(err)
	}
	assertEncrypted(t, p, "k1")
	f := o.FailureConverter.ErrorToFailure(temporal.NewApplicationError("boom "+secretNumber, "T"))
	if bytes.Contains(marshal(t, f), []byte(secretNumber)) {
		t.Fatal("client failure converter does not encrypt messages")
	}
}

// clearKeyEnv makes FromEnv see no configuration, in an empty working directory.
func clearKeyEnv(t *testing.T) string {
	t.Helper()
	t.Setenv("PORTICO_PAYLOAD_KEY", "")
	t.Setenv("PORTICO_PAYLOAD_KEY_FILE", "")
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

func TestFromEnv(t *testing.T) {
	oldEntry, newEntry := keyEntry(t, "old"), keyEntry(t, "new")
	oldPayload, err := DataConverter(New(ring(t, oldEntry))).ToPayload("from before")
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, c *Codec, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if c.PrimaryKeyID() != "new" {
			t.Fatalf("primary = %q, want the first entry", c.PrimaryKeyID())
		}
		var s string
		if err := DataConverter(c).FromPayload(oldPayload, &s); err != nil || s != "from before" {
			t.Fatalf("second key not usable: %v", err)
		}
	}

	t.Run("PORTICO_PAYLOAD_KEY", func(t *testing.T) {
		clearKeyEnv(t)
		t.Setenv("PORTICO_PAYLOAD_KEY", newEntry+", "+oldEntry)
		c, err := FromEnv()
		check(t, c, err)
	})
	t.Run("PORTICO_PAYLOAD_KEY_FILE", func(t *testing.T) {
		dir := clearKeyEnv(t)
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, []byte("# rotated 2026-07\n"+newEntry+"\n\n"+oldEntry+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PORTICO_PAYLOAD_KEY_FILE", path)
		c, err := FromEnv()
		check(t, c, err)
	})
	t.Run(".state/payload.key", func(t *testing.T) {
		dir := clearKeyEnv(t)
		if err := os.MkdirAll(filepath.Join(dir, ".state"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".state", "payload.key"), []byte(newEntry+"\n"+oldEntry+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := FromEnv()
		check(t, c, err)
	})
	t.Run("variable wins over file", func(t *testing.T) {
		dir := clearKeyEnv(t)
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, []byte(oldEntry+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PORTICO_PAYLOAD_KEY_FILE", path)
		t.Setenv("PORTICO_PAYLOAD_KEY", newEntry+","+oldEntry)
		c, err := FromEnv()
		check(t, c, err)
	})
	t.Run("no key", func(t *testing.T) {
		clearKeyEnv(t)
		_, err := FromEnv()
		if !errors.Is(err, ErrNoKey) {
			t.Fatalf("err = %v, want ErrNoKey", err)
		}
		for _, want := range []string{"PORTICO_PAYLOAD_KEY", "PORTICO_PAYLOAD_KEY_FILE", ".state/payload.key",
			"openssl rand -base64 32", "go run ./starter keys new"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ErrNoKey message lacks %q: %s", want, err)
			}
		}
	})
	t.Run("file with only comments", func(t *testing.T) {
		dir := clearKeyEnv(t)
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, []byte("# nothing yet\n\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PORTICO_PAYLOAD_KEY_FILE", path)
		if _, err := FromEnv(); !errors.Is(err, ErrNoKey) {
			t.Fatalf("err = %v, want ErrNoKey", err)
		}
	})
	t.Run("missing file named by variable", func(t *testing.T) {
		dir := clearKeyEnv(t)
		t.Setenv("PORTICO_PAYLOAD_KEY_FILE", filepath.Join(dir, "absent"))
		if _, err := FromEnv(); err == nil || errors.Is(err, ErrNoKey) {
			t.Fatalf("err = %v, want a read error", err)
		}
	})
	t.Run("bad key is not echoed", func(t *testing.T) {
		clearKeyEnv(t)
		t.Setenv("PORTICO_PAYLOAD_KEY", "k1:c2VjcmV0LWJ1dC1zaG9ydA==")
		_, err := FromEnv()
		if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Fatalf("err = %v", err)
		}
	})
}
