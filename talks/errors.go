package talks

import "fmt"

// Rule is one rule of the talks. The Err* values are the rules; every refusal returned by this
// package is a *Refusal that unwraps to exactly one of them, so callers test with errors.Is and
// the HTTP layer maps Name to a stable problem-details type.
type Rule struct {
	// Name is a stable, machine-readable identifier for the rule, e.g. "not-on-agenda".
	Name string
	// Text says the rule in words.
	Text string
}

// Error returns the rule's name and text.
func (r *Rule) Error() string { return r.Name + ": " + r.Text }

// The rules. Names are stable: they are part of the API's error vocabulary.
var (
	ErrMalformed           = &Rule{"malformed", "the event or header is not well formed"}
	ErrTimeWentBack        = &Rule{"time-went-back", "events are applied in time order"}
	ErrNotCharter          = &Rule{"not-charter", "talks start from a charter, and only from one"}
	ErrDuplicateID         = &Rule{"duplicate-id", "identifiers are used once"}
	ErrNotMember           = &Rule{"not-member", "only a member of a delegation in the talks may act"}
	ErrNoAuthority         = &Rule{"no-authority", "only the head of delegation or someone of at least the head's rank may act for an organisation"}
	ErrAlreadyMember       = &Rule{"already-member", "a principal sits in one delegation, once"}
	ErrHeadOfDelegation    = &Rule{"head-of-delegation", "a delegation always has exactly one head"}
	ErrNotActive           = &Rule{"not-active", "the talks are not active yet: every organisation in the charter must accept it"}
	ErrSuspended           = &Rule{"suspended", "nothing is posted or changed while the talks are suspended, except a motion to resume"}
	ErrTalksOver           = &Rule{"talks-over", "the talks are concluded or collapsed"}
	ErrBadTransition       = &Rule{"bad-transition", "the talks' status moves only along the allowed edges"}
	ErrNotAllowedToPropose = &Rule{"not-allowed-to-propose", "this role may not propose this motion"}
	ErrNoSuchMotion        = &Rule{"no-such-motion", "no motion with this id"}
	ErrNotAVoter           = &Rule{"not-a-voter", "only the parties, and a mediator on its own appointment, vote on a motion"}
	ErrAlreadyVoted        = &Rule{"already-voted", "each organisation votes once on a motion"}
	ErrMotionRefused       = &Rule{"motion-refused", "the motion was refused: one refusal defeats it"}
	ErrMotionExpired       = &Rule{"motion-expired", "the motion expired before every vote was in"}
	ErrMotionClosed        = &Rule{"motion-closed", "the motion is already decided"}
	ErrNoChange            = &Rule{"no-change", "the motion would change nothing"}
	ErrLastMediator        = &Rule{"last-mediator", "indirect talks keep at least one mediator"}
	ErrLastParties         = &Rule{"last-parties", "talks keep at least two parties"}
	ErrNotOnAgenda         = &Rule{"not-on-agenda", "messages and statements keep to the agreed agenda"}
	ErrNoTopic             = &Rule{"no-topic", "formal messages name at least one agenda topic"}
	ErrRankBelowLevel      = &Rule{"rank-below-level", "formal kinds need a rank at least the talks' level"}
	ErrNoSuchRoom          = &Rule{"no-such-room", "the room does not exist in the talks' current shape"}
	ErrNotInRoom           = &Rule{"not-in-room", "a principal posts and reads only in rooms it sits in"}
	ErrRelay               = &Rule{"relay", "only a mediator who sits in both rooms relays, a summary is of kind summary"}
	ErrWrongRound          = &Rule{"wrong-round", "a message carries the round in session, or 0 between rounds"}
	ErrNoSuchRound         = &Rule{"no-such-round", "no round with this number"}
	ErrRoundState          = &Rule{"round-state", "rounds go scheduled, in session, closed; one in session at a time"}
	ErrNoSession           = &Rule{"no-session", "no direct session is open"}
	ErrSecret              = &Rule{"secret", "secret talks make no public statements"}
	ErrAlreadySigned       = &Rule{"already-signed", "each party signs a statement once"}
	ErrNoVenue             = &Rule{"no-venue", "a round needs a venue"}
	ErrRootMismatch        = &Rule{"root-mismatch", "an organisation keeps the root first pinned for it in the talks"}
)

// Rules lists every rule, in a fixed order: the talks' part of the API's problems.
func Rules() []*Rule {
	return []*Rule{
		ErrMalformed, ErrTimeWentBack, ErrNotCharter, ErrDuplicateID,
		ErrNotMember, ErrNoAuthority, ErrAlreadyMember, ErrHeadOfDelegation,
		ErrNotActive, ErrSuspended, ErrTalksOver, ErrBadTransition,
		ErrNotAllowedToPropose, ErrNoSuchMotion, ErrNotAVoter, ErrAlreadyVoted,
		ErrMotionRefused, ErrMotionExpired, ErrMotionClosed, ErrNoChange,
		ErrLastMediator, ErrLastParties, ErrNotOnAgenda, ErrNoTopic, ErrRankBelowLevel,
		ErrNoSuchRoom, ErrNotInRoom, ErrRelay, ErrWrongRound,
		ErrNoSuchRound, ErrRoundState, ErrNoSession, ErrSecret,
		ErrAlreadySigned, ErrNoVenue, ErrRootMismatch,
	}
}

// Refusal is the error for every refused event, message or motion: the rule it breaks and the
// particulars. It unwraps to the Rule.
type Refusal struct {
	Rule   *Rule
	Detail string
}

// Error returns the rule's name and the particulars.
func (r *Refusal) Error() string {
	if r.Detail == "" {
		return r.Rule.Error()
	}
	return r.Rule.Name + ": " + r.Detail
}

// Unwrap returns the rule, so that errors.Is(err, ErrNotOnAgenda) holds.
func (r *Refusal) Unwrap() error { return r.Rule }

// refuse builds a *Refusal with a formatted detail.
func refuse(rule *Rule, format string, args ...any) error {
	return &Refusal{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}
