package talks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// RedLines is a party's standing instruction: topics it will never put on the agenda. A motion
// to add one of them is refused on the party's behalf by a Vote with Standing set, which a
// client of the party's delegation signs as soon as it reads the motion (StandingVote).
//
// Red lines are private to the party. They are not an Event and not part of Talks: the head of
// delegation's client seals this value to its own delegation, so that the host stores only
// ciphertext, and every client of the delegation that opens it applies it. What reaches the
// shared record is the refusal itself, signed by the delegate who cast it and carrying
// Commitment, a salted SHA-256 of the instruction, never its topics. The other side learns only
// what the refused motion already said; the other red lines stay unknown, and the salt stops
// anyone testing guesses against the commitment, while the party can later open it to show the
// refusal followed a real, earlier instruction.
type RedLines struct {
	Talks  string    `json:"talks"`
	At     time.Time `json:"at"`
	By     Actor     `json:"by"`
	Topics []string  `json:"topics"`
	// Salt is 32 fresh random bytes in lower-case hex, chosen by the party's client.
	Salt string `json:"salt"`
}

func (r RedLines) check() error {
	if err := checkID("talks id", r.Talks); err != nil {
		return err
	}
	if err := checkAtBy(r.At, r.By); err != nil {
		return err
	}
	if err := checkTopics("red lines", r.Topics, MaxAgenda); err != nil {
		return err
	}
	if !slices.IsSorted(r.Topics) {
		return refuse(ErrMalformed, "red-line topics are not sorted")
	}
	if !isDigest(r.Salt) {
		return refuse(ErrMalformed, "red-line salt is not 32 bytes of lower-case hex")
	}
	return nil
}

// MarshalRedLines returns the canonical encoding of r: compact JSON, topics sorted.
func MarshalRedLines(r RedLines) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("red lines: %w", err)
	}
	return json.Marshal(r)
}

// ParseRedLines decodes red lines, accepting only the canonical encoding.
func ParseRedLines(b []byte) (RedLines, error) {
	var r RedLines
	if len(b) > MaxEventSize {
		return r, refuse(ErrMalformed, "red lines are %d bytes, more than %d", len(b), MaxEventSize)
	}
	if err := strict(b, &r); err != nil {
		return RedLines{}, err
	}
	again, err := MarshalRedLines(r)
	if err != nil {
		return RedLines{}, err
	}
	if !bytes.Equal(again, b) {
		return RedLines{}, refuse(ErrMalformed, "red lines are not in canonical form")
	}
	return r, nil
}

// Commitment returns the hex SHA-256 of r's canonical encoding: what a standing refusal
// records in place of the red lines. It is "" if r is not well formed.
func (r RedLines) Commitment() string {
	b, err := MarshalRedLines(r)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Refuses reports whether the red lines refuse a motion with change c.
func (r RedLines) Refuses(c Change) bool {
	return c.Kind == MotionAddTopic && contains(r.Topics, c.Topic)
}

// CheckRedLines reports whether r may be the instruction of its party: red lines of these
// talks, set by the head of a party's delegation.
func (t *Talks) CheckRedLines(r RedLines) error {
	if err := r.check(); err != nil {
		return err
	}
	if r.Talks != t.id {
		return refuse(ErrMalformed, "red lines for talks %q, not %q", r.Talks, t.id)
	}
	if t.Role(r.By.Org) != RoleParty {
		return refuse(ErrNotAVoter, "only a party holds red lines; %q is not a party to talks %q", r.By.Org, t.id)
	}
	if head, ok := t.Head(r.By.Org); !ok || head.Principal != r.By.Principal {
		return refuse(ErrNoAuthority, "only the head of %q's delegation sets its red lines, not %s", r.By.Org, r.By.Principal)
	}
	return nil
}

// StandingVote returns the refusal that r makes on its party's behalf to motion id at time at,
// cast by delegate by, if it makes one: the instruction was given by then and its author may
// still act for the party, by may vote for the same party, the motion is pending, adds a
// red-line topic, and the party has not voted yet. The delegate's client signs the returned
// Vote and submits it like any other.
func (t *Talks) StandingVote(r RedLines, by Actor, id string, at time.Time) (Vote, bool) {
	if r.check() != nil || r.Talks != t.id || r.At.After(at) || t.Role(r.By.Org) != RoleParty || t.authorise(r.By) != nil {
		return Vote{}, false
	}
	if by.Org != r.By.Org || t.authorise(by) != nil {
		return Vote{}, false
	}
	m, ok := t.Motion(id)
	if !ok || m.OutcomeAt(at) != OutcomePending || !r.Refuses(m.Change) {
		return Vote{}, false
	}
	if _, voted := m.Ballot(r.By.Org); voted {
		return Vote{}, false
	}
	return Vote{At: at, By: by, Motion: id, Accept: false, Standing: r.Commitment()}, true
}
