package record

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize bounds a served checkpoint note: the body (under 400 bytes) plus the log
// signature and cosignatures. Parsers refuse anything longer before looking at it.
const MaxCheckpointSize = 64 << 10

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, its size and the RFC 6962
// root hash of its first Size entries.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// Body returns the checkpoint's note text, "<origin>\n<size>\n<base64 root>\n". We never add
// extension lines, so a checkpoint has exactly one encoding.
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// String returns a short human form for error messages: "size 12 root 3q2+7w…".
func (c Checkpoint) String() string {
	return fmt.Sprintf("size %d root %.12s…", c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpointBody parses a checkpoint's note text strictly: exactly three lines, the size in
// canonical decimal, the hash in canonical standard base64 of 32 bytes. It verifies nothing;
// OpenCheckpoint verifies the signature.
func ParseCheckpointBody(text []byte) (Checkpoint, error) {
	lines := bytes.Split(text, []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint is not three lines each ending in a newline (extension lines are not used)", ErrMalformed)
	}
	origin := string(lines[0])
	if !validKeyName(origin) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint origin %q", ErrMalformed, origin)
	}
	size, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != string(lines[1]) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint size %q is not a canonical decimal", ErrMalformed, lines[1])
	}
	var c Checkpoint
	h, err := base64.StdEncoding.Strict().DecodeString(string(lines[2]))
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != string(lines[2]) {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint root %q is not a base64 SHA-256 hash", ErrMalformed, lines[2])
	}
	c.Origin, c.Size = origin, size
	copy(c.Hash[:], h)
	return c, nil
}

// SignCheckpoint signs c with the log's signer and returns the signed note.
func SignCheckpoint(s note.Signer, c Checkpoint) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("record: signer %q cannot sign the checkpoint of %q: the key name must be the origin", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: string(c.Body())}, s)
}

// NewCheckpoint computes the root of the first size entries of a log from its stored hashes
// and signs it: what the server does in the transaction that appends, so that every accepted
// event is covered by a checkpoint when it is acknowledged.
func NewCheckpoint(s note.Signer, size int64, r HashReader) ([]byte, Checkpoint, error) {
	root, err := tlog.TreeHash(size, r)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("record: root of %d entries: %w", size, err)
	}
	c := Checkpoint{Origin: s.Name(), Size: size, Hash: root}
	n, err := SignCheckpoint(s, c)
	return n, c, err
}

// OpenCheckpoint parses a signed checkpoint note, checks its origin, and verifies the log's
// signature with the pinned verifier (whose key name must be origin). Signatures by other keys,
// such as cosignatures, are left unverified in the returned note's UnverifiedSigs.
func OpenCheckpoint(msg []byte, origin string, log note.Verifier) (Checkpoint, *note.Note, error) {
	if len(msg) > MaxCheckpointSize {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint of %d bytes is larger than %d", ErrMalformed, len(msg), MaxCheckpointSize)
	}
	// Read the body before verifying only to name the log in the error: a checkpoint of
	// another talks deserves "wrong origin", not a bare "bad signature".
	c, err := ParseUnverifiedCheckpoint(msg)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != origin {
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint is for %q, not %q", ErrWrongOrigin, c.Origin, origin)
	}
	if log.Name() != origin {
		return Checkpoint{}, nil, fmt.Errorf("%w: log key is named %q, not the origin %q", ErrWrongOrigin, log.Name(), origin)
	}
	n, err := note.Open(msg, note.VerifierList(log))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint of %s, %s carries no signature by the pinned log key %s", ErrBadSignature, origin, c, log.Name())
		case errors.As(err, &invalid):
			return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint of %s, %s: the log key's signature does not verify", ErrBadSignature, origin, c)
		}
		return Checkpoint{}, nil, fmt.Errorf("%w: checkpoint note: %v", ErrMalformed, err)
	}
	return c, n, nil
}

// ParseUnverifiedCheckpoint returns the checkpoint that a signed note states, verifying no
// signature: for a server reading back a checkpoint it signed and stored itself, which it does
// not need to verify to know which tiles exist. A party must use OpenCheckpoint instead.
func ParseUnverifiedCheckpoint(msg []byte) (Checkpoint, error) {
	text, ok := noteText(msg)
	if !ok {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint is not a signed note", ErrMalformed)
	}
	return ParseCheckpointBody(text)
}

// noteText returns the text of a signed note without verifying it, the way note.Open splits
// it: everything up to and including the newline before the last blank line.
func noteText(msg []byte) ([]byte, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, false
	}
	return msg[:i+1], true
}
