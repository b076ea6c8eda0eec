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

// The cast of the Muscat scenario (shared/scenarios/muscat.md): organisations and titles,
// never personal names.
func principal(org, role string, rank bc.Rank, title string) Actor {
	return Actor{Principal: org + "." + role, Org: org, Rank: rank, Title: title}
}

var (
	usPresident   = principal("us", "president", 5, "President")
	usVP          = principal("us", "vice-president", 4, "Vice President")
	usEnvoy       = principal("us", "special-envoy", 3, "Special Envoy")
	usAdviser     = principal("us", "adviser", 2, "Presidential adviser")
	irSNSC        = principal("ir", "snsc-secretary", 4, "Secretary of the Supreme National Security Council")
	irFM          = principal("ir", "foreign-minister", 3, "Foreign Minister")
	irSpokesman   = principal("ir", "government-spokesperson", 1, "Government spokesperson")
	omFM          = principal("om", "foreign-minister", 4, "Foreign Minister")
	aeDiplomat    = principal("ae", "diplomat", 3, "Diplomat")
	qaMinistry    = principal("qa", "foreign-ministry", 3, "Foreign Ministry")
	forgedLetter  = Actor{Principal: "us.president", Org: "ae", Rank: 5, Title: "President"}
	irRedLineSalt = strings.Repeat("5a", 32)
)

// Iran's standing red lines: missiles and regional security. Only Iran's delegation and the
// server ever hold this value.
var iranRedLines = RedLines{
	Talks:  "muscat",
	At:     day(time.April, 1, 9, 0),
	By:     irFM,
	Topics: []string{"missiles", "regional-security"},
	Salt:   irRedLineSalt,
}

// rootOf is the fingerprint of org's pinned root in the tests: a SHA-256 in lower-case hex,
// as seal.RootKey.Fingerprint gives it; the talks treat it as an opaque digest.
func rootOf(org string) string { return digest("root key of " + org) }

// pins returns one pin for each organisation, with its root from rootOf.
func pins(orgs ...string) []Pin {
	var out []Pin
	for _, o := range orgs {
		out = append(out, Pin{Org: o, Fingerprint: rootOf(o)})
	}
	return out
}

func day(month time.Month, d, hour, min int) time.Time {
	return time.Date(2025, month, d, hour, min, 0, 0, time.UTC)
}

func muscatCharter() Charter {
	return Charter{
		ID:         "muscat",
		At:         day(time.April, 1, 9, 0),
		Proposer:   usEnvoy,
		Parties:    []string{"us", "ir"},
		Roots:      pins("us", "ir"),
		Visibility: VisibilityPublic,
		Format:     FormatIndirect,
		Level:      3,
	}
}

// run carries a talks through a script of acts, keeping every applied event for replay.
type run struct {
	t      *testing.T
	talks  *Talks
	events []Event
	now    time.Time
}

// act is one line of a script: it happens at the run's clock, one minute after the last.
type act struct {
	what string
	do   func(r *run, at time.Time) error
	want *Rule // nil: accepted
}

func (r *run) play(acts []act) {
	r.t.Helper()
	for _, a := range acts {
		r.now = r.now.Add(time.Minute)
		before := r.talks.Clone()
		err := a.do(r, r.now)
		switch {
		case a.want == nil && err != nil:
			r.t.Errorf("%s: refused: %v", a.what, err)
		case a.want != nil && !errors.Is(err, a.want):
			r.t.Errorf("%s: got %v, want refusal %q", a.what, err, a.want.Name)
		}
		if a.want != nil {
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Rule != a.want {
				r.t.Errorf("%s: error %v is not a *Refusal for %q", a.what, err, a.want.Name)
			}
			if !equalTalks(before, r.talks) {
				r.t.Errorf("%s: refused, yet the state changed", a.what)
			}
		}
	}
}

// apply is an act that applies an event built at the act's time.
func apply(what string, want *Rule, build func(at time.Time) Event) act {
	return act{what: what, want: want, do: func(r *run, at time.Time) error {
		e := build(at)
		if err := r.talks.Apply(e); err != nil {
			return err
		}
		r.events = append(r.events, e)
		return nil
	}}
}

func propose(by Actor, id string, c Change) act {
	return proposeWant(by, id, c, nil)
}

func proposeWant(by Actor, id string, c Change, want *Rule) act {
	return apply(fmt.Sprintf("%s proposes %s %s", by.Principal, id, c.Kind), want, func(at time.Time) Event {
		return Propose{At: at, By: by, Motion: id, Change: c}
	})
}

func accept(by Actor, id string) act  { return voteWant(by, id, true, nil) }
func decline(by Actor, id string) act { return voteWant(by, id, false, nil) }

func voteWant(by Actor, id string, yes bool, want *Rule) act {
	verb := "refuses"
	if yes {
		verb = "accepts"
	}
	return apply(fmt.Sprintf("%s %s %s", by.Principal, verb, id), want, func(at time.Time) Event {
		return Vote{At: at, By: by, Motion: id, Accept: yes}
	})
}

// standing is the server applying a party's red lines to a motion just proposed.
func standing(lines RedLines, id string) act {
	return act{what: "standing instruction on " + id, do: func(r *run, at time.Time) error {
		v, ok := r.talks.StandingVote(lines, lines.By, id, at)
		if !ok {
			return fmt.Errorf("red lines do not refuse %s", id)
		}
		if err := r.talks.Apply(v); err != nil {
			return err
		}
		r.events = append(r.events, v)
		return nil
	}}
}

// noStanding checks that red lines leave a motion alone.
func noStanding(lines RedLines, id string) act {
	return act{what: "no standing instruction on " + id, do: func(r *run, at time.Time) error {
		if v, ok := r.talks.StandingVote(lines, lines.By, id, at); ok {
			return fmt.Errorf("red lines refuse %s: %+v", id, v)
		}
		return nil
	}}
}

func add(by Actor, m Actor, head bool) act {
	return apply(fmt.Sprintf("%s adds %s", by.Principal, m.Principal), nil, func(at time.Time) Event {
		return AddMember{At: at, By: by, Member: Member{Actor: m, Head: head}}
	})
}

func openRound(by Actor, n int) act {
	return apply(fmt.Sprintf("%s opens round %d", by.Principal, n), nil, func(at time.Time) Event {
		return OpenRound{At: at, By: by, Round: n}
	})
}

func closeRound(by Actor, n int) act {
	return apply(fmt.Sprintf("%s closes round %d", by.Principal, n), nil, func(at time.Time) Event {
		return CloseRound{At: at, By: by, Round: n}
	})
}

func sign(by Actor, round int, text string, joint bool) act {
	return apply(fmt.Sprintf("%s signs a statement on round %d", by.Principal, round), nil, func(at time.Time) Event {
		return Sign{At: at, By: by, Round: round, Digest: digest(text), Joint: joint}
	})
}

// post checks a message header against the rules at the act's time.
func post(want *Rule, by Actor, room string, kind bc.Kind, round int, topics ...string) act {
	return relay(want, by, "", "", room, kind, round, topics...)
}

func relay(want *Rule, by Actor, mode RelayMode, from, room string, kind bc.Kind, round int, topics ...string) act {
	h := Header{Author: by, Room: room, Kind: kind, Topics: topics, Round: round}
	what := fmt.Sprintf("%s posts a %s in %s on %v", by.Principal, kind, room, topics)
	if mode != "" {
		h.Relay = &Relay{From: from, Mode: mode}
		what = fmt.Sprintf("%s relays (%s) a %s from %s to %s", by.Principal, mode, kind, from, room)
	}
	return act{what: what, want: want, do: func(r *run, at time.Time) error {
		return r.talks.CheckMessage(h, at)
	}}
}

// later moves the run's clock to a given time, for acts that happen days or months on.
func later(to time.Time) act {
	return act{what: "time passes to " + to.Format(time.RFC3339), do: func(r *run, _ time.Time) error {
		r.now = to
		return nil
	}}
}

// view is what a scenario step checks of the state afterwards.
type view struct {
	Status    Status
	Mediators []string
	Format    Format
	Venue     string
	Level     bc.Rank
	Agenda    []string
	// Rooms maps each room to its recipients; a room not listed must not exist.
	Rooms map[string][]string
	// Motions are the outcomes of the motions the step touched.
	Motions map[string]Outcome
	// InSession is the round in session, 0 between rounds.
	InSession int
}

func (r *run) check(step string, want view) {
	r.t.Helper()
	tk := r.talks
	got := view{
		Status:    tk.Status(),
		Mediators: tk.Mediators(),
		Format:    tk.Format(),
		Venue:     tk.Venue(),
		Level:     tk.Level(),
		Agenda:    tk.Agenda(),
		Rooms:     map[string][]string{},
		Motions:   map[string]Outcome{},
		InSession: tk.InSession(),
	}
	for _, room := range tk.Rooms(r.now) {
		got.Rooms[room.ID] = tk.Recipients(room.ID, r.now)
	}
	for id := range want.Motions {
		m, ok := tk.Motion(id)
		if !ok {
			r.t.Errorf("%s: no motion %q", step, id)
			continue
		}
		got.Motions[id] = m.OutcomeAt(r.now)
	}
	if want.Motions == nil {
		got.Motions = nil
	}
	if d := diff(got, want); d != "" {
		r.t.Errorf("%s: state differs:\n%s", step, d)
	}
}

// diff lists the fields of two views that differ, "" if none.
func diff(got, want view) string {
	var b strings.Builder
	field := func(name string, g, w any) {
		if gs, ws := fmt.Sprint(g), fmt.Sprint(w); gs != ws {
			fmt.Fprintf(&b, "  %s: got %s, want %s\n", name, gs, ws)
		}
	}
	field("status", got.Status, want.Status)
	field("mediators", got.Mediators, want.Mediators)
	field("format", got.Format, want.Format)
	field("venue", got.Venue, want.Venue)
	field("level", got.Level, want.Level)
	field("agenda", got.Agenda, want.Agenda)
	field("in session", got.InSession, want.InSession)
	for _, id := range sortedKeys(got.Rooms, want.Rooms) {
		field("room "+id, got.Rooms[id], want.Rooms[id])
	}
	for _, id := range sortedKeys(got.Motions, want.Motions) {
		field("motion "+id, got.Motions[id], want.Motions[id])
	}
	return b.String()
}

func sortedKeys[V any](ms ...map[string]V) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
