package talks

import (
	"fmt"
	"slices"
	"time"

	bc "github.com/backchannel/backchannel"
)

// Talks is the state of one negotiation. The zero value is not usable: start from New or
// Replay. A *Talks is not safe for concurrent use; the server applies a talks' events one at a
// time, in record order, and Clone gives a reader its own copy.
type Talks struct {
	id         string
	charter    Charter
	status     Status
	parties    []string // charter order; fixed for the life of the talks
	mediators  []string // order of appointment
	accepted   []string // organisations that accepted the charter
	members    []Member // every delegation, in order of joining
	venue      string
	format     Format
	level      bc.Rank
	agenda     []string // sorted
	visibility Visibility
	motions    []Motion
	rounds     []Round
	sessions   []Session
	statements []Statement
	last       time.Time // time of the last applied event
}

// New starts talks from their charter, in status proposed.
func New(c Charter) (*Talks, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("talks %s: charter: %w", c.ID, err)
	}
	t := &Talks{
		id:         c.ID,
		charter:    c.clone(),
		status:     StatusProposed,
		parties:    clip(c.Parties),
		mediators:  clip(c.Mediators),
		venue:      c.Venue,
		format:     c.Format,
		level:      c.Level,
		agenda:     clip(slices.Sorted(slices.Values(c.Agenda))),
		visibility: c.Visibility,
		last:       c.At,
	}
	// The proposer signs the charter first: it heads its delegation and has accepted.
	t.members = []Member{{Actor: c.Proposer, Head: true}}
	t.accepted = []string{c.Proposer.Org}
	return t, nil
}

// Replay rebuilds talks from their events: a Charter first, then every later event in record
// order. It fails on the first event that Apply refuses, since an accepted record never holds
// one.
func Replay(events []Event) (*Talks, error) {
	if len(events) == 0 {
		return nil, refuse(ErrNotCharter, "no events")
	}
	c, ok := events[0].(Charter)
	if !ok {
		return nil, refuse(ErrNotCharter, "the first event is %q", events[0].Type())
	}
	t, err := New(c)
	if err != nil {
		return nil, err
	}
	for i, e := range events[1:] {
		// No copy per event, unlike Apply: on a refusal the half-built talks are dropped.
		if err := t.apply(e); err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
	}
	return t, nil
}

// Apply validates e against the rules and the current state and, only if it is accepted,
// changes the state. A refused event leaves the talks exactly as they were, and the error is a
// *Refusal naming the rule.
func (t *Talks) Apply(e Event) error {
	// Work on a copy so that a refusal half-way through cannot leave a half-changed state:
	// the record must replay to exactly what the server holds.
	c := t.Clone()
	if err := c.apply(e); err != nil {
		return err
	}
	*t = *c
	return nil
}

// apply validates and applies e in place; on error t may be half changed.
func (t *Talks) apply(e Event) error {
	if e == nil {
		return fmt.Errorf("talks %s: %w", t.id, refuse(ErrMalformed, "nil event"))
	}
	if err := t.applyEvent(e); err != nil {
		return fmt.Errorf("talks %s: %s: %w", t.id, e.Type(), err)
	}
	t.last = e.When()
	return nil
}

func (t *Talks) applyEvent(e Event) error {
	if err := e.check(); err != nil {
		return err
	}
	if e.When().Before(t.last) {
		return refuse(ErrTimeWentBack, "event at %s is before the last one at %s",
			e.When().Format(time.RFC3339Nano), t.last.Format(time.RFC3339Nano))
	}
	switch e := e.(type) {
	case Charter:
		return refuse(ErrNotCharter, "talks %q already have their charter", t.id)
	case AcceptCharter:
		return t.acceptCharter(e)
	case AddMember:
		return t.addMember(e)
	case RemoveMember:
		return t.removeMember(e)
	case SetHead:
		return t.setHead(e)
	case Propose:
		return t.propose(e)
	case Vote:
		return t.vote(e)
	case OpenRound:
		return t.openRound(e)
	case CloseRound:
		return t.closeRound(e)
	case CloseSession:
		return t.closeSession(e)
	case Sign:
		return t.sign(e)
	case Withdraw:
		return t.withdraw(e)
	}
	return refuse(ErrMalformed, "unknown event %T: events are the package's value types", e)
}

// Clone returns a deep copy of the talks, sharing nothing with t.
func (t *Talks) Clone() *Talks {
	c := *t
	c.charter = t.charter.clone()
	c.parties = slices.Clone(t.parties)
	c.mediators = slices.Clone(t.mediators)
	c.accepted = slices.Clone(t.accepted)
	c.members = slices.Clone(t.members)
	c.agenda = slices.Clone(t.agenda)
	c.motions = slices.Clone(t.motions)
	for i := range c.motions {
		c.motions[i] = c.motions[i].clone()
	}
	c.rounds = slices.Clone(t.rounds)
	c.sessions = slices.Clone(t.sessions)
	c.statements = slices.Clone(t.statements)
	for i := range c.statements {
		c.statements[i] = c.statements[i].clone()
	}
	return &c
}

func (c Charter) clone() Charter {
	c.Parties = clip(c.Parties)
	c.Mediators = clip(c.Mediators)
	c.Roots = clip(c.Roots)
	c.Agenda = clip(c.Agenda)
	c.Witnesses = clip(c.Witnesses)
	return c
}

// clip copies s, making an empty slice nil: a charter decoded from the record and the one the
// server built in memory must give identical states.
func clip[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// ID returns the talks' identifier.
func (t *Talks) ID() string { return t.id }

// Charter returns the charter the talks started from.
func (t *Talks) Charter() Charter { return t.charter.clone() }

// Status returns where the talks stand.
func (t *Talks) Status() Status { return t.status }

// Parties returns the party organisations, in charter order.
func (t *Talks) Parties() []string { return slices.Clone(t.parties) }

// Witnesses returns the witnesses the charter names and how many of them must have cosigned a
// checkpoint for it to be confirmed (every one, unless the charter says fewer).
func (t *Talks) Witnesses() ([]Witness, int) {
	ws := slices.Clone(t.charter.Witnesses)
	if q := t.charter.WitnessQuorum; q > 0 {
		return ws, q
	}
	return ws, len(ws)
}

// Quorum returns how many parties must have cosigned a checkpoint for it to be confirmed: the
// charter's quorum, never less than a majority of the parties as they are now (parties may
// have joined since), and every party if the charter names none.
func (t *Talks) Quorum() int {
	n := len(t.parties)
	if q := t.charter.Quorum; q > 0 {
		return min(n, max(q, n/2+1))
	}
	return n
}

// Mediators returns the mediating organisations, in order of appointment.
func (t *Talks) Mediators() []string { return slices.Clone(t.mediators) }

// Venue returns the agreed venue, or "" if none is agreed yet.
func (t *Talks) Venue() string { return t.venue }

// Format returns the agreed format.
func (t *Talks) Format() Format { return t.format }

// Level returns the minimum rank for formal messages.
func (t *Talks) Level() bc.Rank { return t.level }

// Agenda returns the agreed topics, sorted.
func (t *Talks) Agenda() []string { return slices.Clone(t.agenda) }

// Visibility returns how much of the talks the outside world may learn.
func (t *Talks) Visibility() Visibility { return t.visibility }

// LastEvent returns the time of the last applied event: a later event may not be earlier.
func (t *Talks) LastEvent() time.Time { return t.last }

// Accepted returns the organisations that have accepted the charter, in order.
func (t *Talks) Accepted() []string { return slices.Clone(t.accepted) }

// Role returns org's role in the talks, or "" if it holds none.
func (t *Talks) Role(org string) Role {
	switch {
	case contains(t.parties, org):
		return RoleParty
	case contains(t.mediators, org):
		return RoleMediator
	}
	return ""
}

// Members returns org's delegation in order of joining, or every delegation if org is "".
func (t *Talks) Members(org string) []Member {
	var out []Member
	for _, m := range t.members {
		if org == "" || m.Org == org {
			out = append(out, m)
		}
	}
	return out
}

// Member returns the delegation member with the given principal id.
func (t *Talks) Member(principal string) (Member, bool) {
	for _, m := range t.members {
		if m.Principal == principal {
			return m, true
		}
	}
	return Member{}, false
}

// Head returns the head of org's delegation.
func (t *Talks) Head(org string) (Member, bool) {
	for _, m := range t.members {
		if m.Org == org && m.Head {
			return m, true
		}
	}
	return Member{}, false
}

// authorise checks that a may act for its organisation: it sits in the delegation, and is its
// head or ranks at least as high as the head. Rank comes from a's current credential, as the
// server verified it.
func (t *Talks) authorise(a Actor) error {
	m, ok := t.Member(a.Principal)
	if !ok || m.Org != a.Org {
		return refuse(ErrNotMember, "%s is not in the delegation of %q", a.Principal, a.Org)
	}
	if m.Head {
		return nil
	}
	head, ok := t.Head(a.Org)
	if ok && a.Rank < head.Rank {
		return refuse(ErrNoAuthority, "%s (rank %d) ranks below the head of delegation of %q (rank %d)", a.Principal, a.Rank, a.Org, head.Rank)
	}
	return nil
}

// gate refuses anything but a running talks: the status rule shared by messages, rounds and
// most motions.
func (t *Talks) gate() error {
	switch t.status {
	case StatusActive:
		return nil
	case StatusProposed:
		return refuse(ErrNotActive, "talks %q await acceptance of the charter", t.id)
	case StatusSuspended:
		return refuse(ErrSuspended, "talks %q are suspended: nothing is posted or changed until a motion to resume them passes (a motion of kind resume)", t.id)
	}
	return refuse(ErrTalksOver, "talks %q are %s", t.id, t.status)
}

func (t *Talks) over() bool {
	return t.status == StatusConcluded || t.status == StatusCollapsed
}

// move changes the status along an allowed edge.
func (t *Talks) move(to Status) error {
	if !CanMove(t.status, to) {
		return refuse(ErrBadTransition, "talks %q cannot move from %s to %s", t.id, t.status, to)
	}
	t.status = to
	return nil
}

// wind ends whatever is in progress when the talks stop running (suspended, concluded,
// collapsed): the round in session closes, an open direct session closes, and pending motions
// lapse, since nothing changes shape while the talks are not running.
func (t *Talks) wind(at time.Time, why string) {
	for i := range t.rounds {
		if t.rounds[i].State == RoundInSession {
			t.rounds[i].State = RoundClosed
			t.rounds[i].Closed = at
		}
	}
	if i, ok := t.openSession(at); ok {
		t.sessions[i].Closed = at
	}
	for i := range t.motions {
		m := &t.motions[i]
		if m.OutcomeAt(at) == OutcomePending && !(t.status == StatusSuspended && m.Change.Kind == MotionResume) {
			m.Outcome, m.Decided, m.Reason = OutcomeLapsed, at, why
		}
	}
}

func (t *Talks) acceptCharter(e AcceptCharter) error {
	if t.status != StatusProposed {
		return refuse(ErrBadTransition, "talks %q are %s, the charter is settled", t.id, t.status)
	}
	org := e.By.Org
	if t.Role(org) == "" {
		return refuse(ErrNotMember, "the charter does not name %q", org)
	}
	if contains(t.accepted, org) {
		return refuse(ErrAlreadyVoted, "%q has already accepted the charter", org)
	}
	if _, ok := t.Head(org); ok {
		if err := t.authorise(e.By); err != nil {
			return err
		}
	} else {
		// The organisation's first principal joins by signing: it heads the delegation.
		if err := t.join(Member{Actor: e.By, Head: true}); err != nil {
			return err
		}
	}
	t.accepted = append(t.accepted, org)
	for _, o := range append(slices.Clone(t.parties), t.mediators...) {
		if !contains(t.accepted, o) {
			return nil
		}
	}
	return t.move(StatusActive)
}

// join adds m to its delegation, checking that the principal sits nowhere else.
func (t *Talks) join(m Member) error {
	if prev, ok := t.Member(m.Principal); ok {
		return refuse(ErrAlreadyMember, "%s already sits in the delegation of %q", m.Principal, prev.Org)
	}
	if len(t.Members(m.Org)) >= MaxDelegation {
		return refuse(ErrMalformed, "the delegation of %q already has %d members", m.Org, MaxDelegation)
	}
	if m.Head {
		for i := range t.members {
			if t.members[i].Org == m.Org {
				t.members[i].Head = false
			}
		}
	}
	t.members = append(t.members, m)
	return nil
}

func (t *Talks) addMember(e AddMember) error {
	if t.over() {
		return refuse(ErrTalksOver, "talks %q are %s", t.id, t.status)
	}
	if err := t.authorise(e.By); err != nil {
		return err
	}
	if e.Member.Org != e.By.Org {
		return refuse(ErrNoAuthority, "%s of %q cannot add %s of %q: a delegation adds only its own members", e.By.Principal, e.By.Org, e.Member.Principal, e.Member.Org)
	}
	return t.join(e.Member)
}

// ownMember returns the member principal of by's own delegation, for a change by to that
// delegation: the talks still running, by acting with authority for its organisation.
func (t *Talks) ownMember(by Actor, principal string) (Member, error) {
	if t.over() {
		return Member{}, refuse(ErrTalksOver, "talks %q are %s", t.id, t.status)
	}
	if err := t.authorise(by); err != nil {
		return Member{}, err
	}
	m, ok := t.Member(principal)
	if !ok || m.Org != by.Org {
		return Member{}, refuse(ErrNotMember, "%s is not in the delegation of %q", principal, by.Org)
	}
	return m, nil
}

func (t *Talks) removeMember(e RemoveMember) error {
	m, err := t.ownMember(e.By, e.Principal)
	if err != nil {
		return err
	}
	if m.Head {
		return refuse(ErrHeadOfDelegation, "%s heads the delegation of %q: name another head first", e.Principal, m.Org)
	}
	t.members = slices.DeleteFunc(t.members, func(x Member) bool { return x.Principal == e.Principal })
	return nil
}

func (t *Talks) setHead(e SetHead) error {
	m, err := t.ownMember(e.By, e.Principal)
	if err != nil {
		return err
	}
	if m.Head {
		return refuse(ErrNoChange, "%s already heads the delegation of %q", e.Principal, m.Org)
	}
	for i := range t.members {
		if t.members[i].Org == m.Org {
			t.members[i].Head = t.members[i].Principal == e.Principal
		}
	}
	return nil
}

func (t *Talks) withdraw(e Withdraw) error {
	if t.over() {
		return refuse(ErrTalksOver, "talks %q are %s", t.id, t.status)
	}
	if err := t.authorise(e.By); err != nil {
		return err
	}
	org := e.By.Org
	if t.Role(org) == RoleParty {
		if len(t.parties) > 2 && t.status != StatusProposed {
			// The others talk on: the party leaves, and its delegation every room.
			t.removeOrg(org)
			return nil
		}
		if err := t.move(StatusCollapsed); err != nil {
			return err
		}
		t.wind(e.At, "party "+org+" withdrew")
		return nil
	}
	// A mediator may step down, and its delegation leaves every room with it; but indirect
	// talks keep one, as a motion to remove it would (another is invited first).
	if t.format == FormatIndirect && len(t.mediators) == 1 {
		return refuse(ErrLastMediator, "%q is the only mediator of indirect talks %q: invite another before it withdraws", org, t.id)
	}
	t.removeMediator(org)
	if t.status == StatusProposed {
		for _, o := range append(slices.Clone(t.parties), t.mediators...) {
			if !contains(t.accepted, o) {
				return nil
			}
		}
		return t.move(StatusActive)
	}
	return nil
}

func (t *Talks) removeMediator(org string) { t.removeOrg(org) }

// removeOrg takes org out of the talks, whatever its role: its delegation leaves every room.
func (t *Talks) removeOrg(org string) {
	t.parties = slices.DeleteFunc(t.parties, func(o string) bool { return o == org })
	t.mediators = slices.DeleteFunc(t.mediators, func(o string) bool { return o == org })
	t.accepted = slices.DeleteFunc(t.accepted, func(o string) bool { return o == org })
	t.members = slices.DeleteFunc(t.members, func(m Member) bool { return m.Org == org })
}
