package seal

import (
	"errors"
	"fmt"
)

// Refusals. Every error returned by this package when it refuses input wraps exactly one of
// these, so callers (the server's problem-details mapping, the client's warnings) can tell them
// apart with errors.Is, while the wrapped message names what was wrong.
var (
	// ErrMalformed: the bytes are not a canonical encoding of the expected format and version.
	ErrMalformed = errors.New("malformed")
	// ErrTampered: a signature over the envelope, message, receipt or act does not verify, or a
	// wrapped key or ciphertext fails authentication: something changed after signing.
	ErrTampered = errors.New("tampered")
	// ErrRelayAltered: a verbatim relay carries a message whose author signature does not
	// verify: the relaying mediator changed the author's words.
	ErrRelayAltered = errors.New("verbatim relay altered")
	// ErrWrongTalks: the envelope (or its message) belongs to other talks than expected.
	ErrWrongTalks = errors.New("wrong talks")
	// ErrWrongRoom: the envelope (or its message) belongs to another room than expected.
	ErrWrongRoom = errors.New("wrong room")
	// ErrWrongRound: the envelope (or its message) belongs to another round than expected.
	ErrWrongRound = errors.New("wrong round")
	// ErrContextMismatch: the signed message's context disagrees with the envelope header in a
	// field that is neither talks, room nor round (kind, topics, time, author, sequence).
	ErrContextMismatch = errors.New("message context does not match header")
	// ErrNotAddressed: the envelope has no wrapped key for the opening principal.
	ErrNotAddressed = errors.New("not addressed to this principal")
	// ErrUntrustedRoot: a credential or revocation is not signed by the pinned root of the
	// organisation it names, or names an organisation with no pinned root.
	ErrUntrustedRoot = errors.New("not signed by a pinned root")
	// ErrUnknownCredential: a credential id that the Trust has not been given.
	ErrUnknownCredential = errors.New("unknown credential")
	// ErrExpired: a credential used outside its not-before/not-after period.
	ErrExpired = errors.New("credential not valid at that time")
	// ErrRevoked: a credential revoked by its organisation's root.
	ErrRevoked = errors.New("credential revoked")
	// ErrRankTooLow: the author's or sender's rank is below what the caller requires.
	ErrRankTooLow = errors.New("rank too low")
	// ErrSequence: a duplicate or non-monotonic per-author sequence number.
	ErrSequence = errors.New("sequence number not increasing")
	// ErrKeyMismatch: a credential does not carry the keys of the identity it is given to.
	ErrKeyMismatch = errors.New("credential keys do not match identity")
)

// malformed builds an ErrMalformed naming the format and the defect, so a log line says which
// field of which format was refused.
func malformed(format, detail string, args ...any) error {
	return fmt.Errorf("seal: %s: %w: %s", format, ErrMalformed, fmt.Sprintf(detail, args...))
}
