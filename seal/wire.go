package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// Type-and-version tags. Every encoding starts with one (as a u8-length-prefixed ASCII string),
// so a credential can never be parsed as a receipt, and a v2 can coexist with v1.
const (
	tagRootKey    = "backchannel/root-key/v1"
	tagRootSecret = "backchannel/root-secret/v1"
	tagCredential = "backchannel/credential/v1"
	tagRevocation = "backchannel/revocation/v1"
	tagIdentity   = "backchannel/identity-secret/v1"
	tagMessage    = "backchannel/message/v1"
	tagEnvelope   = "backchannel/envelope/v1"
	tagReceipt    = "backchannel/receipt/v1"
	tagAct        = "backchannel/act/v1"
)

// Domain-separation strings. A signature covers one of these followed by the exact encoded
// bytes it signs, so a signature made for one purpose can never be replayed as another, even
// by a future format whose bytes happen to collide.
const (
	domainCredential  = "backchannel signature: credential/v1\x00"
	domainRevocation  = "backchannel signature: revocation/v1\x00"
	domainMessage     = "backchannel signature: message/v1\x00"
	domainEnvelope    = "backchannel signature: envelope/v1\x00"
	domainReceipt     = "backchannel signature: receipt/v1\x00"
	domainAct         = "backchannel signature: act/v1\x00"
	domainFingerprint = "backchannel fingerprint: root-key/v1\x00"
	domainWrap        = "backchannel wrap: envelope/v1\x00"
	domainCommit      = "backchannel key commitment: envelope/v1\x00"
)

// Limits that bound what a parser will accept, so no input can make it allocate without bound.
const (
	// MaxTextLen bounds a display name or title, in bytes of UTF-8.
	MaxTextLen = 256
	// MaxTopics bounds the topics a message carries.
	MaxTopics = 16
	// MaxRecipients bounds the principals an envelope is sealed to.
	MaxRecipients = 64
	// MaxBodyLen bounds a message body (and an act payload) in bytes.
	MaxBodyLen = 1 << 20
	// MaxRelayLinks bounds the envelopes one summary relay may link to.
	MaxRelayLinks = 64
)

// Hash is a SHA-256 digest naming an encoded object: an envelope (for idempotency, receipts,
// reply-to and relay links) or anything else the record refers to by content.
type Hash [32]byte

// IsZero reports whether h is all zeros, the encoding of "no hash" (no reply-to).
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns h in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// CredentialID names a credential: the SHA-256 of its full encoding, signature included. Headers
// and signed messages name credentials by id, so the id commits to every field (rank, keys,
// validity) and no look-alike credential can stand in for it.
type CredentialID [32]byte

// String returns id in lower-case hex.
func (id CredentialID) String() string { return hex.EncodeToString(id[:]) }

// ParseCredentialID parses the hex form returned by CredentialID.String.
func ParseCredentialID(s string) (CredentialID, error) {
	var id CredentialID
	if len(s) != 64 {
		return id, malformed("credential id", "%d hex digits, want 64", len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || id.String() != s {
		return id, malformed("credential id", "not lower-case hex")
	}
	return id, nil
}

func addTag(b *cryptobyte.Builder, tag string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(tag)) })
}

func addString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

func addString16(b *cryptobyte.Builder, s string) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// addTime encodes t as Unix milliseconds in a u64. Callers validate t first with checkTime.
func addTime(b *cryptobyte.Builder, t time.Time) { b.AddUint64(uint64(t.UnixMilli())) }

// maxTimeMillis bounds encoded times (about 146 million years from 1970), keeping the
// conversion between u64 and int64 exact in both directions.
const maxTimeMillis = 1 << 62

// checkTime refuses times that the encoding cannot carry: before 1970 (the u64 would wrap) or
// beyond maxTimeMillis.
func checkTime(what string, t time.Time) error {
	if ms := t.UnixMilli(); ms < 0 || ms > maxTimeMillis || t.Year() > 1<<20 {
		return fmt.Errorf("seal: %s %s is outside 1970..%d", what, t, 1<<20)
	}
	return nil
}

// checkText validates a display name or title: non-empty, valid UTF-8, no control characters
// (which could hide or reorder what a reader sees), at most MaxTextLen bytes.
func checkText(what, s string) error {
	if s == "" || len(s) > MaxTextLen {
		return fmt.Errorf("%s is %d bytes, want 1 to %d", what, len(s), MaxTextLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return fmt.Errorf("%s contains control character %U", what, r)
		}
	}
	return nil
}

// reader parses one format with a sticky error, so decoders read as a list of fields and stop at
// the first defect, reported with the format's name.
type reader struct {
	s      cryptobyte.String
	format string
	err    error
}

func newReader(format string, b []byte) *reader { return &reader{s: b, format: format} }

func (r *reader) fail(detail string, args ...any) {
	if r.err == nil {
		r.err = malformed(r.format, detail, args...)
	}
}

func (r *reader) tag(want string) {
	var t cryptobyte.String
	if r.err == nil && (!r.s.ReadUint8LengthPrefixed(&t) || string(t) != want) {
		r.fail("not a %s (wrong type or version tag)", want)
	}
}

func (r *reader) string8(what string) string {
	var t cryptobyte.String
	if r.err == nil && !r.s.ReadUint8LengthPrefixed(&t) {
		r.fail("truncated %s", what)
	}
	return string(t)
}

func (r *reader) id(what string) string {
	s := r.string8(what)
	if r.err == nil {
		if err := backchannel.CheckID(what, s); err != nil {
			r.fail("%v", err)
		}
	}
	return s
}

func (r *reader) text(what string) string {
	var t cryptobyte.String
	if r.err == nil && !r.s.ReadUint16LengthPrefixed(&t) {
		r.fail("truncated %s", what)
	}
	s := string(t)
	if r.err == nil {
		if err := checkText(what, s); err != nil {
			r.fail("%v", err)
		}
	}
	return s
}

func (r *reader) u8(what string) uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

func (r *reader) u32(what string) uint32 {
	var v uint32
	if r.err == nil && !r.s.ReadUint32(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

func (r *reader) u64(what string) uint64 {
	var v uint64
	if r.err == nil && !r.s.ReadUint64(&v) {
		r.fail("truncated %s", what)
	}
	return v
}

// fixed returns the next n bytes, aliasing the input.
func (r *reader) fixed(what string, n int) []byte {
	var v []byte
	if r.err == nil && !r.s.ReadBytes(&v, n) {
		r.fail("truncated %s", what)
	}
	return v
}

func (r *reader) hash(what string) (h [32]byte) {
	copy(h[:], r.fixed(what, 32))
	return h
}

func (r *reader) time(what string) time.Time {
	v := r.u64(what)
	if r.err == nil && v > maxTimeMillis {
		// Far beyond any real date; refusing it keeps the int64 conversion exact.
		r.fail("%s %d out of range", what, v)
	}
	return time.UnixMilli(int64(v)).UTC()
}

// prefixed reads a length-prefixed field of 1, 2, 3 or 4 length bytes.
func (r *reader) prefixed(what string, lenBytes int) cryptobyte.String {
	var t cryptobyte.String
	if r.err != nil {
		return nil
	}
	var ok bool
	switch lenBytes {
	case 1:
		ok = r.s.ReadUint8LengthPrefixed(&t)
	case 2:
		ok = r.s.ReadUint16LengthPrefixed(&t)
	case 3:
		ok = r.s.ReadUint24LengthPrefixed(&t)
	default:
		// cryptobyte has no u32-prefixed reader; bound n before reading.
		var n uint32
		var v []byte
		ok = r.s.ReadUint32(&n) && int64(n) <= int64(len(r.s)) && r.s.ReadBytes(&v, int(n))
		t = v
	}
	if !ok {
		r.fail("truncated %s", what)
	}
	return t
}

// offset reports how many bytes of in have been consumed, to slice out signed prefixes.
func (r *reader) offset(in []byte) int { return len(in) - len(r.s) }

func (r *reader) end() {
	if r.err == nil && !r.s.Empty() {
		r.fail("%d trailing bytes", len(r.s))
	}
}

// signedBytes returns domain || body in one fresh buffer for Ed25519.
func signedBytes(domain string, body []byte) []byte {
	m := make([]byte, 0, len(domain)+len(body))
	m = append(m, domain...)
	return append(m, body...)
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
