package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
)

// What a real server serves of a talks' record checks out with implementations we did not
// write, over plain HTTP: the checkpoint's signed note with golang.org/x/mod/sumdb/note, the
// tiles with x/mod's tlog.TileHashReader, every inclusion proof and consistency proofs with
// github.com/transparency-dev/merkle, and the parties' cosignatures by hand from the C2SP
// tlog-cosignature specification. Of ours, only the two functions that name things are used:
// record.OriginVerifierKey (the log key under the talks' origin) and record.TilePath.
func TestServedRecordVerifiesWithIndependentImplementations(t *testing.T) {
	n := newNegotiation(t)
	reader := n.omFM // the mediator sits in every room but reads the record like anyone

	// The host's published log key, under the talks' origin.
	status, body := n.get(reader, "/v1/log-key")
	var lk api.LogKey
	if status != http.StatusOK || json.Unmarshal(body, &lk) != nil {
		t.Fatalf("GET /v1/log-key: %d %s", status, body)
	}
	if lk.Verifier != reader.PinnedLogKey() {
		t.Fatalf("published log key %q, the client pinned %q", lk.Verifier, reader.PinnedLogKey())
	}
	origin := n.host + "/talks/" + muscat
	vkey, err := record.OriginVerifierKey(lk.Verifier, origin)
	if err != nil {
		t.Fatal(err)
	}
	logVerifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}

	// The checkpoint: a signed note that x/mod opens with that key, three lines of body.
	status, ckpt := n.get(reader, "/v1/talks/us:muscat/log/checkpoint")
	if status != http.StatusOK {
		t.Fatalf("GET checkpoint: %d %s", status, ckpt)
	}
	nt, err := note.Open(ckpt, note.VerifierList(logVerifier))
	if err != nil {
		t.Fatalf("x/mod note.Open: %v\n%s", err, ckpt)
	}
	if len(nt.Sigs) != 1 || nt.Sigs[0].Name != origin {
		t.Fatalf("checkpoint signed by %+v, want the log key named %s", nt.Sigs, origin)
	}
	lines := strings.Split(nt.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		t.Fatalf("checkpoint body %q", nt.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size != n.cosigned {
		t.Fatalf("checkpoint size %q, want %d", lines[1], n.cosigned)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		t.Fatalf("checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	// Every party's cosignature, checked by hand from the C2SP tlog-cosignature spec.
	cosigned := map[string]bool{}
	for _, m := range n.members() {
		pub := m.c.Credential().IdentityKey
		h := sha256.Sum256(append([]byte(m.name+"\n\x04"), pub...))
		for _, s := range nt.UnverifiedSigs {
			sig, err := base64.StdEncoding.DecodeString(s.Base64)
			if s.Name != m.name || err != nil || len(sig) != 4+8+ed25519.SignatureSize || !bytes.Equal(sig[:4], h[:4]) {
				continue
			}
			msg := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", binary.BigEndian.Uint64(sig[4:12]), nt.Text)
			if !ed25519.Verify(pub, msg, sig[12:]) {
				t.Fatalf("%s's cosignature of the checkpoint does not verify", m.name)
			}
			cosigned[m.name] = true
		}
	}
	if len(cosigned) != len(n.members()) {
		t.Fatalf("the checkpoint carries verified cosignatures of %v, want every member's", cosigned)
	}

	// The tiles, verified against the root by x/mod's tlog.TileHashReader, fetched at C2SP paths.
	tr := tileFetcher{t: t, n: n, c: reader}
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tr)
	idx := make([]int64, size)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(0, int64(i))
	}
	leaves, err := hr.ReadHashes(idx)
	if err != nil {
		t.Fatalf("x/mod tlog.TileHashReader: %v", err)
	}

	// The entries, from the entry bundle parsed by hand, hash to those leaves (RFC 6962 leaf
	// hash by transparency-dev), and the leaves to the root (transparency-dev's compact range).
	bundle := tr.get(record.TilePath(tlog.Tile{H: record.TileHeight, L: -1, N: 0, W: int(size)}))
	var entries [][]byte
	for len(bundle) >= 2 {
		l := int(binary.BigEndian.Uint16(bundle))
		entries, bundle = append(entries, bundle[2:2+l]), bundle[2+l:]
	}
	if int64(len(entries)) != size {
		t.Fatalf("entry bundle holds %d entries, the checkpoint %d", len(entries), size)
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	roots := map[int64][]byte{}
	for i, e := range entries {
		if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(e), leaves[i][:]) {
			t.Fatalf("entry %d does not hash to its leaf", i)
		}
		if err := cr.Append(leaves[i][:], nil); err != nil {
			t.Fatal(err)
		}
		roots[int64(i)+1], _ = cr.GetRootHash(nil)
	}
	if !bytes.Equal(roots[size], root[:]) {
		t.Fatalf("root of the served leaves %x, the checkpoint says %x", roots[size], root)
	}

	// An inclusion proof of every event, from GET /proof, verified by transparency-dev; and a
	// consistency proof from every earlier size.
	for i := range size {
		var p api.Proof
		path := fmt.Sprintf("/v1/talks/us:muscat/proof?index=%d", i)
		if i > 0 {
			path += fmt.Sprintf("&from=%d", i)
		}
		status, body := n.get(reader, path)
		if status != http.StatusOK || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		if p.Checkpoint.Size != size || !bytes.Equal(p.Leaf, entries[i]) {
			t.Fatalf("proof of %d: size %d, leaf %x; want %d, %x", i, p.Checkpoint.Size, p.Leaf, size, entries[i])
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), rfc6962.DefaultHasher.HashLeaf(p.Leaf), decodeHashes(t, p.Inclusion), root[:]); err != nil {
			t.Fatalf("transparency-dev VerifyInclusion of entry %d: %v", i, err)
		}
		if i > 0 {
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(i), uint64(size), decodeHashes(t, p.Consistency), roots[i], root[:]); err != nil {
				t.Fatalf("transparency-dev VerifyConsistency from %d to %d: %v", i, size, err)
			}
		}
	}
}

// tileFetcher is a tlog.TileReader over the server's tlog-tiles endpoints.
type tileFetcher struct {
	t *testing.T
	n *negotiation
	c *client.Client
}

func (f tileFetcher) get(path string) []byte {
	f.t.Helper()
	status, body := f.n.get(f.c, "/v1/talks/us:muscat/log/"+path)
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}

func (f tileFetcher) Height() int { return record.TileHeight }

func (f tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = f.get(record.TilePath(t))
	}
	return out, nil
}

func (f tileFetcher) SaveTiles([]tlog.Tile, [][]byte) {}

func decodeHashes(t *testing.T, ss []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			t.Fatalf("hash %q", s)
		}
		out[i] = b
	}
	return out
}
