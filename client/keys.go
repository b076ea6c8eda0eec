package client

import (
	"errors"
	"fmt"

	"github.com/backchannel/backchannel/seal"
)

// RetiredKeys finds the identity that held one of this principal's earlier credentials, cr,
// which a rotation replaced: what was sealed to cr opens only with it. A keystore keeps them
// (internal/keystore's RetiredIdentity).
type RetiredKeys func(cr *seal.Credential) (*seal.Identity, error)

// WithRetiredKeys makes the client open what was sealed to this principal's earlier credentials
// with the identities f finds, asked for once each, when a message needs one.
func WithRetiredKeys(f RetiredKeys) Option { return func(c *Client) { c.retiredKeys = f } }

// ErrKeyNotHeld flags a message sealed to another credential of this principal (an earlier
// one, before a rotation, or a later one made on another device) whose key this client does
// not hold: it is shown as such, never dropped.
var ErrKeyNotHeld = errors.New("sealed to a key of this principal that this client does not hold")

// ownRecipient returns the credential of this principal, other than the client's own, that env
// is sealed to, if any.
func (c *Client) ownRecipient(b *Book, env *seal.Envelope) *seal.Credential {
	me := c.Credential()
	for _, id := range env.Recipients {
		if cr, err := b.Trust.Credential(id); err == nil && id != me.ID() && cr.Handle() == me.Handle() {
			return cr
		}
	}
	return nil
}

// keyFor returns the identity holding credential cr of this principal, from the retired keys,
// remembering what it found (or why it found nothing) for the next message sealed to cr.
func (c *Client) keyFor(cr *seal.Credential) (*seal.Identity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.retired[cr.ID()]; ok {
		return k.id, k.err
	}
	k := retiredKey{err: fmt.Errorf("%w: %s", ErrKeyNotHeld, cr)}
	if c.retiredKeys != nil {
		id, err := c.retiredKeys(cr)
		switch {
		case err != nil:
			k.err = fmt.Errorf("%w: %s: %w", ErrKeyNotHeld, cr, err)
		case id == nil || id.Credential() == nil || id.Credential().ID() != cr.ID():
			k.err = fmt.Errorf("%w: %s: the key found is another credential's", ErrKeyNotHeld, cr)
		default:
			k = retiredKey{id: id}
		}
	}
	if c.retired == nil {
		c.retired = make(map[seal.CredentialID]retiredKey)
	}
	c.retired[cr.ID()] = k
	return k.id, k.err
}

type retiredKey struct {
	id  *seal.Identity
	err error
}
