package talks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	bc "github.com/backchannel/backchannel"
)

func digest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func equalTalks(a, b *Talks) bool { return reflect.DeepEqual(a, b) }

// Room recipients of the Muscat talks, by delegation.
var (
	us1 = []string{"us.special-envoy"}
	ir1 = []string{"ir.foreign-minister"}
	om1 = []string{"om.foreign-minister"}
)

func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// muscatSteps is the Muscat scenario, steps 2 to 11, as the talks see it: each step's motions,
// who accepts and who refuses, the messages the rules let through or stop, and the state and
// rooms that result.
func muscatSteps() []struct {
	step string
	acts []act
	want view
} {
	nuclear, sanctions := "nuclear-programme", "sanctions-relief"
	agreed := []string{nuclear, sanctions}
	return []struct {
		step string
		acts []act
		want view
	}{
		{
			step: "1. the charter: the US proposes talks with Iran, Iran accepts",
			acts: []act{
				apply("Iran's Foreign Minister accepts the charter", nil, func(at time.Time) Event {
					return AcceptCharter{At: at, By: irFM}
				}),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3,
				Rooms: map[string][]string{"caucus:us": us1, "caucus:ir": ir1}},
		},
		{
			step: "2. choosing the mediator: the UAE is refused, Oman is accepted",
			acts: []act{
				propose(usEnvoy, "m-ae", InviteMediator("ae", rootOf("ae"))),
				accept(aeDiplomat, "m-ae"),
				voteWant(usEnvoy, "m-ae", true, ErrAlreadyVoted),
				decline(irFM, "m-ae"),
				proposeWant(omFM, "m-om-early", InviteMediator("om", rootOf("om")), ErrNotMember),
				propose(irFM, "m-om", InviteMediator("om", rootOf("om"))),
				accept(usEnvoy, "m-om"),
				voteWant(irSpokesman, "m-om", true, ErrNotMember),
				accept(omFM, "m-om"),
				voteWant(aeDiplomat, "m-ae", true, ErrMotionRefused),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{"m-ae": OutcomeRefused, "m-om": OutcomePassed}},
		},
		{
			step: "3. choosing the format: direct talks are refused, the talks stay indirect",
			acts: []act{
				proposeWant(omFM, "m-direct-om", SetFormat(FormatDirect), ErrNotAllowedToPropose),
				propose(usEnvoy, "m-direct", SetFormat(FormatDirect)),
				decline(irFM, "m-direct"),
				post(ErrNoSuchRoom, usEnvoy, RoomPlenary, bc.KindNote, 0),
				post(ErrNotInRoom, usEnvoy, "caucus:ir", bc.KindNote, 0),
				post(nil, usEnvoy, "caucus:us", bc.KindNote, 0),
				post(ErrNotInRoom, irFM, RoomMediators, bc.KindNote, 0),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{"m-direct": OutcomeRefused}},
		},
		{
			step: "4. choosing the agenda: nuclear programme and sanctions relief; missiles refused by Iran's red line",
			acts: []act{
				propose(irFM, "m-nuclear", AddTopic(nuclear)),
				accept(usEnvoy, "m-nuclear"),
				noStanding(iranRedLines, "m-nuclear"),
				propose(irFM, "m-sanctions", AddTopic(sanctions)),
				accept(usEnvoy, "m-sanctions"),
				propose(usEnvoy, "m-missiles", AddTopic("missiles")),
				standing(iranRedLines, "m-missiles"),
				propose(usEnvoy, "m-drones", AddTopic("drones")),
				noStanding(iranRedLines, "m-drones"),
				decline(irFM, "m-drones"),
				proposeWant(omFM, "m-om-topic", AddTopic("regional-influence"), ErrNotAllowedToPropose),
				post(ErrNotOnAgenda, usEnvoy, "caucus:us", bc.KindProposal, 0, "missiles"),
				post(ErrNotOnAgenda, usEnvoy, "caucus:us", bc.KindNote, 0, nuclear, "missiles"),
				post(ErrNoTopic, usEnvoy, "caucus:us", bc.KindProposal, 0),
				post(nil, usEnvoy, "caucus:us", bc.KindProposal, 0, nuclear),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{
					"m-nuclear": OutcomePassed, "m-sanctions": OutcomePassed,
					"m-missiles": OutcomeRefused, "m-drones": OutcomeRefused,
				}},
		},
		{
			step: "5. choosing the venue: Istanbul refused, Muscat accepted",
			acts: []act{
				propose(usEnvoy, "m-istanbul", SetVenue("Istanbul")),
				decline(irFM, "m-istanbul"),
				propose(omFM, "m-muscat", SetVenue("Muscat")),
				accept(irFM, "m-muscat"),
				accept(usEnvoy, "m-muscat"),
				propose(omFM, "m-round-1", ScheduleRound("", day(time.April, 12, 10, 0))),
				accept(usEnvoy, "m-round-1"),
				accept(irFM, "m-round-1"),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{
					"m-istanbul": OutcomeRefused, "m-muscat": OutcomePassed, "m-round-1": OutcomePassed,
				}},
		},
		{
			step: "6. round 1 in Muscat: separate rooms, relays by Oman, a short direct session",
			acts: []act{
				later(day(time.April, 12, 10, 0)),
				openRound(omFM, 1),
				post(ErrWrongRound, usEnvoy, "caucus:us", bc.KindProposal, 0, nuclear),
				post(nil, usEnvoy, "caucus:us", bc.KindProposal, 1, nuclear),
				relay(nil, omFM, RelayVerbatim, "caucus:us", "caucus:ir", bc.KindProposal, 1, nuclear),
				relay(ErrRelay, omFM, RelaySummary, "caucus:us", "caucus:ir", bc.KindNote, 1, nuclear),
				relay(nil, omFM, RelaySummary, "caucus:us", "caucus:ir", bc.KindSummary, 1, nuclear),
				relay(ErrRelay, usEnvoy, RelayVerbatim, "caucus:ir", "caucus:us", bc.KindResponse, 1, nuclear),
				post(nil, irFM, "caucus:ir", bc.KindResponse, 1, nuclear, sanctions),
				relay(nil, omFM, RelayVerbatim, "caucus:ir", "caucus:us", bc.KindResponse, 1, nuclear, sanctions),
				propose(usEnvoy, "m-courtesy", OpenSession(day(time.April, 12, 12, 45))),
				accept(irFM, "m-courtesy"),
				post(nil, usEnvoy, RoomPlenary, bc.KindNote, 1),
				post(nil, irFM, RoomPlenary, bc.KindNote, 1),
				apply("Oman closes the direct session minutes later", nil, func(at time.Time) Event {
					return CloseSession{At: at, By: omFM}
				}),
				post(ErrNoSuchRoom, usEnvoy, RoomPlenary, bc.KindNote, 1),
				closeRound(omFM, 1),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{"m-courtesy": OutcomePassed}},
		},
		{
			step: "7. after round 1: each side's statement, a second round a week later",
			acts: []act{
				sign(usEnvoy, 1, "The talks were constructive and positive.", false),
				sign(irFM, 1, "The talks were constructive and positive.", false),
				apply("the US signs its statement twice", ErrAlreadySigned, func(at time.Time) Event {
					return Sign{At: at, By: usEnvoy, Round: 1, Digest: digest("The talks were constructive and positive.")}
				}),
				propose(omFM, "m-round-2", ScheduleRound("", day(time.April, 19, 10, 0))),
				accept(irFM, "m-round-2"),
				accept(usEnvoy, "m-round-2"),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 3, Mediators: []string{"om"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, om1), "caucus:ir": cat(ir1, om1), "mediators": om1,
				},
				Motions: map[string]Outcome{"m-round-2": OutcomePassed}},
		},
		{
			step: "8. raising the level: Iran's SNSC Secretary hands over the response; a message below the level is refused",
			acts: []act{
				add(usEnvoy, usVP, false),
				add(irFM, irSNSC, false),
				propose(usVP, "m-level", SetLevel(4)),
				accept(irSNSC, "m-level"),
				later(day(time.April, 19, 10, 0)),
				openRound(omFM, 2),
				post(nil, irSNSC, "caucus:ir", bc.KindResponse, 2, nuclear),
				relay(nil, omFM, RelayVerbatim, "caucus:ir", "caucus:us", bc.KindResponse, 2, nuclear),
				post(ErrRankBelowLevel, usEnvoy, "caucus:us", bc.KindCounterProposal, 2, nuclear),
				post(ErrRankBelowLevel, irFM, "caucus:ir", bc.KindLetter, 2, nuclear),
				post(nil, irFM, "caucus:ir", bc.KindNote, 2, nuclear),
				post(nil, usVP, "caucus:us", bc.KindCounterProposal, 2, nuclear),
				post(ErrNoSuchRoom, irSNSC, RoomPlenary, bc.KindNote, 2),
				closeRound(omFM, 2),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 4, Mediators: []string{"om"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, []string{"us.vice-president"}, om1),
					"caucus:ir": cat(ir1, []string{"ir.snsc-secretary"}, om1),
					"mediators": om1,
				},
				Motions: map[string]Outcome{"m-level": OutcomePassed}},
		},
		{
			step: "9. a second channel: Qatar joins as mediator",
			acts: []act{
				propose(irSNSC, "m-qatar", InviteMediator("qa", rootOf("qa"))),
				accept(usEnvoy, "m-qatar"),
				accept(qaMinistry, "m-qatar"),
				relay(nil, qaMinistry, RelaySummary, "caucus:ir", "caucus:us", bc.KindSummary, 0, nuclear),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 4, Mediators: []string{"om", "qa"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, []string{"us.vice-president"}, om1, []string{"qa.foreign-ministry"}),
					"caucus:ir": cat(ir1, []string{"ir.snsc-secretary"}, om1, []string{"qa.foreign-ministry"}),
					"mediators": cat(om1, []string{"qa.foreign-ministry"}),
				},
				Motions: map[string]Outcome{"m-qatar": OutcomePassed}},
		},
		{
			step: "10. hiatus and a disputed message: suspended, resumed by consent, the President's letter passes, a forgery does not",
			acts: []act{
				propose(irFM, "m-suspend", Suspend()),
				accept(usEnvoy, "m-suspend"),
				post(ErrSuspended, usEnvoy, "caucus:us", bc.KindNote, 0, nuclear),
				proposeWant(usEnvoy, "m-venue-suspended", SetVenue("Geneva"), ErrSuspended),
				later(day(time.September, 1, 9, 0)),
				propose(omFM, "m-resume", Resume()),
				accept(usEnvoy, "m-resume"),
				accept(irFM, "m-resume"),
				add(usEnvoy, usPresident, false),
				post(nil, usPresident, "caucus:us", bc.KindLetter, 0, nuclear),
				relay(nil, omFM, RelayVerbatim, "caucus:us", "caucus:ir", bc.KindLetter, 0, nuclear),
				post(ErrNotMember, forgedLetter, "caucus:us", bc.KindLetter, 0, nuclear),
				apply("Iran's spokesperson cannot sign for Iran", ErrNotMember, func(at time.Time) Event {
					return Sign{At: at, By: irSpokesman, Round: 2, Digest: digest("Messages about resuming negotiations have been received.")}
				}),
				add(irFM, irSpokesman, false),
				apply("Iran's spokesperson, now in the delegation, still ranks below its head", ErrNoAuthority, func(at time.Time) Event {
					return Sign{At: at, By: irSpokesman, Round: 2, Digest: digest("Messages about resuming negotiations have been received.")}
				}),
				sign(irFM, 2, "Messages about resuming negotiations have been received.", false),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 4, Mediators: []string{"om", "qa"},
				Venue: "Muscat", Agenda: agreed,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, []string{"us.vice-president", "us.president"}, om1, []string{"qa.foreign-ministry"}),
					"caucus:ir": cat(ir1, []string{"ir.snsc-secretary", "ir.government-spokesperson"}, om1, []string{"qa.foreign-ministry"}),
					"mediators": cat(om1, []string{"qa.foreign-ministry"}),
				},
				Motions: map[string]Outcome{"m-suspend": OutcomePassed, "m-resume": OutcomePassed}},
		},
		{
			step: "11. resumption in Muscat, not Istanbul; the agenda stays as agreed",
			acts: []act{
				propose(usEnvoy, "m-round-istanbul", ScheduleRound("Istanbul", day(time.September, 20, 10, 0))),
				decline(irFM, "m-round-istanbul"),
				propose(omFM, "m-round-3", ScheduleRound("Muscat", day(time.September, 20, 10, 0))),
				accept(irFM, "m-round-3"),
				accept(usEnvoy, "m-round-3"),
				add(usEnvoy, usAdviser, false),
				later(day(time.September, 20, 10, 0)),
				openRound(omFM, 3),
				propose(usVP, "m-missiles-again", AddTopic("missiles")),
				standing(iranRedLines, "m-missiles-again"),
				propose(usVP, "m-regional-influence", AddTopic("regional-influence")),
				decline(irSNSC, "m-regional-influence"),
				post(ErrNotOnAgenda, usVP, "caucus:us", bc.KindProposal, 3, "regional-influence"),
				post(nil, usAdviser, "caucus:us", bc.KindNote, 3, nuclear),
				post(ErrRankBelowLevel, usAdviser, "caucus:us", bc.KindProposal, 3, nuclear),
			},
			want: view{Status: StatusActive, Format: FormatIndirect, Level: 4, Mediators: []string{"om", "qa"},
				Venue: "Muscat", Agenda: agreed, InSession: 3,
				Rooms: map[string][]string{
					"caucus:us": cat(us1, []string{"us.vice-president", "us.president", "us.adviser"}, om1, []string{"qa.foreign-ministry"}),
					"caucus:ir": cat(ir1, []string{"ir.snsc-secretary", "ir.government-spokesperson"}, om1, []string{"qa.foreign-ministry"}),
					"mediators": cat(om1, []string{"qa.foreign-ministry"}),
				},
				Motions: map[string]Outcome{
					"m-round-istanbul": OutcomeRefused, "m-round-3": OutcomePassed,
					"m-missiles-again": OutcomeRefused, "m-regional-influence": OutcomeRefused,
				}},
		},
	}
}

// playMuscat plays the whole scenario and returns the run.
func playMuscat(t *testing.T) *run {
	t.Helper()
	c := muscatCharter()
	tk, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{t: t, talks: tk, events: []Event{c}, now: c.At}
	for _, s := range muscatSteps() {
		r.play(s.acts)
		r.check(s.step, s.want)
	}
	return r
}

func TestMuscat(t *testing.T) {
	c := muscatCharter()
	tk, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{t: t, talks: tk, events: []Event{c}, now: c.At}
	for _, s := range muscatSteps() {
		t.Run(s.step, func(t *testing.T) {
			r.t = t
			r.play(s.acts)
			r.check(s.step, s.want)
		})
	}
}

// TestMuscatRefusalsOnRecord checks that every refusal of the scenario is on the record with
// who refused and when, and that Iran's red lines appear nowhere in what the other side sees.
func TestMuscatRefusalsOnRecord(t *testing.T) {
	r := playMuscat(t)
	for _, c := range []struct {
		motion, org, by string
		standing        bool
	}{
		{"m-ae", "ir", "ir.foreign-minister", false},
		{"m-direct", "ir", "ir.foreign-minister", false},
		{"m-missiles", "ir", "ir.foreign-minister", true},
		{"m-istanbul", "ir", "ir.foreign-minister", false},
		{"m-round-istanbul", "ir", "ir.foreign-minister", false},
		{"m-missiles-again", "ir", "ir.foreign-minister", true},
	} {
		m, _ := r.talks.Motion(c.motion)
		b, ok := m.Ballot(c.org)
		if !ok || b.Accept || b.By.Principal != c.by || b.At.IsZero() || (b.Standing != "") != c.standing {
			t.Errorf("motion %s: ballot of %s = %+v, want a refusal by %s (standing %v)", c.motion, c.org, b, c.by, c.standing)
		}
		if c.standing && b.Standing != iranRedLines.Commitment() {
			t.Errorf("motion %s: standing refusal carries %q, not the commitment to Iran's instruction", c.motion, b.Standing)
		}
	}
	for i, e := range r.events {
		b, err := Marshal(e)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if bytes.Contains(b, []byte("regional-security")) {
			t.Errorf("event %d reveals Iran's red line: %s", i, b)
		}
	}
}

// TestMuscatReplay rebuilds the talks from their record, through the canonical encoding, and
// gets exactly the same state.
func TestMuscatReplay(t *testing.T) {
	r := playMuscat(t)
	var decoded []Event
	for i, e := range r.events {
		b, err := Marshal(e)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		d, err := Parse(b)
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, b)
		}
		decoded = append(decoded, d)
	}
	got, err := Replay(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !equalTalks(got, r.talks) {
		t.Errorf("replay differs from the live state\nlive:   %+v\nreplay: %+v", r.talks, got)
	}
}

var fixedZone = time.FixedZone("GST", 4*3600)
