package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// Identity holds a principal's private keys (the Ed25519 identity key and the X-Wing HPKE
// decryption key) and its current credential. It is the only type that touches private key
// material: everything that signs or decrypts on a principal's behalf is a method here.
type Identity struct {
	signer  ed25519.PrivateKey
	kemSeed []byte
	kem     hpke.PrivateKey
	cred    *Credential
}

// NewIdentity creates fresh keys, reading 32 bytes of Ed25519 seed and 32 bytes of X-Wing seed
// from rand. The identity has no credential until SetCredential is given one its root issued
// for IdentityKey and EncryptionKey.
func NewIdentity(rand io.Reader) (*Identity, error) {
	seeds := make([]byte, ed25519.SeedSize+encryptionSeedLen)
	if _, err := io.ReadFull(rand, seeds); err != nil {
		return nil, fmt.Errorf("seal: new identity: %w", err)
	}
	return newIdentity(seeds[:ed25519.SeedSize], seeds[ed25519.SeedSize:])
}

func newIdentity(signSeed, kemSeed []byte) (*Identity, error) {
	k, err := suiteKEM.NewPrivateKey(kemSeed)
	if err != nil {
		return nil, fmt.Errorf("seal: identity: encryption key: %w", err)
	}
	return &Identity{signer: ed25519.NewKeyFromSeed(signSeed), kemSeed: bytes.Clone(kemSeed), kem: k}, nil
}

// IdentityKey returns the public identity (signing) key, for the root to certify.
func (id *Identity) IdentityKey() ed25519.PublicKey {
	return id.signer.Public().(ed25519.PublicKey)
}

// EncryptionKey returns the public HPKE key, for the root to certify.
func (id *Identity) EncryptionKey() []byte { return id.kem.PublicKey().Bytes() }

// SetCredential makes c the identity's current credential, after checking that it certifies
// this identity's keys. Rotation is SetCredential with the newer credential.
func (id *Identity) SetCredential(c *Credential) error {
	if !bytes.Equal(c.IdentityKey, id.IdentityKey()) || !bytes.Equal(c.EncryptionKey, id.EncryptionKey()) {
		return fmt.Errorf("seal: set credential %s: %w", c, ErrKeyMismatch)
	}
	id.cred = c
	return nil
}

// Credential returns the identity's current credential, or nil if it has none.
func (id *Identity) Credential() *Credential { return id.cred }

// Marshal returns the identity's private encoding for a keystore, credential included. It is
// secret: encrypt it at rest.
func (id *Identity) Marshal() []byte {
	b := cryptobyte.NewBuilder(nil)
	addTag(b, tagIdentity)
	b.AddBytes(id.signer.Seed())
	b.AddBytes(id.kemSeed)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		if id.cred != nil {
			b.AddBytes(id.cred.raw)
		}
	})
	return b.BytesOrPanic()
}

// ParseIdentity parses the encoding returned by Identity.Marshal.
func ParseIdentity(b []byte) (*Identity, error) {
	r := newReader("identity secret", b)
	r.tag(tagIdentity)
	signSeed := r.fixed("identity seed", ed25519.SeedSize)
	kemSeed := r.fixed("encryption seed", encryptionSeedLen)
	credBytes := r.prefixed("credential", 3)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	id, err := newIdentity(signSeed, kemSeed)
	if err != nil {
		return nil, err
	}
	if len(credBytes) > 0 {
		c, err := ParseCredential(credBytes)
		if err != nil {
			return nil, err
		}
		if err := id.SetCredential(c); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// sign signs msg (a domain string followed by the encoded bytes) with the identity key.
func (id *Identity) sign(msg []byte) []byte { return ed25519.Sign(id.signer, msg) }
