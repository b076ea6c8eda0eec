package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// Act is a principal's signed, public declaration in talks: a motion, a vote, a round change, a
// public statement, a change of delegation. Unlike a message it is not secret; like a message
// it is bound to its talks and author, so it cannot be replayed elsewhere. The payload's
// encoding belongs to the caller (the talks package), which also defines the act types.
type Act struct {
	Talks     string       // talks id
	Type      string       // act type, an identifier such as "motion" or "vote"
	CreatedAt time.Time    // author's time (millisecond precision)
	Author    CredentialID // credential of the principal who signs
	Payload   []byte       // the act's content, canonically encoded by the caller

	raw []byte
}

// Act signs a declaration of the given type with payload in the given talks.
func (id *Identity) Act(talks, typ string, payload []byte, at time.Time) (*Act, error) {
	if id.cred == nil {
		return nil, fmt.Errorf("seal: act: identity has no credential")
	}
	if err := backchannel.CheckID("talks", talks); err != nil {
		return nil, fmt.Errorf("seal: act: %w", err)
	}
	if err := backchannel.CheckID("act type", typ); err != nil {
		return nil, fmt.Errorf("seal: act: %w", err)
	}
	if len(payload) > MaxBodyLen {
		return nil, fmt.Errorf("seal: act: payload of %d bytes exceeds %d", len(payload), MaxBodyLen)
	}
	if err := checkTime("act time", at); err != nil {
		return nil, err
	}
	a := Act{Talks: talks, Type: typ, CreatedAt: at, Author: id.cred.id, Payload: payload}
	b := cryptobyte.NewBuilder(make([]byte, 0, len(domainAct)+192+len(payload)))
	b.AddBytes([]byte(domainAct))
	a.addTBS(b)
	signed := b.BytesOrPanic()
	return ParseAct(append(signed, id.sign(signed)...)[len(domainAct):])
}

func (a *Act) addTBS(b *cryptobyte.Builder) {
	addTag(b, tagAct)
	addString8(b, a.Talks)
	addString8(b, a.Type)
	addTime(b, a.CreatedAt)
	b.AddBytes(a.Author[:])
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Payload) })
}

// ParseAct parses an encoded act strictly; Trust.VerifyAct verifies it.
func ParseAct(b []byte) (*Act, error) {
	r := newReader("act", b)
	r.tag(tagAct)
	a := &Act{Talks: r.id("talks"), Type: r.id("act type"), CreatedAt: r.time("created-at"), Author: r.hash("author")}
	payload := r.prefixed("payload", 4)
	if r.err == nil && len(payload) > MaxBodyLen {
		r.fail("payload of %d bytes exceeds %d", len(payload), MaxBodyLen)
	}
	r.fixed("signature", sigLen)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	a.raw = bytes.Clone(b)
	a.Payload = a.raw[len(b)-sigLen-len(payload) : len(b)-sigLen : len(b)-sigLen]
	return a, nil
}

// Marshal returns the act's encoding, signature included.
func (a *Act) Marshal() []byte { return bytes.Clone(a.raw) }

// Hash returns SHA-256 of the act's encoding, for the record and for idempotency.
func (a *Act) Hash() Hash { return sha256.Sum256(a.raw) }

// VerifyAct checks that a belongs to the given talks and is signed by a known, unrevoked
// credential valid at the act's time with at least rank minRank (0 for any), and returns that
// credential.
func (t *Trust) VerifyAct(a *Act, talks string, minRank backchannel.Rank) (*Credential, error) {
	if a.Talks != talks {
		return nil, fmt.Errorf("seal: act %s: %w: for talks %s, expected %s", a.Type, ErrWrongTalks, a.Talks, talks)
	}
	author, err := t.use(a.Author, a.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("seal: act %s: author: %w", a.Type, err)
	}
	n := len(a.raw) - sigLen
	if !ed25519.Verify(author.IdentityKey, signedBytes(domainAct, a.raw[:n]), a.raw[n:]) {
		return nil, fmt.Errorf("seal: act %s by %s: %w", a.Type, author, ErrTampered)
	}
	if author.Rank < minRank {
		return nil, fmt.Errorf("seal: act %s: %w: %s has rank %d, %d required", a.Type, ErrRankTooLow, author, author.Rank, minRank)
	}
	return author, nil
}
