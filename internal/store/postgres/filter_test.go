package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/backchannel/backchannel"
)

func TestHashFilterHasNoFalseNegatives(t *testing.T) {
	var f hashFilter
	hash := func(i int) backchannel.EventHash {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		return sha256.Sum256(b[:])
	}
	const n = 20000 // past several links of the chain
	for i := range n {
		f.add(hash(i))
	}
	for i := range n {
		if !f.mayHave(hash(i)) {
			t.Fatalf("hash %d was added but the filter denies it", i)
		}
	}
	falsePos := 0
	for i := n; i < 2*n; i++ {
		if f.mayHave(hash(i)) {
			falsePos++
		}
	}
	if rate := float64(falsePos) / n; rate > 0.05 {
		t.Errorf("false positive rate %.3f, want about 0.01", rate)
	}
}
