package tiles_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	formatslog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/internal/tiles"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/record/recordtest"
)

// The Cache-Control values a tlog-tiles client and the caches in between see.
const (
	immutable = "public, max-age=31536000, immutable" // a full tile never changes
	partial   = "public, max-age=60"                  // a partial tile is outgrown
	noCache   = "no-cache"                            // a checkpoint changes with every append
)

const (
	testTalks  = "muscat-1"
	testOrigin = "backchannel.example/talks/muscat-1"
)

// testLogKey is a fixed log key, so that runs do not differ.
func testLogKey(t testing.TB) *record.LogKey {
	seed := sha256.Sum256([]byte("backchannel record test key: log"))
	k, err := record.NewLogKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
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

// newTestLog returns a reference log of n test entries.
func newTestLog(t testing.TB, n int) *recordtest.MemLog {
	t.Helper()
	m, err := recordtest.NewMemLog(testLogKey(t), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		var es [][]byte
		for i := range n {
			es = append(es, entry(i))
		}
		if _, err := m.Append(es...); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// serve serves log under /v1/talks/muscat-1/log/ the way the server mounts it, and returns a
// TileClient for it.
func serve(t *testing.T, log record.Log) *record.TileClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/talks/{talksID}/log/{path...}", func(w http.ResponseWriter, r *http.Request) {
		tiles.NewHandler(log).ServeLogPath(w, r, r.PathValue("path"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &record.TileClient{HTTP: srv.Client(), BaseURL: srv.URL + "/v1/talks/" + testTalks + "/log/"}
}

func hashBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandlerServesC2SPTileLayout(t *testing.T) {
	c := serve(t, newTestLog(t, 300))
	for _, tc := range []struct {
		path   string
		status int
		size   int
		cache  string
	}{
		{"checkpoint", 200, -1, noCache},
		{"tile/0/000", 200, 256 * 32, immutable},
		{"tile/0/001.p/44", 200, 44 * 32, partial},
		{"tile/0/001.p/3", 200, 3 * 32, partial},
		{"tile/1/000.p/1", 200, 32, partial},
		{"tile/entries/000", 200, -1, immutable},
		{"tile/entries/001.p/44", 200, -1, partial},
		{"tile/0/001", 404, 0, ""},       // not full yet
		{"tile/0/000.p/5", 404, 0, ""},   // full exists: one URL per tile
		{"tile/0/001.p/45", 404, 0, ""},  // beyond the tree
		{"tile/0/002.p/1", 404, 0, ""},   // beyond the tree
		{"tile/2/000.p/1", 404, 0, ""},   // no such level yet
		{"tile/0/x000/001", 404, 0, ""},  // not canonical
		{"tile/8/0/000", 404, 0, ""},     // the sumdb layout is not served
		{"tile/entries/002", 404, 0, ""}, // beyond the tree
	} {
		resp, body := get(t, c.BaseURL+tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if tc.size >= 0 && len(body) != tc.size {
			t.Errorf("GET %s: %d bytes, want %d", tc.path, len(body), tc.size)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, c.BaseURL+"checkpoint", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST checkpoint: %v %v, want 405", resp.StatusCode, err)
	}
}

// The served log, read with plain HTTP and hand-written C2SP paths, checks out with
// transparency-dev's checkpoint parser and Merkle code: nothing of ours in the loop.
func TestServedTilesVerifyWithIndependentImplementation(t *testing.T) {
	const n = 300
	c := serve(t, newTestLog(t, n))
	_, ckpt := get(t, c.BaseURL+"checkpoint")
	cp, _, _, err := formatslog.ParseCheckpoint(ckpt, testOrigin, logVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != n {
		t.Fatalf("checkpoint size %d", cp.Size)
	}
	checkNoteSignatureByHand(t, ckpt, testOrigin, testLogKey(t).PublicKey())
	var leaves [][]byte
	for _, p := range []string{"tile/0/000", "tile/0/001.p/44"} {
		_, b := get(t, c.BaseURL+p)
		for len(b) >= 32 {
			leaves, b = append(leaves, b[:32]), b[32:]
		}
	}
	var bundle []byte
	for _, p := range []string{"tile/entries/000", "tile/entries/001.p/44"} {
		_, b := get(t, c.BaseURL+p)
		bundle = append(bundle, b...)
	}
	for i := 0; len(bundle) > 0; i++ {
		l := int(binary.BigEndian.Uint16(bundle))
		e := bundle[2 : 2+l]
		bundle = bundle[2+l:]
		if !bytes.Equal(e, entry(i)) || !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(e), leaves[i]) {
			t.Fatalf("entry %d does not match its leaf", i)
		}
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	root, _ := r.GetRootHash(nil)
	if !bytes.Equal(root, cp.Hash) {
		t.Fatalf("root from served tiles %x, checkpoint says %x", root, cp.Hash)
	}
	// The level-1 tile's one hash is the root of the first 256 leaves.
	_, l1 := get(t, c.BaseURL+"tile/1/000.p/1")
	r256 := rf.NewEmptyRange(0)
	for _, l := range leaves[:256] {
		r256.Append(l, nil)
	}
	if h, _ := r256.GetRootHash(nil); !bytes.Equal(h, l1) {
		t.Fatalf("tile/1/000.p/1 = %x, want %x", l1, h)
	}
	// Proofs built by our client from the tiles verify with merkle.
	ourCP := record.Checkpoint{Origin: testOrigin, Size: n}
	copy(ourCP.Hash[:], cp.Hash)
	for _, i := range []int64{0, 100, 255, 256, 299} {
		p, err := c.ProveInclusion(t.Context(), ourCP, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), n, leaves[i], hashBytes(p), cp.Hash); err != nil {
			t.Errorf("inclusion of %d: %v", i, err)
		}
	}
}

// checkNoteSignatureByHand verifies the log's signature on a signed note as C2SP signed-note
// spells it out, with crypto/ed25519 and no note library: the text, a blank line, then
// "— <name> <base64(key ID || signature)>" with key ID = SHA-256(name || "\n" || 0x01 || key)[:4].
func checkNoteSignatureByHand(t *testing.T, msg []byte, name string, pub ed25519.PublicKey) {
	t.Helper()
	text, sigs, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		t.Fatal("no blank line in the note")
	}
	id := sha256.Sum256(append([]byte(name+"\n\x01"), pub...))
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— "+name+" ")
		if !ok {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(sig) != 4+ed25519.SignatureSize || !bytes.Equal(sig[:4], id[:4]) {
			t.Fatalf("signature line %q is not an Ed25519 signature by %s", line, name)
		}
		if !ed25519.Verify(pub, []byte(text+"\n"), sig[4:]) {
			t.Fatal("the log's signature does not verify by hand")
		}
		return
	}
	t.Fatalf("no signature by %s in %q", name, msg)
}

// storedCheckpoint is a log whose stored checkpoint note is ckpt, whatever its tree holds.
type storedCheckpoint struct {
	record.Log
	ckpt []byte
}

func (l storedCheckpoint) Checkpoint(context.Context) ([]byte, error) { return l.ckpt, nil }

// A stored checkpoint that does not parse is the server's own fault, not a tile beyond the tree:
// answering 404 would tell a party that the host withholds a tile of a tree it verified.
func TestHandlerFailsOnUnreadableStoredCheckpoint(t *testing.T) {
	m := newTestLog(t, 3)
	good, err := m.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ckpt []byte
	}{
		{"not a signed note", []byte("garbage")},
		{"body of two lines", []byte(testOrigin + "\n3\n\n— sig\n")},
		{"size not canonical", bytes.Replace(good, []byte("\n3\n"), []byte("\n03\n"), 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, storedCheckpoint{m, tc.ckpt})
			for _, path := range []string{"tile/0/000.p/3", "tile/entries/000.p/3"} {
				if resp, body := get(t, c.BaseURL+path); resp.StatusCode != http.StatusInternalServerError {
					t.Errorf("GET %s: %d %q, want 500", path, resp.StatusCode, body)
				}
			}
		})
	}
}
