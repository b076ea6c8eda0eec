package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// RelayMode says whose words an envelope carries.
type RelayMode uint8

// The relay modes.
const (
	// RelayNone: the sender's own message, in the sender's own room.
	RelayNone RelayMode = 0
	// RelayVerbatim: a mediator re-sealed another author's signed message, unchanged, for a new
	// room. The header links to the relayed envelope.
	RelayVerbatim RelayMode = 1
	// RelaySummary: a mediator's own message (of kind summary) about the envelopes it links to.
	RelaySummary RelayMode = 2
)

// String returns "none", "verbatim" or "summary".
func (m RelayMode) String() string {
	switch m {
	case RelayNone:
		return "none"
	case RelayVerbatim:
		return "verbatim"
	case RelaySummary:
		return "summary"
	}
	return fmt.Sprintf("RelayMode(%d)", uint8(m))
}

// wrapLen is the size of one wrapped content key: the X-Wing encapsulation (1120 bytes) and the
// AES-256-GCM sealing of a 32-byte key (48 bytes).
const wrapLen = 1120 + 32 + 16

// Header is an envelope's cleartext: only what the server needs to route, enforce the talks'
// rules and order, never content. Everything here is covered by the sender's signature.
type Header struct {
	Context                   // the sender's context for this envelope
	Sender     CredentialID   // credential of the principal who sealed (and signed) the envelope
	Relay      RelayMode      // whose words the envelope carries
	RelayOf    []Hash         // the relayed (one) or summarised (one or more) envelopes, ascending
	Recipients []CredentialID // the principals the content key is wrapped for, ascending
}

// Envelope is a sealed message as it travels and is stored: the header, one wrapped content
// key per recipient, the encrypted signed message, and the sender's signature over all of it.
// An Envelope is immutable once parsed or sealed.
type Envelope struct {
	Header

	raw        []byte // full encoding, signature included
	signed     []byte // domainEnvelope || raw without the signature, sharing raw's memory
	headerLen  int    // raw[:headerLen] is the header
	wraps      []byte // recipients' wrapped keys, aliasing raw
	ciphertext []byte // the key commitment and the encrypted message, aliasing raw

	verifiedBy ed25519.PublicKey // a key VerifySignature found the signature good under
}

// addHeader encodes h (already normalized and checked).
func addHeader(b *cryptobyte.Builder, h *Header) {
	addTag(b, tagEnvelope)
	addContext(b, &h.Context, h.Sender)
	b.AddUint8(uint8(h.Relay))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, l := range h.RelayOf {
			b.AddBytes(l[:])
		}
	})
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, r := range h.Recipients {
			b.AddBytes(r[:])
		}
	})
}

// checkLinks enforces the relay rules: none links nothing, verbatim links exactly one envelope,
// summary links one or more, in strictly ascending order.
func checkLinks(mode RelayMode, links []Hash) error {
	switch mode {
	case RelayNone:
		if len(links) != 0 {
			return fmt.Errorf("relay mode none with %d links", len(links))
		}
	case RelayVerbatim:
		if len(links) != 1 {
			return fmt.Errorf("verbatim relay with %d links, want 1", len(links))
		}
	case RelaySummary:
		if len(links) == 0 || len(links) > MaxRelayLinks {
			return fmt.Errorf("summary relay with %d links, want 1 to %d", len(links), MaxRelayLinks)
		}
	default:
		return fmt.Errorf("unknown relay mode %d", mode)
	}
	for i := 1; i < len(links); i++ {
		if bytes.Compare(links[i-1][:], links[i][:]) >= 0 {
			return fmt.Errorf("relay links not strictly ascending")
		}
	}
	return nil
}

// ParseEnvelope parses an encoded envelope strictly, without verifying anything: that is
// Trust.VerifyEnvelope (for the server) and Identity.Open (for a recipient). The Envelope keeps
// its own copy of b.
func ParseEnvelope(b []byte) (*Envelope, error) {
	// Copy b behind the signature's domain string, so verifying needs no second copy.
	signed := make([]byte, 0, len(domainEnvelope)+len(b))
	signed = append(append(signed, domainEnvelope...), b...)
	b = signed[len(domainEnvelope):]
	r := newReader("envelope", b)
	r.tag(tagEnvelope)
	e := &Envelope{raw: b}
	e.Context, e.Sender = readContext(r)
	if r.err == nil && !e.ReplyTo.IsZero() {
		r.fail("a reply-to link in the header: it travels inside the ciphertext only")
	}
	e.Relay = RelayMode(r.u8("relay mode"))
	links := r.prefixed("relay links", 2)
	if r.err == nil && len(links)%32 != 0 {
		r.fail("relay links of %d bytes, not a multiple of 32", len(links))
	}
	for i := 0; r.err == nil && i < len(links); i += 32 {
		e.RelayOf = append(e.RelayOf, Hash(links[i:i+32]))
	}
	if r.err == nil {
		if err := checkLinks(e.Relay, e.RelayOf); err != nil {
			r.fail("%v", err)
		}
	}
	recips := r.prefixed("recipients", 2)
	if r.err == nil && (len(recips)%32 != 0 || len(recips) == 0 || len(recips) > 32*MaxRecipients) {
		r.fail("recipients of %d bytes, want 1 to %d ids of 32 bytes", len(recips), MaxRecipients)
	}
	for i := 0; r.err == nil && i < len(recips); i += 32 {
		id := CredentialID(recips[i : i+32])
		if n := len(e.Recipients); n > 0 && bytes.Compare(e.Recipients[n-1][:], id[:]) >= 0 {
			r.fail("recipients not strictly ascending")
		}
		e.Recipients = append(e.Recipients, id)
	}
	e.headerLen = r.offset(b)
	e.wraps = r.prefixed("wrapped keys", 3)
	if r.err == nil && len(e.wraps) != wrapLen*len(e.Recipients) {
		r.fail("wrapped keys of %d bytes, want %d for %d recipients", len(e.wraps), wrapLen*len(e.Recipients), len(e.Recipients))
	}
	e.ciphertext = r.prefixed("ciphertext", 4)
	if r.err == nil && (len(e.ciphertext) < commitLen+16 || len(e.ciphertext) > commitLen+MaxBodyLen+64*1024) {
		r.fail("ciphertext of %d bytes out of range", len(e.ciphertext))
	}
	r.fixed("signature", sigLen)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	e.signed = signed[:len(signed)-sigLen]
	return e, nil
}

// Marshal returns the envelope's encoding. The slice is shared: do not modify it.
func (e *Envelope) Marshal() []byte { return e.raw }

// Hash returns the envelope's hash, SHA-256 of its full encoding: the key for idempotent
// submission, the subject of receipts, and the target of reply-to and relay links.
func (e *Envelope) Hash() Hash { return sha256.Sum256(e.raw) }

// headerHash binds wrapped keys and ciphertext to this header, so neither can be moved into
// another envelope even by a sender willing to re-sign.
func (e *Envelope) headerHash() [32]byte { return sha256.Sum256(e.raw[:e.headerLen]) }

// Addressed reports whether the envelope has a wrapped key for credential id.
func (e *Envelope) Addressed(id CredentialID) bool {
	_, ok := e.recipientIndex(id)
	return ok
}

func (e *Envelope) recipientIndex(id CredentialID) (int, bool) {
	return slices.BinarySearchFunc(e.Recipients, id, func(a, b CredentialID) int { return bytes.Compare(a[:], b[:]) })
}

// verifySignature checks the sender's outer signature over everything before it.
func (e *Envelope) verifySignature(key ed25519.PublicKey) bool {
	if e.verifiedBy != nil && e.verifiedBy.Equal(key) {
		return true
	}
	return ed25519.Verify(key, e.signed, e.raw[len(e.raw)-sigLen:])
}

// VerifySignature reports whether the envelope's outer signature verifies under key, the
// identity key of the credential it names as sender, and remembers a success: verifying e
// under the same key later (Trust.VerifyEnvelope, Identity.Open) does not repeat the work. A
// server checks the signature this way before it takes the lock of the talks' log, where work
// is serialised. It must not be called concurrently with other methods of e.
func (e *Envelope) VerifySignature(key ed25519.PublicKey) bool {
	if !e.verifySignature(key) {
		return false
	}
	e.verifiedBy = slices.Clone(key)
	return true
}
