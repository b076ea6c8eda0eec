package record_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
)

// benchSizes are the log sizes of item 8: costs must grow no faster than log n.
var benchSizes = []int64{1e3, 1e4, 1e5, 1e6}

// benchSpread is how many leaves past each size the benchmarks cycle through, so that the
// append cost is the average over leaf positions, not that of one lucky index.
const benchSpread = 1024

var (
	benchOnce  sync.Once
	benchStore hashSlice
)

// benchLog returns the stored hashes of a log of 10^6 + benchSpread leaves, built once; every
// smaller size is a prefix of it, since stored hashes are append-only.
func benchLog(b *testing.B) hashSlice {
	benchOnce.Do(func() {
		n := benchSizes[len(benchSizes)-1] + benchSpread
		benchStore = make(hashSlice, 0, tlog.StoredHashCount(n))
		for i := range n {
			hs, err := tlog.StoredHashesForRecordHash(i, benchLeafHash(i), benchStore)
			if err != nil {
				panic(err)
			}
			benchStore = append(benchStore, hs...)
		}
	})
	return benchStore
}

func benchLeaf(i int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("bench entry "), uint64(i))
}

func benchLeafHash(i int64) tlog.Hash { return tlog.RecordHash(benchLeaf(i)) }

// pick spreads benchmark iterations over [0, n) deterministically.
func pick(i, n int64) int64 {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return int64(binary.BigEndian.Uint64(h[:]) % uint64(n))
}

// BenchmarkAppend measures the stored hashes of one new leaf: what the server computes in the
// transaction of each event, before the checkpoint.
func BenchmarkAppend(b *testing.B) {
	store := benchLog(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			leaves := make([][]byte, benchSpread)
			for i := range leaves {
				leaves[i] = benchLeaf(n + int64(i))
			}
			var i int64
			for b.Loop() {
				k := i % benchSpread
				if _, err := record.StoredHashesForLeaves(n+k, leaves[k:k+1], store); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkCheckpointRoot measures the root of the tree after an append, which the server
// signs into the checkpoint of that transaction (the signature itself, about 27 µs, is not
// included: it does not depend on n).
func BenchmarkCheckpointRoot(b *testing.B) {
	store := benchLog(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var i int64
			for b.Loop() {
				if _, err := tlog.TreeHash(n+i%benchSpread, store); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkInclusion measures proving and checking the inclusion of a random entry.
func BenchmarkInclusion(b *testing.B) {
	store := benchLog(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			root, _ := tlog.TreeHash(n, store)
			var i int64
			for b.Loop() {
				x := pick(i, n)
				p, err := record.ProveInclusion(n, x, store)
				if err != nil {
					b.Fatal(err)
				}
				if err := tlog.CheckRecord(p, n, root, x, benchLeafHash(x)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkConsistency measures proving and checking consistency from a random older size.
func BenchmarkConsistency(b *testing.B) {
	store := benchLog(b)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			root, _ := tlog.TreeHash(n, store)
			olds := make([]record.Checkpoint, 256)
			for i := range olds {
				m := 1 + pick(int64(i), n-1)
				h, _ := tlog.TreeHash(m, store)
				olds[i] = record.Checkpoint{Size: m, Hash: h}
			}
			next := record.Checkpoint{Size: n, Hash: root}
			var i int
			for b.Loop() {
				old := olds[i%len(olds)]
				p, err := record.ProveConsistency(old.Size, n, store)
				if err != nil {
					b.Fatal(err)
				}
				if err := record.CheckConsistency(old, next, p); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// countingReader counts the stored hashes read through it.
type countingReader struct {
	r record.HashReader
	n int
}

func (c *countingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	c.n += len(indexes)
	return c.r.ReadHashes(indexes)
}

// The work of an append, a root, an inclusion proof and a consistency proof is bounded by the
// number of stored hashes they read, which must stay within a small multiple of log2 n.
func TestProofAndAppendCostGrowsAsLogN(t *testing.T) {
	var store hashSlice
	for i := range int64(100_000 + 1) {
		hs, _ := tlog.StoredHashesForRecordHash(i, benchLeafHash(i), store)
		store = append(store, hs...)
	}
	for _, n := range []int64{1_000, 10_000, 100_000} {
		log2 := 0
		for 1<<log2 < n {
			log2++
		}
		root, _ := tlog.TreeHash(n, store)
		for _, tc := range []struct {
			name string
			f    func(r record.HashReader) error
		}{
			{"append", func(r record.HashReader) error {
				_, err := record.StoredHashesForLeaves(n, [][]byte{benchLeaf(n)}, r)
				return err
			}},
			{"root", func(r record.HashReader) error { _, err := tlog.TreeHash(n, r); return err }},
			{"inclusion", func(r record.HashReader) error {
				p, err := record.ProveInclusion(n, n/3, r)
				if err == nil {
					err = tlog.CheckRecord(p, n, root, n/3, benchLeafHash(n/3))
				}
				return err
			}},
			{"consistency", func(r record.HashReader) error { _, err := record.ProveConsistency(n/3+1, n, r); return err }},
		} {
			c := &countingReader{r: store}
			if err := tc.f(c); err != nil {
				t.Fatal(err)
			}
			if c.n > 2*log2+2 {
				t.Errorf("%s at n=%d read %d stored hashes, more than 2·log2(n)+2 = %d", tc.name, n, c.n, 2*log2+2)
			}
		}
	}
}
