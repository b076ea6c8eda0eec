package record

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxEntrySize is the largest entry a log accepts: tlog-tiles entry bundles prefix each entry
// with a big-endian uint16 length. An event whose signed bytes are larger must be logged as a
// smaller entry that commits to it by hash (see docs/record.md, "Limits").
const MaxEntrySize = 1<<16 - 1

// HashReader reads a log's stored hashes by their tlog.StoredHashIndex. It is tlog.HashReader,
// so the stores' readers plug straight into tlog's proofs and tile builders.
//
// The contract: ReadHashes returns one hash per index, in the order asked, or an error; it never
// returns a hash it does not have (a zero hash would be a wrong proof, not a missing one). A
// reader is bound to one log and one moment (a transaction or a snapshot) by its maker, which is
// why it takes no context.
type HashReader = tlog.HashReader

// EntryReader reads a log's entries: the exact bytes that were hashed into its leaves.
type EntryReader interface {
	// ReadEntries returns entries start, start+1, …, start+n-1, or an error wrapping
	// ErrNotFound if any of them is beyond the log.
	ReadEntries(ctx context.Context, start, n int64) ([][]byte, error)
}

// Log is one talks' log as the tile handler and the server's proof helpers see it. The stores
// implement it over a read snapshot in which the checkpoint and the hashes agree (the checkpoint
// is written in the same transaction as the entries it covers).
type Log interface {
	// Checkpoint returns the latest checkpoint note to present: the log's signature and every
	// cosignature collected for it. A log with no entries yet still has a checkpoint of size 0.
	Checkpoint(ctx context.Context) ([]byte, error)
	HashReader
	EntryReader
}

// CheckEntry reports whether data can be an entry: at most MaxEntrySize bytes.
func CheckEntry(data []byte) error {
	if len(data) > MaxEntrySize {
		return fmt.Errorf("%w: entry of %d bytes, the limit is %d", ErrEntryTooLarge, len(data), MaxEntrySize)
	}
	return nil
}

// StoredHashesForLeaves returns the stored hashes to write when the entries leaves are appended
// to a log of size entries whose existing stored hashes r reads. The result is to be stored at
// indexes tlog.StoredHashCount(size), tlog.StoredHashCount(size)+1, … in the same transaction
// as the entries, and then the log has size+len(leaves) entries.
//
// Hashes computed for earlier leaves of the batch are kept in memory and read from there by
// later ones, so a group commit of many events costs one pass and reads from r only the
// O(log n) hashes left of the batch.
func StoredHashesForLeaves(size int64, leaves [][]byte, r HashReader) ([]tlog.Hash, error) {
	if size < 0 {
		return nil, fmt.Errorf("record: log size %d", size)
	}
	ov := &overlay{base: tlog.StoredHashCount(size), r: r}
	for i, leaf := range leaves {
		if err := CheckEntry(leaf); err != nil {
			return nil, fmt.Errorf("entry %d: %w", size+int64(i), err)
		}
		hs, err := tlog.StoredHashesForRecordHash(size+int64(i), tlog.RecordHash(leaf), ov)
		if err != nil {
			return nil, fmt.Errorf("record: stored hashes for entry %d: %w", size+int64(i), err)
		}
		ov.new = append(ov.new, hs...)
	}
	return ov.new, nil
}

// overlay reads stored hashes below base from r and the rest from the batch computed so far.
type overlay struct {
	base int64
	r    HashReader
	new  []tlog.Hash
}

func (o *overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var old []int64
	for i, x := range indexes {
		switch {
		case x >= o.base+int64(len(o.new)):
			return nil, fmt.Errorf("record: stored hash %d not yet computed", x)
		case x >= o.base:
			out[i] = o.new[x-o.base]
		default:
			old = append(old, x)
		}
	}
	if len(old) == 0 {
		return out, nil
	}
	hs, err := o.r.ReadHashes(old)
	if err != nil {
		return nil, err
	}
	if len(hs) != len(old) {
		return nil, fmt.Errorf("record: hash reader returned %d hashes for %d indexes", len(hs), len(old))
	}
	j := 0
	for i, x := range indexes {
		if x < o.base {
			out[i] = hs[j]
			j++
		}
	}
	return out, nil
}
