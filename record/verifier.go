package record

import (
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/strictjson"
)

// Verifier is a party's view of one talks' log: the pinned log key, the last checkpoint the
// party verified and the last one it cosigned. It accepts a new checkpoint only with a proof
// that it extends both, and it refuses, with an error wrapping one of this package's sentinel
// errors, anything else: a bad signature, another log, a smaller tree, a rewritten or forked
// history. After a refusal its state is unchanged, so the party can stop and report.
//
// A Verifier is not safe for concurrent use; its state is small and serialisable (State,
// RestoreVerifier) so that a command-line client can keep it on disk between runs.
type Verifier struct {
	origin   string
	logKey   string
	log      note.Verifier
	latest   []byte
	cp       Checkpoint
	cosigned []byte
	ccp      Checkpoint
}

// Clone returns a copy of the verifier that later checkpoints verified or cosigned by either do
// not change in the other: a client verifies a sync on a copy, and keeps it only if everything
// verified.
func (v *Verifier) Clone() *Verifier {
	c := *v
	return &c
}

// VerifierState is the serialisable state of a Verifier. The checkpoints are kept as the signed
// notes received, so a restored Verifier re-verifies them rather than trusting its own file.
type VerifierState struct {
	Origin   string `json:"origin"`
	LogKey   string `json:"log_key"`
	Latest   string `json:"latest,omitempty"`
	Cosigned string `json:"cosigned,omitempty"`
}

// NewVerifier returns a Verifier of the log with the given origin, signed by the pinned log
// verifier key: either the log's own key (named origin) or the host's published key, from which
// the log's key is derived (OriginVerifierKey). It starts from the empty tree.
func NewVerifier(origin, pinnedLogKey string) (*Verifier, error) {
	vkey, err := OriginVerifierKey(pinnedLogKey, origin)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: log key: %v", ErrMalformed, err)
	}
	empty := Checkpoint{Origin: origin, Hash: emptyRoot}
	return &Verifier{origin: origin, logKey: vkey, log: v, cp: empty, ccp: empty}, nil
}

// RestoreVerifier rebuilds a Verifier from its saved state, verifying the saved checkpoints
// again and that the latest extends the cosigned one by size.
func RestoreVerifier(data []byte) (*Verifier, error) {
	var s VerifierState
	if err := strictjson.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: verifier state: %v", ErrMalformed, err)
	}
	v, err := NewVerifier(s.Origin, s.LogKey)
	if err != nil {
		return nil, err
	}
	if s.Latest != "" {
		if v.cp, _, err = OpenCheckpoint([]byte(s.Latest), v.origin, v.log); err != nil {
			return nil, fmt.Errorf("verifier state, latest checkpoint: %w", err)
		}
		v.latest = []byte(s.Latest)
	}
	if s.Cosigned != "" {
		if v.ccp, _, err = OpenCheckpoint([]byte(s.Cosigned), v.origin, v.log); err != nil {
			return nil, fmt.Errorf("verifier state, cosigned checkpoint: %w", err)
		}
		v.cosigned = []byte(s.Cosigned)
	}
	if v.ccp.Size > v.cp.Size {
		return nil, fmt.Errorf("%w: verifier state has a cosigned checkpoint larger than the latest", ErrMalformed)
	}
	return v, nil
}

// State returns the Verifier's state for saving.
func (v *Verifier) State() VerifierState {
	return VerifierState{Origin: v.origin, LogKey: v.logKey, Latest: string(v.latest), Cosigned: string(v.cosigned)}
}

// MarshalJSON encodes the Verifier's state.
func (v *Verifier) MarshalJSON() ([]byte, error) { return json.Marshal(v.State()) }

// Origin returns the origin of the log this Verifier follows.
func (v *Verifier) Origin() string { return v.origin }

// LogVerifier returns the verifier of the log's signatures.
func (v *Verifier) LogVerifier() note.Verifier { return v.log }

// Latest returns the last checkpoint verified (size 0 at first) and its note (nil at first).
func (v *Verifier) Latest() (Checkpoint, []byte) { return v.cp, v.latest }

// Cosigned returns the last checkpoint this party cosigned (size 0 at first) and its note.
func (v *Verifier) Cosigned() (Checkpoint, []byte) { return v.ccp, v.cosigned }

// Update verifies a new checkpoint note against the pinned log key and a consistency proof from
// the latest checkpoint verified (Latest) to it, and on success makes it the latest. A
// checkpoint that does not extend one this party cosigned is ErrForked; one that does not
// extend the latest is ErrInconsistent; a smaller one is ErrRollback.
func (v *Verifier) Update(msg []byte, proof tlog.TreeProof) (Checkpoint, error) {
	c, _, err := OpenCheckpoint(msg, v.origin, v.log)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Size < v.ccp.Size {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of size %d is smaller than size %d you cosigned: the log was truncated or forked", ErrForked, c.Size, v.ccp.Size)
	}
	if err := CheckConsistency(v.cp, c, proof); err != nil {
		// The latest checkpoint extends the cosigned one (it was verified so), so a history
		// that breaks from the latest at or before the cosigned size breaks from the cosigned
		// one too. Say so: that is the split view the cosignature exists to catch.
		if v.ccp.Size > 0 && v.ccp.Size == v.cp.Size {
			return Checkpoint{}, fmt.Errorf("%w: checkpoint of size %d is not consistent with size %d you cosigned: the log was rewritten or forked (%v)", ErrForked, c.Size, v.ccp.Size, err)
		}
		return Checkpoint{}, err
	}
	v.cp, v.latest = c, msg
	return c, nil
}

// VerifyInclusion checks that entry index of the log holds exactly leaf, against the latest
// checkpoint verified.
func (v *Verifier) VerifyInclusion(index int64, leaf []byte, proof tlog.RecordProof) error {
	return CheckInclusion(v.cp, index, leaf, proof)
}

// Cosign cosigns the latest checkpoint verified with the party's cosigner at time t and
// remembers it as cosigned. It returns the cosignature note to send to the server. Cosigning a
// size-0 log is refused: there is nothing to vouch for.
func (v *Verifier) Cosign(c *Cosigner, t time.Time) ([]byte, error) {
	if v.latest == nil {
		return nil, fmt.Errorf("record: nothing verified yet to cosign")
	}
	msg, err := c.Cosign(v.cp, t)
	if err != nil {
		return nil, err
	}
	v.ccp, v.cosigned = v.cp, v.latest
	return msg, nil
}
