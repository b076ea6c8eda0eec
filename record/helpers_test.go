package record_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/record/recordtest"
)

var update = flag.Bool("update", false, "rewrite the vectors in testdata/")

// checkVector compares got with the vector in testdata/name, or rewrites it with -update.
func checkVector(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile("testdata/"+name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(got) != string(want) {
		t.Fatalf("testdata/%s changed; got:\n%s\nwant:\n%s", name, got, want)
	}
}

// Fixed keys, so that test vectors do not change from run to run.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("backchannel record test key: " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

const (
	testHost   = "backchannel.example"
	testTalks  = "muscat-1"
	testOrigin = "backchannel.example/talks/muscat-1"
)

// testTime is the fixed time of test cosignatures.
var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testLogKey(t testing.TB) *record.LogKey {
	k, err := record.NewLogKey(testKey("log"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hostVKey(t testing.TB) string {
	v, err := testLogKey(t).VerifierKey(testHost)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testCosigner(t testing.TB, name string) *record.Cosigner {
	c, err := record.NewCosigner(name, testKey("cosigner "+name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logVerifier(t testing.TB) note.Verifier {
	vkey, err := testLogKey(t).VerifierKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// entry returns the i-th test entry: distinct bytes standing for a sealed envelope.
func entry(i int) []byte {
	return fmt.Appendf(nil, "envelope %d ciphertext \x00\x01\x02", i)
}

func entries(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, entry(i))
	}
	return out
}

// newTestLog returns a MemLog of n test entries collecting the given cosigners.
func newTestLog(t testing.TB, n int, cosigners ...*record.Cosigner) *recordtest.MemLog {
	t.Helper()
	var keys []string
	for _, c := range cosigners {
		keys = append(keys, c.VerifierKey())
	}
	m, err := recordtest.NewMemLog(testLogKey(t), testOrigin, keys...)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if _, err := m.Append(entries(0, n)...); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func newTestVerifier(t testing.TB) *record.Verifier {
	v, err := record.NewVerifier(testOrigin, hostVKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantErr fails unless err wraps want (nil for success).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}

// hashSlice reads stored hashes from a slice: a log's hashes with nothing else around them.
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
