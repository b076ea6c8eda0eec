package server

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// book is the server's copy of one talks, rebuilt from its record: the talks' state, the trust
// that the pinned roots and published credentials establish, the sequence numbers seen, the
// parties' red lines, and the rooms of envelopes (for relays). Everything in it is derived from
// the record, so it can be dropped and rebuilt at any time.
type book struct {
	mu sync.Mutex
	// used is the book's place in the server's least-recently-used list.
	used *list.Element

	id    string
	size  int64 // the record size the book reflects
	state *talks.Talks
	trust *seal.Trust
	seqs  seal.SequenceTracker

	redLines   map[string]talks.RedLines // by organisation; private
	redLineAct map[string]string         // organisation -> hex hash of the red-lines act
	rooms      map[seal.Hash]string      // envelope hash -> room it was posted in
	statements map[string]string         // digest -> text
	pinned     map[string]bool           // organisations whose root is pinned
	onRecord   map[string]bool           // credential ids published on the record
}

// reset empties the book (but not its lock) for a replay from the start.
func (b *book) reset() {
	b.size, b.state, b.trust = 0, nil, nil
	b.seqs = seal.SequenceTracker{}
	b.redLines, b.redLineAct, b.rooms, b.statements, b.pinned, b.onRecord = nil, nil, nil, nil, nil, nil
}

// errRecord reports a record that does not replay: the store holds something the server
// would never have accepted. It is an operator's problem, never a client's.
var errRecord = errors.New("record does not replay")

// replay applies one event already on the record to the book.
func (b *book) replay(e backchannel.Event) error {
	if int64(e.Index) != b.size {
		return fmt.Errorf("%w: talks %s: event %d where %d was expected", errRecord, b.id, e.Index, b.size)
	}
	if err := b.replayData(e); err != nil {
		return fmt.Errorf("%w: talks %s: event %d (%s): %v", errRecord, b.id, e.Index, e.Type, err)
	}
	b.size++
	return nil
}

func (b *book) replayData(e backchannel.Event) error {
	switch e.Type {
	case backchannel.EventCharter:
		if b.state != nil {
			return errors.New("a second charter")
		}
		_, ev, err := actEvent(e.Data)
		if err != nil {
			return err
		}
		c, ok := ev.(talks.Charter)
		if !ok {
			return fmt.Errorf("charter act carries a %s", ev.Type())
		}
		st, err := talks.New(c)
		if err != nil {
			return err
		}
		trust, err := seal.NewTrust()
		if err != nil {
			return err
		}
		b.state, b.trust = st, trust
		b.redLines = make(map[string]talks.RedLines)
		b.redLineAct = make(map[string]string)
		b.rooms = make(map[seal.Hash]string)
		b.statements = make(map[string]string)
		b.pinned = make(map[string]bool)
		return nil
	}
	if b.state == nil {
		return errors.New("the first event is not a charter")
	}
	switch e.Type {
	case backchannel.EventRoot:
		k, err := seal.ParseRootKey(e.Data)
		if err != nil {
			return err
		}
		if err := b.trust.Pin(k); err != nil {
			return err
		}
		b.pinned[k.Org] = true
		return nil
	case backchannel.EventCredential:
		c, err := seal.ParseCredential(e.Data)
		if err != nil {
			return err
		}
		if err := b.trust.AddCredential(c); err != nil {
			return err
		}
		b.markPublished(c.ID())
		return nil
	case backchannel.EventRevocation:
		v, err := seal.ParseRevocation(e.Data)
		if err != nil {
			return err
		}
		return b.trust.AddRevocation(v)
	case backchannel.EventAct:
		_, ev, err := actEvent(e.Data)
		if err != nil {
			return err
		}
		return b.state.Apply(ev)
	case backchannel.EventStanding:
		ev, err := talks.Parse(e.Data)
		if err != nil {
			return err
		}
		return b.state.Apply(ev)
	case backchannel.EventRedLines:
		act, err := seal.ParseAct(e.Data)
		if err != nil {
			return err
		}
		r, err := talks.ParseRedLines(act.Payload)
		if err != nil {
			return err
		}
		b.redLines[r.By.Org] = r
		b.redLineAct[r.By.Org] = hex.EncodeToString(hashOf(e.Data))
		return nil
	case backchannel.EventEnvelope:
		env, err := seal.ParseEnvelope(e.Data)
		if err != nil {
			return err
		}
		b.rooms[env.Hash()] = env.Room
		if c, err := b.trust.Credential(env.Sender); err == nil {
			// Replaying what was accepted: the sequence was checked then.
			_ = b.seqs.Observe(b.id, c, env.Sequence)
		}
		return nil
	case backchannel.EventStatement:
		var st backchannel.StatementText
		if err := json.Unmarshal(e.Data, &st); err != nil {
			return err
		}
		b.statements[st.Digest] = st.Text
		return nil
	case backchannel.EventRelayed, backchannel.EventReceipt:
		return nil
	}
	return fmt.Errorf("unknown event type %q", e.Type)
}

// actEvent parses an act and the talks event it carries, which must be of the act's type.
func actEvent(data []byte) (*seal.Act, talks.Event, error) {
	act, err := seal.ParseAct(data)
	if err != nil {
		return nil, nil, err
	}
	ev, err := talks.Parse(act.Payload)
	if err != nil {
		return nil, nil, err
	}
	if act.Type != ev.Type() {
		return nil, nil, problemf(api.ProblemMalformed, "the act's type %q does not match its payload, a %s", act.Type, ev.Type())
	}
	return act, ev, nil
}

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// invited reports whether org is invited to the talks and has not joined them yet: named in
// the charter of talks not yet active, or by a pending invite-mediator motion.
func (b *book) invited(org string) bool {
	if b.state.Role(org) != "" && b.state.Status() != talks.StatusProposed {
		return false
	}
	ch := b.state.Charter()
	if b.state.Status() == talks.StatusProposed && (slices.Contains(ch.Parties, org) || slices.Contains(ch.Mediators, org)) {
		return true
	}
	for _, m := range b.state.Motions() {
		if m.Change.Kind == talks.MotionInviteMediator && m.Change.Org == org && m.Outcome == talks.OutcomePending {
			return true
		}
	}
	return false
}

// actor is who a verified credential says its holder is, for the talks' rules.
func actor(c *seal.Credential) talks.Actor {
	return talks.Actor{Principal: c.Handle(), Org: c.Org, Rank: c.Rank, Title: c.Title}
}

// canRead reports whether principal may read events of room at now. Rooms of the talks follow
// the talks' rules; "" is every member; a private room is its organisation's delegation only.
// History stays readable to those who sat in a room when it existed: a plenary closed after a
// direct session is still readable by every member.
func (b *book) canRead(principal, room string, now time.Time) bool {
	m, ok := b.state.Member(principal)
	if !ok {
		// An organisation the talks invite (the charter's, before it accepts, or a mediator
		// a pending motion invites) reads what every member reads: it must check the roots
		// the charter pins, on the record, before it signs its acceptance.
		org, _, _ := seal.SplitHandle(principal)
		return room == "" && b.invited(org)
	}
	switch {
	case room == "":
		return true
	case room == backchannel.RoomPrivate(m.Org):
		return true
	case room == talks.RoomPlenary:
		return true
	}
	return b.state.CanRead(principal, room, now)
}
