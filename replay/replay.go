// Package replay rebuilds one talks from its record, event by event: the talks' state, the
// trust its pinned roots and published credentials establish, the room of each envelope and
// the text of each statement. The host and every client replay through it, so the record means
// one thing to all of them; each adds its own checks and bookkeeping as Hooks (a client checks
// every signature and opens the envelopes addressed to it; the host tracks sequence numbers and
// red lines).
package replay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
	"github.com/backchannel/backchannel/talks"
)

// Book is a talks as its record so far builds it. A host applies every event; a client applies
// those it may read, which are all it needs: the events every member reads build the state and
// the trust, and the events of a room only that room's messages.
type Book struct {
	ID    string
	State *talks.Talks
	Trust *seal.Trust
	// Rooms maps an envelope on the record to the room it was posted in.
	Rooms map[seal.Hash]string
	// Statements maps a statement's digest to its text, once the record carries it.
	Statements map[string]string
}

// New returns the empty book of talks id, before its charter.
func New(id string) *Book { return &Book{ID: id} }

// Clone returns a copy of b that shares nothing Apply changes.
func (b *Book) Clone() *Book {
	nb := *b
	if b.State != nil {
		nb.State = b.State.Clone()
	}
	if b.Trust != nil {
		nb.Trust = b.Trust.Clone()
	}
	nb.Rooms = maps.Clone(b.Rooms)
	nb.Statements = maps.Clone(b.Statements)
	return &nb
}

// Hooks are what one replayer adds to the replay. Each is called, if set, once its event has
// parsed; an error it returns stops the replay of that event, which is then not applied.
type Hooks struct {
	// Charter checks the act that founded the talks (its signer's credential comes later on
	// the record, so a client checks the signature in Credential).
	Charter func(act *seal.Act, c talks.Charter) error
	// Root checks a root before it is pinned.
	Root func(k seal.RootKey) error
	// Credential sees a credential once it is trusted.
	Credential func(c *seal.Credential) error
	// Act checks an act before its talks event is applied.
	Act func(act *seal.Act, ev talks.Event) error
	// RedLines sees a party's red lines, sealed to its delegation, once the envelope's header
	// is found to be one: in its sender's party's private room, sealed by its head.
	RedLines func(e backchannel.Event, env *seal.Envelope) error
	// Envelope sees an envelope once its room is recorded.
	Envelope func(e backchannel.Event, env *seal.Envelope) error
	// Relayed sees the notice that a message was passed on, and the act that signs it (a
	// client checks that the mediator it names signed it: CheckRelayNotice).
	Relayed func(act *seal.Act, n backchannel.RelayNotice) error
	// Receipt sees a receipt.
	Receipt func(rc *seal.Receipt) error
	// RoomKey sees a room key, sealed to its room's readers, once its header is found to be
	// one (CheckRoomKeyHeader).
	RoomKey func(e backchannel.Event, env *seal.Envelope) error
	// Filed, if set, checks the host's filing of every event after the charter against Room:
	// a client's replay sets it (CheckFiled); the host, which filed the events itself, need not.
	Filed func(e backchannel.Event, room string) error
}

// CheckFiled is the Filed hook of a client: it refuses an event filed under another room than
// its contents put it in.
func CheckFiled(e backchannel.Event, room string) error {
	if e.Room != room {
		return fmt.Errorf("%w: filed under %q, but it belongs to %s", ErrMisfiled, e.Room, roomName(room))
	}
	return nil
}

// ErrMisfiled reports an event filed under another room than its contents put it in: a host
// serving it to readers it is not for, or keeping it from those it is.
var ErrMisfiled = errors.New("misfiled by the host")

// Room returns the room an event is filed under, given the book before it: the room whose
// members a host serves it to and every client expects it under, "" for every member. An
// envelope is filed under its own signed room; a notice that a message was passed on and a
// receipt under the room of the envelope they name; red lines under their party's private room;
// everything else (the charter, acts, credentials, statements) is every member's. The host files
// by it and every client's Apply checks the host's filing against it.
func (b *Book) Room(typ string, data []byte) (string, error) {
	switch typ {
	case backchannel.EventEnvelope:
		env, err := seal.ParseEnvelope(data)
		if err != nil {
			return "", err
		}
		return env.Room, nil
	case backchannel.EventRelayed:
		_, n, err := ParseRelayNotice(data)
		if err != nil {
			return "", err
		}
		return b.roomOfEnvelope(n.Original)
	case backchannel.EventReceipt:
		rc, err := seal.ParseReceipt(data)
		if err != nil {
			return "", err
		}
		return b.roomOfEnvelope(rc.Envelope.String())
	case backchannel.EventRedLines:
		env, err := seal.ParseEnvelope(data)
		if err != nil {
			return "", err
		}
		if _, ok := privateOrg(env.Room); !ok {
			return "", fmt.Errorf("red lines sealed in room %q, not a party's private room", env.Room)
		}
		return env.Room, nil
	}
	return "", nil
}

// privateOrg returns the organisation whose private room id is, if it is one.
func privateOrg(id string) (string, bool) {
	org, ok := strings.CutPrefix(id, backchannel.RoomPrivate(""))
	return org, ok && org != ""
}

// CheckRedLinesHeader checks what the cleartext of a red-lines envelope shows, against the book
// before it: the sender's credential is on the record, the envelope is in its own party's
// private room, is no relay, and its sender heads the party's delegation. The words, which only
// the delegation reads, are its clients' to check (talks.CheckRedLines).
func (b *Book) CheckRedLinesHeader(env *seal.Envelope) error {
	sender, err := b.Trust.Credential(env.Sender)
	if err != nil {
		return fmt.Errorf("red lines: sender: %w", err)
	}
	if env.Room != backchannel.RoomPrivate(sender.Org) {
		return fmt.Errorf("red lines of %s sealed in room %q, not its party's private room %q", sender.Handle(), env.Room, backchannel.RoomPrivate(sender.Org))
	}
	if env.Relay != seal.RelayNone {
		return errors.New("red lines sealed as a relay")
	}
	if b.State.Role(sender.Org) != talks.RoleParty {
		return fmt.Errorf("red lines of %s, whose organisation is not a party", sender.Handle())
	}
	if head, ok := b.State.Head(sender.Org); !ok || head.Principal != sender.Handle() {
		return fmt.Errorf("red lines of %s, who does not head %s's delegation", sender.Handle(), sender.Org)
	}
	return nil
}

// Readers returns the principals who read room at t: the room's members (talks.Talks.Recipients),
// or, for a party's private room, its delegation.
func (b *Book) Readers(room string, t time.Time) []string {
	if org, ok := privateOrg(room); ok {
		var out []string
		for _, m := range b.State.Members(org) {
			out = append(out, m.Principal)
		}
		return out
	}
	return b.State.Recipients(room, t)
}

// CheckRoomKeyHeader checks what the cleartext of a room-key envelope shows, against the book
// before it: the sender's credential is on the record, the sender reads the room when it sealed
// the key, and the envelope is no relay and follows nothing (a room key is no message of the
// room's chain). Whom the key is sealed to is checked where the credentials are known: the
// host refuses a key not sealed to exactly the room's readers, and a client only tags with a
// key sealed to the readers it seals its own envelope to.
func (b *Book) CheckRoomKeyHeader(env *seal.Envelope) error {
	sender, err := b.Trust.Credential(env.Sender)
	if err != nil {
		return fmt.Errorf("room key: sender: %w", err)
	}
	if !slices.Contains(b.Readers(env.Room, env.CreatedAt), sender.Handle()) {
		return fmt.Errorf("a room key for room %q sealed by %s, who does not read it", env.Room, sender.Handle())
	}
	if env.Relay != seal.RelayNone || !env.Prev.IsZero() || !env.ReplyTo.IsZero() {
		return errors.New("a room key sealed as a relay, or linked to another envelope")
	}
	return nil
}

// roomOfEnvelope returns the room of the envelope on the record whose hash is h, in hex.
func (b *Book) roomOfEnvelope(h string) (string, error) {
	var hash seal.Hash
	if n, err := hex.Decode(hash[:], []byte(h)); err != nil || n != len(hash) || len(h) != 2*len(hash) {
		return "", fmt.Errorf("%q is not an envelope hash", h)
	}
	room, ok := b.Rooms[hash]
	if !ok {
		return "", fmt.Errorf("envelope %.12s is not on the record before the event that names it", h)
	}
	return room, nil
}

func roomName(room string) string {
	if room == "" {
		return "every member"
	}
	return fmt.Sprintf("%q", room)
}

// ParseRelayNotice parses the Data of an EventRelayed event: an act of that type whose payload
// is a relay notice in its one encoding (backchannel.RelayNotice.Payload).
func ParseRelayNotice(data []byte) (*seal.Act, backchannel.RelayNotice, error) {
	var n backchannel.RelayNotice
	act, err := seal.ParseAct(data)
	if err != nil {
		return nil, n, err
	}
	if act.Type != backchannel.EventRelayed {
		return nil, n, fmt.Errorf("%w: an act of type %q where a relay notice belongs", ErrActMismatch, act.Type)
	}
	if err := strictjson.Unmarshal(act.Payload, &n); err != nil {
		return nil, n, fmt.Errorf("a relay notice: %w", err)
	}
	if !bytes.Equal(n.Payload(), act.Payload) {
		return nil, n, errors.New("a relay notice not in its one encoding")
	}
	return act, n, nil
}

// CheckRelayNotice checks a relay notice against the record replayed so far: signed by the
// credential of the principal it names, a mediator of the talks when the notice was made, on
// a relay of its own time.
func (b *Book) CheckRelayNotice(act *seal.Act, n backchannel.RelayNotice) error {
	cr, err := b.Trust.VerifyAct(act, b.ID, 0)
	if err != nil {
		return fmt.Errorf("a relay notice: %w", err)
	}
	if cr.Handle() != n.By {
		return fmt.Errorf("%w: a relay notice naming %s signed by %s", ErrActMismatch, n.By, cr.Handle())
	}
	if !act.CreatedAt.Equal(n.At) {
		return fmt.Errorf("a relay notice of %s signed at %s", n.At, act.CreatedAt)
	}
	if b.State.Role(cr.Org) != talks.RoleMediator {
		return fmt.Errorf("a relay notice signed by %s, which is not a mediator of the talks", cr.Handle())
	}
	return nil
}

// ErrActMismatch reports an act whose type is not that of the talks event it carries.
var ErrActMismatch = errors.New("an act's type does not match its payload")

// ParseAct parses an act and the talks event it carries, which must be of the act's type.
func ParseAct(data []byte) (*seal.Act, talks.Event, error) {
	act, err := seal.ParseAct(data)
	if err != nil {
		return nil, nil, err
	}
	ev, err := talks.Parse(act.Payload)
	if err != nil {
		return nil, nil, err
	}
	if act.Type != ev.Type() {
		return nil, nil, fmt.Errorf("%w: an act of type %q carries a %s", ErrActMismatch, act.Type, ev.Type())
	}
	return act, ev, nil
}

// Apply applies event e, in record order, with h's hooks. On error the book may be partly
// changed: a caller that goes on after an error replays into a Clone.
func (b *Book) Apply(e backchannel.Event, h Hooks) error {
	if e.Type == backchannel.EventCharter {
		if b.State != nil {
			return errors.New("a second charter")
		}
		if h.Filed != nil {
			if err := h.Filed(e, ""); err != nil {
				return err
			}
		}
		act, ev, err := ParseAct(e.Data)
		if err != nil {
			return err
		}
		c, ok := ev.(talks.Charter)
		if !ok || c.ID != b.ID {
			return errors.New("the first event is not this talks' charter")
		}
		if h.Charter != nil {
			if err := h.Charter(act, c); err != nil {
				return err
			}
		}
		st, err := talks.New(c)
		if err != nil {
			return err
		}
		trust, err := seal.NewTrust()
		if err != nil {
			return err
		}
		b.State, b.Trust = st, trust
		b.Rooms = make(map[seal.Hash]string)
		b.Statements = make(map[string]string)
		return nil
	}
	if b.State == nil {
		return errors.New("an event before the charter")
	}
	if h.Filed != nil {
		room, err := b.Room(e.Type, e.Data)
		if err != nil {
			return err
		}
		if err := h.Filed(e, room); err != nil {
			return err
		}
	}
	switch e.Type {
	case backchannel.EventRoot:
		k, err := seal.ParseRootKey(e.Data)
		if err != nil {
			return err
		}
		if h.Root != nil {
			if err := h.Root(k); err != nil {
				return err
			}
		}
		return b.Trust.Pin(k)
	case backchannel.EventCredential:
		c, err := seal.ParseCredential(e.Data)
		if err != nil {
			return err
		}
		if err := b.Trust.AddCredential(c); err != nil {
			return err
		}
		if h.Credential != nil {
			return h.Credential(c)
		}
		return nil
	case backchannel.EventRevocation:
		v, err := seal.ParseRevocation(e.Data)
		if err != nil {
			return err
		}
		return b.Trust.AddRevocation(v)
	case backchannel.EventAct:
		act, ev, err := ParseAct(e.Data)
		if err != nil {
			return err
		}
		if h.Act != nil {
			if err := h.Act(act, ev); err != nil {
				return err
			}
		}
		return b.State.Apply(ev)
	case backchannel.EventRedLines:
		env, err := seal.ParseEnvelope(e.Data)
		if err != nil {
			return err
		}
		if err := b.CheckRedLinesHeader(env); err != nil {
			return err
		}
		if h.RedLines != nil {
			return h.RedLines(e, env)
		}
		return nil
	case backchannel.EventEnvelope:
		env, err := seal.ParseEnvelope(e.Data)
		if err != nil {
			return err
		}
		b.Rooms[env.Hash()] = env.Room
		if h.Envelope != nil {
			return h.Envelope(e, env)
		}
		return nil
	case backchannel.EventRoomKey:
		env, err := seal.ParseEnvelope(e.Data)
		if err != nil {
			return err
		}
		if err := b.CheckRoomKeyHeader(env); err != nil {
			return err
		}
		if h.RoomKey != nil {
			return h.RoomKey(e, env)
		}
		return nil
	case backchannel.EventStatement:
		var st backchannel.StatementText
		if err := strictjson.Unmarshal(e.Data, &st); err != nil {
			return err
		}
		if backchannel.StatementDigest(st.Text) != st.Digest {
			return errors.New("a statement whose text does not match its digest")
		}
		b.Statements[st.Digest] = st.Text
		return nil
	case backchannel.EventRelayed:
		act, n, err := ParseRelayNotice(e.Data)
		if err != nil {
			return err
		}
		if h.Relayed != nil {
			return h.Relayed(act, n)
		}
		return nil
	case backchannel.EventReceipt:
		rc, err := seal.ParseReceipt(e.Data)
		if err != nil {
			return err
		}
		if h.Receipt != nil {
			return h.Receipt(rc)
		}
		return nil
	}
	return fmt.Errorf("unknown event type %q", e.Type)
}
