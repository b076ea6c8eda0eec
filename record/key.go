package record

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Signed-note key algorithm identifiers (C2SP signed-note).
const (
	algEd25519              = 0x01
	algEd25519CosignatureV1 = 0x04
)

// LogKey is the server's Ed25519 log key. One key signs the logs of every talks on a host; each
// log's checkpoints are signed under a key name equal to that log's origin, so the verifier key
// of a log names the log it may sign for, and a checkpoint of one talks cannot pass for another's.
type LogKey struct {
	priv ed25519.PrivateKey
}

// NewLogKey wraps an Ed25519 private key as the server's log key. The key is used as is; the
// caller keeps it secret and stable, since parties pin its public half.
func NewLogKey(priv ed25519.PrivateKey) (*LogKey, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("record: log key is %d bytes, want an Ed25519 private key of %d", len(priv), ed25519.PrivateKeySize)
	}
	return &LogKey{priv: priv}, nil
}

// PublicKey returns the public half of the log key.
func (k *LogKey) PublicKey() ed25519.PublicKey {
	return k.priv.Public().(ed25519.PublicKey)
}

// Signer returns the signed-note signer for the log with the given origin: the log key under
// the key name origin.
func (k *LogKey) Signer(origin string) (note.Signer, error) {
	if !validKeyName(origin) {
		return nil, fmt.Errorf("%w: %q is not a valid key name", ErrMalformed, origin)
	}
	pub := append([]byte{algEd25519}, k.PublicKey()...)
	return &ed25519Signer{
		name: origin,
		hash: keyHash(origin, pub),
		sign: func(msg []byte) ([]byte, error) { return ed25519.Sign(k.priv, msg), nil },
	}, nil
}

// VerifierKey returns the standard signed-note verifier key ("<name>+<hash>+<key>") of the log
// key under name. The server publishes VerifierKey(host) once; parties pin it and derive each
// talks' log key with OriginVerifierKey. VerifierKey(origin) is that derived key.
func (k *LogKey) VerifierKey(name string) (string, error) {
	return note.NewEd25519VerifierKey(name, k.PublicKey())
}

// OriginVerifierKey derives, from a pinned Ed25519 verifier key published by a host (any key
// name), the verifier key of the log with the given origin: the same public key under the key
// name origin. A party pins one key per host and checks every talks' log on it.
func OriginVerifierKey(pinned, origin string) (string, error) {
	v, err := note.NewVerifier(pinned)
	if err != nil {
		return "", fmt.Errorf("%w: pinned log key: %v", ErrMalformed, err)
	}
	_, rest, _ := strings.Cut(pinned, "+")
	_, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algEd25519 {
		return "", fmt.Errorf("%w: pinned log key %q of %s is not an Ed25519 key", ErrMalformed, pinned, v.Name())
	}
	if !validKeyName(origin) {
		return "", fmt.Errorf("%w: %q is not a valid key name", ErrMalformed, origin)
	}
	return note.NewEd25519VerifierKey(origin, ed25519.PublicKey(key[1:]))
}

// ed25519Signer is a note.Signer over an in-memory key. x/mod's note.NewSigner only takes the
// "PRIVATE+KEY+…" string form; building the signer from the key spares the server from ever
// formatting its key as text.
type ed25519Signer struct {
	name string
	hash uint32
	sign func([]byte) ([]byte, error)
}

func (s *ed25519Signer) Name() string                    { return s.name }
func (s *ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return s.sign(msg) }

// keyHash is the signed-note key ID: the first four bytes of SHA-256(name || "\n" || alg || key).
func keyHash(name string, algKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(algKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// validKeyName is the signed-note rule: non-empty UTF-8 without Unicode spaces or '+'. We are
// stricter and take printable ASCII only, which every name we make (origins, cosigner names)
// satisfies.
func validKeyName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '+' {
			return false
		}
	}
	return true
}
