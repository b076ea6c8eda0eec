package talks

import (
	"slices"
	"strings"
	"time"
)

// Room ids are part of the wire format: they are signed into envelopes.
const (
	// RoomMediators is the mediators' own room.
	RoomMediators = "mediators"
	// RoomPlenary is the room of everyone, present in direct format or during a direct session.
	RoomPlenary = "plenary"
	// caucusPrefix starts the id of a party's room with the mediators.
	caucusPrefix = "caucus:"
)

// RoomCaucus returns the id of party org's room with the mediators: "caucus:<org>".
func RoomCaucus(org string) string { return caucusPrefix + org }

// CaucusOf returns the party whose caucus room is id, if id is a caucus room id.
func CaucusOf(id string) (org string, ok bool) {
	return strings.CutPrefix(id, caucusPrefix)
}

// Room is a room as the talks' state makes it: who sits in it, derived and never stored.
type Room struct {
	ID string
	// Orgs are the organisations whose delegations sit in the room.
	Orgs []string
	// Members are the principals who read and post in it, in a stable order.
	Members []string
}

// Rooms returns the rooms that exist at now, in a fixed order: each party's caucus in charter
// order, then the mediators' room if there is a mediator, then the plenary if the format is
// direct or a direct session is open. Talks that are not running still have their rooms, so
// that members can read what is there; CheckMessage refuses posting.
func (t *Talks) Rooms(now time.Time) []Room {
	var ids []string
	for _, p := range t.parties {
		ids = append(ids, RoomCaucus(p))
	}
	if len(t.mediators) > 0 {
		ids = append(ids, RoomMediators)
	}
	if t.plenaryAt(now) {
		ids = append(ids, RoomPlenary)
	}
	rooms := make([]Room, len(ids))
	for i, id := range ids {
		orgs := t.roomOrgs(id, now)
		rooms[i] = Room{ID: id, Orgs: orgs, Members: t.principals(orgs)}
	}
	return rooms
}

// plenaryAt reports whether the plenary room exists at now.
func (t *Talks) plenaryAt(now time.Time) bool {
	_, open := t.openSession(now)
	return t.format == FormatDirect || open
}

// roomOrgs returns the organisations sitting in room id at now, or nil if there is no such
// room. This is the one place that says who sits where.
func (t *Talks) roomOrgs(id string, now time.Time) []string {
	switch id {
	case RoomMediators:
		if len(t.mediators) == 0 {
			return nil
		}
		return slices.Clone(t.mediators)
	case RoomPlenary:
		if !t.plenaryAt(now) {
			return nil
		}
		return append(slices.Clone(t.parties), t.mediators...)
	}
	if org, ok := CaucusOf(id); ok && contains(t.parties, org) {
		return append([]string{org}, t.mediators...)
	}
	return nil
}

// principals lists the members of the given organisations' delegations: organisation by
// organisation in the order given, each delegation in order of joining.
func (t *Talks) principals(orgs []string) []string {
	var out []string
	for _, org := range orgs {
		for _, m := range t.members {
			if m.Org == org {
				out = append(out, m.Principal)
			}
		}
	}
	return out
}

// HasRoom reports whether room id exists at now.
func (t *Talks) HasRoom(id string, now time.Time) bool { return t.roomOrgs(id, now) != nil }

// Recipients returns the principals an envelope posted to room id at now is wrapped to: exactly
// the members of the room, nobody else. It is empty if the room does not exist.
func (t *Talks) Recipients(id string, now time.Time) []string {
	return t.principals(t.roomOrgs(id, now))
}

// CanRead reports whether principal sits in room id at now.
func (t *Talks) CanRead(principal, id string, now time.Time) bool {
	m, ok := t.Member(principal)
	return ok && contains(t.roomOrgs(id, now), m.Org)
}
