package record_test

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/record/recordtest"
)

// followed returns a log of 10 entries with party A's verifier synced to it, its entries
// checked, and (with cosign) its checkpoint cosigned and collected by the server.
func followed(t *testing.T, cosign bool) (*recordtest.MemLog, *record.TileClient, *record.Verifier) {
	t.Helper()
	a := testCosigner(t, "party-a")
	m := newTestLog(t, 10, a)
	c := serve(t, m)
	v := newTestVerifier(t)
	cp, err := c.Sync(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Entries(t.Context(), cp, 0, cp.Size); err != nil {
		t.Fatal(err)
	}
	if cosign {
		cs, err := v.Cosign(a, testTime)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.AddCosignature(cs); err != nil {
			t.Fatal(err)
		}
	}
	return m, c, v
}

// serveLying serves m like serve, except that entry bundles are whatever m's entries are, with
// none of the tile handler's checks: a host that has changed its code as well as its data.
func serveLying(t *testing.T, m *recordtest.MemLog) *record.TileClient {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tile, err := record.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/")); err == nil && tile.L == -1 {
			es, _ := m.ReadEntries(r.Context(), tile.N*record.TileWidth, int64(tile.W))
			b, _ := record.AppendEntryBundle(nil, es)
			w.Write(b)
			return
		}
		m.ServeHTTP(w, r)
	}))
}

func without(i int) func([][]byte) [][]byte {
	return func(es [][]byte) [][]byte { return slices.Delete(es, i, i+1) }
}

func swap(i, j int) func([][]byte) [][]byte {
	return func(es [][]byte) [][]byte { es[i], es[j] = es[j], es[i]; return es }
}

func flipByte(i, at int) func([][]byte) [][]byte {
	return func(es [][]byte) [][]byte { es[i][at] ^= 1; return es }
}

func truncateAndAppend(keep int, fresh ...string) func([][]byte) [][]byte {
	return func(es [][]byte) [][]byte {
		es = es[:keep]
		for _, f := range fresh {
			es = append(es, []byte(f))
		}
		return es
	}
}

// The host tampers with the stored events but cannot re-sign the tree the parties hold: the
// served entries no longer match the leaves, and the client names the fault.
func TestClientDetectsTamperedEntries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func([][]byte) [][]byte
		want  error
		says  string
	}{
		{"deleted event", without(3), record.ErrMissingEntry, "tree commits to 10"},
		{"swapped events", swap(2, 5), record.ErrReordered, "index 2 is the tree's entry 5"},
		{"altered ciphertext byte", flipByte(7, 3), record.ErrLeafMismatch, "entry 7 does not hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, v := followed(t, true)
			m.TamperEntries(tc.fault)
			c := serveLying(t, m)
			cp, err := c.Sync(t.Context(), v)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Entries(t.Context(), cp, 0, cp.Size)
			wantErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// The host rewrites its history and signs a new tree over it. A party that cosigned the old
// tree sees a fork; one that only saw it sees an inconsistent or shrunk log. The honest server
// code refuses to present such a tree at all.
func TestRewrittenHistoryIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      func([][]byte) [][]byte
		wantSeen   error // party verified size 10 but did not cosign
		wantSigned error // party cosigned size 10
		says       string
	}{
		{"deleted event, two appended", func(es [][]byte) [][]byte {
			return append(without(3)(es), []byte("x"), []byte("y"))
		}, record.ErrInconsistent, record.ErrForked, "not consistent with size 10 you cosigned"},
		{"swapped events", swap(2, 5), record.ErrInconsistent, record.ErrForked, "not consistent with size 10 you cosigned"},
		{"altered ciphertext byte", flipByte(7, 3), record.ErrInconsistent, record.ErrForked, "not consistent with size 10 you cosigned"},
		{"truncated and re-appended", truncateAndAppend(6, "a", "b", "c", "d", "e"), record.ErrInconsistent, record.ErrForked, "the log was rewritten or forked"},
		{"truncated", truncateAndAppend(6), record.ErrRollback, record.ErrForked, "smaller than size 10 you cosigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cosigned := range []bool{false, true} {
				m, c, v := followed(t, cosigned)
				if err := m.Rewrite(tc.fault); err != nil {
					t.Fatal(err)
				}
				if cosigned {
					// The server's own rule stops it before any party sees the tree.
					wantErr(t, m.Publish(), record.ErrForked)
				}
				if err := m.ForcePublish(); err != nil {
					t.Fatal(err)
				}
				before := v.State()
				_, err := c.Sync(t.Context(), v)
				want := tc.wantSeen
				if cosigned {
					want = tc.wantSigned
					if !strings.Contains(err.Error(), tc.says) {
						t.Errorf("error %q does not say %q", err, tc.says)
					}
				}
				wantErr(t, err, want)
				if v.State() != before {
					t.Error("a refused checkpoint changed the verifier's state")
				}
			}
		})
	}
}

// The host shows two parties two histories that share a prefix. Each party verifies and
// cosigns its own. Shown the other's checkpoint, each refuses it as a fork; the server refuses
// to present either party the other branch once it holds both cosignatures.
func TestTwoForksAreDetected(t *testing.T) {
	a, b := testCosigner(t, "party-a"), testCosigner(t, "party-b")
	main := newTestLog(t, 10, a, b)
	fork := main.Fork()
	if _, err := main.Append([]byte("offer 1: as agreed")); err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Append([]byte("offer 1: withdrawn")); err != nil {
		t.Fatal(err)
	}
	ca := serve(t, main)
	cb := serve(t, fork)
	va, vb := newTestVerifier(t), newTestVerifier(t)
	for _, p := range []struct {
		v   *record.Verifier
		c   *record.TileClient
		co  *record.Cosigner
		log *recordtest.MemLog
	}{{va, ca, a, main}, {vb, cb, b, fork}} {
		if _, err := p.c.Sync(t.Context(), p.v); err != nil {
			t.Fatal(err)
		}
		cs, err := p.v.Cosign(p.co, testTime)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.log.AddCosignature(cs); err != nil {
			t.Fatal(err)
		}
	}

	// Each party is then served the other's branch.
	_, err := cb.Sync(t.Context(), va)
	wantErr(t, err, record.ErrForked)
	if !strings.Contains(err.Error(), "checkpoint of size 11 is not consistent with size 11 you cosigned") {
		t.Errorf("error does not explain the fork: %v", err)
	}
	_, err = ca.Sync(t.Context(), vb)
	wantErr(t, err, record.ErrForked)

	// Parties comparing cosigned checkpoints directly (gossip) reach the same verdict.
	_, bNote := vb.Cosigned()
	_, err = va.Update(bNote, nil)
	wantErr(t, err, record.ErrForked)

	// B's cosignature cannot be collected onto A's branch.
	bCos, _ := vb.Cosign(b, testTime)
	wantErr(t, main.AddCosignature(bCos), record.ErrMalformed)

	// A server that holds A's cosignature refuses to present B's branch.
	if err := main.Rewrite(func([][]byte) [][]byte {
		es, _ := fork.ReadEntries(t.Context(), 0, fork.Size())
		return es
	}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, main.Publish(), record.ErrForked)
	ckpt, _ := main.Checkpoint(t.Context())
	if !bytes.Contains(ckpt, []byte("— party-a ")) {
		t.Error("the presented checkpoint lost party A's cosignature")
	}
}

// A checkpoint that is not the log's is refused before anything else.
func TestClientRefusesForeignCheckpoints(t *testing.T) {
	impostor, _ := record.NewLogKey(testKey("impostor"))
	m, err := recordtest.NewMemLog(impostor, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	m.Append(entries(0, 3)...)
	c := serve(t, m)
	_, err = c.Sync(t.Context(), newTestVerifier(t))
	wantErr(t, err, record.ErrBadSignature)

	otherOrigin, _ := record.Origin(testHost, "other-talks")
	o, _ := recordtest.NewMemLog(testLogKey(t), otherOrigin)
	c = serve(t, o)
	_, err = c.Sync(t.Context(), newTestVerifier(t))
	wantErr(t, err, record.ErrWrongOrigin)
}

// A damaged stored hash is caught wherever it is read: a leaf hash, which tiles carry, by the
// client checking tiles against the signed root; an inner hash, which only the server's proofs
// read, by the server's own check against the cosigned checkpoint before it signs a new root.
func TestCorruptedStoredHashIsRefused(t *testing.T) {
	m, c, v := followed(t, true)
	m.Append(entries(10, 20)...)
	m.CorruptHash(tlog.StoredHashIndex(0, 3))
	_, err := c.Sync(t.Context(), v)
	wantErr(t, err, record.ErrInconsistent)
	if !strings.Contains(err.Error(), "served tiles do not hash to the root") {
		t.Errorf("error does not say the tiles are wrong: %v", err)
	}

	m, _, _ = followed(t, true)
	m.CorruptHash(tlog.StoredHashIndex(3, 0)) // the subtree of entries 0..7
	_, err = m.Append(entry(10))
	wantErr(t, err, record.ErrForked)
}

func TestEntriesWithheldWithinAVerifiedTreeAreMissing(t *testing.T) {
	m := newTestLog(t, 20)
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tile, err := record.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/")); err == nil && tile.L == -1 {
			http.NotFound(w, r) // the host serves the tree but withholds its entries
			return
		}
		m.ServeHTTP(w, r)
	}))
	cp, err := c.Sync(t.Context(), newTestVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Entries(t.Context(), cp, 0, cp.Size)
	if !errors.Is(err, record.ErrMissingEntry) {
		t.Fatalf("Entries = %v, want ErrMissingEntry", err)
	}
}
