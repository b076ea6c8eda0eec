package client

import (
	"slices"
	"strconv"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// MessageView is a message as a party reads it: what the envelope says of itself, and, when it
// opened and verified, who wrote it and what. It is how the CLI prints and exports a message.
type MessageView struct {
	Index int64  `json:"index"`
	Hash  string `json:"hash"`
	Room  string `json:"room"`
	// Time is when the author signed the message; for a message that did not verify, when
	// the host says it received it. Received is always the host's word.
	Time     time.Time                 `json:"time"`
	Received time.Time                 `json:"received"`
	Kind     string                    `json:"kind"`
	Topics   []string                  `json:"topics"`
	Round    int                       `json:"round"`
	Mode     string                    `json:"mode"`
	Author   string                    `json:"author,omitempty"`
	Title    string                    `json:"title,omitempty"`
	Rank     int                       `json:"rank,omitempty"`
	Relayer  string                    `json:"relayer,omitempty"`
	Sender   string                    `json:"sender,omitempty"`
	ReplyTo  string                    `json:"reply_to,omitempty"`
	Of       []string                  `json:"summary_of,omitempty"`
	Verified bool                      `json:"verified"`
	Flag     string                    `json:"flag,omitempty"`
	Body     string                    `json:"body,omitempty"`
	Relays   []backchannel.RelayNotice `json:"relays"`
	Receipts []ReceiptView             `json:"receipts"`
}

// ReceiptView is a receipt as a party reads it.
type ReceiptView struct {
	By   string    `json:"by"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// HandleOf names a credential the book knows, and returns it; a credential it does not know
// is named by the start of its id.
func HandleOf(b *Book, id seal.CredentialID) (string, *seal.Credential) {
	if b.Trust != nil {
		if c, err := b.Trust.Credential(id); err == nil {
			return c.Handle(), c
		}
	}
	return "credential " + id.String()[:12], nil
}

// ViewOf returns the view of message m of book b.
func ViewOf(b *Book, m *Message) MessageView {
	h := m.Envelope.Header
	v := MessageView{
		Index: m.Index, Hash: m.Hash.String(), Room: m.Room, Time: m.Time, Received: m.Time, Kind: string(h.Kind), Topics: h.Topics,
		Round: int(h.Round), Mode: h.Relay.String(), Relays: m.Relays, Receipts: []ReceiptView{},
	}
	if v.Topics == nil {
		v.Topics = []string{}
	}
	if v.Relays == nil {
		v.Relays = []backchannel.RelayNotice{}
	}
	v.Sender, _ = HandleOf(b, h.Sender)
	for _, o := range h.RelayOf {
		v.Of = append(v.Of, o.String())
	}
	if m.Opened != nil {
		o := m.Opened
		v.Verified = true
		// The host's time is not signed: a host could date a message as it liked.
		v.Time = o.Context.CreatedAt
		v.Kind, v.Topics, v.Round = string(o.Context.Kind), o.Context.Topics, int(o.Context.Round)
		v.Author, v.Title, v.Rank = o.Author.Handle(), o.Author.Title, int(o.Author.Rank)
		if o.Relayer != nil {
			v.Relayer = o.Relayer.Handle()
		}
		if !o.Context.ReplyTo.IsZero() {
			v.ReplyTo = o.Context.ReplyTo.String()
		}
		v.Body = string(o.Body)
	} else {
		v.Flag = "did not verify: " + m.Err.Error()
	}
	for _, rc := range m.Receipts {
		by, _ := HandleOf(b, rc.Signer)
		v.Receipts = append(v.Receipts, ReceiptView{By: by, Kind: rc.Kind.String(), At: rc.CreatedAt})
	}
	return v
}

// TalksView is talks as a party sees them from its own replay of the record, never from what
// the host says of them: the CLI's "talks show --json" and the web client must print the same
// thing, so the JSON names are a published format and must not change.
type TalksView struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	Format     string      `json:"format"`
	Visibility string      `json:"visibility"`
	Level      int         `json:"level"`
	Venue      string      `json:"venue,omitempty"`
	Agenda     []string    `json:"agenda"`
	Parties    []string    `json:"parties"`
	Mediators  []string    `json:"mediators"`
	Accepted   []string    `json:"accepted"`
	Roots      []PinView   `json:"roots"`
	Members    []string    `json:"members"`
	Rooms      []RoomView  `json:"rooms"`
	Rounds     []RoundView `json:"rounds"`
	InSession  int         `json:"in_session"`
	Motions    int         `json:"motions"`
	Pending    int         `json:"pending_motions"`
	Size       int64       `json:"size"`
	Verified   bool        `json:"verified"`
	// LeftAt, once the caller's organisation takes part no more, is the size of the record it
	// was entitled to read (Book.LeftAt).
	LeftAt int64 `json:"left_at,omitempty"`
	// Confirmed is the size the quorum of parties has cosigned; ConfirmedBy, the newest each
	// party has.
	Quorum int `json:"quorum"`
	// Witnesses are the witnesses' names, WitnessQuorum how many must cosign, and WitnessedBy
	// the newest checkpoint each has cosigned.
	Witnesses     []string         `json:"witnesses"`
	WitnessQuorum int              `json:"witness_quorum"`
	WitnessedBy   map[string]int64 `json:"witnessed_by"`
	Confirmed     int64            `json:"confirmed"`
	ConfirmedBy   map[string]int64 `json:"confirmed_by"`
}

// PinView is a root pin with its safety number beside the hex fingerprint, because the safety
// number is what people read aloud to compare out of band; it is empty when the pin is not a
// well-formed fingerprint.
type PinView struct {
	Org          string `json:"org"`
	Fingerprint  string `json:"fingerprint"`
	SafetyNumber string `json:"safety_number"`
}

// RoomView is a room with whether the viewer may read it, so a reader can tell a room it is
// shut out of from one that is merely quiet.
type RoomView struct {
	ID      string   `json:"id"`
	Members []string `json:"members"`
	Mine    bool     `json:"mine"`
}

// RoundView is a round as printed: its state as a plain string, so the JSON does not depend on
// the talks package's types.
type RoundView struct {
	Number int       `json:"number"`
	Venue  string    `json:"venue"`
	Start  time.Time `json:"start"`
	State  string    `json:"state"`
}

// TalksViewOf returns the view of book b's talks for principal as. Rooms, direct sessions and
// motions expire with time, so the view is of the talks at at; the caller passes its clock,
// which keeps the view testable and lets every client agree on one instant.
func TalksViewOf(b *Book, as string, at time.Time) TalksView {
	t := b.State
	v := TalksView{
		ID: t.ID(), Status: string(t.Status()), Format: string(t.Format()), Visibility: string(t.Visibility()),
		Level: int(t.Level()), Venue: t.Venue(), Agenda: t.Agenda(), Parties: t.Parties(), Mediators: t.Mediators(),
		Accepted: t.Accepted(), InSession: t.InSession(), Size: b.Size, Verified: true, LeftAt: b.LeftAt,
		Quorum: b.State.Quorum(), Confirmed: b.Confirmed(), ConfirmedBy: make(map[string]int64),
		Rooms: []RoomView{}, Rounds: []RoundView{}, Roots: []PinView{}, Members: []string{},
	}
	for _, org := range t.Parties() {
		v.ConfirmedBy[org] = b.ConfirmedBy(org)
	}
	ws, wq := t.Witnesses()
	v.Witnesses, v.WitnessQuorum, v.WitnessedBy = []string{}, wq, make(map[string]int64)
	for _, w := range ws {
		v.Witnesses = append(v.Witnesses, w.Name())
		v.WitnessedBy[w.Name()] = b.WitnessedBy(w.Name())
	}
	for _, p := range t.Roots() {
		pv := PinView{Org: p.Org, Fingerprint: p.Fingerprint}
		if fp, ok := fingerprintFromHex(p.Fingerprint); ok {
			pv.SafetyNumber = fp.String()
		}
		v.Roots = append(v.Roots, pv)
	}
	for _, m := range t.Members("") {
		s := m.Principal
		if m.Title != "" {
			s += " (" + m.Title + ", rank " + strconv.Itoa(int(m.Rank)) + ")"
		}
		if m.Head {
			s += " head"
		}
		v.Members = append(v.Members, s)
	}
	for _, r := range t.Rooms(at) {
		v.Rooms = append(v.Rooms, RoomView{ID: r.ID, Members: r.Members, Mine: t.CanRead(as, r.ID, at)})
	}
	for _, r := range t.Rounds() {
		v.Rounds = append(v.Rounds, RoundView{Number: r.Number, Venue: r.Venue, Start: r.Start, State: string(r.State)})
	}
	for _, m := range t.Motions() {
		v.Motions++
		if m.OutcomeAt(at) == talks.OutcomePending {
			v.Pending++
		}
	}
	return v
}

// MotionView is a motion and the votes on it as the CLI's "motion list --json" prints it and
// the web client reads it; the JSON names are a published format and must not change.
type MotionView struct {
	ID       string       `json:"id"`
	Kind     string       `json:"kind"`
	Change   talks.Change `json:"change"`
	Summary  string       `json:"summary"`
	By       string       `json:"by"`
	Proposed time.Time    `json:"proposed"`
	Deadline time.Time    `json:"deadline"`
	Outcome  string       `json:"outcome"`
	Reason   string       `json:"reason,omitempty"`
	Ballots  []api.Ballot `json:"ballots"`
	Round    int          `json:"round,omitempty"`
}

// MotionViewOf returns the view of motion m at at: a pending motion past its deadline is
// expired without any event saying so, so the outcome depends on the caller's clock.
func MotionViewOf(m talks.Motion, at time.Time) MotionView {
	v := MotionView{ID: m.ID, Kind: string(m.Change.Kind), Change: m.Change, Summary: DescribeChange(m.Change),
		By: m.By.Principal, Proposed: m.Proposed, Deadline: m.Deadline, Outcome: string(m.OutcomeAt(at)), Reason: m.Reason,
		Ballots: []api.Ballot{}, Round: m.Round}
	for _, b := range m.Ballots {
		// A standing red line is shown only as the fact of one: its commitment is not for display.
		v.Ballots = append(v.Ballots, api.Ballot{Org: b.Org, By: b.By.Principal, Accept: b.Accept, Standing: b.Standing != "", At: b.At})
	}
	return v
}

// DescribeChange says a change in a line of words, the same in every client, so that people
// voting on a motion from different clients can tell they are voting on the same thing.
func DescribeChange(c talks.Change) string {
	switch c.Kind {
	case talks.MotionInviteMediator, talks.MotionRemoveMediator, talks.MotionAddParty, talks.MotionRemoveParty:
		return string(c.Kind) + " " + c.Org
	case talks.MotionSetVenue:
		return "set-venue " + c.Venue
	case talks.MotionSetFormat:
		return "set-format " + string(c.Format)
	case talks.MotionSetLevel:
		return "set-level " + strconv.Itoa(int(c.Level))
	case talks.MotionAddTopic, talks.MotionRemoveTopic:
		return string(c.Kind) + " " + c.Topic
	case talks.MotionScheduleRound:
		s := "schedule-round at " + c.Start.UTC().Format(time.DateTime) + " UTC"
		if c.Venue != "" {
			s += " in " + c.Venue
		}
		return s
	case talks.MotionOpenSession:
		return "open-session until " + c.Until.UTC().Format(time.DateTime) + " UTC"
	}
	return string(c.Kind)
}

// Waiting returns, sorted, the organisations whose vote pending motion m of talks t still
// needs, so a client can say whom a motion waits for. It is kept out of MotionView because a
// new field would change the CLI's JSON.
//
// The voters are taken from t as it stands now, not as it stood when m was proposed, because
// that is how t decides the motion (talks.Talks.Voters): a party that joined since votes, and
// one that left no longer does. A motion decided by the record waits for no one, and the
// result is then empty; expiry is a matter of the clock, not of the record, so a caller that
// shows expired motions checks m.OutcomeAt first. The result is never nil, so it encodes as
// [] rather than null.
func Waiting(t *talks.Talks, m talks.Motion) []string {
	out := []string{}
	if m.Outcome != talks.OutcomePending {
		return out
	}
	for _, o := range t.Voters(m.Change) {
		if _, ok := m.Ballot(o); !ok {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}
