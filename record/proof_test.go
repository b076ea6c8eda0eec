package record_test

import (
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
)

func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// transparency-dev/merkle, an RFC 6962 implementation independent of x/mod's tlog, accepts our
// inclusion and consistency proofs.
func TestProofsAcceptedByTransparencyDevMerkle(t *testing.T) {
	m := newTestLog(t, 300)
	roots := make([]tlog.Hash, 301)
	for n := int64(0); n <= 300; n++ {
		roots[n], _ = tlog.TreeHash(n, m)
	}
	for _, n := range []int64{1, 2, 3, 7, 8, 9, 255, 256, 257, 300} {
		for _, i := range []int64{0, 1, n / 2, n - 1} {
			if i >= n {
				continue
			}
			p, err := record.ProveInclusion(n, i, m)
			if err != nil {
				t.Fatal(err)
			}
			cp := record.Checkpoint{Origin: testOrigin, Size: n, Hash: roots[n]}
			wantErr(t, record.CheckInclusion(cp, i, entry(int(i)), p), nil)
			leaf := rfc6962.DefaultHasher.HashLeaf(entry(int(i)))
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(n), leaf, hashBytes(p), roots[n][:]); err != nil {
				t.Errorf("merkle rejects inclusion of %d in %d: %v", i, n, err)
			}
		}
		for _, old := range []int64{0, 1, n / 3, n - 1, n} {
			p, err := record.ProveConsistency(old, n, m)
			if err != nil {
				t.Fatal(err)
			}
			o := record.Checkpoint{Origin: testOrigin, Size: old, Hash: roots[old]}
			wantErr(t, record.CheckConsistency(o, record.Checkpoint{Origin: testOrigin, Size: n, Hash: roots[n]}, p), nil)
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(n), hashBytes(p), roots[old][:], roots[n][:]); err != nil {
				t.Errorf("merkle rejects consistency %d→%d: %v", old, n, err)
			}
		}
	}
	if got := rfc6962.DefaultHasher.EmptyRoot(); string(got) != string(record.EmptyRoot[:]) {
		t.Errorf("empty root %x, merkle says %x", record.EmptyRoot, got)
	}
}

func TestStoredHashesForLeavesBatchEqualsOneByOne(t *testing.T) {
	var one hashSlice
	for i := range 1000 {
		hs, err := tlog.StoredHashes(int64(i), entry(i), one)
		if err != nil {
			t.Fatal(err)
		}
		one = append(one, hs...)
	}
	var batched hashSlice
	for _, b := range [][2]int{{0, 1}, {1, 3}, {3, 256}, {256, 257}, {257, 999}, {999, 1000}} {
		hs, err := record.StoredHashesForLeaves(int64(b[0]), entries(b[0], b[1]), batched)
		if err != nil {
			t.Fatal(err)
		}
		batched = append(batched, hs...)
	}
	if len(batched) != len(one) {
		t.Fatalf("%d stored hashes batched, %d one by one", len(batched), len(one))
	}
	for i := range one {
		if one[i] != batched[i] {
			t.Fatalf("stored hash %d differs", i)
		}
	}
	if n := tlog.StoredHashCount(1000); int64(len(one)) != n {
		t.Fatalf("%d stored hashes for 1000 entries, want %d", len(one), n)
	}
	_, err := record.StoredHashesForLeaves(0, [][]byte{make([]byte, record.MaxEntrySize+1)}, hashSlice(nil))
	wantErr(t, err, record.ErrEntryTooLarge)
}

func TestCheckProofsRefuse(t *testing.T) {
	m := newTestLog(t, 10)
	r10, _ := tlog.TreeHash(10, m)
	r6, _ := tlog.TreeHash(6, m)
	c10 := record.Checkpoint{Origin: testOrigin, Size: 10, Hash: r10}
	c6 := record.Checkpoint{Origin: testOrigin, Size: 6, Hash: r6}
	p, _ := record.ProveInclusion(10, 4, m)
	wantErr(t, record.CheckInclusion(c10, 4, entry(5), p), record.ErrNotIncluded)
	wantErr(t, record.CheckInclusion(c10, 5, entry(4), p), record.ErrNotIncluded)
	wantErr(t, record.CheckInclusion(c10, 10, entry(10), p), record.ErrNotIncluded)
	cp, _ := record.ProveConsistency(6, 10, m)
	wantErr(t, record.CheckConsistency(c10, c6, cp), record.ErrRollback)
	wantErr(t, record.CheckConsistency(c6, record.Checkpoint{Origin: testOrigin, Size: 10, Hash: r6}, cp), record.ErrInconsistent)
	wantErr(t, record.CheckConsistency(c6, record.Checkpoint{Origin: "x", Size: 10, Hash: r10}, cp), record.ErrWrongOrigin)
	wantErr(t, record.CheckConsistency(c10, record.Checkpoint{Origin: testOrigin, Size: 10, Hash: r6}, nil), record.ErrInconsistent)
	_, err := record.ProveInclusion(10, 10, m)
	wantErr(t, err, record.ErrNotFound)
}
