package talks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	bc "github.com/backchannel/backchannel"
)

// world is the small universe the property test draws from: a few organisations, each with a
// head-level, a senior and a junior principal, a few topics and venues.
type world struct {
	orgs       []string
	principals []Actor
	topics     []string
	venues     []string
}

func newWorld() world {
	w := world{
		orgs:   []string{"pa", "pb", "pc", "ma", "mb"},
		topics: []string{"t1", "t2", "t3", "t4"},
		venues: []string{"Muscat", "Geneva", "Istanbul"},
	}
	for _, o := range w.orgs {
		w.principals = append(w.principals,
			Actor{Principal: o + ".head", Org: o, Rank: 3},
			Actor{Principal: o + ".senior", Org: o, Rank: 4},
			Actor{Principal: o + ".junior", Org: o, Rank: 1},
		)
	}
	return w
}

// gen makes random, mostly plausible, events and messages for a talks.
type gen struct {
	r     *rand.Rand
	w     world
	tk    *Talks
	now   time.Time
	n     int
	lines RedLines // party pb's standing red lines
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// actor picks someone likely to be allowed to act: usually a member of the talks, sometimes
// anyone at all.
func (g *gen) actor() Actor {
	if ms := g.tk.Members(""); len(ms) > 0 && g.r.IntN(10) < 8 {
		m := pick(g.r, ms)
		a := m.Actor
		if g.r.IntN(10) == 0 {
			a.Rank = bc.Rank(1 + g.r.IntN(5))
		}
		return a
	}
	return pick(g.r, g.w.principals)
}

func (g *gen) change() Change {
	switch g.r.IntN(12) {
	case 0:
		// Now and then the invitation names a root other than the one pinned for the org.
		org := pick(g.r, g.w.orgs)
		if g.r.IntN(5) == 0 {
			return InviteMediator(org, rootOf("another "+org))
		}
		return InviteMediator(org, rootOf(org))
	case 1:
		return RemoveMediator(pick(g.r, g.w.orgs))
	case 2:
		return SetVenue(pick(g.r, g.w.venues))
	case 3:
		return SetFormat(pick(g.r, []Format{FormatDirect, FormatIndirect}))
	case 4:
		return SetLevel(bc.Rank(1 + g.r.IntN(5)))
	case 5, 6:
		return AddTopic(pick(g.r, g.w.topics))
	case 7:
		return RemoveTopic(pick(g.r, g.w.topics))
	case 8:
		return ScheduleRound(pick(g.r, append([]string{""}, g.w.venues...)), g.now.Add(time.Duration(g.r.IntN(48))*time.Hour))
	case 9:
		return OpenSession(g.now.Add(time.Duration(1+g.r.IntN(90)) * time.Minute))
	case 10:
		return pick(g.r, []Change{Suspend(), Resume()})
	}
	if g.r.IntN(4) == 0 {
		return Conclude()
	}
	return AddTopic(pick(g.r, g.w.topics))
}

func (g *gen) motionID() string {
	var pending []string
	for _, m := range g.tk.Motions() {
		if m.OutcomeAt(g.now) == OutcomePending {
			pending = append(pending, m.ID)
		}
	}
	if len(pending) > 0 && g.r.IntN(10) < 8 {
		return pick(g.r, pending)
	}
	if ms := g.tk.Motions(); len(ms) > 0 && g.r.IntN(10) < 9 {
		return pick(g.r, ms).ID
	}
	return fmt.Sprintf("m%d", g.r.IntN(1000))
}

// event returns the next event. Time moves on by up to half an hour, and now and then back.
func (g *gen) event() Event {
	g.n++
	g.now = g.now.Add(time.Duration(g.r.IntN(30)) * time.Minute)
	at := g.now
	if g.r.IntN(100) == 0 {
		at = at.Add(-time.Minute)
	}
	a := g.actor()
	switch k := g.r.IntN(100); {
	case k < 10:
		// Someone of a charter organisation accepts; first comers join as head.
		if g.r.IntN(4) > 0 {
			for _, o := range append(g.tk.Parties(), g.tk.Mediators()...) {
				if slices.Contains(g.tk.Accepted(), o) {
					continue
				}
				if h, ok := g.tk.Head(o); ok {
					a = h.Actor
				} else {
					a = g.w.principals[slices.IndexFunc(g.w.principals, func(p Actor) bool { return p.Org == o })]
				}
				break
			}
		}
		return AcceptCharter{At: at, By: a}
	case k < 16:
		m := pick(g.r, g.w.principals)
		if g.r.IntN(3) > 0 {
			m.Org = a.Org
			m.Principal = a.Org + m.Principal[2:]
		}
		return AddMember{At: at, By: a, Member: Member{Actor: m, Head: g.r.IntN(4) == 0}}
	case k < 19:
		return RemoveMember{At: at, By: a, Principal: pick(g.r, g.w.principals).Principal}
	case k < 21:
		return SetHead{At: at, By: a, Principal: pick(g.r, g.w.principals).Principal}
	case k < 45:
		p := Propose{At: at, By: a, Motion: fmt.Sprintf("m%d", g.n), Change: g.change()}
		if g.r.IntN(3) == 0 {
			p.Deadline = at.Add(time.Duration(1+g.r.IntN(120)) * time.Minute)
		}
		return p
	case k < 75:
		id := g.motionID()
		if v, ok := g.tk.StandingVote(g.lines, g.lines.By, id, at); ok && g.r.IntN(2) == 0 {
			return v
		}
		// A voter of the motion, if there is one: the invited mediator answers for itself.
		if m, ok := g.tk.Motion(id); ok && g.r.IntN(4) > 0 {
			var missing []string
			for _, o := range g.tk.Voters(m.Change) {
				if _, voted := m.Ballot(o); !voted {
					missing = append(missing, o)
				}
			}
			org := pick(g.r, g.tk.Voters(m.Change))
			if len(missing) > 0 {
				org = pick(g.r, missing)
			}
			if h, ok := g.tk.Head(org); ok {
				a = h.Actor
			} else {
				a = Actor{Principal: org + ".head", Org: org, Rank: 3}
			}
		}
		return Vote{At: at, By: a, Motion: id, Accept: g.r.IntN(10) < 8}
	case k < 83:
		n := 1 + g.r.IntN(len(g.tk.Rounds())+1)
		if g.r.IntN(2) == 0 {
			return OpenRound{At: at, By: a, Round: n}
		}
		return CloseRound{At: at, By: a, Round: n}
	case k < 88:
		return CloseSession{At: at, By: a}
	case k < 97:
		return Sign{At: at, By: a, Round: 1 + g.r.IntN(3), Digest: digest(fmt.Sprint(g.r.IntN(3))), Joint: g.r.IntN(2) == 0}
	}
	if g.r.IntN(10) == 0 {
		return Withdraw{At: at, By: a}
	}
	return Propose{At: at, By: a, Motion: fmt.Sprintf("m%d", g.n), Change: g.change()}
}

func (g *gen) header() Header {
	rooms := []string{RoomMediators, RoomPlenary, "nowhere"}
	for _, o := range g.w.orgs {
		rooms = append(rooms, RoomCaucus(o))
	}
	h := Header{
		Author: g.actor(),
		Room:   pick(g.r, rooms),
		Kind:   pick(g.r, bc.Kinds),
		Round:  pick(g.r, []int{0, g.tk.InSession(), 1 + g.r.IntN(3)}),
	}
	for _, tp := range g.w.topics {
		if g.r.IntN(3) == 0 {
			h.Topics = append(h.Topics, tp)
		}
	}
	if g.r.IntN(4) == 0 {
		h.Relay = &Relay{From: pick(g.r, rooms), Mode: pick(g.r, []RelayMode{RelayVerbatim, RelaySummary})}
	}
	return h
}

// allowedEdges is the status graph as docs/talks.md states it, written out independently of
// the package's own table.
var allowedEdges = map[[2]Status]bool{
	{StatusProposed, StatusActive}:     true,
	{StatusProposed, StatusCollapsed}:  true,
	{StatusActive, StatusSuspended}:    true,
	{StatusSuspended, StatusActive}:    true,
	{StatusActive, StatusConcluded}:    true,
	{StatusActive, StatusCollapsed}:    true,
	{StatusSuspended, StatusCollapsed}: true,
}

// TestProperties plays random sequences of events and messages and checks the invariants after
// every step: no plenary room in indirect format without an open direct session; no recipient
// outside its room; a refused event changes nothing; status moves only along allowed edges;
// an accepted message obeys every rule; and replaying the events rebuilds the talks exactly.
func TestProperties(t *testing.T) {
	seqs, steps := 100, 160
	if testing.Short() {
		seqs = 30
	}
	w := newWorld()
	reached := map[Status]int{}
	passed, posted := 0, 0
	for seed := range uint64(seqs) {
		r := rand.New(rand.NewPCG(seed, 0x7a1c5))
		parties := w.orgs[:2+r.IntN(2)]
		var mediators []string
		if r.IntN(2) == 0 {
			mediators = []string{"ma"}
		}
		c := Charter{
			ID: "prop", At: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Proposer: w.principals[0], Parties: parties, Mediators: mediators,
			Roots:      pins(append(slices.Clone(parties), mediators...)...),
			Visibility: pick(r, []Visibility{VisibilityPublic, VisibilityConfidential, VisibilitySecret}),
			Format:     pick(r, []Format{FormatIndirect, FormatDirect}),
			Level:      bc.Rank(1 + r.IntN(4)),
			Venue:      pick(r, []string{"", "Muscat"}),
		}
		tk, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{r: r, w: w, tk: tk, now: c.At, lines: RedLines{
			Talks: "prop", At: c.At, By: Actor{Principal: "pb.head", Org: "pb", Rank: 3},
			Topics: []string{"t3"}, Salt: digest("salt"),
		}}
		events := []Event{c}
		for range steps {
			e := g.event()
			before := tk.Clone()
			if err := tk.Apply(e); err != nil {
				var ref *Refusal
				if !errors.As(err, &ref) {
					t.Fatalf("seed %d: %T refused with a %T, not a *Refusal: %v", seed, e, err, err)
				}
				if !equalTalks(before, tk) {
					t.Fatalf("seed %d: refused %T changed the state: %v", seed, e, err)
				}
			} else {
				events = append(events, e)
				if p, ok := e.(Vote); ok {
					if m, _ := tk.Motion(p.Motion); m.Outcome == OutcomePassed {
						passed++
					}
				}
				if a, b := before.Status(), tk.Status(); a != b && !allowedEdges[[2]Status{a, b}] {
					t.Fatalf("seed %d: %T moved the talks from %s to %s", seed, e, a, b)
				}
			}
			reached[tk.Status()]++
			for _, now := range []time.Time{g.now, g.now.Add(time.Duration(r.IntN(120)) * time.Minute)} {
				checkRooms(t, seed, tk, w, now)
				checkStructure(t, seed, tk)
				h := g.header()
				if err := tk.CheckMessage(h, now); err == nil {
					checkAcceptedMessage(t, seed, tk, h, now)
					posted++
				} else {
					var ref *Refusal
					if !errors.As(err, &ref) {
						t.Fatalf("seed %d: message refused with %T, not a *Refusal: %v", seed, err, err)
					}
				}
			}
		}
		checkReplay(t, seed, tk, events)
	}
	t.Logf("steps by status %v; %d motions passed; %d messages accepted", reached, passed, posted)
	if posted < seqs {
		t.Errorf("only %d messages accepted in %d sequences: the generator needs work", posted, seqs)
	}
	for _, s := range []Status{StatusProposed, StatusActive, StatusSuspended, StatusConcluded, StatusCollapsed} {
		if reached[s] == 0 {
			t.Errorf("no sequence reached status %s: the generator needs work", s)
		}
	}
	if passed < seqs {
		t.Errorf("only %d motions passed in %d sequences: the generator needs work", passed, seqs)
	}
}

// roomOrgsOracle says, from first principles, which organisations may sit in a room.
func roomOrgsOracle(tk *Talks, id string, now time.Time) []string {
	open := false
	if s := tk.Sessions(); len(s) > 0 {
		last := s[len(s)-1]
		open = last.Closed.IsZero() && now.Before(last.Until)
	}
	switch {
	case id == RoomMediators:
		return tk.Mediators()
	case id == RoomPlenary:
		if tk.Format() == FormatDirect || open {
			return append(tk.Parties(), tk.Mediators()...)
		}
		return nil
	}
	for _, p := range tk.Parties() {
		if id == "caucus:"+p {
			return append([]string{p}, tk.Mediators()...)
		}
	}
	return nil
}

func checkRooms(t *testing.T, seed uint64, tk *Talks, w world, now time.Time) {
	t.Helper()
	for _, room := range tk.Rooms(now) {
		if room.ID == RoomPlenary && tk.Format() == FormatIndirect && roomOrgsOracle(tk, RoomPlenary, now) == nil {
			t.Fatalf("seed %d: a plenary room in indirect format with no direct session open", seed)
		}
		allowed := roomOrgsOracle(tk, room.ID, now)
		if len(allowed) == 0 {
			t.Fatalf("seed %d: room %s exists but nobody may sit in it", seed, room.ID)
		}
		recips := tk.Recipients(room.ID, now)
		if !slices.Equal(recips, room.Members) {
			t.Fatalf("seed %d: room %s: Recipients %v, Rooms says %v", seed, room.ID, recips, room.Members)
		}
		for _, p := range w.principals {
			m, member := tk.Member(p.Principal)
			in := member && slices.Contains(allowed, m.Org)
			if got := slices.Contains(recips, p.Principal); got != in {
				t.Fatalf("seed %d: room %s: %s recipient %v, should be %v", seed, room.ID, p.Principal, got, in)
			}
			if got := tk.CanRead(p.Principal, room.ID, now); got != in {
				t.Fatalf("seed %d: room %s: CanRead(%s) %v, should be %v", seed, room.ID, p.Principal, got, in)
			}
		}
	}
	if !tk.HasRoom(RoomPlenary, now) && tk.CanRead(w.principals[0].Principal, RoomPlenary, now) {
		t.Fatalf("seed %d: CanRead in a plenary that does not exist", seed)
	}
}

func checkStructure(t *testing.T, seed uint64, tk *Talks) {
	t.Helper()
	if !slices.IsSorted(tk.Agenda()) || len(slices.Compact(tk.Agenda())) != len(tk.Agenda()) {
		t.Fatalf("seed %d: agenda %v is not a sorted set", seed, tk.Agenda())
	}
	heads := map[string]int{}
	for _, m := range tk.Members("") {
		if tk.Role(m.Org) == "" {
			t.Fatalf("seed %d: %s sits for %s, which holds no role", seed, m.Principal, m.Org)
		}
		if m.Head {
			heads[m.Org]++
		}
	}
	for _, m := range tk.Members("") {
		if heads[m.Org] != 1 {
			t.Fatalf("seed %d: delegation of %s has %d heads", seed, m.Org, heads[m.Org])
		}
	}
	roots := tk.Roots()
	if c := tk.Charter().Roots; !slices.Equal(roots[:len(c)], c) {
		t.Fatalf("seed %d: roots %v do not start with the charter's %v", seed, roots, c)
	}
	for i, p := range roots {
		if slices.ContainsFunc(roots[:i], func(q Pin) bool { return q.Org == p.Org }) {
			t.Fatalf("seed %d: %s pinned twice in %v", seed, p.Org, roots)
		}
	}
	pinned := func(org string) (string, bool) {
		i := slices.IndexFunc(roots, func(p Pin) bool { return p.Org == org })
		if i < 0 {
			return "", false
		}
		return roots[i].Fingerprint, true
	}
	for _, o := range append(tk.Parties(), tk.Mediators()...) {
		if _, ok := pinned(o); !ok {
			t.Fatalf("seed %d: %s takes part with no root pinned: %v", seed, o, roots)
		}
	}
	for _, m := range tk.Motions() {
		if m.Outcome == OutcomePassed && m.Change.Kind == MotionInviteMediator {
			if fp, _ := pinned(m.Change.Org); fp != m.Change.Root {
				t.Fatalf("seed %d: motion %s appointed %s with root %s, pinned %s", seed, m.ID, m.Change.Org, m.Change.Root, fp)
			}
		}
	}
	inSession := 0
	for _, r := range tk.Rounds() {
		if r.State == RoundInSession {
			inSession++
		}
	}
	if inSession > 1 {
		t.Fatalf("seed %d: %d rounds in session", seed, inSession)
	}
}

func checkAcceptedMessage(t *testing.T, seed uint64, tk *Talks, h Header, now time.Time) {
	t.Helper()
	fail := func(why string) { t.Fatalf("seed %d: accepted message %+v at %s: %s", seed, h, now, why) }
	if tk.Status() != StatusActive {
		fail("talks are " + string(tk.Status()))
	}
	if !tk.CanRead(h.Author.Principal, h.Room, now) || !slices.Contains(tk.Recipients(h.Room, now), h.Author.Principal) {
		fail("author is not in the room")
	}
	for _, tp := range h.Topics {
		if !slices.Contains(tk.Agenda(), tp) {
			fail("topic " + tp + " is not on the agenda")
		}
	}
	verbatim := h.Relay != nil && h.Relay.Mode == RelayVerbatim
	if h.Kind.Formal() && !verbatim && h.Author.Rank < tk.Level() {
		fail("formal kind below the level")
	}
	if h.Relay != nil && (tk.Role(h.Author.Org) != RoleMediator || !tk.CanRead(h.Author.Principal, h.Relay.From, now)) {
		fail("relay by someone not a mediator of both rooms")
	}
	if h.Round != tk.InSession() {
		fail("wrong round")
	}
}

func checkReplay(t *testing.T, seed uint64, tk *Talks, events []Event) {
	t.Helper()
	decoded := make([]Event, len(events))
	for i, e := range events {
		b, err := Marshal(e)
		if err != nil {
			t.Fatalf("seed %d: marshal event %d: %v", seed, i, err)
		}
		if decoded[i], err = Parse(b); err != nil {
			t.Fatalf("seed %d: parse event %d: %v\n%s", seed, i, err, b)
		}
	}
	got, err := Replay(decoded)
	if err != nil {
		t.Fatalf("seed %d: replay: %v", seed, err)
	}
	if !equalTalks(got, tk) {
		t.Fatalf("seed %d: replay of %d events differs from the live state", seed, len(events))
	}
}
