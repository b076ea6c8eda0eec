package postgres

import (
	"encoding/binary"
	"sync"

	"github.com/backchannel/backchannel"
)

// hashFilter is a Bloom filter of the event hashes of a talks' log, events 0 to size-1: it
// answers "certainly not in the log" without a query, which is the usual answer both for the
// duplicate check of an append and for the server's idempotency lookup. "Perhaps" is checked in
// the events table. A false "perhaps" costs a query; a false "certainly not" is impossible,
// since the filter only ever holds hashes committed to the log.
//
// It is a chain of filters, each twice as large as the one before, so that it grows with the
// log without being rebuilt; each has 10 bits an event and 7 probes, about 1% false positives.
// The event hashes are SHA-256, so their own bytes serve as the probes.
type hashFilter struct {
	size  int64 // events 0 to size-1 are in the filter
	chain []*bloom
}

type bloom struct {
	bits []uint64
	n    int // hashes added
	cap  int
}

const (
	bloomProbes   = 7
	bloomBits     = 10 // bits per hash at capacity
	bloomFirstCap = 1024
	// maxFilterBuild is the longest log whose filter an append reads in full (32 bytes an event)
	// the first time it meets the log; longer logs go without one and query instead.
	maxFilterBuild = 1 << 20
	// maxFilters bounds how many logs keep a filter; past it the set starts again.
	maxFilters = 4096
)

func newBloom(capacity int) *bloom {
	return &bloom{bits: make([]uint64, (capacity*bloomBits+63)/64), cap: capacity}
}

func (b *bloom) probes(h *backchannel.EventHash, f func(word int, bit uint64) bool) bool {
	m := uint32(len(b.bits) * 64)
	for i := range bloomProbes {
		x := binary.LittleEndian.Uint32(h[4*i:]) % m
		if !f(int(x/64), 1<<(x%64)) {
			return false
		}
	}
	return true
}

func (f *hashFilter) add(h backchannel.EventHash) {
	if len(f.chain) == 0 || f.chain[len(f.chain)-1].n >= f.chain[len(f.chain)-1].cap {
		c := bloomFirstCap
		if len(f.chain) > 0 {
			c = 2 * f.chain[len(f.chain)-1].cap
		}
		f.chain = append(f.chain, newBloom(c))
	}
	b := f.chain[len(f.chain)-1]
	b.probes(&h, func(w int, bit uint64) bool { b.bits[w] |= bit; return true })
	b.n++
}

// mayHave reports whether h may be in the log; false is certain.
func (f *hashFilter) mayHave(h backchannel.EventHash) bool {
	for _, b := range f.chain {
		if b.probes(&h, func(w int, bit uint64) bool { return b.bits[w]&bit != 0 }) {
			return true
		}
	}
	return false
}

// filters holds the hash filters of the logs this process appends to. A log's filter is used
// by one batch at a time: a talks is in at most one of this process's transactions at once.
type filters struct {
	mu sync.Mutex
	m  map[string]*hashFilter
}

func (fs *filters) get(talks string) *hashFilter {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[talks]
}

func (fs *filters) put(talks string, f *hashFilter) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil || len(fs.m) >= maxFilters {
		fs.m = make(map[string]*hashFilter)
	}
	fs.m[talks] = f
}

func (fs *filters) drop(talks string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.m, talks)
}
