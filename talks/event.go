package talks

import (
	"net/url"
	"slices"
	"strings"
	"time"

	bc "github.com/backchannel/backchannel"
)

// Event is one accepted change to the talks. The server stores each as the payload of a signed
// act on the talks' record; applying the same events in the same order always gives the same
// state. The set of events is closed: the concrete types are the ones in this file.
type Event interface {
	// Type is the event's tag in its encoding, e.g. "vote".
	Type() string
	// When is the time the event carries, UTC. Expiry of motions and of direct sessions is
	// evaluated against it, never against a clock.
	When() time.Time
	check() error
}

// Charter starts the talks: the organisations taking part, the roots pinned for them, and the
// shape they all sign up to. It is the first event on every talks' record. The proposer becomes
// head of its organisation's delegation and counts as its acceptance; the talks become active
// when every organisation named (parties and mediators) has accepted.
//
// Roots holds exactly one Pin for every organisation named. Each acceptance signs the charter,
// pins included, so every later signature is checked against roots that all parties agreed on,
// and a host cannot slip in a look-alike organisation with a root of its own making.
type Charter struct {
	ID         string     `json:"id"`
	At         time.Time  `json:"at"`
	Proposer   Actor      `json:"proposer"`
	Parties    []string   `json:"parties"`
	Mediators  []string   `json:"mediators,omitempty"`
	Roots      []Pin      `json:"roots"`
	Visibility Visibility `json:"visibility"`
	Format     Format     `json:"format"`
	Level      bc.Rank    `json:"level"`
	Venue      string     `json:"venue,omitempty"`
	Agenda     []string   `json:"agenda,omitempty"`
	// Quorum is how many parties must have cosigned a checkpoint of the record for their
	// clients to show it confirmed: 0, the default, is every party. Any other value must be a
	// majority of the parties, so that two quorums always share a party and no host can have
	// two histories confirmed at once (docs/record.md, "Quorum").
	Quorum int `json:"quorum,omitempty"`
	// Witnesses are the C2SP tlog-witnesses the host submits every checkpoint of the record
	// to, and WitnessQuorum how many of them must have cosigned a checkpoint for it to be
	// confirmed, besides the parties' quorum: 0 is every witness named.
	Witnesses     []Witness `json:"witnesses,omitempty"`
	WitnessQuorum int       `json:"witness_quorum,omitempty"`
}

// Witness is a witness a charter names: its cosignature/v1 verifier key
// ("<name>+<hash>+<base64 key>", C2SP tlog-cosignature) and the URL prefix the host submits
// checkpoints to (C2SP tlog-witness). The talks treat the key as opaque text; the host and the
// clients verify cosignatures with it.
type Witness struct {
	Key string `json:"key"`
	URL string `json:"url"`
}

// Name returns the witness's key name, the part of its key before the first '+'.
func (w Witness) Name() string {
	name, _, _ := strings.Cut(w.Key, "+")
	return name
}

// Pin is an organisation and the fingerprint of the root key pinned for it: 64 lower-case hex
// digits, the SHA-256 fingerprint of the organisation's root. The talks treat it as an opaque
// digest; the server checks signatures against it.
type Pin struct {
	Org         string `json:"org"`
	Fingerprint string `json:"fingerprint"`
}

// AcceptCharter is an organisation's acceptance of the charter. If the organisation has no
// delegation yet, By joins as its head: that is how the first member of each delegation
// arrives.
type AcceptCharter struct {
	At time.Time `json:"at"`
	By Actor     `json:"by"`
}

// AddMember adds a principal to By's own delegation. With Member.Head set, the new member also
// becomes head of the delegation in place of the old one, who stays a member.
type AddMember struct {
	At     time.Time `json:"at"`
	By     Actor     `json:"by"`
	Member Member    `json:"member"`
}

// RemoveMember removes a principal, not the head, from By's own delegation. It stops being a
// recipient of every room at once.
type RemoveMember struct {
	At        time.Time `json:"at"`
	By        Actor     `json:"by"`
	Principal string    `json:"principal"`
}

// SetHead makes an existing member of By's delegation its head.
type SetHead struct {
	At        time.Time `json:"at"`
	By        Actor     `json:"by"`
	Principal string    `json:"principal"`
}

// Propose puts a motion to the talks. Motion is its id, assigned by the caller and unique in
// the talks. The motion expires at Deadline, or DefaultMotionTTL after At if Deadline is zero.
type Propose struct {
	At       time.Time `json:"at"`
	By       Actor     `json:"by"`
	Motion   string    `json:"motion"`
	Change   Change    `json:"change"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// Vote is an organisation's answer to a motion. Standing, when set, marks a refusal made on the
// party's behalf by its standing red lines: it holds RedLines.Commitment of the instruction and
// never the topic that matched (see RedLines).
type Vote struct {
	At       time.Time `json:"at"`
	By       Actor     `json:"by"`
	Motion   string    `json:"motion"`
	Accept   bool      `json:"accept"`
	Standing string    `json:"standing,omitempty"`
}

// OpenRound opens a scheduled round: the sitting begins.
type OpenRound struct {
	At    time.Time `json:"at"`
	By    Actor     `json:"by"`
	Round int       `json:"round"`
}

// CloseRound closes the round in session.
type CloseRound struct {
	At    time.Time `json:"at"`
	By    Actor     `json:"by"`
	Round int       `json:"round"`
}

// CloseSession closes an open direct session before its time is up, removing the plenary room.
// Opening needs every party's consent; any one side may close.
type CloseSession struct {
	At time.Time `json:"at"`
	By Actor     `json:"by"`
}

// Sign is a party's signature on a public statement about a closed round: Digest is the
// SHA-256 of the statement's text, in lower-case hex, so the record holds the commitment and
// not the words. A unilateral statement is complete with one signature; a joint one when every
// party has signed the same digest.
type Sign struct {
	At     time.Time `json:"at"`
	By     Actor     `json:"by"`
	Round  int       `json:"round"`
	Digest string    `json:"digest"`
	Joint  bool      `json:"joint,omitempty"`
}

// Withdraw takes By's organisation out of the talks. A party withdrawing collapses them; a
// mediator withdrawing just leaves, and its delegation leaves every room.
type Withdraw struct {
	At time.Time `json:"at"`
	By Actor     `json:"by"`
}

// The event type tags.
const (
	TypeCharter       = "charter"
	TypeAcceptCharter = "accept-charter"
	TypeAddMember     = "add-member"
	TypeRemoveMember  = "remove-member"
	TypeSetHead       = "set-head"
	TypePropose       = "propose"
	TypeVote          = "vote"
	TypeOpenRound     = "open-round"
	TypeCloseRound    = "close-round"
	TypeCloseSession  = "close-session"
	TypeSign          = "sign"
	TypeWithdraw      = "withdraw"
)

// Type returns TypeCharter.
func (Charter) Type() string { return TypeCharter }

// Type returns TypeAcceptCharter.
func (AcceptCharter) Type() string { return TypeAcceptCharter }

// Type returns TypeAddMember.
func (AddMember) Type() string { return TypeAddMember }

// Type returns TypeRemoveMember.
func (RemoveMember) Type() string { return TypeRemoveMember }

// Type returns TypeSetHead.
func (SetHead) Type() string { return TypeSetHead }

// Type returns TypePropose.
func (Propose) Type() string { return TypePropose }

// Type returns TypeVote.
func (Vote) Type() string { return TypeVote }

// Type returns TypeOpenRound.
func (OpenRound) Type() string { return TypeOpenRound }

// Type returns TypeCloseRound.
func (CloseRound) Type() string { return TypeCloseRound }

// Type returns TypeCloseSession.
func (CloseSession) Type() string { return TypeCloseSession }

// Type returns TypeSign.
func (Sign) Type() string { return TypeSign }

// Type returns TypeWithdraw.
func (Withdraw) Type() string { return TypeWithdraw }

// When returns the time the Charter carries.
func (e Charter) When() time.Time { return e.At }

// When returns the time the AcceptCharter carries.
func (e AcceptCharter) When() time.Time { return e.At }

// When returns the time the AddMember carries.
func (e AddMember) When() time.Time { return e.At }

// When returns the time the RemoveMember carries.
func (e RemoveMember) When() time.Time { return e.At }

// When returns the time the SetHead carries.
func (e SetHead) When() time.Time { return e.At }

// When returns the time the Propose carries.
func (e Propose) When() time.Time { return e.At }

// When returns the time the Vote carries.
func (e Vote) When() time.Time { return e.At }

// When returns the time the OpenRound carries.
func (e OpenRound) When() time.Time { return e.At }

// When returns the time the CloseRound carries.
func (e CloseRound) When() time.Time { return e.At }

// When returns the time the CloseSession carries.
func (e CloseSession) When() time.Time { return e.At }

// When returns the time the Sign carries.
func (e Sign) When() time.Time { return e.At }

// When returns the time the Withdraw carries.
func (e Withdraw) When() time.Time { return e.At }

// The check methods are the syntactic rules of each event, independent of any state: what
// Parse enforces and Apply enforces first.

func checkTopics(what string, topics []string, max int) error {
	if len(topics) > max {
		return refuse(ErrMalformed, "%d %s, more than %d", len(topics), what, max)
	}
	for i, tp := range topics {
		if err := checkID("topic", tp); err != nil {
			return err
		}
		for _, prev := range topics[:i] {
			if prev == tp {
				return refuse(ErrMalformed, "topic %q twice in %s", tp, what)
			}
		}
	}
	return nil
}

func checkOrgs(what string, orgs []string, max int) error {
	if len(orgs) > max {
		return refuse(ErrMalformed, "%d %s, more than %d", len(orgs), what, max)
	}
	for i, o := range orgs {
		if err := checkOrg(o); err != nil {
			return err
		}
		for _, prev := range orgs[:i] {
			if prev == o {
				return refuse(ErrMalformed, "organisation %q twice in %s", o, what)
			}
		}
	}
	return nil
}

func (e Charter) check() error {
	if err := checkID("talks id", e.ID); err != nil {
		return err
	}
	if err := checkTime("charter time", e.At); err != nil {
		return err
	}
	if err := e.Proposer.check(); err != nil {
		return err
	}
	if len(e.Parties) < 2 {
		return refuse(ErrMalformed, "talks need at least two parties, the charter names %d", len(e.Parties))
	}
	if err := checkOrgs("parties", e.Parties, MaxParties); err != nil {
		return err
	}
	if err := checkOrgs("mediators", e.Mediators, MaxMediators); err != nil {
		return err
	}
	for _, m := range e.Mediators {
		if contains(e.Parties, m) {
			return refuse(ErrMalformed, "organisation %q cannot be both party and mediator", m)
		}
	}
	if err := checkPins(e.Roots, e.Parties, e.Mediators); err != nil {
		return err
	}
	if !contains(e.Parties, e.Proposer.Org) && !contains(e.Mediators, e.Proposer.Org) {
		return refuse(ErrNotMember, "proposer %s sits for %q, which the charter does not name", e.Proposer.Principal, e.Proposer.Org)
	}
	if !e.Visibility.valid() {
		return refuse(ErrMalformed, "visibility %q", e.Visibility)
	}
	if !e.Format.valid() {
		return refuse(ErrMalformed, "format %q", e.Format)
	}
	if !e.Level.Valid() {
		return refuse(ErrMalformed, "level %d", e.Level)
	}
	if err := checkText("venue", e.Venue, false); err != nil {
		return err
	}
	if e.Quorum < 0 || e.Quorum > len(e.Parties) {
		return refuse(ErrMalformed, "a quorum of %d of %d parties", e.Quorum, len(e.Parties))
	}
	if err := checkWitnesses(e.Witnesses, e.WitnessQuorum); err != nil {
		return err
	}
	if e.Quorum != 0 && 2*e.Quorum <= len(e.Parties) {
		return refuse(ErrMalformed, "a quorum of %d of %d parties is no majority: two quorums could each confirm a history of their own", e.Quorum, len(e.Parties))
	}
	return checkTopics("agenda", e.Agenda, MaxAgenda)
}

// checkWitnesses requires well-formed, distinct witnesses, and a witness quorum among them.
func checkWitnesses(ws []Witness, quorum int) error {
	if len(ws) > MaxWitnesses {
		return refuse(ErrMalformed, "%d witnesses, at most %d", len(ws), MaxWitnesses)
	}
	if quorum < 0 || quorum > len(ws) {
		return refuse(ErrMalformed, "a witness quorum of %d of %d witnesses", quorum, len(ws))
	}
	for i, w := range ws {
		parts := strings.SplitN(w.Key, "+", 3)
		if len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 || len(parts[2]) != 44 || strings.ContainsAny(w.Key, " \t\n") {
			return refuse(ErrMalformed, "witness %d: %q is not a cosignature verifier key (<name>+<hash>+<key>)", i+1, w.Key)
		}
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || len(w.URL) > 256 {
			return refuse(ErrMalformed, "witness %s: %q is not an http(s) URL prefix", w.Name(), w.URL)
		}
		for _, prev := range ws[:i] {
			if prev.Name() == w.Name() {
				return refuse(ErrMalformed, "witness %s is named twice", w.Name())
			}
		}
	}
	return nil
}

// checkPins requires exactly one well-formed pin for every organisation named, and no other.
func checkPins(pins []Pin, parties, mediators []string) error {
	named := len(parties) + len(mediators)
	if len(pins) > named {
		return refuse(ErrMalformed, "%d root pins for %d organisations", len(pins), named)
	}
	for i, p := range pins {
		if !contains(parties, p.Org) && !contains(mediators, p.Org) {
			return refuse(ErrMalformed, "a root is pinned for %q, which the charter does not name", p.Org)
		}
		if !isDigest(p.Fingerprint) {
			return refuse(ErrMalformed, "the root fingerprint pinned for %q is not 64 lower-case hex digits", p.Org)
		}
		for _, prev := range pins[:i] {
			if prev.Org == p.Org {
				return refuse(ErrMalformed, "two roots are pinned for %q", p.Org)
			}
		}
	}
	for _, o := range append(slices.Clone(parties), mediators...) {
		if !slices.ContainsFunc(pins, func(p Pin) bool { return p.Org == o }) {
			return refuse(ErrMalformed, "no root is pinned for %q", o)
		}
	}
	return nil
}

func checkAtBy(at time.Time, by Actor) error {
	if err := checkTime("event time", at); err != nil {
		return err
	}
	return by.check()
}

func (e AcceptCharter) check() error { return checkAtBy(e.At, e.By) }
func (e CloseSession) check() error  { return checkAtBy(e.At, e.By) }
func (e Withdraw) check() error      { return checkAtBy(e.At, e.By) }

func (e AddMember) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	return e.Member.check()
}

func (e RemoveMember) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	return checkID("principal", e.Principal)
}

func (e SetHead) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	return checkID("principal", e.Principal)
}

func (e Propose) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	if err := checkID("motion id", e.Motion); err != nil {
		return err
	}
	if !e.Deadline.IsZero() {
		if err := checkTime("deadline", e.Deadline); err != nil {
			return err
		}
		if !e.Deadline.After(e.At) {
			return refuse(ErrMalformed, "deadline %s is not after the proposal", e.Deadline.Format(time.RFC3339))
		}
	}
	return e.Change.check()
}

func (e Vote) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	if err := checkID("motion id", e.Motion); err != nil {
		return err
	}
	if e.Standing != "" {
		if e.Accept {
			return refuse(ErrMalformed, "a standing instruction only refuses")
		}
		if !isDigest(e.Standing) {
			return refuse(ErrMalformed, "standing instruction commitment is not a SHA-256 hex digest")
		}
	}
	return nil
}

func checkRoundNumber(n int) error {
	if n < 1 || n > MaxRounds {
		return refuse(ErrMalformed, "round %d is outside 1..%d", n, MaxRounds)
	}
	return nil
}

func (e OpenRound) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	return checkRoundNumber(e.Round)
}

func (e CloseRound) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	return checkRoundNumber(e.Round)
}

func (e Sign) check() error {
	if err := checkAtBy(e.At, e.By); err != nil {
		return err
	}
	if err := checkRoundNumber(e.Round); err != nil {
		return err
	}
	if !isDigest(e.Digest) {
		return refuse(ErrMalformed, "statement digest is not a SHA-256 hex digest")
	}
	return nil
}

// isDigest reports whether s is 64 lower-case hex digits: one spelling per digest.
func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ActorOf returns who an event says acted: the proposer of a charter, the By of any other
// event. A verifier compares it with the signer of the act that carries the event.
func ActorOf(e Event) Actor {
	switch e := e.(type) {
	case Charter:
		return e.Proposer
	case AcceptCharter:
		return e.By
	case AddMember:
		return e.By
	case RemoveMember:
		return e.By
	case SetHead:
		return e.By
	case Propose:
		return e.By
	case Vote:
		return e.By
	case OpenRound:
		return e.By
	case CloseRound:
		return e.By
	case CloseSession:
		return e.By
	case Sign:
		return e.By
	case Withdraw:
		return e.By
	}
	return Actor{}
}
