package server

import (
	"container/list"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// book is the server's copy of one talks, rebuilt from its record: the talks' state, the trust
// that the pinned roots and published credentials establish, the sequence numbers seen, and the rooms of envelopes (for relays). Everything in it is derived from
// the record, so it can be dropped and rebuilt at any time.
type book struct {
	mu sync.Mutex
	// used is the book's place in the server's least-recently-used list.
	used *list.Element

	// Book is the talks as the record builds it, shared with every client's replay.
	*replay.Book
	size int64 // the record size the book reflects
	seqs seal.SequenceTracker

	pinned   map[string]bool // organisations whose root is pinned
	onRecord map[string]bool // credential ids published on the record
	// relayed is, for each envelope relayed verbatim and each room it went to, the relay.
	relayed map[relayKey]string
	// left is, for each organisation that took part and no longer does, what it may still
	// read of the record: the part it was entitled to when it left.
	left map[string]departure
}

// departure is what an organisation that left the talks may still read: the events before
// size, of every member or of the rooms it sat in when it left; and who in it may read them, the
// members of its delegation then.
type departure struct {
	size    int64
	rooms   []string
	members []string
}

// seat is where an organisation taking part sits, and who sits for it.
type seat struct {
	rooms, members []string
}

// seats returns, for each organisation taking part, the rooms it sits in at now (its private
// room included) and its delegation.
func (b *book) seats(now time.Time) map[string]seat {
	if b.State == nil {
		return nil
	}
	out := make(map[string]seat)
	for _, org := range append(b.State.Parties(), b.State.Mediators()...) {
		s := seat{rooms: []string{backchannel.RoomPrivate(org)}}
		for _, m := range b.State.Members(org) {
			s.members = append(s.members, m.Principal)
		}
		out[org] = s
	}
	for _, r := range b.State.Rooms(now) {
		for _, org := range r.Orgs {
			s := out[org]
			s.rooms = append(s.rooms, r.ID)
			out[org] = s
		}
	}
	return out
}

// noteDepartures records, for each organisation seated in before that takes part no more, that
// its delegation then may read the record up to size (the event that took it out included) in
// the rooms it sat in; an organisation that takes part again reads as a member.
func (b *book) noteDepartures(before map[string]seat, size int64) {
	for org, s := range before {
		if b.State.Role(org) == "" {
			if b.left == nil {
				b.left = make(map[string]departure)
			}
			b.left[org] = departure{size: size, rooms: s.rooms, members: s.members}
		}
	}
	for org := range b.left {
		if b.State.Role(org) != "" {
			delete(b.left, org)
		}
	}
}

// orgs returns the organisations the talks are listed for at now: those taking part, and those
// invited to.
func (b *book) orgs(now time.Time) []string {
	if b.State == nil {
		return nil
	}
	out := append(b.State.Parties(), b.State.Mediators()...)
	ch := b.State.Charter()
	for _, org := range append(slices.Clone(ch.Parties), ch.Mediators...) {
		if b.invited(org, now) {
			out = append(out, org)
		}
	}
	for _, m := range b.State.Motions() {
		if m.Change.Invites() && m.OutcomeAt(now) == talks.OutcomePending {
			out = append(out, m.Change.Org)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// relayKey is an envelope relayed verbatim (its hash) and the room it was relayed to.
type relayKey struct{ original, room string }

// noteRelay remembers that original went to room verbatim, by relay.
func (b *book) noteRelay(n backchannel.RelayNotice) {
	if n.Mode != seal.RelayVerbatim.String() {
		return
	}
	if b.relayed == nil {
		b.relayed = make(map[relayKey]string)
	}
	if _, ok := b.relayed[relayKey{n.Original, n.To}]; !ok {
		b.relayed[relayKey{n.Original, n.To}] = n.Relay
	}
}

// newBook returns the empty book of talks id.
func newBook(id string) *book { return &book{Book: replay.New(id)} }

// reset empties the book (but not its lock) for a replay from the start.
func (b *book) reset() {
	b.Book, b.size = replay.New(b.ID), 0
	b.seqs = seal.SequenceTracker{}
	b.pinned, b.onRecord, b.relayed, b.left = nil, nil, nil, nil
}

// errRecord reports a record that does not replay: the store holds something the server
// would never have accepted. It is an operator's problem, never a client's.
var errRecord = errors.New("record does not replay")

// replay applies one event already on the record to the book.
func (b *book) replay(e backchannel.Event) error {
	if int64(e.Index) != b.size {
		return fmt.Errorf("%w: talks %s: event %d where %d was expected", errRecord, b.ID, e.Index, b.size)
	}
	// Seats are taken at the act's own signed time, as the live path takes them, so that a
	// replay on another node or after a restart records the same departures.
	var seated map[string]seat
	if e.Type == backchannel.EventAct {
		if _, ev, err := replay.ParseAct(e.Data); err == nil {
			seated = b.seats(ev.When())
		}
	}
	if err := b.Apply(e, b.hooks()); err != nil {
		return fmt.Errorf("%w: talks %s: event %d (%s): %v", errRecord, b.ID, e.Index, e.Type, err)
	}
	b.size++
	if seated != nil {
		b.noteDepartures(seated, b.size)
	}
	return nil
}

// hooks are the host's bookkeeping as it replays: which roots are pinned and credentials
// published, and the sequence numbers seen. What was on the record was
// checked when it was accepted; the host does not check it again.
func (b *book) hooks() replay.Hooks {
	return replay.Hooks{
		Charter: func(*seal.Act, talks.Charter) error {
			b.pinned = make(map[string]bool)
			return nil
		},
		Root: func(k seal.RootKey) error {
			b.pinned[k.Org] = true
			return nil
		},
		Credential: func(c *seal.Credential) error {
			b.markPublished(c.ID())
			return nil
		},
		RedLines: func(_ backchannel.Event, env *seal.Envelope) error { b.observe(env); return nil },
		RoomKey:  func(_ backchannel.Event, env *seal.Envelope) error { b.observe(env); return nil },
		Envelope: func(_ backchannel.Event, env *seal.Envelope) error { b.observe(env); return nil },
		Relayed:  func(_ *seal.Act, n backchannel.RelayNotice) error { b.noteRelay(n); return nil },
	}
}

// observe notes the sequence number of an envelope on the record.
func (b *book) observe(env *seal.Envelope) {
	if c, err := b.Trust.Credential(env.Sender); err == nil {
		// Replaying what was accepted: the sequence was checked then.
		_ = b.seqs.Observe(b.ID, c, env.Sequence)
	}
}

// actEvent parses an act and the talks event it carries, which must be of the act's type.
func actEvent(data []byte) (*seal.Act, talks.Event, error) {
	act, ev, err := replay.ParseAct(data)
	if errors.Is(err, replay.ErrActMismatch) {
		return nil, nil, problemf(api.ProblemMalformed, "%v", err)
	}
	return act, ev, err
}

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// invited reports whether org is invited to the talks and has not joined them yet: named in
// the charter of talks not yet active, or by an invite-mediator or add-party motion still
// pending at now (neither decided nor expired).
func (b *book) invited(org string, now time.Time) bool {
	if b.State.Role(org) != "" && b.State.Status() != talks.StatusProposed {
		return false
	}
	ch := b.State.Charter()
	if b.State.Status() == talks.StatusProposed && (slices.Contains(ch.Parties, org) || slices.Contains(ch.Mediators, org)) {
		return true
	}
	for _, m := range b.State.Motions() {
		if m.Change.Invites() && m.Change.Org == org && m.OutcomeAt(now) == talks.OutcomePending {
			return true
		}
	}
	return false
}

// actor is who a verified credential says its holder is, for the talks' rules.
func actor(c *seal.Credential) talks.Actor {
	return talks.Actor{Principal: c.Handle(), Org: c.Org, Rank: c.Rank, Title: c.Title}
}

// mayRead reports whether principal may read event e at now: as canRead for a member or an
// invitee, and, for an organisation that left, an event before it left, of every member or of
// a room it sat in.
func (b *book) mayRead(principal string, e *backchannel.Event, now time.Time) bool {
	org, _, _ := seal.SplitHandle(principal)
	if d, ok := b.left[org]; ok && !b.invited(org, now) {
		return slices.Contains(d.members, principal) && int64(e.Index) < d.size && (e.Room == "" || slices.Contains(d.rooms, e.Room))
	}
	return b.canRead(principal, e.Room, now)
}

// canRead reports whether principal may read events of room at now. Rooms of the talks follow
// the talks' rules; "" is every member; a private room is its organisation's delegation only.
// History stays readable to those who sat in a room when it existed: a plenary closed after a
// direct session is still readable by every member.
func (b *book) canRead(principal, room string, now time.Time) bool {
	m, ok := b.State.Member(principal)
	if !ok {
		// An organisation the talks invite (the charter's, before it accepts, or a mediator
		// a pending motion invites) reads what every member reads: it must check the roots
		// the charter pins, on the record, before it signs its acceptance.
		org, _, _ := seal.SplitHandle(principal)
		return room == "" && b.invited(org, now)
	}
	switch {
	case room == "":
		return true
	case room == backchannel.RoomPrivate(m.Org):
		return true
	case room == talks.RoomPlenary:
		return true
	}
	return b.State.CanRead(principal, room, now)
}
