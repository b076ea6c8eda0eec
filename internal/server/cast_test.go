package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// castRoute is a route of the talks as one class of access sees it: the host's view, an act,
// the events, and the record's tiles.
type castRoute struct {
	name  string
	build func(m *muscat, p *person) request
}

var castRoutes = []castRoute{
	{"view", func(m *muscat, p *person) request {
		return request{method: http.MethodGet, path: talksPath(m.id), token: p.token}
	}},
	{"act", func(m *muscat, p *person) request {
		return request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: p.token,
			body: api.SubmitAct{Act: m.act(p, m.id, talks.Propose{At: m.now(), By: p.actor(), Motion: "venue-" + p.org + "-" + p.name, Change: talks.SetVenue("Doha")})}}
	}},
	{"events", func(m *muscat, p *person) request {
		return request{method: http.MethodGet, path: talksPath(m.id, "events"), token: p.token}
	}},
	{"checkpoint", func(m *muscat, p *person) request {
		return request{method: http.MethodGet, path: talksPath(m.id, "log", "checkpoint"), token: p.token}
	}},
}

// castWant is, for each route, the status and problem a principal must get ("" for a success).
type castWant map[string]outcome

// checkCast runs every route as p and checks what it gets, and whether it finds the talks
// listed.
func checkCast(t *testing.T, m *muscat, who string, p *person, w castWant, listed bool) {
	t.Helper()
	for _, r := range castRoutes {
		got := m.do(r.build(m, p))
		want, ok := w[r.name]
		if !ok {
			t.Fatalf("%s: no outcome for %s", who, r.name)
		}
		if got.status != want.status || got.name() != want.problem {
			t.Errorf("%s, %s: %s, want %d %q", who, r.name, got, want.status, want.problem)
		}
	}
	var list api.TalksList
	r := m.do(request{method: http.MethodGet, path: "/v1/talks", token: p.token})
	r.decode(t, &list)
	found := false
	for _, s := range list.Talks {
		found = found || s.ID == m.id
	}
	if found != listed {
		t.Errorf("%s: listed %v, want %v", who, found, listed)
	}
}

// The authorisation of talks as their cast changes: an organisation invited, then refused; a
// principal whose organisation takes part but whose delegation has not taken it in; the only
// mediator of indirect talks, who cannot withdraw; and the mediator that withdrew once another
// took over, who reads only the record up to its leaving.
func TestAccessFollowsTheCast(t *testing.T) {
	m := newMuscat(t, nil)
	member := castWant{"view": ok200, "act": ok201, "events": ok200, "checkpoint": ok200}
	gone := castWant{"view": unknownTalks, "act": unknownTalks, "events": unknownTalks, "checkpoint": unknownTalks}
	notInDelegation := outcome{http.StatusForbidden, "not-member"}

	// The UAE, invited to mediate, reads the talks (and may not yet act in them).
	m.accepted(m.submit(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "invite-ae", Change: talks.InviteMediator("ae", m.pin("ae").Fingerprint)}))
	checkCast(t, m, "the invited UAE", m.ae, castWant{"view": ok200, "act": notMember, "events": ok200, "checkpoint": ok200}, true)
	// Iran refuses: the talks are unknown to the UAE again.
	m.accepted(m.submit(m.ir, m.id, talks.Vote{At: m.now(), By: m.ir.actor(), Motion: "invite-ae", Accept: false}))
	checkCast(t, m, "the refused UAE", m.ae, gone, false)

	// Invited again for a minute, and nobody answers: once the invitation expires, the talks are
	// unknown to the UAE, though no event says so.
	m.accepted(m.submit(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "invite-ae-brief", Change: talks.InviteMediator("ae", m.pin("ae").Fingerprint), Deadline: m.now().Add(time.Minute)}))
	want(t, m.do(request{method: http.MethodGet, path: talksPath(m.id), token: m.ae.token}), http.StatusOK, "")
	m.clock.advance(2 * time.Minute)
	want(t, m.do(request{method: http.MethodGet, path: talksPath(m.id), token: m.ae.token}), http.StatusNotFound, api.ProblemUnknownTalks.Name)

	// A US aide, not in the US delegation, is told so everywhere.
	no := castWant{"view": notInDelegation, "act": notInDelegation, "events": notInDelegation, "checkpoint": notInDelegation}
	checkCast(t, m, "a US aide outside the delegation", m.usAide, no, true)
	m.accepted(m.submit(m.us, m.id, talks.AddMember{At: m.now(), By: m.us.actor(), Member: talks.Member{Actor: m.usAide.actor()}}))
	checkCast(t, m, "the US aide, added", m.usAide, castWant{"view": ok200, "act": noAuthority, "events": ok200, "checkpoint": ok200}, true)

	// Oman cannot withdraw while it is the only mediator.
	want(t, m.submit(m.om, m.id, talks.Withdraw{At: m.now(), By: m.om.actor()}), http.StatusConflict, talks.ErrLastMediator.Name)
	checkCast(t, m, "Oman", m.om, member, true)

	// The UAE is invited again, accepted, and Oman withdraws: Oman finds the talks unknown but
	// reads the record up to its withdrawal, and no further.
	m.accepted(m.submit(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "invite-ae-2", Change: talks.InviteMediator("ae", m.pin("ae").Fingerprint)}))
	m.accepted(m.submit(m.ir, m.id, talks.Vote{At: m.now(), By: m.ir.actor(), Motion: "invite-ae-2", Accept: true}))
	m.accepted(m.submit(m.ae, m.id, talks.Vote{At: m.now(), By: m.ae.actor(), Motion: "invite-ae-2", Accept: true}))
	checkCast(t, m, "the UAE, mediating", m.ae, member, true)
	left := m.accepted(m.submit(m.om, m.id, talks.Withdraw{At: m.now(), By: m.om.actor()}))
	checkCast(t, m, "Oman, withdrawn", m.om, castWant{"view": unknownTalks, "act": unknownTalks, "events": ok200, "checkpoint": ok200}, false)
	m.accepted(m.submit(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "after", Change: talks.SetVenue("Abu Dhabi")}))
	var page api.EventPage
	m.do(request{method: http.MethodGet, path: talksPath(m.id, "events") + "?limit=1000", token: m.om.token}).decode(t, &page)
	if n := len(page.Events); n == 0 || page.Events[n-1].Index != left.Index {
		t.Fatalf("Oman, withdrawn, is served events up to %v, want up to its withdrawal at %d", page.Events[n-1].Index, left.Index)
	}
	for _, e := range page.Events {
		if e.Room != "" && !strings.HasPrefix(e.Room, "caucus:") && e.Room != talks.RoomMediators {
			t.Errorf("Oman, withdrawn, is served event %d of room %q", e.Index, e.Room)
		}
	}
}
