package talks

import (
	"slices"
	"time"
)

// RoundState is where a round stands: scheduled → in session → closed.
type RoundState string

// The round states.
const (
	RoundScheduled RoundState = "scheduled"
	RoundInSession RoundState = "in-session"
	RoundClosed    RoundState = "closed"
)

// Round is a scheduled sitting at a venue. Rounds are numbered from 1 in the order their
// motions passed; messages carry the number of the round in session.
type Round struct {
	Number int
	Venue  string
	Start  time.Time // as scheduled
	State  RoundState
	Motion string // the schedule-round motion that created it
	Opened time.Time
	Closed time.Time
}

// Rounds returns every round, in order.
func (t *Talks) Rounds() []Round { return slices.Clone(t.rounds) }

// InSession returns the number of the round in session, or 0 between rounds.
func (t *Talks) InSession() int {
	for _, r := range t.rounds {
		if r.State == RoundInSession {
			return r.Number
		}
	}
	return 0
}

// Session is a direct session: a time-boxed plenary opened by consent in indirect talks.
type Session struct {
	Motion string // the open-session motion
	Opened time.Time
	Until  time.Time
	Closed time.Time // set when closed before Until, by an event
}

// OpenAt reports whether the session is open at now.
func (s Session) OpenAt(now time.Time) bool { return s.Closed.IsZero() && now.Before(s.Until) }

// Sessions returns every direct session, in order.
func (t *Talks) Sessions() []Session { return slices.Clone(t.sessions) }

// openSession returns the index of the direct session open at now.
func (t *Talks) openSession(now time.Time) (int, bool) {
	if n := len(t.sessions); n > 0 && t.sessions[n-1].OpenAt(now) {
		return n - 1, true
	}
	return 0, false
}

// actsForRole checks that a may act for its organisation and that the organisation holds one
// of the given roles.
func (t *Talks) actsFor(a Actor, roles ...Role) error {
	if err := t.authorise(a); err != nil {
		return err
	}
	if r := t.Role(a.Org); !contains(roles, r) {
		return refuse(ErrNotMember, "%q is not a %s in talks %q", a.Org, roles[0], t.id)
	}
	return nil
}

func (t *Talks) round(n int) (*Round, error) {
	if n < 1 || n > len(t.rounds) {
		return nil, refuse(ErrNoSuchRound, "talks %q have no round %d", t.id, n)
	}
	return &t.rounds[n-1], nil
}

// openRound: a scheduled round is opened by a mediator or a party. Consent was given when the
// round was scheduled; opening only marks that the sitting has begun.
func (t *Talks) openRound(e OpenRound) error {
	if err := t.gate(); err != nil {
		return err
	}
	if err := t.actsFor(e.By, RoleMediator, RoleParty); err != nil {
		return err
	}
	r, err := t.round(e.Round)
	if err != nil {
		return err
	}
	if r.State != RoundScheduled {
		return refuse(ErrRoundState, "round %d is %s, not scheduled", r.Number, r.State)
	}
	if n := t.InSession(); n != 0 {
		return refuse(ErrRoundState, "round %d is still in session", n)
	}
	r.State, r.Opened = RoundInSession, e.At
	return nil
}

// closeRound: the round in session is closed by a mediator or a party; any side may leave the
// table.
func (t *Talks) closeRound(e CloseRound) error {
	if err := t.gate(); err != nil {
		return err
	}
	if err := t.actsFor(e.By, RoleMediator, RoleParty); err != nil {
		return err
	}
	r, err := t.round(e.Round)
	if err != nil {
		return err
	}
	if r.State != RoundInSession {
		return refuse(ErrRoundState, "round %d is %s, not in session", r.Number, r.State)
	}
	r.State, r.Closed = RoundClosed, e.At
	return nil
}

func (t *Talks) closeSession(e CloseSession) error {
	if err := t.gate(); err != nil {
		return err
	}
	if err := t.actsFor(e.By, RoleParty, RoleMediator); err != nil {
		return err
	}
	i, ok := t.openSession(e.At)
	if !ok {
		return refuse(ErrNoSession, "talks %q have no direct session open", t.id)
	}
	t.sessions[i].Closed = e.At
	return nil
}

// Signature is one party's signature on a statement.
type Signature struct {
	Org string
	By  Actor
	At  time.Time
}

// Statement is a public statement about a closed round, held as the digest of its text.
type Statement struct {
	Round   int
	Digest  string
	Joint   bool
	Signers []Signature
	// Complete is true for a unilateral statement at once, and for a joint one when every
	// party has signed.
	Complete bool
}

func (s Statement) clone() Statement {
	s.Signers = slices.Clone(s.Signers)
	return s
}

// Statements returns every statement, in order of first signature.
func (t *Talks) Statements() []Statement {
	out := make([]Statement, len(t.statements))
	for i, s := range t.statements {
		out[i] = s.clone()
	}
	return out
}

// sign records a party's signature on a statement. Statements are about a closed round and are
// accepted whatever the status after that, since parties speak after a suspension or the end
// too; secret talks make none, since a statement would reveal that they exist.
func (t *Talks) sign(e Sign) error {
	if t.status == StatusProposed {
		return refuse(ErrNotActive, "talks %q await acceptance of the charter", t.id)
	}
	if t.visibility == VisibilitySecret {
		return refuse(ErrSecret, "talks %q are secret", t.id)
	}
	if err := t.actsFor(e.By, RoleParty); err != nil {
		return err
	}
	r, err := t.round(e.Round)
	if err != nil {
		return err
	}
	if r.State != RoundClosed {
		return refuse(ErrRoundState, "round %d is %s: statements follow a closed round", r.Number, r.State)
	}
	sig := Signature{Org: e.By.Org, By: e.By, At: e.At}
	for i := range t.statements {
		s := &t.statements[i]
		if s.Round != e.Round || s.Digest != e.Digest || s.Joint != e.Joint {
			continue
		}
		if slices.ContainsFunc(s.Signers, func(x Signature) bool { return x.Org == e.By.Org }) {
			return refuse(ErrAlreadySigned, "%q has already signed this statement on round %d", e.By.Org, e.Round)
		}
		if !e.Joint {
			continue // a unilateral statement of another party with the same text
		}
		s.Signers = append(s.Signers, sig)
		s.Complete = len(s.Signers) == len(t.parties)
		return nil
	}
	if len(t.statements) >= MaxStatements {
		return refuse(ErrMalformed, "talks %q already have %d statements", t.id, MaxStatements)
	}
	t.statements = append(t.statements, Statement{Round: e.Round, Digest: e.Digest, Joint: e.Joint, Signers: []Signature{sig}, Complete: !e.Joint})
	return nil
}
