package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// The HPKE ciphersuite of v1: X-Wing (ML-KEM-768 + X25519, KEM 0x647a), HKDF-SHA256, AES-256-GCM.
// It is fixed by the format version, never negotiated, so there is nothing to downgrade.
var (
	suiteKEM  = hpke.MLKEM768X25519()
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.AES256GCM()
)

const (
	// encryptionKeyLen is the size of an X-Wing public key (ML-KEM-768 1184 + X25519 32).
	encryptionKeyLen = 1216
	// encryptionSeedLen is the size of an X-Wing private key, a seed.
	encryptionSeedLen = 32
	sigLen            = ed25519.SignatureSize
)

// Credential is a principal's certificate, signed by its organisation's Root: who the principal
// is, how much authority it holds, its keys, and when the credential is valid.
//
// A Credential returned by ParseCredential or Root.Issue is immutable: its fields describe the
// signed bytes, and changing them changes nothing that Marshal or ID return. A zero-ish
// Credential with only the exported fields set serves as a template for Root.Issue.
type Credential struct {
	Org           string            // organisation id (set by the issuing root)
	Principal     string            // stable principal id within the organisation
	Name          string            // display name, e.g. "Office of the Foreign Minister"
	Title         string            // title, e.g. "Foreign Minister"
	Rank          backchannel.Rank  // authority level 1..5, 5 highest
	IdentityKey   ed25519.PublicKey // signs messages, envelopes, receipts and acts
	EncryptionKey []byte            // X-Wing HPKE public key, 1216 bytes
	Serial        uint64            // increases with each rotation of the principal's credential
	NotBefore     time.Time         // first instant of validity (millisecond precision)
	NotAfter      time.Time         // last instant of validity (millisecond precision)

	raw    []byte // full encoding, signature included
	signed []byte // domainCredential || raw without the signature, sharing raw's memory
	id     CredentialID
	enc    *encryptionKey
}

// encryptionKey is a credential's parsed HPKE public key, made on first use.
type encryptionKey struct {
	once sync.Once
	pk   hpke.PublicKey
	err  error
}

// hpkeKey returns the credential's parsed HPKE public key.
func (c *Credential) hpkeKey() (hpke.PublicKey, error) {
	if c.enc == nil {
		return nil, fmt.Errorf("seal: credential %s was not parsed", c)
	}
	c.enc.once.Do(func() { c.enc.pk, c.enc.err = suiteKEM.NewPublicKey(c.EncryptionKey) })
	return c.enc.pk, c.enc.err
}

// checkEncryptionKey applies the checks of FIPS 203 (section 7.2) to the ML-KEM-768 part of an
// X-Wing public key (the first 1184 bytes; the last 32 are an X25519 key, any value of which is
// accepted): every 12-bit coefficient of the 1152-byte vector must be below q = 3329, so that
// the key has exactly one encoding.
func checkEncryptionKey(k []byte) error {
	if len(k) != encryptionKeyLen {
		return fmt.Errorf("encryption key is %d bytes, want %d", len(k), encryptionKeyLen)
	}
	for i := 0; i < 1152; i += 3 {
		d1 := uint16(k[i]) | uint16(k[i+1]&0x0f)<<8
		d2 := uint16(k[i+1])>>4 | uint16(k[i+2])<<4
		if d1 >= 3329 || d2 >= 3329 {
			return fmt.Errorf("encryption key has a non-canonical ML-KEM coefficient at byte %d", i)
		}
	}
	return nil
}

// check validates the fields that the encoding carries.
func (c *Credential) check() error {
	if err := backchannel.CheckID("organisation", c.Org); err != nil {
		return err
	}
	if err := backchannel.CheckID("principal", c.Principal); err != nil {
		return err
	}
	if err := checkOrgID(c.Org); err != nil {
		return err
	}
	if err := backchannel.CheckID("handle", c.Handle()); err != nil {
		return err
	}
	if err := checkText("name", c.Name); err != nil {
		return err
	}
	if err := checkText("title", c.Title); err != nil {
		return err
	}
	if !c.Rank.Valid() {
		return fmt.Errorf("rank %d outside %d..%d", c.Rank, backchannel.RankMin, backchannel.RankMax)
	}
	if len(c.IdentityKey) != ed25519.PublicKeySize {
		return fmt.Errorf("identity key is %d bytes, want %d", len(c.IdentityKey), ed25519.PublicKeySize)
	}
	if len(c.EncryptionKey) != encryptionKeyLen {
		return fmt.Errorf("encryption key is %d bytes, want %d", len(c.EncryptionKey), encryptionKeyLen)
	}
	if c.Serial == 0 {
		return fmt.Errorf("serial is 0; serials start at 1")
	}
	if err := checkTime("not-before", c.NotBefore); err != nil {
		return err
	}
	if !c.NotAfter.After(c.NotBefore) {
		return fmt.Errorf("not-after %s is not after not-before %s", c.NotAfter, c.NotBefore)
	}
	return nil
}

// addTBS encodes everything the root signs: all of the credential but the signature.
func (c *Credential) addTBS(b *cryptobyte.Builder) {
	addTag(b, tagCredential)
	addString8(b, c.Org)
	addString8(b, c.Principal)
	addString16(b, c.Name)
	addString16(b, c.Title)
	b.AddUint8(uint8(c.Rank))
	b.AddBytes(c.IdentityKey)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c.EncryptionKey) })
	b.AddUint64(c.Serial)
	addTime(b, c.NotBefore)
	addTime(b, c.NotAfter)
}

// ParseCredential parses an encoded credential strictly. It checks the encoding only: whether
// a pinned root signed it is for Trust.VerifyCredential or Trust.AddCredential to decide.
func ParseCredential(b []byte) (*Credential, error) {
	r := newReader("credential", b)
	r.tag(tagCredential)
	c := &Credential{
		Org:       r.id("organisation"),
		Principal: r.id("principal"),
		Name:      r.text("name"),
		Title:     r.text("title"),
		Rank:      backchannel.Rank(r.u8("rank")),
	}
	c.IdentityKey = ed25519.PublicKey(r.fixed("identity key", ed25519.PublicKeySize))
	c.EncryptionKey = r.prefixed("encryption key", 2)
	c.Serial = r.u64("serial")
	c.NotBefore = r.time("not-before")
	c.NotAfter = r.time("not-after")
	r.fixed("signature", sigLen)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	if err := c.check(); err != nil {
		return nil, malformed("credential", "%v", err)
	}
	// Keep our own copy so the caller may reuse b, behind the signature's domain string so that
	// verifying needs no second copy, and point the key fields into it.
	signed := make([]byte, 0, len(domainCredential)+len(b))
	signed = append(append(signed, domainCredential...), b...)
	c.raw = signed[len(domainCredential):]
	c.signed = signed[:len(signed)-sigLen]
	off := len(b) - sigLen - 8 - 8 - 8 - 2 - encryptionKeyLen - ed25519.PublicKeySize
	c.IdentityKey = c.raw[off : off+ed25519.PublicKeySize : off+ed25519.PublicKeySize]
	off += ed25519.PublicKeySize + 2
	c.EncryptionKey = c.raw[off : off+encryptionKeyLen : off+encryptionKeyLen]
	c.id = CredentialID(sha(c.raw))
	// Check the key as strictly as crypto/hpke will, but cheaply: expanding the ML-KEM key
	// costs more than the rest of parsing, and is done once, when the first envelope is
	// sealed to this credential.
	if err := checkEncryptionKey(c.EncryptionKey); err != nil {
		return nil, malformed("credential", "%v", err)
	}
	c.enc = &encryptionKey{}
	return c, nil
}

// Marshal returns the credential's encoding, signature included.
func (c *Credential) Marshal() []byte { return bytes.Clone(c.raw) }

// ID returns the credential's id, the SHA-256 of its encoding.
func (c *Credential) ID() CredentialID { return c.id }

// ValidAt reports whether t falls within the credential's validity period, inclusive.
func (c *Credential) ValidAt(t time.Time) bool {
	return !t.Before(c.NotBefore) && !t.After(c.NotAfter)
}

// String names the credential for logs and errors: org/principal#serial (title).
func (c *Credential) String() string {
	return fmt.Sprintf("%s/%s#%d (%s)", c.Org, c.Principal, c.Serial, c.Title)
}

func (c *Credential) signature() []byte { return c.raw[len(c.raw)-sigLen:] }

// Revocation is an organisation root's signed statement that one credential must no longer be
// trusted (a lost device, a principal who left office).
type Revocation struct {
	Org        string       // organisation id
	Principal  string       // the principal whose credential is revoked
	Serial     uint64       // that credential's serial
	Credential CredentialID // that credential's id
	RevokedAt  time.Time    // when the root revoked it (millisecond precision)

	raw []byte
}

func (v *Revocation) addTBS(b *cryptobyte.Builder) {
	addTag(b, tagRevocation)
	addString8(b, v.Org)
	addString8(b, v.Principal)
	b.AddUint64(v.Serial)
	b.AddBytes(v.Credential[:])
	addTime(b, v.RevokedAt)
}

// ParseRevocation parses an encoded revocation strictly; Trust.AddRevocation verifies it.
func ParseRevocation(b []byte) (*Revocation, error) {
	r := newReader("revocation", b)
	r.tag(tagRevocation)
	v := &Revocation{Org: r.id("organisation"), Principal: r.id("principal"), Serial: r.u64("serial")}
	v.Credential = r.hash("credential id")
	v.RevokedAt = r.time("revoked-at")
	r.fixed("signature", sigLen)
	r.end()
	if r.err == nil && v.Serial == 0 {
		r.fail("serial is 0")
	}
	if r.err != nil {
		return nil, r.err
	}
	v.raw = bytes.Clone(b)
	return v, nil
}

// Marshal returns the revocation's encoding, signature included.
func (v *Revocation) Marshal() []byte { return bytes.Clone(v.raw) }

// Handle is a principal's name across organisations, "<org>:<principal>": principal ids are
// unique only within their organisation, so the talks, where several organisations sit
// together, know each principal by its handle.
func Handle(org, principal string) string { return org + ":" + principal }

// SplitHandle splits a handle into its organisation and principal ids.
func SplitHandle(h string) (org, principal string, ok bool) {
	return strings.Cut(h, ":")
}

// Handle returns the handle of the credential's principal.
func (c *Credential) Handle() string { return Handle(c.Org, c.Principal) }
