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
// to add one of them is refused on the party's behalf, at once, by a Vote with Standing set.
//
// Red lines are private to the party. They are not an Event and not part of Talks: the party's
// client signs this value and the server keeps it where only that party's delegation can read
// it, and calls StandingVote when a motion is proposed. What reaches the shared record is the
// refusal itself, which names the party and carries Commitment, a salted SHA-256 of the
// instruction, never its topics. The other side learns only what the refused motion already
// said; the other red lines stay unknown, and the salt stops anyone testing guesses against the
// commitment, while the party can later open it to show the refusal followed a real, earlier
// instruction.
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

// StandingVote returns the refusal that r makes on its party's behalf to motion id at time at,
// if it makes one: the instruction was given by then and its author may still act for the
// party, the motion is pending, adds a red-line topic, and the party has not voted yet. The server applies the returned Vote like any other.
func (t *Talks) StandingVote(r RedLines, id string, at time.Time) (Vote, bool) {
	if r.check() != nil || r.Talks != t.id || r.At.After(at) || t.Role(r.By.Org) != RoleParty || t.authorise(r.By) != nil {
		return Vote{}, false
	}
	m, ok := t.Motion(id)
	if !ok || m.OutcomeAt(at) != OutcomePending || !r.Refuses(m.Change) {
		return Vote{}, false
	}
	if _, voted := m.Ballot(r.By.Org); voted {
		return Vote{}, false
	}
	return Vote{At: at, By: r.By, Motion: id, Accept: false, Standing: r.Commitment()}, true
}
