package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// ReceiptKind is what a receipt states about an envelope.
type ReceiptKind uint8

// The receipt kinds, in the order they normally happen.
const (
	// Delivered: the recipient's client has the envelope.
	Delivered ReceiptKind = 1
	// Read: the recipient has opened it.
	Read ReceiptKind = 2
	// Acknowledged: the formal "we have received your message", on the record.
	Acknowledged ReceiptKind = 3
)

// String returns "delivered", "read" or "acknowledged".
func (k ReceiptKind) String() string {
	switch k {
	case Delivered:
		return "delivered"
	case Read:
		return "read"
	case Acknowledged:
		return "acknowledged"
	}
	return fmt.Sprintf("ReceiptKind(%d)", uint8(k))
}

// Receipt is a principal's signed statement about an envelope, named only by its hash: it shows
// that, and when, the envelope was delivered, read or acknowledged, and nothing of its content.
type Receipt struct {
	Talks     string       // talks id
	Envelope  Hash         // the envelope the receipt is about
	Kind      ReceiptKind  // delivered, read or acknowledged
	CreatedAt time.Time    // signer's time (millisecond precision)
	Signer    CredentialID // credential of the principal who signs

	raw []byte
}

// Receipt signs a receipt for the envelope with hash env.
func (id *Identity) Receipt(talks string, env Hash, kind ReceiptKind, at time.Time) (*Receipt, error) {
	if id.cred == nil {
		return nil, fmt.Errorf("seal: receipt: identity has no credential")
	}
	if err := backchannel.CheckID("talks", talks); err != nil {
		return nil, fmt.Errorf("seal: receipt: %w", err)
	}
	if kind < Delivered || kind > Acknowledged {
		return nil, fmt.Errorf("seal: receipt: unknown kind %d", kind)
	}
	if err := checkTime("receipt time", at); err != nil {
		return nil, err
	}
	rc := Receipt{Talks: talks, Envelope: env, Kind: kind, CreatedAt: at, Signer: id.cred.id}
	b := cryptobyte.NewBuilder(make([]byte, 0, 256))
	b.AddBytes([]byte(domainReceipt))
	rc.addTBS(b)
	signed := b.BytesOrPanic()
	return ParseReceipt(append(signed, id.sign(signed)...)[len(domainReceipt):])
}

func (rc *Receipt) addTBS(b *cryptobyte.Builder) {
	addTag(b, tagReceipt)
	addString8(b, rc.Talks)
	b.AddBytes(rc.Envelope[:])
	b.AddUint8(uint8(rc.Kind))
	addTime(b, rc.CreatedAt)
	b.AddBytes(rc.Signer[:])
}

// ParseReceipt parses an encoded receipt strictly; Trust.VerifyReceipt verifies it.
func ParseReceipt(b []byte) (*Receipt, error) {
	r := newReader("receipt", b)
	r.tag(tagReceipt)
	rc := &Receipt{Talks: r.id("talks"), Envelope: r.hash("envelope hash")}
	rc.Kind = ReceiptKind(r.u8("kind"))
	if r.err == nil && (rc.Kind < Delivered || rc.Kind > Acknowledged) {
		r.fail("unknown kind %d", rc.Kind)
	}
	rc.CreatedAt = r.time("created-at")
	rc.Signer = r.hash("signer")
	r.fixed("signature", sigLen)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	rc.raw = bytes.Clone(b)
	return rc, nil
}

// Marshal returns the receipt's encoding, signature included.
func (rc *Receipt) Marshal() []byte { return bytes.Clone(rc.raw) }

// Hash returns SHA-256 of the receipt's encoding, for the record.
func (rc *Receipt) Hash() Hash { return sha256.Sum256(rc.raw) }

// VerifyReceipt checks that rc belongs to the given talks and is signed by a known, unrevoked
// credential valid at the receipt's time, and returns that credential.
func (t *Trust) VerifyReceipt(rc *Receipt, talks string) (*Credential, error) {
	if rc.Talks != talks {
		return nil, fmt.Errorf("seal: receipt: %w: for talks %s, expected %s", ErrWrongTalks, rc.Talks, talks)
	}
	signer, err := t.use(rc.Signer, rc.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("seal: receipt signer: %w", err)
	}
	n := len(rc.raw) - sigLen
	if !ed25519.Verify(signer.IdentityKey, signedBytes(domainReceipt, rc.raw[:n]), rc.raw[n:]) {
		return nil, fmt.Errorf("seal: receipt by %s: %w", signer, ErrTampered)
	}
	return signer, nil
}
