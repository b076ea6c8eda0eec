package seal

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// RootKey is the public half of an organisation's root: the organisation's id bound to its
// Ed25519 root public key. Talks pin each organisation's RootKey by its Fingerprint; every
// credential of that organisation must verify against it.
type RootKey struct {
	Org string            // organisation id, a backchannel.CheckID identifier
	Key ed25519.PublicKey // 32 bytes
}

// Fingerprint returns the human-comparable fingerprint of k. It covers the organisation id as
// well as the key, so a look-alike root that claims the same id under another key, or the same
// key under another id, has a different fingerprint.
func (k RootKey) Fingerprint() Fingerprint {
	return Fingerprint(sha(signedBytes(domainFingerprint, k.Marshal())))
}

// Marshal returns the canonical encoding of k (see docs/protocol.md).
func (k RootKey) Marshal() []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 96))
	addTag(b, tagRootKey)
	addString8(b, k.Org)
	b.AddBytes(k.Key)
	return b.BytesOrPanic()
}

func (k RootKey) check() error {
	if err := backchannel.CheckID("organisation", k.Org); err != nil {
		return fmt.Errorf("seal: root key: %w", err)
	}
	if err := checkOrgID(k.Org); err != nil {
		return fmt.Errorf("seal: root key: %w", err)
	}
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("seal: root key of %s: %d bytes, want %d", k.Org, len(k.Key), ed25519.PublicKeySize)
	}
	return nil
}

// ParseRootKey parses an encoded RootKey, strictly.
func ParseRootKey(b []byte) (RootKey, error) {
	r := newReader("root key", b)
	r.tag(tagRootKey)
	k := RootKey{Org: r.id("organisation")}
	k.Key = ed25519.PublicKey(append([]byte(nil), r.fixed("key", ed25519.PublicKeySize)...))
	r.end()
	return k, r.err
}

// Fingerprint identifies a RootKey for people: SHA-256 over a domain string and the encoded
// root key. Compare fingerprints with Equal, out loud or side by side, as secure messengers
// compare safety numbers.
type Fingerprint [32]byte

// String returns the fingerprint as 30 decimal digits in six groups of five, each group taken
// from five bytes of the digest modulo 100000 (the scheme of Signal's safety numbers), about
// 100 bits in all: enough to defeat a search for a look-alike, short enough to read aloud.
func (f Fingerprint) String() string {
	var sb strings.Builder
	for i := 0; i < 6; i++ {
		var chunk [8]byte
		copy(chunk[3:], f[i*5:i*5+5])
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(chunk[:])%100000)
	}
	return sb.String()
}

// Short returns the first two groups of String, for a quick glance in a list. It is too short
// to pin a root: compare String (or the bytes) for that.
func (f Fingerprint) Short() string { return f.String()[:11] }

// Equal reports whether f and g are the same fingerprint, in constant time.
func (f Fingerprint) Equal(g Fingerprint) bool { return subtle.ConstantTimeCompare(f[:], g[:]) == 1 }

// Root is an organisation's root signing key: the one key that certifies its principals and
// revokes their credentials. Keep it offline; it signs rarely.
type Root struct {
	org  string
	priv ed25519.PrivateKey
}

// NewRoot creates a root for organisation org, reading a 32-byte Ed25519 seed from rand
// (crypto/rand.Reader in production, a fixed stream in tests).
func NewRoot(rand io.Reader, org string) (*Root, error) {
	if err := backchannel.CheckID("organisation", org); err != nil {
		return nil, fmt.Errorf("seal: new root: %w", err)
	}
	if err := checkOrgID(org); err != nil {
		return nil, fmt.Errorf("seal: new root: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("seal: new root: %w", err)
	}
	return &Root{org: org, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Public returns the RootKey to publish and pin.
func (r *Root) Public() RootKey {
	return RootKey{Org: r.org, Key: r.priv.Public().(ed25519.PublicKey)}
}

// Issue signs a credential for a principal of r's organisation. The template's Org is
// ignored (it is always r's); every other field is validated and certified as given. Rotation
// is a new Issue for the same principal with a higher Serial.
func (r *Root) Issue(template Credential) (*Credential, error) {
	c := template
	c.Org = r.org
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Millisecond)
	c.NotAfter = c.NotAfter.UTC().Truncate(time.Millisecond)
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("seal: issue credential: %w", err)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 1500))
	b.AddBytes([]byte(domainCredential))
	c.addTBS(b)
	signed := b.BytesOrPanic()
	sig := ed25519.Sign(r.priv, signed)
	return ParseCredential(append(signed, sig...)[len(domainCredential):])
}

// Revoke signs a revocation of credential c, effective at the given time. A revoked credential
// is refused for every purpose once a Trust has the revocation; the time is for the record.
func (r *Root) Revoke(c *Credential, at time.Time) (*Revocation, error) {
	if c.Org != r.org {
		return nil, fmt.Errorf("seal: revoke: credential of %s, not of %s", c.Org, r.org)
	}
	if err := checkTime("revocation time", at); err != nil {
		return nil, err
	}
	v := Revocation{Org: r.org, Principal: c.Principal, Serial: c.Serial, Credential: c.ID(),
		RevokedAt: at.UTC().Truncate(time.Millisecond)}
	b := cryptobyte.NewBuilder(make([]byte, 0, 200))
	b.AddBytes([]byte(domainRevocation))
	v.addTBS(b)
	signed := b.BytesOrPanic()
	sig := ed25519.Sign(r.priv, signed)
	return ParseRevocation(append(signed, sig...)[len(domainRevocation):])
}

// Marshal returns r's private encoding for a keystore. It is secret: encrypt it at rest.
func (r *Root) Marshal() []byte {
	b := cryptobyte.NewBuilder(nil)
	addTag(b, tagRootSecret)
	addString8(b, r.org)
	b.AddBytes(r.priv.Seed())
	return b.BytesOrPanic()
}

// ParseRoot parses the encoding returned by Root.Marshal.
func ParseRoot(b []byte) (*Root, error) {
	r := newReader("root secret", b)
	r.tag(tagRootSecret)
	org := r.id("organisation")
	seed := r.fixed("seed", ed25519.SeedSize)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	return &Root{org: org, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// checkOrgID refuses an organisation id with a ':', which separates it from the principal in a
// handle ("<org>:<principal>"), so that every handle splits one way.
func checkOrgID(org string) error {
	if strings.Contains(org, ":") {
		return fmt.Errorf("organisation %q has a ':', which handles reserve as their separator", org)
	}
	return nil
}
