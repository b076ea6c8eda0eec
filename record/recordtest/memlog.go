package recordtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/internal/tiles"
	"github.com/backchannel/backchannel/record"
)

// MemLog is an in-memory log that does what the server does in its append transaction (stored
// hashes, a signed checkpoint, the cosignature rule) and implements record.Log, which the
// server's tile handler serves. It is the reference log of the tests and, through its fault
// methods, their adversary: a host that deletes, swaps, alters, truncates or forks.
//
// MemLog is safe for concurrent use.
type MemLog struct {
	mu        sync.Mutex
	origin    string
	signer    note.Signer
	logV      note.Verifier
	cosigners note.Verifiers
	entries   [][]byte
	hashes    []tlog.Hash
	ckpt      []byte
	cp        record.Checkpoint
	cosigned  map[string]record.Checkpoint // latest checkpoint each cosigner cosigned
	served    [][]byte                     // when not nil, the entries served instead of the logged ones
}

var _ record.Log = (*MemLog)(nil)

// NewMemLog returns an empty log of origin signed by key, collecting cosignatures from the
// cosigners whose verifier keys are given.
func NewMemLog(key *record.LogKey, origin string, cosignerKeys ...string) (*MemLog, error) {
	s, err := key.Signer(origin)
	if err != nil {
		return nil, err
	}
	vkey, err := key.VerifierKey(origin)
	if err != nil {
		return nil, err
	}
	logV, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	var vs []note.Verifier
	for _, k := range cosignerKeys {
		v, err := record.NewCosignatureVerifier(k)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	m := &MemLog{origin: origin, signer: s, logV: logV, cosigners: note.VerifierList(vs...), cosigned: map[string]record.Checkpoint{}}
	if err := m.publishLocked(false); err != nil {
		return nil, err
	}
	return m, nil
}

// Append appends entries as one transaction: their stored hashes and a new signed checkpoint,
// which must not conflict with any stored cosignature. On any error nothing is appended.
func (m *MemLog) Append(entries ...[]byte) (record.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := int64(len(m.entries))
	hs, err := record.StoredHashesForLeaves(size, entries, lockedReader{m})
	if err != nil {
		return record.Checkpoint{}, err
	}
	oldEntries, oldHashes := len(m.entries), len(m.hashes)
	for _, e := range entries {
		m.entries = append(m.entries, slices.Clone(e))
	}
	m.hashes = append(m.hashes, hs...)
	if err := m.publishLocked(true); err != nil {
		m.entries, m.hashes = m.entries[:oldEntries], m.hashes[:oldHashes]
		return record.Checkpoint{}, err
	}
	return m.cp, nil
}

// publishLocked signs a checkpoint of the stored tree and presents it; with check, only if it
// extends every cosigned checkpoint.
func (m *MemLog) publishLocked(check bool) error {
	size := int64(len(m.entries))
	root, err := tlog.TreeHash(size, lockedReader{m})
	if err != nil {
		return err
	}
	c := record.Checkpoint{Origin: m.origin, Size: size, Hash: root}
	if check {
		var cs []record.Checkpoint
		for _, c := range m.cosigned {
			cs = append(cs, c)
		}
		if err := record.CheckNotConflicting(c, cs, lockedReader{m}); err != nil {
			return err
		}
	}
	msg, err := record.SignCheckpoint(m.signer, c)
	if err != nil {
		return err
	}
	m.ckpt, m.cp = msg, c
	return nil
}

// Publish signs and presents a checkpoint of what the log now stores, refusing with
// record.ErrForked if it conflicts with a stored cosignature, as the server does after any change
// to storage.
func (m *MemLog) Publish() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.publishLocked(true)
}

// AddCosignature verifies a party's cosignature of the current checkpoint, adds it to the
// presented checkpoint and remembers the checkpoint as cosigned by that party.
func (m *MemLog) AddCosignature(cosigned []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, err := record.AddCosignature(m.ckpt, m.origin, m.logV, cosigned, m.cosigners)
	if err != nil {
		return err
	}
	for _, name := range record.Cosigners(cosigned, m.cosigners) {
		m.cosigned[name] = m.cp
	}
	m.ckpt = msg
	return nil
}

// Size returns the number of entries logged.
func (m *MemLog) Size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.entries))
}

// Checkpoint returns the presented checkpoint note with its cosignatures.
func (m *MemLog) Checkpoint(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ckpt), nil
}

// ReadHashes returns stored hashes by index.
func (m *MemLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readHashesLocked(indexes)
}

func (m *MemLog) readHashesLocked(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("%w: stored hash %d of %d", record.ErrNotFound, x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// ReadEntries returns entries start to start+n-1, as served (see TamperEntries).
func (m *MemLog) ReadEntries(_ context.Context, start, n int64) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	src := m.entries
	if m.served != nil {
		src = m.served
	}
	if start < 0 || n < 0 || start+n > int64(len(m.entries)) {
		return nil, fmt.Errorf("%w: entries %d+%d of %d", record.ErrNotFound, start, n, len(m.entries))
	}
	// A tampered list may be shorter: serve what there is, as a careless forger would.
	end := min(start+n, int64(len(src)))
	if start > end {
		return nil, nil
	}
	out := make([][]byte, 0, end-start)
	for _, e := range src[start:end] {
		out = append(out, slices.Clone(e))
	}
	return out, nil
}

// ServeHTTP serves the log as the server serves a talks' log, with the server's own tile
// handler: the C2SP tlog-tiles layout relative to the request's URL root ("/checkpoint",
// "/tile/0/000.p/3", …); mount it under a log's prefix with http.StripPrefix. It serves what
// the faults left, through the handler's own checks: an entry bundle shorter than the tree
// commits to is refused, as the server would refuse it.
func (m *MemLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tiles.NewHandler(m).ServeHTTP(w, r)
}

// Fork returns an independent copy of the log, signed by the same key: the second view of a
// host that shows two parties two histories.
func (m *MemLog) Fork() *MemLog {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &MemLog{
		origin: m.origin, signer: m.signer, logV: m.logV, cosigners: m.cosigners,
		entries: slices.Clone(m.entries), hashes: slices.Clone(m.hashes),
		ckpt: slices.Clone(m.ckpt), cp: m.cp, cosigned: map[string]record.Checkpoint{},
	}
	for k, v := range m.cosigned {
		f.cosigned[k] = v
	}
	return f
}

// Rewrite is a fault: it replaces the logged entries with edit(entries) and recomputes the
// whole tree, as a host that rewrites its history would. It presents nothing: call Publish
// (the honest server, which refuses) or ForcePublish (the dishonest one).
func (m *MemLog) Rewrite(edit func([][]byte) [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	entries := edit(slices.Clone(m.entries))
	m.entries, m.hashes = nil, nil
	hs, err := record.StoredHashesForLeaves(0, entries, hashSlice(nil))
	if err != nil {
		return err
	}
	m.entries, m.hashes = entries, hs
	return nil
}

// ForcePublish is a fault: it signs and presents a checkpoint of what the log now stores,
// ignoring the cosignatures it holds.
func (m *MemLog) ForcePublish() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.publishLocked(false)
}

// TamperEntries is a fault: from now on the entries served are edit(logged entries), while the
// tree, its tiles and its checkpoint stay as they were: a host that drops, swaps or alters
// stored events without being able to re-sign history.
func (m *MemLog) TamperEntries(edit func([][]byte) [][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	served := make([][]byte, len(m.entries))
	for i, e := range m.entries {
		served[i] = slices.Clone(e)
	}
	m.served = edit(served)
}

// hashSlice reads stored hashes from a slice; Rewrite starts from an empty one.
type hashSlice []tlog.Hash

func (s hashSlice) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("%w: stored hash %d", record.ErrNotFound, x)
		}
		out[i] = s[x]
	}
	return out, nil
}

// lockedReader reads m's hashes when m.mu is already held, as it is inside Append.
type lockedReader struct{ m *MemLog }

func (r lockedReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.m.readHashesLocked(indexes)
}

// CorruptHash is a fault: it flips one bit of stored hash index, as a damaged or meddled-with
// store would, leaving entries and the presented checkpoint alone.
func (m *MemLog) CorruptHash(index int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashes[index][0] ^= 1
}
