package record

import "errors"

// The refusals of this package. Every error it returns for a failed check wraps exactly one of
// them, so a caller can tell a forged signature from a rewritten history with errors.Is, and the
// message around it says which sizes, indexes or names were involved.
var (
	// ErrMalformed: bytes that do not parse as the format they claim to be (a checkpoint, a
	// tile path, an entry bundle, a proof, an export).
	ErrMalformed = errors.New("record: malformed")

	// ErrBadSignature: a checkpoint that the pinned log key did not sign, or a cosignature that
	// the named cosigner's key did not make.
	ErrBadSignature = errors.New("record: bad signature")

	// ErrWrongOrigin: a checkpoint of another log (another talks or another host) than the one
	// the party follows.
	ErrWrongOrigin = errors.New("record: wrong origin")

	// ErrRollback: a checkpoint smaller than one the party already verified. A log never
	// shrinks; a smaller tree means entries were deleted or the party is shown an old view.
	ErrRollback = errors.New("record: log shrank")

	// ErrInconsistent: a checkpoint whose tree does not extend the last one the party verified:
	// an entry was deleted, swapped or altered and the tree recomputed.
	ErrInconsistent = errors.New("record: inconsistent history")

	// ErrForked: a checkpoint inconsistent with one the party (or, on the server, any party)
	// cosigned: the log shows different histories to different parties, or was rewritten after
	// a party vouched for it.
	ErrForked = errors.New("record: forked history")

	// ErrNotIncluded: an inclusion proof that does not put the entry at its index in the tree.
	ErrNotIncluded = errors.New("record: entry not included")

	// ErrLeafMismatch: entry bytes that do not hash to the leaf the tree commits to at that
	// index: the entry was altered after it was logged.
	ErrLeafMismatch = errors.New("record: entry altered")

	// ErrMissingEntry: fewer entries served than the tree commits to: an entry was deleted.
	ErrMissingEntry = errors.New("record: entry missing")

	// ErrReordered: an entry served at one index whose hash is the tree's leaf at another: two
	// entries were swapped.
	ErrReordered = errors.New("record: entries reordered")

	// ErrEntryTooLarge: an entry longer than MaxEntrySize, which tlog-tiles entry bundles
	// cannot carry.
	ErrEntryTooLarge = errors.New("record: entry too large")

	// ErrNotFound: a tile, entry bundle or index beyond the tree.
	ErrNotFound = errors.New("record: not found")
)
