package talks

import (
	"fmt"
	"strings"
	"time"

	bc "github.com/backchannel/backchannel"
)

// RelayMode is how a mediator passes a message on.
type RelayMode string

// The relay modes. Verbatim re-seals the author's own signed message for the next room; summary
// is the mediator's own words, of kind summary.
const (
	RelayVerbatim RelayMode = "verbatim"
	RelaySummary  RelayMode = "summary"
)

// Relay says that a message passes on one from another room.
type Relay struct {
	// From is the room the original was posted in. A reader who never saw the original (it
	// sat in a room the reader does not) leaves it empty: the rules then check the relay's
	// author and mode, and the host, which saw it, checked the rest.
	From string
	Mode RelayMode // verbatim or summary
}

// Header is what the rules need to know of a message: its cleartext routing header, never its
// content.
type Header struct {
	Author Actor
	Room   string
	Kind   bc.Kind
	Topics []string
	Round  int    // the round in session when sent, 0 between rounds
	Relay  *Relay // set when a mediator passes a message on
}

// CheckMessage says whether the message with header h may be posted at now, and if not, which
// rule it breaks. The checks, in order: the talks are running; the header is well formed; the
// author sits in the talks and in the room; a relay comes from a mediator of both rooms; every
// topic is on the agenda; a formal kind comes from a rank at least the level; the round is the
// one in session.
//
// A verbatim relay is not held to the level again: the original author's rank was checked when
// it was first posted, and the level may have been raised since.
func (t *Talks) CheckMessage(h Header, now time.Time) error {
	if err := t.checkMessage(h, now); err != nil {
		return fmt.Errorf("talks %s: message in %q: %w", t.id, h.Room, err)
	}
	return nil
}

func (t *Talks) checkMessage(h Header, now time.Time) error {
	if err := t.gate(); err != nil {
		return err
	}
	if err := h.Author.check(); err != nil {
		return err
	}
	if !h.Kind.Valid() {
		return refuse(ErrMalformed, "message kind %q", h.Kind)
	}
	if err := checkTopics("message topics", h.Topics, MaxTopics); err != nil {
		return err
	}
	if h.Round < 0 {
		return refuse(ErrMalformed, "round %d", h.Round)
	}
	m, ok := t.Member(h.Author.Principal)
	if !ok || m.Org != h.Author.Org {
		return refuse(ErrNotMember, "%s is not in the delegation of %q", h.Author.Principal, h.Author.Org)
	}
	if !t.HasRoom(h.Room, now) {
		return refuse(ErrNoSuchRoom, "talks %q have no room %q now (rooms: %s)", t.id, h.Room, t.roomList(now))
	}
	if !t.CanRead(h.Author.Principal, h.Room, now) {
		return refuse(ErrNotInRoom, "%s of %q does not sit in %q", h.Author.Principal, h.Author.Org, h.Room)
	}
	if r := h.Relay; r != nil {
		if t.Role(h.Author.Org) != RoleMediator {
			return refuse(ErrRelay, "%s of %q is not a mediator", h.Author.Principal, h.Author.Org)
		}
		if r.From == h.Room {
			return refuse(ErrRelay, "a relay goes from one room to another, not back into %q", r.From)
		}
		if r.From != "" && !t.CanRead(h.Author.Principal, r.From, now) {
			return refuse(ErrRelay, "%s does not sit in %q, where the original was posted", h.Author.Principal, r.From)
		}
		switch r.Mode {
		case RelayVerbatim:
		case RelaySummary:
			if h.Kind != bc.KindSummary {
				return refuse(ErrRelay, "a summary relay is of kind %q, not %q", bc.KindSummary, h.Kind)
			}
		default:
			return refuse(ErrMalformed, "relay mode %q", r.Mode)
		}
	}
	for _, tp := range h.Topics {
		if !contains(t.agenda, tp) {
			return refuse(ErrNotOnAgenda, "%q is not on the agreed agenda (%s)", tp, strings.Join(t.agenda, ", "))
		}
	}
	if h.Kind.Formal() {
		if len(h.Topics) == 0 {
			return refuse(ErrNoTopic, "a %s names no topic", h.Kind)
		}
		verbatim := h.Relay != nil && h.Relay.Mode == RelayVerbatim
		if !verbatim && h.Author.Rank < t.level {
			return refuse(ErrRankBelowLevel, "a %s needs rank %d or higher; %s has rank %d", h.Kind, t.level, h.Author.Principal, h.Author.Rank)
		}
	}
	if n := t.InSession(); h.Round != n {
		if n == 0 {
			return refuse(ErrWrongRound, "no round is in session, the message says round %d", h.Round)
		}
		return refuse(ErrWrongRound, "round %d is in session, the message says round %d", n, h.Round)
	}
	return nil
}

// CanPost reports whether principal may post in room id at now: the talks are running, and it
// sits in the room. CheckMessage applies every other rule.
func (t *Talks) CanPost(principal, id string, now time.Time) bool {
	return t.gate() == nil && t.CanRead(principal, id, now)
}

func (t *Talks) roomList(now time.Time) string {
	var ids []string
	for _, r := range t.Rooms(now) {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ", ")
}
