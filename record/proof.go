package record

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ProveInclusion returns the RFC 6962 inclusion proof of entry index in the tree of the first
// size entries, from the log's stored hashes.
func ProveInclusion(size, index int64, r HashReader) (tlog.RecordProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("%w: entry %d is not in a log of %d entries", ErrNotFound, index, size)
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("record: inclusion proof of entry %d in size %d: %w", index, size, err)
	}
	return p, nil
}

// CheckInclusion verifies that entry index of the log whose checkpoint is c holds exactly the
// bytes leaf, given an inclusion proof of it.
func CheckInclusion(c Checkpoint, index int64, leaf []byte, proof tlog.RecordProof) error {
	if index < 0 || index >= c.Size {
		return fmt.Errorf("%w: entry %d is beyond the checkpoint of size %d", ErrNotIncluded, index, c.Size)
	}
	if err := tlog.CheckRecord(proof, c.Size, c.Hash, index, tlog.RecordHash(leaf)); err != nil {
		return fmt.Errorf("%w: entry %d as given is not in the tree of %s: it was altered, or is not at that index, or the proof is wrong", ErrNotIncluded, index, c)
	}
	return nil
}

// ProveConsistency returns the RFC 6962 consistency proof from the tree of the first oldSize
// entries to the tree of the first newSize, from the log's stored hashes. The proof from or to
// an empty tree, or between equal sizes, is empty.
func ProveConsistency(oldSize, newSize int64, r HashReader) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, fmt.Errorf("%w: no consistency proof from size %d to size %d", ErrNotFound, oldSize, newSize)
	}
	if oldSize == 0 || oldSize == newSize {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("record: consistency proof from %d to %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// CheckConsistency verifies that the checkpoint next extends old: the first old.Size entries of
// next's tree are the entries of old's tree, in the same order. A smaller next is ErrRollback;
// any other failure is ErrInconsistent.
func CheckConsistency(old, next Checkpoint, proof tlog.TreeProof) error {
	if old.Origin != next.Origin {
		return fmt.Errorf("%w: checkpoint of %q compared with one of %q", ErrWrongOrigin, next.Origin, old.Origin)
	}
	if next.Size < old.Size {
		return fmt.Errorf("%w: checkpoint of size %d is smaller than size %d already seen: entries were deleted or this is an old view", ErrRollback, next.Size, old.Size)
	}
	var ok bool
	switch {
	case old.Size == 0:
		ok = old.Hash == emptyRoot && len(proof) == 0
	case old.Size == next.Size:
		ok = old.Hash == next.Hash && len(proof) == 0
	default:
		ok = tlog.CheckTree(proof, next.Size, next.Hash, old.Size, old.Hash) == nil
	}
	if !ok {
		return fmt.Errorf("%w: checkpoint of %s is not consistent with %s seen before: the log was rewritten", ErrInconsistent, next, old)
	}
	return nil
}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256 of nothing.
var emptyRoot, _ = tlog.TreeHash(0, nil)

// CheckNotConflicting is the server's rule before it presents a new checkpoint: next must
// extend every checkpoint a party has cosigned. r reads the log's stored hashes as they will be
// after the append; the consistency proofs are computed from them and checked against the
// cosigned roots, so a store whose history was altered under the server is caught too. It
// returns ErrForked, naming the cosigned size, when next must not be presented.
func CheckNotConflicting(next Checkpoint, cosigned []Checkpoint, r HashReader) error {
	for _, c := range cosigned {
		if c.Size > next.Size {
			return fmt.Errorf("%w: checkpoint of size %d would roll back size %d that a party cosigned", ErrForked, next.Size, c.Size)
		}
		p, err := ProveConsistency(c.Size, next.Size, r)
		if err != nil {
			return err
		}
		if err := CheckConsistency(c, next, p); err != nil {
			return fmt.Errorf("%w: checkpoint of %s is not consistent with %s that a party cosigned: refusing to present it", ErrForked, next, c)
		}
	}
	return nil
}
