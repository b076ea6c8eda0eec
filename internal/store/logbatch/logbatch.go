// Package logbatch computes the Merkle hashes of leaves appended to a talks' log inside one
// store transaction, so that the leaves, their hashes and the signed checkpoint commit together.
//
// The hashes are tlog stored hashes (golang.org/x/mod/sumdb/tlog): each leaf adds its record
// hash and the interior hashes it completes, at tlog.StoredHashIndex positions. Hashes written
// earlier in the same transaction are read from memory, so a batch of many leaves costs one
// read of the log's right edge rather than one per leaf.
package logbatch

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ReadFunc reads stored hashes already committed (or written earlier in the transaction).
type ReadFunc func(indexes []int64) ([]tlog.Hash, error)

// Log is one log's state within a transaction.
type Log struct {
	size    int64
	read    ReadFunc
	pending map[int64]tlog.Hash
}

// New starts a batch on a log of the given size whose stored hashes read returns.
func New(size int64, read ReadFunc) *Log {
	return &Log{size: size, read: read, pending: make(map[int64]tlog.Hash)}
}

// Size is the log's size including the leaves added so far.
func (l *Log) Size() int64 { return l.size }

// ReadHashes implements tlog.HashReader over the pending and stored hashes.
func (l *Log) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	var at []int
	for i, x := range indexes {
		if h, ok := l.pending[x]; ok {
			out[i] = h
			continue
		}
		missing = append(missing, x)
		at = append(at, i)
	}
	if len(missing) > 0 {
		hs, err := l.read(missing)
		if err != nil {
			return nil, err
		}
		if len(hs) != len(missing) {
			return nil, fmt.Errorf("logbatch: read %d hashes, want %d", len(hs), len(missing))
		}
		for j, h := range hs {
			out[at[j]] = h
			l.pending[missing[j]] = h // the right edge is read again by the next leaf
		}
	}
	return out, nil
}

// Add appends a leaf with the given entry bytes and returns the stored hashes to write, with
// their first stored-hash index. The caller writes them in the same transaction.
func (l *Log) Add(entry []byte) (first int64, hashes []tlog.Hash, err error) {
	first = tlog.StoredHashCount(l.size)
	hashes, err = tlog.StoredHashes(l.size, entry, l)
	if err != nil {
		return 0, nil, fmt.Errorf("logbatch: hashes of leaf %d: %w", l.size, err)
	}
	for i, h := range hashes {
		l.pending[first+int64(i)] = h
	}
	l.size++
	return first, hashes, nil
}

// Mark returns a point to roll back to with Rollback.
func (l *Log) Mark() int64 { return l.size }

// Rollback forgets the leaves added since Mark returned size, after the caller rolled their
// rows back.
func (l *Log) Rollback(size int64) {
	if size >= l.size {
		return
	}
	cut := tlog.StoredHashCount(size)
	for x := range l.pending {
		if x >= cut {
			delete(l.pending, x)
		}
	}
	l.size = size
}

// Root returns the tree hash of the log at its current size.
func (l *Log) Root() (tlog.Hash, error) {
	return tlog.TreeHash(l.size, l)
}
