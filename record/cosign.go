package record

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Cosigner is a party's C2SP tlog-cosignature/v1 signer with an Ed25519 key. A party's client
// cosigns a checkpoint only after verifying that it extends every checkpoint it saw before; the
// cosignature is the party's public statement "this is the history I was shown", which the
// server must then never contradict.
//
// github.com/transparency-dev/formats/note has a cosignature/v1 signer, but it reads the clock
// itself and pulls an ML-DSA module this build does not carry; this one takes the time as an
// argument and is tested against the specification's message format.
type Cosigner struct {
	name string
	key  crypto.Signer
	pub  ed25519.PublicKey
	hash uint32
}

// NewCosigner returns the cosigner named name (a signed-note key name, for instance the
// party's organisation ID) that signs with key, an Ed25519 key: an ed25519.PrivateKey, or a
// signer that holds the key elsewhere and signs only cosignature/v1 messages (as a principal's
// identity does, so that this package never sees a private key it does not need). The
// "cosignature/v1" prefix of the signed message keeps its signatures apart from any other use
// of the key.
func NewCosigner(name string, key crypto.Signer) (*Cosigner, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("%w: cosigner name %q is not a valid key name", ErrMalformed, name)
	}
	if key == nil {
		return nil, errors.New("record: cosigner without a key")
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("record: cosigner key is a %T, want an Ed25519 key", key.Public())
	}
	k := append([]byte{algEd25519CosignatureV1}, pub...)
	return &Cosigner{name: name, key: key, pub: pub, hash: keyHash(name, k)}, nil
}

// Name returns the cosigner's key name.
func (c *Cosigner) Name() string { return c.name }

// VerifierKey returns the cosigner's verifier key, "<name>+<hash>+<base64(0x04 || key)>", the
// form C2SP tlog-cosignature gives Ed25519 cosigners. The server and the other parties pin it.
func (c *Cosigner) VerifierKey() string {
	vk, _ := CosignerVerifierKey(c.name, c.pub)
	return vk
}

// CosignerVerifierKey returns the verifier key of the cosigner with the given name and Ed25519
// public key, without its private key: what a server or another party pins for a cosigner it
// knows from a credential.
func CosignerVerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	if !validKeyName(name) {
		return "", fmt.Errorf("%w: cosigner name %q is not a valid key name", ErrMalformed, name)
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: cosigner key is %d bytes, want an Ed25519 public key", ErrMalformed, len(pub))
	}
	k := append([]byte{algEd25519CosignatureV1}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, k), base64.StdEncoding.EncodeToString(k)), nil
}

// Cosign returns a signed note of the checkpoint cp carrying only this cosigner's signature,
// timestamped t (whole seconds). It checks nothing: the caller (Verifier.Cosign) cosigns only
// what it verified.
func (c *Cosigner) Cosign(cp Checkpoint, t time.Time) ([]byte, error) {
	if t.Unix() < 0 {
		return nil, fmt.Errorf("record: cosignature time %v is before 1970", t)
	}
	ts := uint64(t.Unix())
	s := &ed25519Signer{name: c.name, hash: c.hash, sign: func(msg []byte) ([]byte, error) {
		sig := binary.BigEndian.AppendUint64(make([]byte, 0, 8+ed25519.SignatureSize), ts)
		// Ed25519 signs the message itself, not a digest: crypto.Hash(0).
		s, err := c.key.Sign(nil, cosignedMessage(ts, msg), crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("record: cosign: %w", err)
		}
		return append(sig, s...), nil
	}}
	return note.Sign(&note.Note{Text: string(cp.Body())}, s)
}

// cosignedMessage is what a cosignature/v1 signature signs: a header naming the scheme and the
// time, then the checkpoint body.
func cosignedMessage(t uint64, body []byte) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t), body...)
}

// NewCosignatureVerifier returns the verifier of a cosigner's cosignature/v1 signatures from
// its verifier key (algorithm 0x04, as Cosigner.VerifierKey makes).
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if !validKeyName(name) || len(hash16) != 8 || err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algEd25519CosignatureV1 {
		return nil, fmt.Errorf("%w: %q is not an Ed25519 cosignature/v1 verifier key", ErrMalformed, vkey)
	}
	h := keyHash(name, key)
	if fmt.Sprintf("%08x", h) != hash16 {
		return nil, fmt.Errorf("%w: cosigner key %q has the wrong key hash", ErrMalformed, vkey)
	}
	return &cosigVerifier{name: name, hash: h, pub: ed25519.PublicKey(key[1:])}, nil
}

type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(binary.BigEndian.Uint64(sig), msg), sig[8:])
}

// CosignatureTime returns the time a cosignature/v1 signature carries.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return time.Time{}, fmt.Errorf("%w: %s's signature is not a cosignature/v1", ErrMalformed, sig.Name)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), 0).UTC(), nil
}

// AddCosignature is the server's collection step: it verifies the cosignature note cosigned
// (a signed note of the same checkpoint, by keys in cosigners) and returns the checkpoint note
// with those cosignatures added to the ones it carried, replacing an older signature by the
// same key. The log's signature on checkpoint is verified too, so only a checkpoint the server
// itself signed is ever presented with cosignatures.
func AddCosignature(checkpoint []byte, origin string, log note.Verifier, cosigned []byte, cosigners note.Verifiers) ([]byte, error) {
	_, n, err := OpenCheckpoint(checkpoint, origin, log)
	if err != nil {
		return nil, err
	}
	cn, err := note.Open(cosigned, cosigners)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, fmt.Errorf("%w: cosignature: %v", ErrBadSignature, err)
		}
		return nil, fmt.Errorf("%w: cosignature note: %v", ErrMalformed, err)
	}
	if cn.Text != n.Text {
		return nil, fmt.Errorf("%w: the cosignature is for another checkpoint than the one presented", ErrMalformed)
	}
	type keyID struct {
		name string
		hash uint32
	}
	fresh := map[keyID]bool{}
	for _, s := range cn.Sigs {
		fresh[keyID{s.Name, s.Hash}] = true
	}
	out := &note.Note{Text: n.Text, Sigs: n.Sigs}
	for _, s := range n.UnverifiedSigs {
		if !fresh[keyID{s.Name, s.Hash}] {
			out.Sigs = append(out.Sigs, s)
		}
	}
	out.Sigs = append(out.Sigs, cn.Sigs...)
	msg, err := note.Sign(out)
	if err != nil {
		return nil, fmt.Errorf("record: encode cosigned checkpoint: %w", err)
	}
	if len(msg) > MaxCheckpointSize {
		return nil, fmt.Errorf("record: cosigned checkpoint would be %d bytes, over %d", len(msg), MaxCheckpointSize)
	}
	return msg, nil
}

// Cosigners returns the names of the cosigners in verifiers whose valid signatures the
// checkpoint note msg carries, in the note's order.
func Cosigners(msg []byte, verifiers note.Verifiers) []string {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return nil
	}
	var names []string
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	return names
}
