package muscat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The talks of the scenario.
const (
	// TalksLetter carries the President's letter before the talks (step 1), through the UAE.
	TalksLetter = "us:presidents-letter"
	// TalksMuscat are the talks mediated by Oman (steps 2 to 8, 10 and 11).
	TalksMuscat = "us:muscat"
	// TalksDoha is the second channel, mediated by Qatar (step 9).
	TalksDoha = "ir:doha"
)

// The agreed agenda's topics.
const (
	topicNuclear   = "nuclear-programme"
	topicSanctions = "sanctions-relief"
)

// player carries the scenario's state from one step to the next.
type player struct {
	ctx     context.Context
	base    string
	opts    Options
	now     func() time.Time
	rand    io.Reader
	narrate func(Step)
	res     *Result

	roots  map[string]*seal.Root
	people map[string]*person
	// what describes each motion in words, and proposer says who proposed it, by talks and
	// motion id.
	what     map[string]string
	proposer map[string]*person
	// motionChange is each motion's change, by talks and motion id.
	motionChange map[string]talks.Change
	// offRecord counts, by talks and member handle, the envelopes a member's client flagged
	// that the host never carried.
	offRecord map[string]int

	number int
	title  string
}

// Play plays the Muscat scenario against the host at baseURL, calling narrate (if not nil)
// with each step as it happens. It returns what the members' clients hold afterwards. If a
// step does not turn out as the scenario says (the host accepts what it must refuse, a
// signature does not verify, the record fails a check), Play stops and returns the result so
// far with an error naming the step.
func Play(ctx context.Context, baseURL string, opts Options, narrate func(Step)) (*Result, error) {
	p := &player{
		ctx: ctx, base: strings.TrimRight(baseURL, "/"), opts: opts, now: opts.Clock, rand: opts.Rand, narrate: narrate,
		res:   &Result{Host: strings.TrimRight(baseURL, "/")},
		roots: make(map[string]*seal.Root), people: make(map[string]*person),
		what: make(map[string]string), proposer: make(map[string]*person), motionChange: make(map[string]talks.Change),
		offRecord: make(map[string]int),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	for _, step := range []func() error{
		p.setUp,
		p.letter, p.mediator, p.format, p.agenda, p.venue, p.round1, p.afterRound1,
		p.level, p.secondChannel, p.hiatus, p.resumption,
		p.afterwards,
	} {
		if err := step(); err != nil {
			return p.res, err
		}
	}
	return p.res, nil
}

func (p *player) clientOptions() []client.Option {
	o := []client.Option{client.WithClock(p.now), client.WithRand(p.rand)}
	if p.opts.HTTP != nil {
		o = append(o, client.WithHTTPClient(p.opts.HTTP))
	}
	if p.opts.LogKey != "" {
		o = append(o, client.WithLogKey(p.opts.LogKey))
	}
	return o
}

// begin starts a step of the scenario.
func (p *player) begin(n int, title string) { p.number, p.title = n, title }

// emit narrates a step and keeps it.
func (p *player) emit(s Step) {
	s.Number, s.Title = p.number, p.title
	if s.At.IsZero() {
		s.At = p.now().UTC().Truncate(time.Millisecond)
	}
	p.res.Steps = append(p.res.Steps, s)
	if p.narrate != nil {
		p.narrate(s)
	}
}

// fail says which step did not go as the scenario says.
func (p *player) fail(s Step, err error) error {
	return fmt.Errorf("muscat: step %d (%s): %s %s: %w", p.number, p.title, s.Actor, s.Detail, err)
}

// expect is what the script expects of a submission: acceptance (the zero value), or the
// host's refusal with a problem, and what the refusal is of, in words.
type expect struct{ problem, what string }

// accepted expects the host to accept a submission.
var accepted expect

// refused expects the host to refuse a submission with problem; what names what it refuses.
func refused(problem, what string) expect { return expect{problem, what} }

// call makes one submission and checks it against the script. The step comes back filled in,
// not yet narrated. A refusal by the host goes on the list of refusals.
func (p *player) call(s Step, want expect, fn func() (api.Accepted, error)) (Step, api.Accepted, error) {
	acc, err := fn()
	if want.problem == "" {
		if err != nil {
			return s, acc, p.fail(s, err)
		}
		s.Outcome, s.Index, s.OnRecord = OutcomeAccepted, acc.Index, true
		return s, acc, nil
	}
	var prob *api.Problem
	if !errors.As(err, &prob) || prob.Name() != want.problem {
		return s, acc, p.fail(s, fmt.Errorf("the host should have refused it with %q, but answered %v", want.problem, err))
	}
	s.Outcome, s.Problem, s.Reason = OutcomeRefused, want.problem, prob.Detail
	s.At = p.now().UTC().Truncate(time.Millisecond)
	p.res.Refusals = append(p.res.Refusals, Refusal{
		Talks: s.Talks, What: want.what, Motion: s.Motion, From: s.Actor, Problem: want.problem, Source: SourceHost, At: s.At,
	})
	return s, acc, nil
}

// do is call, then narrates the step.
func (p *player) do(who *person, talksID, action, detail string, want expect, fn func() (api.Accepted, error)) (api.Accepted, error) {
	s, acc, err := p.call(Step{Actor: who.Actor, Action: action, Detail: detail, Talks: talksID}, want, fn)
	if err != nil {
		return acc, err
	}
	p.emit(s)
	return acc, nil
}

// motion returns a motion as who's own replay of the record has it, after syncing.
func (p *player) motion(who *person, talksID, id string) (talks.Motion, error) {
	if _, err := who.c.Sync(p.ctx, talksID); err != nil {
		return talks.Motion{}, fmt.Errorf("muscat: %s syncing %s: %w", who, talksID, err)
	}
	b := who.c.Book(talksID)
	m, ok := b.State.Motion(id)
	if !ok {
		return talks.Motion{}, fmt.Errorf("muscat: motion %s is not on %s's record of %s", id, who, talksID)
	}
	return m, nil
}

// propose has who propose a motion, and narrates a refusal that a party's standing red lines
// made as soon as the party's client read it. want is the outcome the scenario expects right after the
// proposal: pending, or refused by a standing instruction.
func (p *player) propose(who *person, talksID, id string, c talks.Change, want talks.Outcome) error {
	what := p.describe(c)
	p.what[talksID+"/"+id] = what
	p.proposer[talksID+"/"+id] = who
	p.motionChange[talksID+"/"+id] = c
	s, acc, err := p.call(Step{Actor: who.Actor, Action: "propose", Detail: "proposes " + what, Talks: talksID, Motion: id}, accepted,
		func() (api.Accepted, error) { return who.c.Propose(p.ctx, talksID, id, c, time.Time{}) })
	if err != nil {
		return err
	}
	p.emit(s)
	// A party's red lines refuse on its behalf when a client of its delegation that holds them
	// reads the motion: each such client reads the record now.
	for _, h := range slices.Sorted(maps.Keys(p.people)) {
		if other := p.people[h]; other != who {
			if b := other.c.Book(talksID); b != nil && b.RedLines != nil {
				if _, err := other.c.Sync(p.ctx, talksID); err != nil {
					return p.fail(s, fmt.Errorf("%s reading the motion: %w", other, err))
				}
			}
		}
	}
	m, err := p.motion(who, talksID, id)
	if err != nil {
		return err
	}
	if got := m.OutcomeAt(p.now()); got != want {
		return p.fail(s, fmt.Errorf("the motion is %s, the scenario expects %s", got, want))
	}
	for _, b := range m.Ballots {
		if b.Standing == "" {
			continue
		}
		st := Step{
			Actor: p.byHandle(b.By.Principal), Action: "standing-refusal", Talks: talksID, Motion: id, Outcome: OutcomeRefused, At: b.At,
			Detail: fmt.Sprintf("refuses %s by %s's standing instruction, signed by its client as soon as it read the motion; the record shows only a commitment to the instruction (%s…), never its topics", what, orgOf(b.Org).short, b.Standing[:12]),
		}
		if i, ok := p.standingIndex(who, talksID, acc.Index, id); ok {
			st.Index, st.OnRecord = i, true
		}
		p.emit(st)
	}
	return nil
}

// standingIndex finds the record index of the standing refusal of a motion, just after the
// proposal at index from.
func (p *player) standingIndex(who *person, talksID string, from int64, motion string) (int64, bool) {
	page, err := who.c.Events(p.ctx, talksID, from+1, 16)
	if err != nil {
		return 0, false
	}
	for _, e := range page.Events {
		if e.Type != backchannel.EventAct {
			continue
		}
		if _, ev, err := replay.ParseAct(e.Data); err == nil {
			if v, ok := ev.(talks.Vote); ok && v.Motion == motion && v.Standing != "" {
				return e.Index, true
			}
		}
	}
	return 0, false
}

// vote has who accept or refuse a motion and narrates where the motion stands after it.
func (p *player) vote(who *person, talksID, id string, accept bool, want talks.Outcome) error {
	what := p.what[talksID+"/"+id]
	verb := "accepts "
	if !accept {
		verb = "refuses "
	}
	if m, ok := p.motionChange[talksID+"/"+id]; ok && m.Kind == talks.MotionInviteMediator && m.Org == who.Org {
		what = "its appointment as mediator"
	}
	s, _, err := p.call(Step{Actor: who.Actor, Action: "vote", Detail: verb + what, Talks: talksID, Motion: id}, accepted,
		func() (api.Accepted, error) { return who.c.Vote(p.ctx, talksID, id, accept) })
	if err != nil {
		return err
	}
	// The proposer's book tells where the motion stands: an organisation invited to mediate
	// reads nothing of the record before it joins.
	m, err := p.motion(p.proposer[talksID+"/"+id], talksID, id)
	if err != nil {
		return err
	}
	got := m.OutcomeAt(p.now())
	if got != want {
		return p.fail(s, fmt.Errorf("the motion is %s, the scenario expects %s", got, want))
	}
	switch got {
	case talks.OutcomePassed:
		s.Detail += ": every voter consents, the motion passes"
	case talks.OutcomeRefused:
		s.Detail += ": one refusal defeats the motion"
		s.Outcome = OutcomeRefused
	}
	p.emit(s)
	return nil
}

// decide proposes a motion and has each voter vote on it; it must end with outcome want.
func (p *player) decide(proposer *person, talksID, id string, c talks.Change, want talks.Outcome, votes ...ballot) error {
	if err := p.propose(proposer, talksID, id, c, talks.OutcomePending); err != nil {
		return err
	}
	for i, v := range votes {
		w := talks.OutcomePending
		if i == len(votes)-1 {
			w = want
		}
		if err := p.vote(v.who, talksID, id, v.accept, w); err != nil {
			return err
		}
	}
	return nil
}

// ballot is one vote in decide.
type ballot struct {
	who    *person
	accept bool
}

func yes(who *person) ballot { return ballot{who, true} }
func no(who *person) ballot  { return ballot{who, false} }

// describe says in words what a motion would change.
func (p *player) describe(c talks.Change) string {
	switch c.Kind {
	case talks.MotionInviteMediator:
		return orgOf(c.Org).short + " as mediator"
	case talks.MotionRemoveMediator:
		return "removing " + orgOf(c.Org).short + " as mediator"
	case talks.MotionSetVenue:
		return c.Venue + " as the venue"
	case talks.MotionSetFormat:
		return string(c.Format) + " talks"
	case talks.MotionSetLevel:
		return fmt.Sprintf("raising the level to %d: formal messages only from rank %d up", c.Level, c.Level)
	case talks.MotionAddTopic:
		return c.Topic + " on the agenda"
	case talks.MotionRemoveTopic:
		return "taking " + c.Topic + " off the agenda"
	case talks.MotionScheduleRound:
		where := "in " + c.Venue
		if c.Venue == "" {
			where = "at the agreed venue"
		}
		return fmt.Sprintf("a round %s, from %s", where, c.Start.UTC().Format("2 January 15:04 UTC"))
	case talks.MotionOpenSession:
		return fmt.Sprintf("a direct session until %s", c.Until.UTC().Format("15:04 UTC"))
	case talks.MotionSuspend:
		return "suspending the talks"
	case talks.MotionResume:
		return "resuming the talks"
	case talks.MotionConclude:
		return "concluding the talks"
	}
	return string(c.Kind)
}

// send has who seal a message for a room and submit it.
func (p *player) send(who *person, talksID string, d client.Draft, detail string, want expect) (*seal.Envelope, error) {
	var env *seal.Envelope
	_, err := p.do(who, talksID, "send", detail, want, func() (api.Accepted, error) {
		acc, e, err := who.c.Send(p.ctx, talksID, d)
		env = e
		return acc, err
	})
	return env, err
}

// received syncs who's book of talks and returns the message with hash h, opened and
// verified.
func (p *player) received(who *person, talksID string, h seal.Hash) (*client.Message, error) {
	if _, err := who.c.Sync(p.ctx, talksID); err != nil {
		return nil, fmt.Errorf("muscat: step %d: %s syncing %s: %w", p.number, who, talksID, err)
	}
	m := who.c.Book(talksID).Message(h)
	if m == nil {
		return nil, fmt.Errorf("muscat: step %d: %s did not receive envelope %s in %s", p.number, who, h, talksID)
	}
	if m.Err != nil {
		return nil, fmt.Errorf("muscat: step %d: %s could not verify envelope %s: %w", p.number, who, h, m.Err)
	}
	return m, nil
}

// relay has a mediator pass a message it received on to another room, word for word.
func (p *player) relay(med *person, talksID string, h seal.Hash, room, detail string) (*seal.Envelope, error) {
	m, err := p.received(med, talksID, h)
	if err != nil {
		return nil, err
	}
	var env *seal.Envelope
	s := Step{Actor: med.Actor, Action: "relay-verbatim", Detail: detail, Talks: talksID,
		Verified: "the mediator's client verified the author's signature before passing it on; that signature travels with the words"}
	s, _, err = p.call(s, accepted, func() (api.Accepted, error) {
		acc, e, err := med.c.RelayVerbatim(p.ctx, talksID, m, room)
		env = e
		return acc, err
	})
	if err != nil {
		return nil, err
	}
	p.emit(s)
	return env, nil
}

// summarize has a mediator pass on, in its own words, what the messages of hashes of said.
func (p *player) summarize(med *person, talksID string, of []seal.Hash, d client.Draft, detail string) (*seal.Envelope, error) {
	for _, h := range of {
		if _, err := p.received(med, talksID, h); err != nil {
			return nil, err
		}
	}
	var env *seal.Envelope
	_, err := p.do(med, talksID, "summarize", detail, accepted, func() (api.Accepted, error) {
		acc, e, err := med.c.Summarize(p.ctx, talksID, of, d)
		env = e
		return acc, err
	})
	return env, err
}

// read has who sync and open the envelope h, and checks that it came as the scenario says:
// in mode, written by author, through via (nil for a message read in the room it was posted
// in).
func (p *player) read(who *person, talksID string, h seal.Hash, mode seal.RelayMode, author, via *person, detail string) (*client.Message, error) {
	s := Step{Actor: who.Actor, Action: "read", Detail: detail, Talks: talksID}
	m, err := p.received(who, talksID, h)
	if err != nil {
		return nil, p.fail(s, err)
	}
	o := m.Opened
	if o.Mode != mode || o.Author.Handle() != author.Principal {
		return nil, p.fail(s, fmt.Errorf("opened a %s message by %s, the scenario expects a %s message by %s", o.Mode, o.Author.Handle(), mode, author.Principal))
	}
	if via != nil && (o.Mode == seal.RelayVerbatim && (o.Relayer == nil || o.Relayer.Handle() != via.Principal)) {
		return nil, p.fail(s, fmt.Errorf("relayed by %v, the scenario expects %s", o.Relayer, via.Principal))
	}
	how, err := p.howVerified(who.c.Book(talksID), o)
	if err != nil {
		return nil, p.fail(s, err)
	}
	s.Outcome, s.Index, s.OnRecord, s.Verified = OutcomeVerified, m.Index, true, how
	if via != nil {
		s.Via = via.String()
	}
	p.emit(s)
	return m, nil
}

// howVerified says what the reader's client checked of an opened message, and against which
// pinned root.
func (p *player) howVerified(b *client.Book, o *seal.Opened) (string, error) {
	author := actorOf(o.Author)
	root, err := p.pinnedRoot(b, o.Author.Org)
	if err != nil {
		return "", err
	}
	switch o.Mode {
	case seal.RelayVerbatim:
		return fmt.Sprintf("word for word: the signature of the %s verified against the %s root %s; %s re-sealed it for this room and could not alter a word",
			author, author.OrgName, root, actorOf(o.Relayer)), nil
	case seal.RelaySummary:
		return fmt.Sprintf("marked as a summary in the mediator's own words: signed by the %s, verified against the %s root %s, linked to the %d message(s) it sums up",
			author, author.OrgName, root, len(o.Envelope.RelayOf)), nil
	}
	return fmt.Sprintf("the signature of the %s verified against the %s root %s", author, author.OrgName, root), nil
}

// pinnedRoot describes where the record pinned org's root, after checking that it is the
// root the organisation registered (the out-of-band comparison of safety numbers).
func (p *player) pinnedRoot(b *client.Book, org string) (string, error) {
	want := p.roots[org].Public().Fingerprint()
	for _, pin := range b.State.Roots() {
		if pin.Org != org {
			continue
		}
		if pin.Fingerprint != hex.EncodeToString(want[:]) {
			return "", fmt.Errorf("the record pins a root for %s that is not its own", org)
		}
		where := "pinned by the invitation every party accepted"
		for _, c := range b.State.Charter().Roots {
			if c.Org == org {
				where = "pinned in the charter"
			}
		}
		return fmt.Sprintf("%s (safety number %s…)", where, want.Short()), nil
	}
	return "", fmt.Errorf("the record pins no root for %s", org)
}

// draft is a message to a room, of a kind, on topics of the agenda.
func draft(room string, kind backchannel.Kind, body string, topics ...string) client.Draft {
	return client.Draft{Room: room, Kind: kind, Topics: topics, Body: []byte(body)}
}
