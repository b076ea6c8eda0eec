package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/sha256"
	"slices"
)

// The body is encrypted once, under a fresh 32-byte content key, with AES-256-GCM and an
// all-zero nonce: each key encrypts exactly one message, so a fixed nonce is safe (as in age)
// and spares 12 bytes. The content key is wrapped for each recipient with HPKE (base mode) and
// the v1 suite; both layers take the header hash as associated data, so a wrapped key or a
// ciphertext only opens inside the envelope it was made for.

var zeroNonce [12]byte

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapInfo is the HPKE info string: a domain string and the header hash.
func wrapInfo(headerHash *[32]byte) []byte { return signedBytes(domainWrap, headerHash[:]) }

// wrapKey seals the content key to one recipient's encryption key. The result is the X-Wing
// encapsulation followed by the HPKE ciphertext, wrapLen bytes.
func wrapKey(pk hpke.PublicKey, info, key []byte) ([]byte, error) {
	return hpke.Seal(pk, suiteKDF, suiteAEAD, info, key)
}

// unwrapKey opens one wrapped content key with the recipient's decryption key.
func unwrapKey(k hpke.PrivateKey, info, wrapped []byte) ([]byte, error) {
	return hpke.Open(k, suiteKDF, suiteAEAD, info, wrapped)
}

// commitLen is the size of the content key's commitment at the head of the ciphertext field.
const commitLen = 32

// keyCommitment commits to the content key and the header: AES-GCM alone does not, so without
// it a sender could craft one ciphertext that opens to two signed messages under two keys, and
// later disclose to an arbitrator a key that shows words its recipients never read.
func keyCommitment(key []byte, headerHash *[32]byte) [32]byte {
	return sha256.Sum256(signedBytes(domainCommit, append(slices.Clone(key), headerHash[:]...)))
}
