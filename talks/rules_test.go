package talks

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bc "github.com/backchannel/backchannel"
)

var t0 = day(time.May, 1, 9, 0)

// active returns running talks between the US and Iran with Oman mediating, in Muscat, on the
// nuclear programme, at level 3.
func active(t *testing.T, format Format) *Talks {
	t.Helper()
	tk, err := New(Charter{
		ID: "rules", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots: pins("us", "ir", "om"), Visibility: VisibilityPublic, Format: format, Level: 3, Venue: "Muscat",
		Agenda: []string{"nuclear-programme"},
	})
	if err != nil {
		t.Fatal(err)
	}
	must(t, tk, AcceptCharter{At: t0, By: irFM})
	if tk.Status() != StatusProposed {
		t.Fatalf("active before the mediator accepted: %s", tk.Status())
	}
	must(t, tk, AcceptCharter{At: t0, By: omFM})
	if tk.Status() != StatusActive {
		t.Fatalf("status %s after every acceptance", tk.Status())
	}
	return tk
}

func must(t *testing.T, tk *Talks, events ...Event) {
	t.Helper()
	for _, e := range events {
		if err := tk.Apply(e); err != nil {
			t.Fatalf("%T: %v", e, err)
		}
	}
}

func refused(t *testing.T, tk *Talks, rule *Rule, e Event) {
	t.Helper()
	before := tk.Clone()
	err := tk.Apply(e)
	if !errors.Is(err, rule) {
		t.Fatalf("%T: got %v, want %q", e, err, rule.Name)
	}
	if !equalTalks(before, tk) {
		t.Fatalf("%T: refused, yet the state changed", e)
	}
}

func outcome(t *testing.T, tk *Talks, id string, at time.Time) Outcome {
	t.Helper()
	m, ok := tk.Motion(id)
	if !ok {
		t.Fatalf("no motion %q", id)
	}
	return m.OutcomeAt(at)
}

// changeFor returns a change of each kind that applies to the talks made by active.
func changeFor(k MotionKind) Change {
	switch k {
	case MotionInviteMediator:
		return InviteMediator("qa", rootOf("qa"))
	case MotionRemoveMediator:
		return RemoveMediator("om")
	case MotionAddParty:
		return AddParty("qa", rootOf("qa"))
	case MotionRemoveParty:
		return RemoveParty("qa")
	case MotionSetVenue:
		return SetVenue("Geneva")
	case MotionSetFormat:
		return SetFormat(FormatDirect)
	case MotionSetLevel:
		return SetLevel(4)
	case MotionAddTopic:
		return AddTopic("sanctions-relief")
	case MotionRemoveTopic:
		return RemoveTopic("nuclear-programme")
	case MotionScheduleRound:
		return ScheduleRound("", t0.Add(7*24*time.Hour))
	case MotionOpenSession:
		return OpenSession(t0.Add(time.Hour))
	case MotionSuspend:
		return Suspend()
	case MotionResume:
		return Resume()
	}
	return Conclude()
}

// TestWhoMayPropose is the proposal rule table of docs/talks.md, checked through Apply.
func TestWhoMayPropose(t *testing.T) {
	table := map[MotionKind]struct{ party, mediator bool }{
		MotionInviteMediator: {true, false},
		MotionRemoveMediator: {true, false},
		MotionSetVenue:       {true, true},
		MotionSetFormat:      {true, false},
		MotionSetLevel:       {true, false},
		MotionAddTopic:       {true, false},
		MotionRemoveTopic:    {true, false},
		MotionScheduleRound:  {true, true},
		MotionOpenSession:    {true, true},
		MotionSuspend:        {true, true},
		MotionResume:         {true, true},
		MotionConclude:       {true, true},
		MotionAddParty:       {true, false},
		MotionRemoveParty:    {true, false},
	}
	if len(table) != len(MotionKinds) {
		t.Fatalf("the table covers %d kinds of %d", len(table), len(MotionKinds))
	}
	for _, k := range MotionKinds {
		want := table[k]
		for _, c := range []struct {
			by    Actor
			role  Role
			allow bool
		}{{usEnvoy, RoleParty, want.party}, {omFM, RoleMediator, want.mediator}} {
			if got := MayPropose(c.role, k); got != c.allow {
				t.Errorf("MayPropose(%s, %s) = %v, want %v", c.role, k, got, c.allow)
			}
			tk := active(t, FormatIndirect)
			if k == MotionResume {
				must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "s", Change: Suspend()}, Vote{At: t0, By: irFM, Motion: "s", Accept: true})
			}
			if k == MotionRemoveMediator {
				// Indirect talks keep a mediator: add a second one first.
				must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "q", Change: InviteMediator("qa", rootOf("qa"))},
					Vote{At: t0, By: irFM, Motion: "q", Accept: true}, Vote{At: t0, By: qaMinistry, Motion: "q", Accept: true})
			}
			if k == MotionRemoveParty {
				// Talks keep two parties: add a third first.
				must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "q", Change: AddParty("qa", rootOf("qa"))},
					Vote{At: t0, By: irFM, Motion: "q", Accept: true}, Vote{At: t0, By: qaMinistry, Motion: "q", Accept: true})
			}
			err := tk.Apply(Propose{At: t0.Add(time.Minute), By: c.by, Motion: "m", Change: changeFor(k)})
			if c.allow && err != nil {
				t.Errorf("a %s proposing %s: %v", c.role, k, err)
			}
			if !c.allow && !errors.Is(err, ErrNotAllowedToPropose) {
				t.Errorf("a %s proposing %s: %v, want %q", c.role, k, err, ErrNotAllowedToPropose.Name)
			}
		}
	}
	// Outsiders and juniors propose nothing.
	tk := active(t, FormatIndirect)
	refused(t, tk, ErrNotMember, Propose{At: t0, By: aeDiplomat, Motion: "m", Change: SetVenue("Abu Dhabi")})
	must(t, tk, AddMember{At: t0, By: irFM, Member: Member{Actor: irSpokesman}})
	refused(t, tk, ErrNoAuthority, Propose{At: t0, By: irSpokesman, Motion: "m", Change: SetVenue("Tehran")})
}

// TestConsent: a motion passes only when every party accepts, through its head or someone of
// at least the head's rank, and an invited mediator accepts its own appointment; one refusal
// defeats it.
func TestConsent(t *testing.T) {
	tk := active(t, FormatIndirect)
	must(t, tk,
		AddMember{At: t0, By: irFM, Member: Member{Actor: irSpokesman}},
		AddMember{At: t0, By: irFM, Member: Member{Actor: irSNSC}},
		Propose{At: t0, By: usEnvoy, Motion: "venue", Change: SetVenue("Geneva")},
	)
	refused(t, tk, ErrNoAuthority, Vote{At: t0, By: irSpokesman, Motion: "venue", Accept: true})
	refused(t, tk, ErrNotAVoter, Vote{At: t0, By: omFM, Motion: "venue", Accept: true})
	refused(t, tk, ErrAlreadyVoted, Vote{At: t0, By: usEnvoy, Motion: "venue", Accept: true})
	refused(t, tk, ErrNoSuchMotion, Vote{At: t0, By: irFM, Motion: "nothing", Accept: true})
	must(t, tk, Vote{At: t0, By: irSNSC, Motion: "venue", Accept: true})
	if tk.Venue() != "Geneva" || outcome(t, tk, "venue", t0) != OutcomePassed {
		t.Fatalf("venue %q after both parties accepted", tk.Venue())
	}
	refused(t, tk, ErrMotionClosed, Vote{At: t0, By: irFM, Motion: "venue", Accept: false})

	// The parties' consent is not enough to appoint a mediator: it must accept too.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "qatar", Change: InviteMediator("qa", rootOf("qa"))},
		Vote{At: t0, By: irFM, Motion: "qatar", Accept: true},
	)
	if outcome(t, tk, "qatar", t0) != OutcomePending || len(tk.Mediators()) != 1 {
		t.Fatalf("Qatar appointed without accepting")
	}
	refused(t, tk, ErrAlreadyMember, Vote{At: t0, By: Actor{Principal: "ir.foreign-minister", Org: "qa", Rank: 3}, Motion: "qatar", Accept: true})
	must(t, tk, Vote{At: t0, By: qaMinistry, Motion: "qatar", Accept: true})
	if h, ok := tk.Head("qa"); !ok || h.Principal != qaMinistry.Principal {
		t.Fatalf("Qatar's first member does not head its delegation: %+v", h)
	}

	// One refusal defeats, whoever else accepted.
	must(t, tk,
		Propose{At: t0, By: irFM, Motion: "topic", Change: AddTopic("sanctions-relief")},
		Vote{At: t0, By: usEnvoy, Motion: "topic", Accept: false},
	)
	if outcome(t, tk, "topic", t0) != OutcomeRefused || len(tk.Agenda()) != 1 {
		t.Fatalf("a refused topic reached the agenda: %v", tk.Agenda())
	}
	refused(t, tk, ErrMotionRefused, Vote{At: t0, By: irFM, Motion: "topic", Accept: true})
	refused(t, tk, ErrDuplicateID, Propose{At: t0, By: irFM, Motion: "topic", Change: AddTopic("sanctions-relief")})
	refused(t, tk, ErrNoChange, Propose{At: t0, By: irFM, Motion: "again", Change: AddTopic("nuclear-programme")})

	// The parties alone dismiss a mediator, but indirect talks keep one.
	must(t, tk, Propose{At: t0, By: irFM, Motion: "no-om", Change: RemoveMediator("om")}, Vote{At: t0, By: usEnvoy, Motion: "no-om", Accept: true})
	if tk.Role("om") != "" || tk.CanRead(omFM.Principal, "caucus:ir", t0) {
		t.Fatalf("Oman still sits after its removal")
	}
	refused(t, tk, ErrLastMediator, Propose{At: t0, By: irFM, Motion: "alone", Change: RemoveMediator("qa")})
}

// TestMotionExpiry: a vote at or after the deadline sees the motion expired, by the time the
// vote carries, and a motion with no deadline expires after DefaultMotionTTL.
func TestMotionExpiry(t *testing.T) {
	tk := active(t, FormatIndirect)
	deadline := t0.Add(time.Hour)
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "venue", Change: SetVenue("Geneva"), Deadline: deadline},
		Propose{At: t0, By: usEnvoy, Motion: "level", Change: SetLevel(4)},
	)
	if got := outcome(t, tk, "venue", deadline.Add(-time.Second)); got != OutcomePending {
		t.Errorf("before the deadline: %s", got)
	}
	refused(t, tk, ErrMotionExpired, Vote{At: deadline, By: irFM, Motion: "venue", Accept: true})
	if m, _ := tk.Motion("level"); !m.Deadline.Equal(t0.Add(DefaultMotionTTL)) {
		t.Errorf("default deadline %s", m.Deadline)
	}
	must(t, tk, Vote{At: deadline, By: irFM, Motion: "level", Accept: true})
	if tk.Level() != 4 {
		t.Errorf("level %d", tk.Level())
	}
	refused(t, tk, ErrTimeWentBack, Vote{At: t0, By: irFM, Motion: "venue", Accept: true})
	refused(t, tk, ErrMalformed, Propose{At: deadline, By: usEnvoy, Motion: "late", Change: Suspend(), Deadline: t0})
}

// TestDirectSession: a consented direct session adds a plenary room until its time is up or
// someone closes it; direct format keeps one for good.
func TestDirectSession(t *testing.T) {
	tk := active(t, FormatIndirect)
	until := t0.Add(15 * time.Minute)
	must(t, tk, Propose{At: t0, By: omFM, Motion: "courtesy", Change: OpenSession(until)})
	if tk.HasRoom(RoomPlenary, t0) {
		t.Fatal("a plenary room before both parties consented")
	}
	must(t, tk, Vote{At: t0, By: usEnvoy, Motion: "courtesy", Accept: true}, Vote{At: t0, By: irFM, Motion: "courtesy", Accept: true})
	want := []string{"us.special-envoy", "ir.foreign-minister", "om.foreign-minister"}
	if got := tk.Recipients(RoomPlenary, t0); !equalStrings(got, want) {
		t.Errorf("plenary recipients %v, want %v", got, want)
	}
	if err := tk.CheckMessage(Header{Author: usEnvoy, Room: RoomPlenary, Kind: bc.KindNote}, until.Add(-time.Second)); err != nil {
		t.Errorf("a note in the open plenary: %v", err)
	}
	// The time box closes the session with no event at all.
	if tk.HasRoom(RoomPlenary, until) || tk.CanRead(usEnvoy.Principal, RoomPlenary, until) || len(tk.Recipients(RoomPlenary, until)) != 0 {
		t.Error("the plenary room outlived its time box")
	}
	if err := tk.CheckMessage(Header{Author: usEnvoy, Room: RoomPlenary, Kind: bc.KindNote}, until); !errors.Is(err, ErrNoSuchRoom) {
		t.Errorf("a note in the expired plenary: %v", err)
	}
	refused(t, tk, ErrNoSession, CloseSession{At: until, By: irFM})

	// Any one side may close a session early.
	must(t, tk,
		Propose{At: until, By: irFM, Motion: "again", Change: OpenSession(until.Add(time.Hour))},
		Vote{At: until, By: usEnvoy, Motion: "again", Accept: true},
		CloseSession{At: until.Add(time.Minute), By: irFM},
	)
	if tk.HasRoom(RoomPlenary, until.Add(time.Minute)) {
		t.Error("the plenary room survived its closing")
	}

	direct := active(t, FormatDirect)
	if !direct.HasRoom(RoomPlenary, t0.Add(1000*time.Hour)) {
		t.Error("direct format without a plenary room")
	}
	refused(t, direct, ErrNoChange, Propose{At: t0, By: usEnvoy, Motion: "s", Change: OpenSession(until)})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStatus: the status moves only along the allowed edges, and nothing but a motion to
// resume is proposed while suspended.
func TestStatus(t *testing.T) {
	for _, c := range []struct {
		from, to Status
		ok       bool
	}{
		{StatusProposed, StatusActive, true},
		{StatusProposed, StatusCollapsed, true},
		{StatusProposed, StatusSuspended, false},
		{StatusActive, StatusSuspended, true},
		{StatusSuspended, StatusActive, true},
		{StatusActive, StatusConcluded, true},
		{StatusActive, StatusCollapsed, true},
		{StatusSuspended, StatusCollapsed, true},
		{StatusSuspended, StatusConcluded, false},
		{StatusConcluded, StatusActive, false},
		{StatusCollapsed, StatusActive, false},
		{StatusActive, StatusProposed, false},
	} {
		if got := CanMove(c.from, c.to); got != c.ok {
			t.Errorf("CanMove(%s, %s) = %v, want %v", c.from, c.to, got, c.ok)
		}
	}

	tk := active(t, FormatIndirect)
	must(t, tk,
		Propose{At: t0, By: omFM, Motion: "round", Change: ScheduleRound("", t0)},
		Vote{At: t0, By: usEnvoy, Motion: "round", Accept: true}, Vote{At: t0, By: irFM, Motion: "round", Accept: true},
		OpenRound{At: t0, By: omFM, Round: 1},
		Propose{At: t0, By: usEnvoy, Motion: "pending", Change: SetVenue("Geneva")},
		Propose{At: t0, By: omFM, Motion: "suspend", Change: Suspend()},
		Vote{At: t0, By: usEnvoy, Motion: "suspend", Accept: true}, Vote{At: t0, By: irFM, Motion: "suspend", Accept: true},
	)
	if tk.Status() != StatusSuspended || tk.InSession() != 0 || outcome(t, tk, "pending", t0) != OutcomeLapsed {
		t.Fatalf("suspension: status %s, round in session %d, pending motion %s", tk.Status(), tk.InSession(), outcome(t, tk, "pending", t0))
	}
	refused(t, tk, ErrSuspended, Propose{At: t0, By: usEnvoy, Motion: "c", Change: Conclude()})
	refused(t, tk, ErrSuspended, OpenRound{At: t0, By: omFM, Round: 1})
	if err := tk.CheckMessage(Header{Author: usEnvoy, Room: "caucus:us", Kind: bc.KindNote}, t0); !errors.Is(err, ErrSuspended) {
		t.Errorf("a note while suspended: %v", err)
	}
	if tk.CanPost(usEnvoy.Principal, "caucus:us", t0) || !tk.CanRead(usEnvoy.Principal, "caucus:us", t0) {
		t.Error("while suspended, members read their rooms and post nowhere")
	}
	must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "resume", Change: Resume()}, Vote{At: t0, By: irFM, Motion: "resume", Accept: true})
	must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "end", Change: Conclude()}, Vote{At: t0, By: irFM, Motion: "end", Accept: true})
	if tk.Status() != StatusConcluded {
		t.Fatalf("status %s", tk.Status())
	}
	refused(t, tk, ErrTalksOver, Propose{At: t0, By: usEnvoy, Motion: "r", Change: Resume()})
	refused(t, tk, ErrTalksOver, Withdraw{At: t0, By: irFM})

	// A party that withdraws from two-party talks collapses them. The only mediator of indirect
	// talks cannot withdraw; in direct talks, a mediator that withdraws just leaves.
	tk = active(t, FormatIndirect)
	refused(t, tk, ErrLastMediator, Withdraw{At: t0, By: omFM})
	tk = active(t, FormatDirect)
	must(t, tk, Withdraw{At: t0, By: omFM})
	if tk.Status() != StatusActive || len(tk.Mediators()) != 0 || tk.CanRead(omFM.Principal, RoomMediators, t0) {
		t.Fatalf("after the mediator withdrew: %s, mediators %v", tk.Status(), tk.Mediators())
	}
	must(t, tk, Withdraw{At: t0, By: irFM})
	if tk.Status() != StatusCollapsed {
		t.Fatalf("after a party withdrew: %s", tk.Status())
	}
}

// TestStatements: statements follow a closed round; a joint one is complete when every party
// has signed the same text; secret talks make none.
func TestStatements(t *testing.T) {
	tk := active(t, FormatIndirect)
	must(t, tk,
		Propose{At: t0, By: omFM, Motion: "round", Change: ScheduleRound("", t0)},
		Vote{At: t0, By: usEnvoy, Motion: "round", Accept: true}, Vote{At: t0, By: irFM, Motion: "round", Accept: true},
		OpenRound{At: t0, By: omFM, Round: 1},
	)
	joint := digest("The two sides agreed to meet again.")
	refused(t, tk, ErrRoundState, Sign{At: t0, By: usEnvoy, Round: 1, Digest: joint, Joint: true})
	refused(t, tk, ErrNoSuchRound, Sign{At: t0, By: usEnvoy, Round: 2, Digest: joint, Joint: true})
	must(t, tk, CloseRound{At: t0, By: irFM, Round: 1})
	refused(t, tk, ErrNotMember, Sign{At: t0, By: omFM, Round: 1, Digest: joint, Joint: true})
	must(t, tk, Sign{At: t0, By: usEnvoy, Round: 1, Digest: joint, Joint: true})
	if s := tk.Statements(); len(s) != 1 || s[0].Complete {
		t.Fatalf("a joint statement complete with one signature: %+v", s)
	}
	refused(t, tk, ErrAlreadySigned, Sign{At: t0, By: usVPIn(t, tk), Round: 1, Digest: joint, Joint: true})
	must(t, tk, Sign{At: t0, By: irFM, Round: 1, Digest: joint, Joint: true})
	if s := tk.Statements(); len(s) != 1 || !s[0].Complete || len(s[0].Signers) != 2 {
		t.Fatalf("a joint statement signed by both: %+v", s)
	}

	secret, err := New(Charter{ID: "quiet", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Roots: pins("us", "ir"),
		Visibility: VisibilitySecret, Format: FormatDirect, Level: 1, Venue: "Muscat"})
	if err != nil {
		t.Fatal(err)
	}
	must(t, secret, AcceptCharter{At: t0, By: irFM},
		Propose{At: t0, By: usEnvoy, Motion: "round", Change: ScheduleRound("", t0)},
		Vote{At: t0, By: irFM, Motion: "round", Accept: true},
		OpenRound{At: t0, By: usEnvoy, Round: 1}, CloseRound{At: t0, By: usEnvoy, Round: 1})
	refused(t, secret, ErrSecret, Sign{At: t0, By: usEnvoy, Round: 1, Digest: joint})
}

// usVPIn adds the US Vice President to the delegation and returns it.
func usVPIn(t *testing.T, tk *Talks) Actor {
	t.Helper()
	must(t, tk, AddMember{At: t0, By: usEnvoy, Member: Member{Actor: usVP}})
	return usVP
}

// TestDelegations: a delegation changes only by its own head or seniors, keeps one head, and a
// principal sits in one delegation.
func TestDelegations(t *testing.T) {
	tk := active(t, FormatIndirect)
	refused(t, tk, ErrNoAuthority, AddMember{At: t0, By: usEnvoy, Member: Member{Actor: irSNSC}})
	refused(t, tk, ErrAlreadyMember, AddMember{At: t0, By: usEnvoy, Member: Member{Actor: Actor{Principal: "ir.foreign-minister", Org: "us", Rank: 3}}})
	refused(t, tk, ErrHeadOfDelegation, RemoveMember{At: t0, By: usEnvoy, Principal: usEnvoy.Principal})
	must(t, tk, AddMember{At: t0, By: usEnvoy, Member: Member{Actor: usAdviser}})
	refused(t, tk, ErrNoAuthority, AddMember{At: t0, By: usAdviser, Member: Member{Actor: usVP}})
	must(t, tk, AddMember{At: t0, By: usEnvoy, Member: Member{Actor: usVP, Head: true}})
	if h, _ := tk.Head("us"); h.Principal != usVP.Principal {
		t.Fatalf("head %s", h.Principal)
	}
	// The old head, now ranking below the new one, no longer acts for the US.
	refused(t, tk, ErrNoAuthority, Propose{At: t0, By: usEnvoy, Motion: "m", Change: SetVenue("Geneva")})
	must(t, tk, SetHead{At: t0, By: usVP, Principal: usEnvoy.Principal}, RemoveMember{At: t0, By: usEnvoy, Principal: usAdviser.Principal})
	if tk.CanRead(usAdviser.Principal, "caucus:us", t0) {
		t.Error("a removed member still reads its caucus")
	}
}

// TestStandingVote: red lines refuse only pending motions adding one of their topics, only
// after they were given, and only once.
func TestStandingVote(t *testing.T) {
	tk := active(t, FormatIndirect)
	lines := RedLines{Talks: "rules", At: t0, By: irFM, Topics: []string{"missiles"}, Salt: digest("salt")}
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "missiles", Change: AddTopic("missiles")},
		Propose{At: t0, By: usEnvoy, Motion: "drones", Change: AddTopic("drones")},
		Propose{At: t0, By: irFM, Motion: "own", Change: AddTopic("missiles")},
	)
	if _, ok := tk.StandingVote(lines, lines.By, "drones", t0); ok {
		t.Error("red lines refused a topic they do not hold")
	}
	if _, ok := tk.StandingVote(lines, lines.By, "own", t0); ok {
		t.Error("red lines refused the party's own motion")
	}
	if _, ok := tk.StandingVote(lines, lines.By, "missiles", t0.Add(-time.Second)); ok {
		t.Error("red lines refused before they were given")
	}
	other := lines
	other.Talks = "elsewhere"
	if _, ok := tk.StandingVote(other, other.By, "missiles", t0); ok {
		t.Error("red lines of other talks refused")
	}
	v, ok := tk.StandingVote(lines, lines.By, "missiles", t0)
	if !ok || v.Accept || v.Standing != lines.Commitment() {
		t.Fatalf("standing vote %+v, %v", v, ok)
	}
	must(t, tk, v)
	if outcome(t, tk, "missiles", t0) != OutcomeRefused {
		t.Error("the standing refusal did not defeat the motion")
	}
	if _, ok := tk.StandingVote(lines, lines.By, "missiles", t0); ok {
		t.Error("red lines refused a decided motion")
	}
	// A standing vote is a party's refusal, never a mediator's and never an acceptance.
	refused(t, tk, ErrMalformed, Vote{At: t0, By: irFM, Motion: "drones", Accept: true, Standing: lines.Commitment()})
}

// TestMessageRules covers the message rules the scenario does not reach.
func TestMessageRules(t *testing.T) {
	tk := active(t, FormatIndirect)
	for _, c := range []struct {
		name string
		h    Header
		want *Rule
	}{
		{"no such room", Header{Author: usEnvoy, Room: "caucus:om", Kind: bc.KindNote}, ErrNoSuchRoom},
		{"bad kind", Header{Author: usEnvoy, Room: "caucus:us", Kind: "memo"}, ErrMalformed},
		{"duplicate topic", Header{Author: usEnvoy, Room: "caucus:us", Kind: bc.KindNote, Topics: []string{"nuclear-programme", "nuclear-programme"}}, ErrMalformed},
		{"round not in session", Header{Author: usEnvoy, Room: "caucus:us", Kind: bc.KindNote, Round: 1}, ErrWrongRound},
		{"relay back into the same room", Header{Author: omFM, Room: "caucus:us", Kind: bc.KindNote, Relay: &Relay{From: "caucus:us", Mode: RelayVerbatim}}, ErrRelay},
		{"relay from a room the mediator is not in", Header{Author: omFM, Room: "caucus:us", Kind: bc.KindNote, Relay: &Relay{From: RoomPlenary, Mode: RelayVerbatim}}, ErrRelay},
		{"relay mode", Header{Author: omFM, Room: "caucus:us", Kind: bc.KindNote, Relay: &Relay{From: "caucus:ir", Mode: "gist"}}, ErrMalformed},
		{"mediators' room", Header{Author: omFM, Room: RoomMediators, Kind: bc.KindNote}, nil},
		{"verbatim relay of a formal kind", Header{Author: Actor{Principal: "om.foreign-minister", Org: "om", Rank: 1}, Room: "caucus:us", Kind: bc.KindProposal, Topics: []string{"nuclear-programme"}, Relay: &Relay{From: "caucus:ir", Mode: RelayVerbatim}}, nil},
	} {
		err := tk.CheckMessage(c.h, t0)
		if c.want == nil && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want.Name)
		}
	}
	proposed, _ := New(Charter{ID: "p", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Roots: pins("us", "ir"), Visibility: VisibilityPublic, Format: FormatIndirect, Level: 1})
	if err := proposed.CheckMessage(Header{Author: usEnvoy, Room: "caucus:us", Kind: bc.KindNote}, t0); !errors.Is(err, ErrNotActive) {
		t.Errorf("a note before the charter is accepted: %v", err)
	}
}

// TestCharterRules: a charter names at least two distinct parties, mediators that are not
// parties, a proposer from one of them, and a well-formed shape.
func TestCharterRules(t *testing.T) {
	ok := func() Charter {
		return Charter{ID: "c", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Mediators: []string{"om"}, Roots: pins("us", "ir", "om"),
			Visibility: VisibilityConfidential, Format: FormatIndirect, Level: 2, Venue: "Muscat", Agenda: []string{"nuclear-programme"}}
	}
	if _, err := New(ok()); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		edit func(*Charter)
		want *Rule
	}{
		"one party":               {func(c *Charter) { c.Parties = []string{"us"} }, ErrMalformed},
		"party twice":             {func(c *Charter) { c.Parties = []string{"us", "us"} }, ErrMalformed},
		"party and mediator":      {func(c *Charter) { c.Mediators = []string{"ir"} }, ErrMalformed},
		"outside proposer":        {func(c *Charter) { c.Proposer = aeDiplomat }, ErrNotMember},
		"bad id":                  {func(c *Charter) { c.ID = "Muscat Talks" }, ErrMalformed},
		"long organisation":       {func(c *Charter) { c.Parties = []string{"us", strings.Repeat("x", 60)} }, ErrMalformed},
		"no visibility":           {func(c *Charter) { c.Visibility = "" }, ErrMalformed},
		"no format":               {func(c *Charter) { c.Format = "" }, ErrMalformed},
		"level 6":                 {func(c *Charter) { c.Level = 6 }, ErrMalformed},
		"venue with a newline":    {func(c *Charter) { c.Venue = "Mus\ncat" }, ErrMalformed},
		"topic twice":             {func(c *Charter) { c.Agenda = []string{"a", "a"} }, ErrMalformed},
		"local time":              {func(c *Charter) { c.At = t0.In(fixedZone) }, ErrMalformed},
		"no time":                 {func(c *Charter) { c.At = time.Time{} }, ErrMalformed},
		"proposer without rank":   {func(c *Charter) { c.Proposer.Rank = 0 }, ErrMalformed},
		"upper-case principal":    {func(c *Charter) { c.Proposer.Principal = "US.envoy" }, ErrMalformed},
		"seventeen parties":       {func(c *Charter) { c.Parties = manyOrgs(17) }, ErrMalformed},
		"title control character": {func(c *Charter) { c.Proposer.Title = "Envoy\x00" }, ErrMalformed},
		"witness key not a key":   {func(c *Charter) { c.Witnesses = []Witness{{Key: "w.example", URL: "https://w.example"}} }, ErrMalformed},
		"witness without a URL":   {func(c *Charter) { c.Witnesses = []Witness{{Key: witnessKey, URL: ""}} }, ErrMalformed},
		"witness over ftp":        {func(c *Charter) { c.Witnesses = []Witness{{Key: witnessKey, URL: "ftp://w.example"}} }, ErrMalformed},
		"witness named twice": {func(c *Charter) {
			c.Witnesses = []Witness{{Key: witnessKey, URL: "https://w.example"}, {Key: witnessKey, URL: "https://w2.example"}}
		}, ErrMalformed},
		"witness quorum above the witnesses": {func(c *Charter) {
			c.Witnesses, c.WitnessQuorum = []Witness{{Key: witnessKey, URL: "https://w.example"}}, 2
		}, ErrMalformed},
		"negative quorum":          {func(c *Charter) { c.Quorum = -1 }, ErrMalformed},
		"quorum above the parties": {func(c *Charter) { c.Quorum = 3 }, ErrMalformed},
		"quorum of 1 of 2":         {func(c *Charter) { c.Quorum = 1 }, ErrMalformed},
		"quorum of 2 of 4": {func(c *Charter) {
			c.Parties, c.Roots, c.Quorum = []string{"us", "ir", "o1", "o2"}, pins("us", "ir", "o1", "o2", "om"), 2
		}, ErrMalformed},
	} {
		ch := ok()
		c.edit(&ch)
		if _, err := New(ch); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want.Name)
		}
	}
	if _, err := Replay([]Event{AcceptCharter{At: t0, By: irFM}}); !errors.Is(err, ErrNotCharter) {
		t.Errorf("replay without a charter: %v", err)
	}
	if _, err := Replay(nil); !errors.Is(err, ErrNotCharter) {
		t.Errorf("replay of nothing: %v", err)
	}
	tk := active(t, FormatIndirect)
	refused(t, tk, ErrNotCharter, ok())
	refused(t, tk, ErrBadTransition, AcceptCharter{At: t0, By: irFM})
}

// The quorum of parties that confirms a checkpoint is every party by default, or a majority the
// charter names: never so few that two quorums could confirm two histories.
func TestQuorum(t *testing.T) {
	for _, tc := range []struct {
		parties []string
		quorum  int
		want    int
	}{
		{[]string{"us", "ir"}, 0, 2},
		{[]string{"us", "ir"}, 2, 2},
		{[]string{"us", "ir", "o1"}, 0, 3},
		{[]string{"us", "ir", "o1"}, 2, 2},
		{[]string{"us", "ir", "o1", "o2"}, 3, 3},
		{[]string{"us", "ir", "o1", "o2", "o3"}, 3, 3},
	} {
		c := Charter{ID: "c", At: t0, Proposer: usEnvoy, Parties: tc.parties, Mediators: []string{"om"}, Roots: pins(append(tc.parties, "om")...),
			Visibility: VisibilityConfidential, Format: FormatIndirect, Level: 2, Quorum: tc.quorum}
		tk, err := New(c)
		if err != nil {
			t.Fatalf("%d parties, quorum %d: %v", len(tc.parties), tc.quorum, err)
		}
		if got := tk.Quorum(); got != tc.want {
			t.Errorf("%d parties, quorum %d: Quorum() = %d, want %d", len(tc.parties), tc.quorum, got, tc.want)
		}
	}
}

const witnessKey = "w.example/w1+1c2a3b4d+BFj8EgmFVlHKPj0wYOqxIe0oWVa+MsHIa6N1C0JQjb3k"

// A charter names witnesses by key and URL, and how many must cosign: every one by default.
func TestCharterWitnesses(t *testing.T) {
	c := Charter{ID: "c", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Mediators: []string{"om"}, Roots: pins("us", "ir", "om"),
		Visibility: VisibilityConfidential, Format: FormatIndirect, Level: 2,
		Witnesses: []Witness{{Key: witnessKey, URL: "https://w.example/witness"}, {Key: strings.Replace(witnessKey, "w1", "w2", 1), URL: "http://127.0.0.1:7380"}}}
	for _, tc := range []struct{ quorum, want int }{{0, 2}, {1, 1}, {2, 2}} {
		c.WitnessQuorum = tc.quorum
		tk, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		ws, q := tk.Witnesses()
		if len(ws) != 2 || q != tc.want || ws[0].Name() != "w.example/w1" {
			t.Errorf("witness quorum %d: %v, %d; want 2 witnesses, %d", tc.quorum, ws, q, tc.want)
		}
	}
}

func manyOrgs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("o%d", i))
	}
	return out
}

// TestCharterPins: the charter pins exactly one well-formed root for every organisation it
// names, parties and mediators, and for nothing else.
func TestCharterPins(t *testing.T) {
	ok := func() Charter {
		return Charter{ID: "c", At: t0, Proposer: usEnvoy, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
			Roots: pins("us", "ir", "om"), Visibility: VisibilityPublic, Format: FormatIndirect, Level: 2}
	}
	tk, err := New(ok())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Roots(), pins("us", "ir", "om"); !slices.Equal(got, want) {
		t.Errorf("Roots() = %v, want %v", got, want)
	}
	reordered := ok()
	reordered.Roots = pins("om", "ir", "us")
	if _, err := New(reordered); err != nil {
		t.Errorf("pins in another order: %v", err)
	}
	for name, c := range map[string]struct {
		edit   func(*Charter)
		detail string
	}{
		"no roots":             {func(c *Charter) { c.Roots = nil }, `no root is pinned for "us"`},
		"party missing a pin":  {func(c *Charter) { c.Roots = pins("us", "om") }, `no root is pinned for "ir"`},
		"mediator missing":     {func(c *Charter) { c.Roots = pins("us", "ir") }, `no root is pinned for "om"`},
		"extra pin":            {func(c *Charter) { c.Roots = pins("us", "ir", "om", "ae") }, "4 root pins for 3 organisations"},
		"pin for an outsider":  {func(c *Charter) { c.Roots = pins("us", "ir", "ae") }, `a root is pinned for "ae", which the charter does not name`},
		"look-alike org":       {func(c *Charter) { c.Roots = pins("us", "ir", "om2") }, `a root is pinned for "om2", which the charter does not name`},
		"pinned twice":         {func(c *Charter) { c.Roots = pins("us", "us", "om") }, `two roots are pinned for "us"`},
		"empty fingerprint":    {func(c *Charter) { c.Roots[1].Fingerprint = "" }, `the root fingerprint pinned for "ir" is not 64 lower-case hex digits`},
		"upper-case hex":       {func(c *Charter) { c.Roots[1].Fingerprint = strings.ToUpper(rootOf("ir")) }, `the root fingerprint pinned for "ir" is not 64`},
		"short fingerprint":    {func(c *Charter) { c.Roots[2].Fingerprint = rootOf("om")[:63] }, `the root fingerprint pinned for "om" is not 64`},
		"long fingerprint":     {func(c *Charter) { c.Roots[0].Fingerprint = rootOf("us") + "0" }, `the root fingerprint pinned for "us" is not 64`},
		"not hex":              {func(c *Charter) { c.Roots[0].Fingerprint = strings.Repeat("g", 64) }, `the root fingerprint pinned for "us" is not 64`},
		"base64 of the digest": {func(c *Charter) { c.Roots[0].Fingerprint = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=" }, `pinned for "us" is not 64`},
		"empty org in a pin":   {func(c *Charter) { c.Roots[0].Org = "" }, `a root is pinned for "", which the charter does not name`},
		"pin of no mediator":   {func(c *Charter) { c.Mediators = nil }, "3 root pins for 2 organisations"},
	} {
		ch := ok()
		c.edit(&ch)
		_, err := New(ch)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.detail) {
			t.Errorf("%s: %v, want a malformed refusal saying %q", name, err, c.detail)
		}
		if _, err := Marshal(ch); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Marshal: %v, want a malformed refusal", name, err)
		}
	}
	// Every acceptance signs the pins: the charter the talks hold is the one proposed.
	if got := tk.Charter().Roots; !slices.Equal(got, pins("us", "ir", "om")) {
		t.Errorf("Charter().Roots = %v", got)
	}
	tk.Charter().Roots[0].Fingerprint = rootOf("forged")
	if tk.Roots()[0].Fingerprint != rootOf("us") {
		t.Error("changing the Charter() copy changed the talks' pins")
	}
}

// TestLargestCharter: a charter with every limit reached, pins included, still encodes.
func TestLargestCharter(t *testing.T) {
	long := func(prefix string, i int) string { return fmt.Sprintf("%s%02d", prefix, i) + strings.Repeat("x", 50) }
	c := Charter{ID: strings.Repeat("c", 64), At: t0, Proposer: usEnvoy, Visibility: VisibilityPublic,
		Format: FormatIndirect, Level: 2, Venue: strings.Repeat("v", MaxTextLen)}
	for i := range MaxParties {
		c.Parties = append(c.Parties, long("p", i))
	}
	for i := range MaxMediators {
		c.Mediators = append(c.Mediators, long("m", i))
	}
	for i := range MaxAgenda {
		c.Agenda = append(c.Agenda, fmt.Sprintf("t%02d", i)+strings.Repeat("x", 61))
	}
	c.Parties[0] = "us"
	c.Roots = pins(append(slices.Clone(c.Parties), c.Mediators...)...)
	b, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("the largest charter is %d bytes", len(b))
}

// TestInvitationRoot: an invitation pins the invited organisation's root; no other kind of
// motion carries a root.
func TestInvitationRoot(t *testing.T) {
	for name, c := range map[string]Change{
		"invitation without root":     {Kind: MotionInviteMediator, Org: "qa"},
		"invitation, upper-case root": InviteMediator("qa", strings.ToUpper(rootOf("qa"))),
		"invitation, short root":      InviteMediator("qa", rootOf("qa")[1:]),
		"root on remove-mediator":     {Kind: MotionRemoveMediator, Org: "om", Root: rootOf("om")},
		"root on set-venue":           {Kind: MotionSetVenue, Venue: "Geneva", Root: rootOf("om")},
		"root on suspend":             {Kind: MotionSuspend, Root: rootOf("om")},
	} {
		tk := active(t, FormatIndirect)
		refused(t, tk, ErrMalformed, Propose{At: t0, By: usEnvoy, Motion: "m", Change: c})
		if _, err := Marshal(Propose{At: t0, By: usEnvoy, Motion: "m", Change: c}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Marshal: %v, want a malformed refusal", name, err)
		}
	}
	err := Change{Kind: MotionRemoveMediator, Org: "om", Root: rootOf("om")}.check()
	if err == nil || !strings.Contains(err.Error(), "a remove-mediator motion has no root") {
		t.Errorf("root on remove-mediator: %v", err)
	}
}

// TestRoots: a passed invitation adds its pin to the charter's; a refused, pending or lapsed
// one adds nothing; a pin stays when its organisation leaves, and an organisation invited
// again must come back with the same root.
func TestRoots(t *testing.T) {
	tk := active(t, FormatIndirect)
	charter := pins("us", "ir", "om")
	roots := func(want []Pin) {
		t.Helper()
		if got := tk.Roots(); !slices.Equal(got, want) {
			t.Fatalf("Roots() = %v, want %v", got, want)
		}
	}

	// Refused: the UAE is not pinned.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "ae", Change: InviteMediator("ae", rootOf("ae"))},
		Vote{At: t0, By: aeDiplomat, Motion: "ae", Accept: true},
	)
	roots(charter)
	must(t, tk, Vote{At: t0, By: irFM, Motion: "ae", Accept: false})
	if outcome(t, tk, "ae", t0) != OutcomeRefused {
		t.Fatal("the UAE's invitation was not refused")
	}
	roots(charter)

	// Passed: Qatar is pinned after the charter's organisations.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "qa", Change: InviteMediator("qa", rootOf("qa"))},
		Vote{At: t0, By: irFM, Motion: "qa", Accept: true},
		Vote{At: t0, By: qaMinistry, Motion: "qa", Accept: true},
	)
	withQatar := append(slices.Clone(charter), Pin{Org: "qa", Fingerprint: rootOf("qa")})
	roots(withQatar)

	// The UAE, never pinned, may be invited again with any root; it stays unpinned until that passes.
	must(t, tk, Propose{At: t0, By: usEnvoy, Motion: "ae2", Change: InviteMediator("ae", rootOf("another ae"))})
	roots(withQatar)

	// A mediator already pinned cannot be invited under another root, now or after it leaves.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "rm", Change: RemoveMediator("om")},
		Vote{At: t0, By: irFM, Motion: "rm", Accept: true},
	)
	if contains(tk.Mediators(), "om") {
		t.Fatal("Oman still mediates")
	}
	roots(withQatar)
	refused(t, tk, ErrRootMismatch, Propose{At: t0, By: usEnvoy, Motion: "om-look-alike", Change: InviteMediator("om", rootOf("another om"))})
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "om-back", Change: InviteMediator("om", rootOf("om"))},
		Vote{At: t0, By: irFM, Motion: "om-back", Accept: true},
		Vote{At: t0, By: omFM, Motion: "om-back", Accept: true},
	)
	if !contains(tk.Mediators(), "om") {
		t.Fatal("Oman did not come back")
	}
	roots(withQatar)

	// An invitation that no longer matches the pin by the time its votes are in lapses.
	must(t, tk,
		Propose{At: t0, By: usEnvoy, Motion: "bh1", Change: InviteMediator("bh", rootOf("bh"))},
		Propose{At: t0, By: usEnvoy, Motion: "bh2", Change: InviteMediator("bh", rootOf("another bh"))},
		Vote{At: t0, By: irFM, Motion: "bh1", Accept: true},
		Vote{At: t0, By: irFM, Motion: "bh2", Accept: true},
		Vote{At: t0, By: bhMinistry, Motion: "bh1", Accept: true},
		Propose{At: t0, By: usEnvoy, Motion: "rm-bh", Change: RemoveMediator("bh")},
		Vote{At: t0, By: irFM, Motion: "rm-bh", Accept: true},
		Vote{At: t0, By: bhOther, Motion: "bh2", Accept: true},
	)
	withBahrain := append(slices.Clone(withQatar), Pin{Org: "bh", Fingerprint: rootOf("bh")})
	roots(withBahrain)
	m, _ := tk.Motion("bh2")
	if m.Outcome != OutcomeLapsed || !strings.Contains(m.Reason, ErrRootMismatch.Name) {
		t.Fatalf("bh2: %s (%s), want lapsed on %s", m.Outcome, m.Reason, ErrRootMismatch.Name)
	}

	// A party is pinned by the charter and never invited.
	refused(t, tk, ErrNoChange, Propose{At: t0, By: usEnvoy, Motion: "ir", Change: InviteMediator("ir", rootOf("another ir"))})
}

var (
	bhMinistry = principal("bh", "foreign-ministry", 3, "Foreign Ministry")
	bhOther    = principal("bh", "ambassador", 3, "Ambassador")
)

func TestActorOfNamesWhoActed(t *testing.T) {
	for _, e := range []Event{
		AcceptCharter{By: irFM}, AddMember{By: irFM}, RemoveMember{By: irFM}, SetHead{By: irFM},
		Propose{By: irFM}, Vote{By: irFM}, OpenRound{By: irFM}, CloseRound{By: irFM},
		CloseSession{By: irFM}, Sign{By: irFM}, Withdraw{By: irFM}, Charter{Proposer: irFM},
	} {
		if got := ActorOf(e); got != irFM {
			t.Errorf("ActorOf(%s) = %+v, want %+v", e.Type(), got, irFM)
		}
	}
}
