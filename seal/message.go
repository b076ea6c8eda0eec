package seal

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// Context is everything a message is bound to besides its body. The author signs it with the
// body, so a message cannot be moved to other talks, another room or round, or presented as
// another kind, without the signature failing; the envelope header repeats it in clear for the
// server's rules.
type Context struct {
	Talks   string           // talks id
	Room    string           // room id, opaque here (defined by the talks package)
	Kind    backchannel.Kind // kind of message
	Topics  []string         // agenda topics, kept sorted and without duplicates
	Round   uint32           // round the message was sent in; 0 for outside any round
	ReplyTo Hash             // hash of the envelope answered, or zero
	// Prev is the hash of the latest envelope of the room the sender had read when it sealed
	// this one, or zero if it had read none: each room's envelopes form a chain its readers
	// follow, so one the host keeps from a reader is missed at the next that follows it.
	Prev      Hash
	CreatedAt time.Time // author's time, carried with millisecond precision
	Sequence  uint64    // per-author sequence number, from 1, strictly increasing
}

// normalize returns a copy of c in canonical form (topics sorted, time in UTC milliseconds) after
// checking every field, so that Seal never produces bytes its own parser would refuse.
func (c Context) normalize() (Context, error) {
	if err := backchannel.CheckID("talks", c.Talks); err != nil {
		return c, err
	}
	if err := backchannel.CheckID("room", c.Room); err != nil {
		return c, err
	}
	if !c.Kind.Valid() {
		return c, fmt.Errorf("unknown kind %q", c.Kind)
	}
	if len(c.Topics) > MaxTopics {
		return c, fmt.Errorf("%d topics, at most %d", len(c.Topics), MaxTopics)
	}
	c.Topics = slices.Clone(c.Topics)
	slices.Sort(c.Topics)
	for i, t := range c.Topics {
		if err := backchannel.CheckID("topic", t); err != nil {
			return c, err
		}
		if i > 0 && c.Topics[i-1] == t {
			return c, fmt.Errorf("topic %s listed twice", t)
		}
	}
	if c.Sequence == 0 {
		return c, fmt.Errorf("sequence 0; sequences start at 1")
	}
	if err := checkTime("created-at", c.CreatedAt); err != nil {
		return c, err
	}
	c.CreatedAt = c.CreatedAt.UTC().Truncate(time.Millisecond)
	return c, nil
}

// addContext encodes c followed by the credential that speaks in it (author or sender).
func addContext(b *cryptobyte.Builder, c *Context, cred CredentialID) {
	addString8(b, c.Talks)
	addString8(b, c.Room)
	addString8(b, string(c.Kind))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, t := range c.Topics {
			addString8(b, t)
		}
	})
	b.AddUint32(c.Round)
	b.AddBytes(c.ReplyTo[:])
	b.AddBytes(c.Prev[:])
	addTime(b, c.CreatedAt)
	b.AddBytes(cred[:])
	b.AddUint64(c.Sequence)
}

// readContext is the inverse of addContext, refusing every non-canonical form.
func readContext(r *reader) (c Context, cred CredentialID) {
	c.Talks = r.id("talks")
	c.Room = r.id("room")
	c.Kind = backchannel.Kind(r.string8("kind"))
	if r.err == nil && !c.Kind.Valid() {
		r.fail("unknown kind %q", c.Kind)
	}
	topics := r.prefixed("topics", 2)
	sub := &reader{s: topics, format: r.format}
	for r.err == nil && sub.err == nil && !sub.s.Empty() {
		t := sub.id("topic")
		if sub.err == nil && len(c.Topics) > 0 && t <= c.Topics[len(c.Topics)-1] {
			sub.fail("topics not strictly ascending at %q", t)
		}
		if sub.err == nil && len(c.Topics) == MaxTopics {
			sub.fail("more than %d topics", MaxTopics)
		}
		c.Topics = append(c.Topics, t)
	}
	if r.err == nil {
		r.err = sub.err
	}
	c.Round = r.u32("round")
	c.ReplyTo = r.hash("reply-to")
	c.Prev = r.hash("prev")
	c.CreatedAt = r.time("created-at")
	cred = r.hash("credential id")
	c.Sequence = r.u64("sequence")
	if r.err == nil && c.Sequence == 0 {
		r.fail("sequence 0")
	}
	return c, cred
}

// Message is the author's signed plaintext: context, author credential and body, signed with the
// author's identity key. It is what an envelope encrypts, and what a verbatim relay carries on
// unchanged so that the final reader verifies the original author.
type Message struct {
	Context
	Author CredentialID
	Body   []byte

	raw []byte // full encoding, signature included
}

// sealMessage encodes and signs a message. c must be normalized.
func (id *Identity) signMessage(c *Context, body []byte) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(domainMessage)+256+len(body)+sigLen))
	b.AddBytes([]byte(domainMessage))
	addTag(b, tagMessage)
	addContext(b, c, id.cred.id)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
	signed := b.BytesOrPanic()
	return append(signed, id.sign(signed)...)[len(domainMessage):]
}

// parseMessage parses a decrypted message strictly. The result aliases b.
func parseMessage(b []byte) (*Message, error) {
	r := newReader("message", b)
	r.tag(tagMessage)
	m := &Message{}
	m.Context, m.Author = readContext(r)
	m.Body = r.prefixed("body", 4)
	if r.err == nil && len(m.Body) > MaxBodyLen {
		r.fail("body of %d bytes exceeds %d", len(m.Body), MaxBodyLen)
	}
	r.fixed("signature", sigLen)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	m.raw = b
	return m, nil
}

func (m *Message) signature() []byte { return m.raw[len(m.raw)-sigLen:] }
