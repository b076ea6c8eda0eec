package seal

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Trust is a verifier's view of who may speak: the pinned roots of the organisations taking
// part, the credentials they issued (verified once, on entry), and their revocations. The server
// keeps one per talks; so does each client. It is safe for concurrent use.
type Trust struct {
	mu      sync.RWMutex
	roots   map[string]RootKey
	creds   map[CredentialID]*Credential
	revoked map[CredentialID]*Revocation
	latest  map[[2]string]*Credential
}

// Clone returns a copy of the trust that later changes to either do not reach the other. The
// keys and credentials themselves are immutable, and shared.
func (t *Trust) Clone() *Trust {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return &Trust{
		roots:   maps.Clone(t.roots),
		creds:   maps.Clone(t.creds),
		revoked: maps.Clone(t.revoked),
		latest:  maps.Clone(t.latest),
	}
}

// NewTrust pins the given roots, at most one per organisation. Pinning is the moment to compare
// each root's Fingerprint with what the organisation announced through another channel.
func NewTrust(roots ...RootKey) (*Trust, error) {
	t := &Trust{
		roots:   make(map[string]RootKey, len(roots)),
		creds:   make(map[CredentialID]*Credential),
		revoked: make(map[CredentialID]*Revocation),
		latest:  make(map[[2]string]*Credential),
	}
	for _, k := range roots {
		if err := k.check(); err != nil {
			return nil, err
		}
		if _, dup := t.roots[k.Org]; dup {
			return nil, fmt.Errorf("seal: trust: two roots pinned for organisation %s", k.Org)
		}
		t.roots[k.Org] = RootKey{Org: k.Org, Key: append(ed25519.PublicKey(nil), k.Key...)}
	}
	return t, nil
}

// Pin pins one more root, as when the parties invite a mediator after the talks began. A root
// already pinned for the organisation may be pinned again, unchanged; another is refused.
func (t *Trust) Pin(k RootKey) error {
	if err := k.check(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.roots[k.Org]; ok {
		if !old.Key.Equal(k.Key) {
			return fmt.Errorf("seal: trust: %w: organisation %s already has root %s pinned, not %s",
				ErrUntrustedRoot, k.Org, old.Fingerprint().Short(), k.Fingerprint().Short())
		}
		return nil
	}
	t.roots[k.Org] = RootKey{Org: k.Org, Key: append(ed25519.PublicKey(nil), k.Key...)}
	return nil
}

// verifyChain checks that c is signed by the pinned root of its organisation.
func (t *Trust) verifyChain(c *Credential) error {
	t.mu.RLock()
	root, ok := t.roots[c.Org]
	t.mu.RUnlock()
	if !ok {
		return fmt.Errorf("seal: credential %s: %w: no root pinned for organisation %s", c, ErrUntrustedRoot, c.Org)
	}
	if !ed25519.Verify(root.Key, c.signed, c.signature()) {
		return fmt.Errorf("seal: credential %s: %w: signature does not verify under root %s", c, ErrUntrustedRoot, root.Fingerprint().Short())
	}
	return nil
}

// VerifyCredential checks c completely: signed by its organisation's pinned root, not revoked,
// and valid at the given time. It does not add c to t.
func (t *Trust) VerifyCredential(c *Credential, at time.Time) error {
	// A credential added to t had its chain verified on entry, and a pinned root never changes;
	// its id, the hash of its bytes, stands for that verification.
	t.mu.RLock()
	_, known := t.creds[c.id]
	t.mu.RUnlock()
	if !known {
		if err := t.verifyChain(c); err != nil {
			return err
		}
	}
	return t.status(c, at)
}

// status checks revocation and validity of a credential whose chain is already verified.
func (t *Trust) status(c *Credential, at time.Time) error {
	t.mu.RLock()
	v := t.revoked[c.id]
	t.mu.RUnlock()
	if v != nil {
		return fmt.Errorf("seal: credential %s: %w at %s", c, ErrRevoked, v.RevokedAt.Format(time.RFC3339))
	}
	if !c.ValidAt(at) {
		return fmt.Errorf("seal: credential %s: %w: %s is outside %s..%s", c, ErrExpired,
			at.UTC().Format(time.RFC3339), c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// AddCredential verifies that c is signed by its organisation's pinned root and remembers it,
// so envelopes, receipts and acts naming its id can be verified. An expired credential is
// accepted here (history signed while it was valid still verifies); its validity is checked
// against each use.
func (t *Trust) AddCredential(c *Credential) error {
	if err := t.verifyChain(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.creds[c.id] = c
	k := [2]string{c.Org, c.Principal}
	if cur := t.latest[k]; cur == nil || c.Serial > cur.Serial {
		t.latest[k] = c
	}
	return nil
}

// AddRevocation verifies that v is signed by the pinned root of its organisation and from then
// on refuses the credential it names.
func (t *Trust) AddRevocation(v *Revocation) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	root, ok := t.roots[v.Org]
	if !ok {
		return fmt.Errorf("seal: revocation of %s/%s: %w: no root pinned for organisation %s", v.Org, v.Principal, ErrUntrustedRoot, v.Org)
	}
	tbs := v.raw[:len(v.raw)-sigLen]
	if !ed25519.Verify(root.Key, signedBytes(domainRevocation, tbs), v.raw[len(v.raw)-sigLen:]) {
		return fmt.Errorf("seal: revocation of %s/%s: %w", v.Org, v.Principal, ErrUntrustedRoot)
	}
	t.revoked[v.Credential] = v
	return nil
}

// Credential returns the credential with the given id, if it was added.
func (t *Trust) Credential(id CredentialID) (*Credential, error) {
	t.mu.RLock()
	c := t.creds[id]
	t.mu.RUnlock()
	if c == nil {
		return nil, fmt.Errorf("seal: credential %s: %w", id, ErrUnknownCredential)
	}
	return c, nil
}

// Latest returns the added credential with the highest serial for a principal: after a
// rotation, the one to seal new messages to. It returns nil if there is none.
func (t *Trust) Latest(org, principal string) *Credential {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.latest[[2]string{org, principal}]
}

// Credentials returns every added credential of a principal, by ascending serial: the keys it
// signed with over time.
func (t *Trust) Credentials(org, principal string) []*Credential {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*Credential
	for _, c := range t.creds {
		if c.Org == org && c.Principal == principal {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Credential) int { return cmp.Compare(a.Serial, b.Serial) })
	return out
}

// use returns the credential with the given id after checking that it is usable at time at.
func (t *Trust) use(id CredentialID, at time.Time) (*Credential, error) {
	c, err := t.Credential(id)
	if err != nil {
		return nil, err
	}
	if err := t.status(c, at); err != nil {
		return nil, err
	}
	return c, nil
}
