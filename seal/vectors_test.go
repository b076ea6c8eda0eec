package seal

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/backchannel/backchannel"
)

// vectorsJSON is embedded, not read from disk, so the fuzzers' seeds come from the same vectors
// the tests check and cannot go stale.
//
//go:embed testdata/vectors.json
var vectorsJSON []byte

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the fixed seeds")

type vectors struct {
	Comment     string           `json:"comment"`
	Roots       []rootVector     `json:"roots"`
	Credentials []namedVector    `json:"credentials"`
	Revocations []namedVector    `json:"revocations"`
	Envelopes   []envelopeVector `json:"envelopes"`
	Receipts    []namedVector    `json:"receipts"`
	Acts        []namedVector    `json:"acts"`
}

type rootVector struct {
	Org         string `json:"org"`
	Encoded     string `json:"encoded"`
	Fingerprint string `json:"fingerprint"`
}

type namedVector struct {
	Name    string `json:"name"`
	Encoded string `json:"encoded"`
	Hash    string `json:"hash"` // credential id, or SHA-256 of the encoding
}

type envelopeVector struct {
	Name     string `json:"name"`
	Encoded  string `json:"encoded"`
	Hash     string `json:"hash"`
	OpenedBy string `json:"opened_by"` // the principal (org/id) whose keys open it
	Room     string `json:"room"`      // the room it is filed under
	Mode     string `json:"mode"`
	Author   string `json:"author"`
	Body     string `json:"body"`
}

const vectorsComment = "backchannel seal v1 test vectors. Keys come from SHAKE128 streams named in seal/world_test.go; " +
	"HPKE randomness from testing/cryptotest.SetGlobalRandom(seed 1). Regenerate with: go test ./seal -run TestVectors -update"

// makeVectors derives every vector from fixed seeds.
func makeVectors(t *testing.T) vectors {
	cryptotest.SetGlobalRandom(t, 1)
	w := newWorld(t)
	v := vectors{Comment: vectorsComment}
	for _, org := range []string{"us", "iran", "oman"} {
		k := w.roots[org].Public()
		v.Roots = append(v.Roots, rootVector{Org: org, Encoded: hex.EncodeToString(k.Marshal()), Fingerprint: k.Fingerprint().String()})
	}
	for _, pp := range people {
		c := w.get(pp.org + "/" + pp.id).cred
		v.Credentials = append(v.Credentials, namedVector{Name: pp.org + "/" + pp.id, Encoded: hex.EncodeToString(c.Marshal()), Hash: c.ID().String()})
	}
	snsc := w.get("iran/snsc-secretary")
	rv, err := w.roots["iran"].Revoke(snsc.cred, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	v.Revocations = append(v.Revocations, namedVector{Name: "iran/snsc-secretary serial 1", Encoded: hex.EncodeToString(rv.Marshal()), Hash: Hash(sha(rv.Marshal())).String()})

	envoy, oman, iran := w.get("us/special-envoy"), w.get("oman/foreign-minister"), w.get("iran/foreign-minister")
	addEnv := func(name string, e *Envelope, by, room string, mode RelayMode, author, body string) {
		v.Envelopes = append(v.Envelopes, envelopeVector{Name: name, Encoded: hex.EncodeToString(e.Marshal()), Hash: e.Hash().String(),
			OpenedBy: by, Room: room, Mode: mode.String(), Author: author, Body: body})
	}
	note, err := envoy.Seal(stream("content/envoy"), ctxAt(roomUS, backchannel.KindNote, 1), []byte(envoyNote), []*Credential{oman.cred, envoy.cred})
	if err != nil {
		t.Fatal(err)
	}
	addEnv("note from the US Special Envoy to the mediator", note, "oman/foreign-minister", roomUS, RelayNone, "us/special-envoy", envoyNote)
	o, err := oman.Open(note, w.trust, expect(roomUS))
	if err != nil {
		t.Fatal(err)
	}
	relay, err := oman.RelayVerbatim(stream("content/relay"), o, Relay{Room: roomIran, Round: 1, CreatedAt: round1.Add(time.Hour), Sequence: 1},
		[]*Credential{iran.cred, oman.cred})
	if err != nil {
		t.Fatal(err)
	}
	addEnv("verbatim relay by Oman's Foreign Minister to Iran's", relay, "iran/foreign-minister", roomIran, RelayVerbatim, "us/special-envoy", envoyNote)
	const summary = "The United States has sent a written message on the nuclear file."
	sum, err := oman.Summarize(stream("content/summary"), ctxAt(roomIran, "", 2), []byte(summary), []Hash{note.Hash()}, []*Credential{iran.cred})
	if err != nil {
		t.Fatal(err)
	}
	addEnv("summary relay by Oman's Foreign Minister", sum, "iran/foreign-minister", roomIran, RelaySummary, "oman/foreign-minister", summary)

	rc, err := iran.Receipt(talksID, relay.Hash(), Acknowledged, round1.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v.Receipts = append(v.Receipts, namedVector{Name: "Iran acknowledges the relayed note", Encoded: hex.EncodeToString(rc.Marshal()), Hash: rc.Hash().String()})
	act, err := iran.Act(talksID, "vote", []byte("refuse:venue:istanbul"), round1.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v.Acts = append(v.Acts, namedVector{Name: "Iran refuses Istanbul as venue", Encoded: hex.EncodeToString(act.Marshal()), Hash: act.Hash().String()})
	return v
}

func loadVectors(t testing.TB) vectors {
	var v vectors
	if err := json.Unmarshal(vectorsJSON, &v); err != nil {
		t.Fatalf("testdata/vectors.json: %v", err)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors re-derives every vector and compares it byte for byte with testdata, so any change
// to the wire format fails here; it also opens the checked-in envelopes with the fixed keys,
// which holds even if a Go release changes how crypto/hpke draws its randomness.
func TestVectors(t *testing.T) {
	got := makeVectors(t)
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile("testdata/vectors.json", out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := loadVectors(t)
	compare := func(kind, name, got, want string) {
		if got != want {
			t.Errorf("%s %q changed:\n got %.120s...\nwant %.120s...", kind, name, got, want)
		}
	}
	for i, r := range want.Roots {
		compare("root", r.Org, got.Roots[i].Encoded, r.Encoded)
		compare("fingerprint", r.Org, got.Roots[i].Fingerprint, r.Fingerprint)
	}
	for _, list := range []struct {
		kind      string
		got, want []namedVector
	}{{"credential", got.Credentials, want.Credentials}, {"revocation", got.Revocations, want.Revocations},
		{"receipt", got.Receipts, want.Receipts}, {"act", got.Acts, want.Acts}} {
		if len(list.got) != len(list.want) {
			t.Fatalf("%d %s vectors, want %d", len(list.got), list.kind, len(list.want))
		}
		for i, v := range list.want {
			compare(list.kind, v.Name, list.got[i].Encoded, v.Encoded)
			compare(list.kind+" hash", v.Name, list.got[i].Hash, v.Hash)
		}
	}
	for i, v := range want.Envelopes {
		compare("envelope", v.Name, got.Envelopes[i].Encoded, v.Encoded)
	}

	// Open the checked-in envelopes with keys re-derived from the seeds.
	w := newWorld(t)
	for _, v := range want.Envelopes {
		e, err := ParseEnvelope(unhex(t, v.Encoded))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if e.Hash().String() != v.Hash {
			t.Errorf("%s: hash %s, want %s", v.Name, e.Hash(), v.Hash)
		}
		o, err := w.get(v.OpenedBy).Open(e, w.trust, expect(v.Room))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if string(o.Body) != v.Body || o.Mode.String() != v.Mode || o.Author.Org+"/"+o.Author.Principal != v.Author {
			t.Errorf("%s: opened mode %s author %s body %q", v.Name, o.Mode, o.Author, o.Body)
		}
	}
	if !bytes.Equal(out, vectorsJSON) {
		t.Error("testdata/vectors.json differs from the re-derived vectors (run with -update only for an intended format change)")
	}
}
