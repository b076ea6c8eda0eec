package seal

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/backchannel/backchannel/record"
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

// Cosigner returns a C2SP tlog-cosignature/v1 signer with the identity key, under
// CosignerName. A cosignature message begins "cosignature/v1\n", never a "backchannel
// signature:" domain string, so it can be mistaken for no other signature of the key.
func (id *Identity) Cosigner() (*record.Cosigner, error) {
	if id.cred == nil {
		return nil, errors.New("seal: cosigner: identity has no credential")
	}
	return record.NewCosigner(CosignerName(id.cred), id.signer)
}

// CosignerVerifierKey returns the signed-note verifier key of the cosignatures of c's holder.
func CosignerVerifierKey(c *Credential) (string, error) {
	return record.CosignerVerifierKey(CosignerName(c), c.IdentityKey)
}
