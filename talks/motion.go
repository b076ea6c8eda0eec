package talks

import (
	"slices"
	"time"

	bc "github.com/backchannel/backchannel"
)

// MotionKind is what a motion would change.
type MotionKind string

// The motions: every change of the talks' shape is one of these.
const (
	MotionInviteMediator MotionKind = "invite-mediator"
	MotionRemoveMediator MotionKind = "remove-mediator"
	MotionSetVenue       MotionKind = "set-venue"
	MotionSetFormat      MotionKind = "set-format"
	MotionSetLevel       MotionKind = "set-level"
	MotionAddTopic       MotionKind = "add-topic"
	MotionRemoveTopic    MotionKind = "remove-topic"
	MotionScheduleRound  MotionKind = "schedule-round"
	MotionOpenSession    MotionKind = "open-session"
	MotionSuspend        MotionKind = "suspend"
	MotionResume         MotionKind = "resume"
	MotionConclude       MotionKind = "conclude"
	MotionAddParty       MotionKind = "add-party"
	MotionRemoveParty    MotionKind = "remove-party"
)

// MotionKinds lists every MotionKind, in a fixed order.
var MotionKinds = []MotionKind{
	MotionInviteMediator, MotionRemoveMediator, MotionSetVenue, MotionSetFormat, MotionSetLevel,
	MotionAddTopic, MotionRemoveTopic, MotionScheduleRound, MotionOpenSession, MotionSuspend,
	MotionResume, MotionConclude, MotionAddParty, MotionRemoveParty,
}

// Role is the part an organisation plays in the talks.
type Role string

// The roles.
const (
	RoleParty    Role = "party"
	RoleMediator Role = "mediator"
)

// MayPropose is the rule of who may propose what. Parties may propose every motion. A mediator
// runs the process, so it may propose the venue, rounds, a direct session, suspension,
// resumption and conclusion; it may not touch what the parties alone decide: who mediates, the
// format, the level and the agenda.
func MayPropose(r Role, k MotionKind) bool {
	switch r {
	case RoleParty:
		return contains(MotionKinds, k)
	case RoleMediator:
		switch k {
		case MotionSetVenue, MotionScheduleRound, MotionOpenSession, MotionSuspend, MotionResume, MotionConclude:
			return true
		}
	}
	return false
}

// Change is the body of a motion: its kind and the one or two fields that kind uses. Every other
// field is zero, so each change has exactly one encoding.
type Change struct {
	Kind   MotionKind `json:"kind"`
	Org    string     `json:"org,omitempty"`    // invite-mediator, remove-mediator, add-party, remove-party
	Root   string     `json:"root,omitempty"`   // invite-mediator, add-party: the fingerprint of org's root, as in Pin
	Venue  string     `json:"venue,omitempty"`  // set-venue; schedule-round (optional, default the talks' venue)
	Format Format     `json:"format,omitempty"` // set-format
	Level  bc.Rank    `json:"level,omitempty"`  // set-level
	Topic  string     `json:"topic,omitempty"`  // add-topic, remove-topic
	Start  time.Time  `json:"start,omitzero"`   // schedule-round: when the round sits
	Until  time.Time  `json:"until,omitzero"`   // open-session: when the direct session ends
}

// InviteMediator is the change that appoints org as a mediator, pinning root, the fingerprint
// of org's root key (64 lower-case hex digits, as in Pin). It passes only when every party and
// org itself accept, so the pin is agreed like the charter's. An organisation keeps the root it
// was first pinned with: inviting it again with another is refused (ErrRootMismatch).
func InviteMediator(org, root string) Change {
	return Change{Kind: MotionInviteMediator, Org: org, Root: root}
}

// RemoveMediator is the change that dismisses mediator org; the parties alone decide it.
func RemoveMediator(org string) Change { return Change{Kind: MotionRemoveMediator, Org: org} }

// AddParty is the change that brings org into the talks as a party, pinning root, the
// fingerprint of org's root key, as InviteMediator does. It passes only when every party and
// org itself accept; whoever answers for org heads its delegation. The newcomer has its caucus
// from then on, and reads nothing sealed before it joined.
func AddParty(org, root string) Change { return Change{Kind: MotionAddParty, Org: org, Root: root} }

// RemoveParty is the change that takes party org out of the talks; every other party decides
// it. Talks keep at least two parties.
func RemoveParty(org string) Change { return Change{Kind: MotionRemoveParty, Org: org} }

// Invites reports whether a change brings its Org into the talks: an invitation to mediate or
// to join as a party. The invited organisation votes on it, and reads the talks while it is
// pending.
func (c Change) Invites() bool { return c.Kind == MotionInviteMediator || c.Kind == MotionAddParty }

// SetVenue is the change that moves the talks to venue.
func SetVenue(venue string) Change { return Change{Kind: MotionSetVenue, Venue: venue} }

// SetFormat is the change to format f.
func SetFormat(f Format) Change { return Change{Kind: MotionSetFormat, Format: f} }

// SetLevel is the change that sets the minimum rank for formal messages.
func SetLevel(r bc.Rank) Change { return Change{Kind: MotionSetLevel, Level: r} }

// AddTopic is the change that puts topic on the agenda.
func AddTopic(topic string) Change { return Change{Kind: MotionAddTopic, Topic: topic} }

// RemoveTopic is the change that takes topic off the agenda.
func RemoveTopic(topic string) Change { return Change{Kind: MotionRemoveTopic, Topic: topic} }

// ScheduleRound is the change that schedules the next round at start, at venue ("" for the
// talks' venue).
func ScheduleRound(venue string, start time.Time) Change {
	return Change{Kind: MotionScheduleRound, Venue: venue, Start: start}
}

// OpenSession is the change that opens a direct session, with a plenary room, until the given
// time.
func OpenSession(until time.Time) Change { return Change{Kind: MotionOpenSession, Until: until} }

// Suspend is the change that suspends the talks.
func Suspend() Change { return Change{Kind: MotionSuspend} }

// Resume is the change that resumes suspended talks.
func Resume() Change { return Change{Kind: MotionResume} }

// Conclude is the change that concludes the talks.
func Conclude() Change { return Change{Kind: MotionConclude} }

// check enforces that exactly the fields of the kind are set, and well formed.
func (c Change) check() error {
	uses := map[string]bool{}
	switch c.Kind {
	case MotionInviteMediator, MotionAddParty:
		uses["org"], uses["root"] = true, true
		if err := checkOrg(c.Org); err != nil {
			return err
		}
		if !isDigest(c.Root) {
			return refuse(ErrMalformed, "the root fingerprint of invited %q is not 64 lower-case hex digits", c.Org)
		}
	case MotionRemoveMediator, MotionRemoveParty:
		uses["org"] = true
		if err := checkOrg(c.Org); err != nil {
			return err
		}
	case MotionSetVenue:
		uses["venue"] = true
		if err := checkText("venue", c.Venue, true); err != nil {
			return err
		}
	case MotionSetFormat:
		uses["format"] = true
		if !c.Format.valid() {
			return refuse(ErrMalformed, "format %q", c.Format)
		}
	case MotionSetLevel:
		uses["level"] = true
		if !c.Level.Valid() {
			return refuse(ErrMalformed, "level %d", c.Level)
		}
	case MotionAddTopic, MotionRemoveTopic:
		uses["topic"] = true
		if err := checkID("topic", c.Topic); err != nil {
			return err
		}
	case MotionScheduleRound:
		uses["venue"], uses["start"] = true, true
		if err := checkText("venue", c.Venue, false); err != nil {
			return err
		}
		if err := checkTime("round start", c.Start); err != nil {
			return err
		}
	case MotionOpenSession:
		uses["until"] = true
		if err := checkTime("session end", c.Until); err != nil {
			return err
		}
	case MotionSuspend, MotionResume, MotionConclude:
	default:
		return refuse(ErrMalformed, "motion kind %q", c.Kind)
	}
	set := map[string]bool{
		"org": c.Org != "", "root": c.Root != "", "venue": c.Venue != "", "format": c.Format != "", "level": c.Level != 0,
		"topic": c.Topic != "", "start": !c.Start.IsZero(), "until": !c.Until.IsZero(),
	}
	for _, f := range []string{"org", "root", "venue", "format", "level", "topic", "start", "until"} {
		if set[f] && !uses[f] {
			return refuse(ErrMalformed, "a %s motion has no %s", c.Kind, f)
		}
	}
	return nil
}

// Outcome is where a motion stands.
type Outcome string

// The outcomes. A pending motion whose deadline has passed is expired; a motion lapses when
// the talks stop running before it is decided, or when it no longer applies by the time every
// vote is in (another motion got there first).
const (
	OutcomePending Outcome = "pending"
	OutcomePassed  Outcome = "passed"
	OutcomeRefused Outcome = "refused"
	OutcomeExpired Outcome = "expired"
	OutcomeLapsed  Outcome = "lapsed"
)

// Ballot is one organisation's answer to a motion.
type Ballot struct {
	Org    string
	By     Actor
	Accept bool
	// Standing is set when the party's standing red lines refused on its behalf: the
	// commitment to the instruction, never the topic.
	Standing string
	At       time.Time
}

// Motion is a proposed change and the votes on it.
type Motion struct {
	ID       string
	Change   Change
	By       Actor
	Proposed time.Time
	Deadline time.Time
	Ballots  []Ballot
	// Outcome is as decided by events; use OutcomeAt to see expiry.
	Outcome Outcome
	Decided time.Time
	// Reason says why a motion lapsed.
	Reason string
	// Round is the number given to the round a passed schedule-round motion created.
	Round int
}

func (m Motion) clone() Motion {
	m.Ballots = slices.Clone(m.Ballots)
	return m
}

// OutcomeAt returns the motion's outcome as seen at now: a motion still pending at or after its
// deadline is expired.
func (m Motion) OutcomeAt(now time.Time) Outcome {
	if m.Outcome == OutcomePending && !now.Before(m.Deadline) {
		return OutcomeExpired
	}
	return m.Outcome
}

// Ballot returns org's ballot on the motion, if it has voted.
func (m Motion) Ballot(org string) (Ballot, bool) {
	for _, b := range m.Ballots {
		if b.Org == org {
			return b, true
		}
	}
	return Ballot{}, false
}

// Motions returns every motion, in order of proposal.
func (t *Talks) Motions() []Motion {
	out := make([]Motion, len(t.motions))
	for i, m := range t.motions {
		out[i] = m.clone()
	}
	return out
}

// Motion returns the motion with the given id.
func (t *Talks) Motion(id string) (Motion, bool) {
	if i := t.motionIndex(id); i >= 0 {
		return t.motions[i].clone(), true
	}
	return Motion{}, false
}

func (t *Talks) motionIndex(id string) int {
	return slices.IndexFunc(t.motions, func(m Motion) bool { return m.ID == id })
}

// Voters returns the organisations whose acceptance the motion needs: every party, and for an
// invitation the invited organisation too; to remove a party, every other party.
func (t *Talks) Voters(c Change) []string {
	v := slices.Clone(t.parties)
	switch {
	case c.Invites():
		v = append(v, c.Org)
	case c.Kind == MotionRemoveParty:
		v = slices.DeleteFunc(v, func(o string) bool { return o == c.Org })
	}
	return v
}

// Roots returns the root pins in force: the charter's, in charter order, then one for each
// organisation first brought in by a passed invite-mediator or add-party motion, in order of
// proposal. A pin
// stays after its organisation leaves, since its acts already on the record are still checked
// against it; an organisation invited again keeps the one pin.
func (t *Talks) Roots() []Pin {
	out := slices.Clone(t.charter.Roots)
	for _, m := range t.motions {
		if m.Outcome == OutcomePassed && m.Change.Invites() &&
			!slices.ContainsFunc(out, func(p Pin) bool { return p.Org == m.Change.Org }) {
			out = append(out, Pin{Org: m.Change.Org, Fingerprint: m.Change.Root})
		}
	}
	return out
}

// pinned returns the fingerprint of the root pinned for org, if any.
func (t *Talks) pinned(org string) (string, bool) {
	for _, p := range t.Roots() {
		if p.Org == org {
			return p.Fingerprint, true
		}
	}
	return "", false
}

// applies checks that the change would do something in the current state; it is checked when
// the motion is proposed and again when the last vote comes in.
func (t *Talks) applies(c Change, at time.Time) error {
	switch c.Kind {
	case MotionInviteMediator, MotionAddParty:
		if r := t.Role(c.Org); r != "" {
			return refuse(ErrNoChange, "%q is already a %s", c.Org, r)
		}
		if fp, ok := t.pinned(c.Org); ok && fp != c.Root {
			return refuse(ErrRootMismatch, "%q is pinned to root %s, the motion names %s", c.Org, fp, c.Root)
		}
		if c.Kind == MotionInviteMediator && len(t.mediators) >= MaxMediators {
			return refuse(ErrMalformed, "talks %q already have %d mediators", t.id, MaxMediators)
		}
		if c.Kind == MotionAddParty && len(t.parties) >= MaxParties {
			return refuse(ErrMalformed, "talks %q already have %d parties", t.id, MaxParties)
		}
	case MotionRemoveParty:
		if t.Role(c.Org) != RoleParty {
			return refuse(ErrNoChange, "%q is not a party", c.Org)
		}
		if len(t.parties) <= 2 {
			return refuse(ErrLastParties, "talks %q keep at least two parties: %q cannot be removed", t.id, c.Org)
		}
	case MotionRemoveMediator:
		if t.Role(c.Org) != RoleMediator {
			return refuse(ErrNoChange, "%q is not a mediator", c.Org)
		}
		if t.format == FormatIndirect && len(t.mediators) == 1 {
			return refuse(ErrLastMediator, "%q is the only mediator of indirect talks %q", c.Org, t.id)
		}
	case MotionSetVenue:
		if c.Venue == t.venue {
			return refuse(ErrNoChange, "the venue is already %q", c.Venue)
		}
	case MotionSetFormat:
		if c.Format == t.format {
			return refuse(ErrNoChange, "the format is already %s", c.Format)
		}
	case MotionSetLevel:
		if c.Level == t.level {
			return refuse(ErrNoChange, "the level is already %d", c.Level)
		}
	case MotionAddTopic:
		if contains(t.agenda, c.Topic) {
			return refuse(ErrNoChange, "%q is already on the agenda", c.Topic)
		}
		if len(t.agenda) >= MaxAgenda {
			return refuse(ErrMalformed, "the agenda already has %d topics", MaxAgenda)
		}
	case MotionRemoveTopic:
		if !contains(t.agenda, c.Topic) {
			return refuse(ErrNotOnAgenda, "%q is not on the agenda", c.Topic)
		}
	case MotionScheduleRound:
		if c.Venue == "" && t.venue == "" {
			return refuse(ErrNoVenue, "no venue is agreed and the motion names none")
		}
		if len(t.rounds) >= MaxRounds {
			return refuse(ErrMalformed, "talks %q already have %d rounds", t.id, MaxRounds)
		}
	case MotionOpenSession:
		if t.format == FormatDirect {
			return refuse(ErrNoChange, "talks %q are in direct format: the plenary room is always there", t.id)
		}
		if _, ok := t.openSession(at); ok {
			return refuse(ErrNoChange, "a direct session is already open")
		}
		if !c.Until.After(at) {
			return refuse(ErrNoChange, "the session would end at %s, already past", c.Until.Format(time.RFC3339))
		}
	case MotionSuspend:
		if t.status != StatusActive {
			return refuse(ErrBadTransition, "talks %q are %s, not active", t.id, t.status)
		}
	case MotionResume:
		if t.status != StatusSuspended {
			return refuse(ErrBadTransition, "talks %q are %s, not suspended", t.id, t.status)
		}
	case MotionConclude:
		if t.status != StatusActive {
			return refuse(ErrBadTransition, "talks %q are %s, not active", t.id, t.status)
		}
	}
	return nil
}

func (t *Talks) propose(e Propose) error {
	// Shape changes need running talks; suspended talks take only a motion to resume.
	if err := t.gate(); err != nil && !(t.status == StatusSuspended && e.Change.Kind == MotionResume) {
		return err
	}
	if t.motionIndex(e.Motion) >= 0 {
		return refuse(ErrDuplicateID, "motion %q already exists", e.Motion)
	}
	if len(t.motions) >= MaxMotions {
		return refuse(ErrMalformed, "talks %q already have %d motions", t.id, MaxMotions)
	}
	if err := t.authorise(e.By); err != nil {
		return err
	}
	role := t.Role(e.By.Org)
	if !MayPropose(role, e.Change.Kind) {
		return refuse(ErrNotAllowedToPropose, "a %s may not propose %s", role, e.Change.Kind)
	}
	if err := t.applies(e.Change, e.At); err != nil {
		return err
	}
	m := Motion{
		ID:       e.Motion,
		Change:   e.Change,
		By:       e.By,
		Proposed: e.At,
		Deadline: e.Deadline,
		Outcome:  OutcomePending,
	}
	if m.Deadline.IsZero() {
		m.Deadline = e.At.Add(DefaultMotionTTL)
	}
	// A party that proposes accepts its own motion.
	if contains(t.Voters(e.Change), e.By.Org) {
		m.Ballots = append(m.Ballots, Ballot{Org: e.By.Org, By: e.By, Accept: true, At: e.At})
	}
	t.motions = append(t.motions, m)
	return t.settle(len(t.motions)-1, e.At)
}

func (t *Talks) vote(e Vote) error {
	if t.status == StatusProposed {
		return refuse(ErrNotActive, "talks %q await acceptance of the charter", t.id)
	}
	if t.over() {
		return refuse(ErrTalksOver, "talks %q are %s", t.id, t.status)
	}
	i := t.motionIndex(e.Motion)
	if i < 0 {
		return refuse(ErrNoSuchMotion, "no motion %q", e.Motion)
	}
	m := &t.motions[i]
	switch m.OutcomeAt(e.At) {
	case OutcomeRefused:
		return refuse(ErrMotionRefused, "motion %q was refused", m.ID)
	case OutcomeExpired:
		return refuse(ErrMotionExpired, "motion %q expired at %s", m.ID, m.Deadline.Format(time.RFC3339))
	case OutcomePassed, OutcomeLapsed:
		return refuse(ErrMotionClosed, "motion %q has %s", m.ID, m.Outcome)
	}
	org := e.By.Org
	if !contains(t.Voters(m.Change), org) {
		return refuse(ErrNotAVoter, "%q does not vote on motion %q (%s)", org, m.ID, m.Change.Kind)
	}
	if m.Change.Invites() && org == m.Change.Org {
		// The invited organisation has no delegation yet: whoever answers for it becomes its
		// head if the appointment passes. It must not already sit for someone else.
		if prev, ok := t.Member(e.By.Principal); ok {
			return refuse(ErrAlreadyMember, "%s already sits in the delegation of %q", e.By.Principal, prev.Org)
		}
	} else if err := t.authorise(e.By); err != nil {
		return err
	}
	if _, ok := m.Ballot(org); ok {
		return refuse(ErrAlreadyVoted, "%q has already voted on motion %q", org, m.ID)
	}
	if e.Standing != "" && t.Role(org) != RoleParty {
		return refuse(ErrNotAVoter, "only a party holds standing red lines")
	}
	m.Ballots = append(m.Ballots, Ballot{Org: org, By: e.By, Accept: e.Accept, Standing: e.Standing, At: e.At})
	return t.settle(i, e.At)
}

// settle decides motion i if its votes are all in: one refusal defeats it; acceptance by every
// voter passes it, and the change takes effect at once.
func (t *Talks) settle(i int, at time.Time) error {
	m := &t.motions[i]
	voters := t.Voters(m.Change)
	for _, b := range m.Ballots {
		if !b.Accept {
			m.Outcome, m.Decided = OutcomeRefused, at
			return nil
		}
	}
	for _, v := range voters {
		if _, ok := m.Ballot(v); !ok {
			return nil
		}
	}
	err := t.applies(m.Change, at)
	if b, ok := m.Ballot(m.Change.Org); err == nil && ok && m.Change.Invites() {
		if prev, taken := t.Member(b.By.Principal); taken {
			err = refuse(ErrAlreadyMember, "%s has since joined the delegation of %q", b.By.Principal, prev.Org)
		}
	}
	if err != nil {
		m.Outcome, m.Decided, m.Reason = OutcomeLapsed, at, err.Error()
		return nil
	}
	m.Outcome, m.Decided = OutcomePassed, at
	return t.enact(m, at)
}

// enact makes a passed change.
func (t *Talks) enact(m *Motion, at time.Time) error {
	c := m.Change
	switch c.Kind {
	case MotionInviteMediator:
		b, _ := m.Ballot(c.Org)
		t.mediators = append(t.mediators, c.Org)
		if err := t.join(Member{Actor: b.By, Head: true}); err != nil {
			return err
		}
	case MotionRemoveMediator:
		t.removeMediator(c.Org)
	case MotionAddParty:
		b, _ := m.Ballot(c.Org)
		t.parties = append(t.parties, c.Org)
		// Voting for its own admission is the newcomer's acceptance of the talks as they stand.
		t.accepted = append(t.accepted, c.Org)
		if err := t.join(Member{Actor: b.By, Head: true}); err != nil {
			return err
		}
	case MotionRemoveParty:
		t.removeOrg(c.Org)
	case MotionSetVenue:
		t.venue = c.Venue
	case MotionSetFormat:
		t.format = c.Format
	case MotionSetLevel:
		t.level = c.Level
	case MotionAddTopic:
		t.agenda = append(t.agenda, c.Topic)
		slices.Sort(t.agenda)
	case MotionRemoveTopic:
		t.agenda = slices.DeleteFunc(t.agenda, func(s string) bool { return s == c.Topic })
	case MotionScheduleRound:
		venue := c.Venue
		if venue == "" {
			venue = t.venue
		}
		m.Round = len(t.rounds) + 1
		t.rounds = append(t.rounds, Round{Number: m.Round, Venue: venue, Start: c.Start, State: RoundScheduled, Motion: m.ID})
	case MotionOpenSession:
		t.sessions = append(t.sessions, Session{Motion: m.ID, Opened: at, Until: c.Until})
	case MotionSuspend:
		if err := t.move(StatusSuspended); err != nil {
			return err
		}
		t.wind(at, "the talks were suspended")
	case MotionResume:
		return t.move(StatusActive)
	case MotionConclude:
		if err := t.move(StatusConcluded); err != nil {
			return err
		}
		t.wind(at, "the talks were concluded")
	}
	return nil
}
