package seal

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
)

// domainLogin separates login signatures from every other signature of an identity key.
const domainLogin = "backchannel signature: login/v1\x00"

// maxLoginField bounds the host and challenge of a login.
const maxLoginField = 512

// loginMessage is what a login signature covers: the domain string, then the host and the
// challenge, each with a 2-byte big-endian length, so that no host/challenge pair can be read
// as another.
func loginMessage(host, challenge string) ([]byte, error) {
	if host == "" || len(host) > maxLoginField || challenge == "" || len(challenge) > maxLoginField {
		return nil, fmt.Errorf("seal: login: host and challenge must be 1 to %d bytes", maxLoginField)
	}
	m := make([]byte, 0, len(domainLogin)+4+len(host)+len(challenge))
	m = append(m, domainLogin...)
	m = append(m, byte(len(host)>>8), byte(len(host)))
	m = append(m, host...)
	m = append(m, byte(len(challenge)>>8), byte(len(challenge)))
	return append(m, challenge...), nil
}

// SignLogin signs a server's login challenge, proving to that host that the caller holds the
// identity key of its credential. The host name is signed too, so a signature collected by one
// host cannot log in to another.
func (id *Identity) SignLogin(host, challenge string) ([]byte, error) {
	m, err := loginMessage(host, challenge)
	if err != nil {
		return nil, err
	}
	return id.sign(m), nil
}

// VerifyLogin checks a login signature by the identity key of c. The caller also checks that c
// chains to a root it trusts and is valid now.
func VerifyLogin(c *Credential, host, challenge string, sig []byte) error {
	m, err := loginMessage(host, challenge)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(c.IdentityKey, m, sig) {
		return fmt.Errorf("seal: login of %s: %w", c, ErrTampered)
	}
	return nil
}

// CosignerName is the signed-note key name under which a principal cosigns checkpoints:
// "<org>/<principal>".
func CosignerName(c *Credential) string { return c.Org + "/" + c.Principal }

// cosignaturePrefix begins every C2SP tlog-cosignature/v1 signed message. It never begins a
// "backchannel signature:" domain string, so a message with it is no other signature of the key.
const cosignaturePrefix = "cosignature/v1\n"

// CosignatureSigner returns a signer with the identity key for C2SP tlog-cosignature/v1
// messages, and for nothing else: it refuses any message that does not begin
// "cosignature/v1\n", so that handing it to a cosigner (record.NewCosigner) lends the key for
// cosigning checkpoints only, never for a login, an act or an envelope.
func (id *Identity) CosignatureSigner() crypto.Signer { return cosignatureSigner{id.signer} }

type cosignatureSigner struct{ key ed25519.PrivateKey }

func (s cosignatureSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s cosignatureSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("seal: a cosignature signs the message itself, not a digest")
	}
	if !strings.HasPrefix(string(msg), cosignaturePrefix) {
		return nil, errors.New("seal: the identity key signs only cosignature/v1 messages through this signer")
	}
	return ed25519.Sign(s.key, msg), nil
}
