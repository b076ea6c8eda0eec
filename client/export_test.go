package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

var update = flag.Bool("update", false, "rewrite the party export vector in testdata")

// exportOf has the mediator of a fault world export muscat, and returns the file and what a
// verifier who compared the roots and the log key out of band trusts.
func exportOf(t *testing.T, opts client.ExportOptions) ([]byte, client.VerifyOptions, *faultWorld) {
	fw := newFaultWorld(t)
	data, vo := exportFrom(t, fw, opts)
	return data, vo, fw
}

// exportFrom has the mediator of fw export muscat.
func exportFrom(t *testing.T, fw *faultWorld, opts client.ExportOptions) ([]byte, client.VerifyOptions) {
	c := fw.omFM
	var calls int
	opts.Progress = func(done, total int64) { calls++ }
	px, err := c.Export(fw.ctx, "us:muscat", opts)
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || len(px.Events) == 0 {
		t.Fatalf("an export of %d events after %d progress calls", len(px.Events), calls)
	}
	data, err := json.MarshalIndent(px, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	roots := make(map[string]string)
	for org, r := range fw.roots {
		fp := r.Public().Fingerprint()
		roots[org] = hex.EncodeToString(fp[:])
	}
	return data, client.VerifyOptions{LogKey: c.PinnedLogKey(), Roots: roots}
}

// A party's export verifies offline, with no key of the talks, against the log key and roots
// compared out of band: every disclosed message's words, author and context come out of the
// author's signature, every act is verified again, and the cosigners are those whose keys the
// record's credentials give.
func TestPartyExportVerifiesOfflineAndRefusesEveryAlteration(t *testing.T) {
	data, opts, _ := exportOf(t, client.ExportOptions{})
	rep, err := client.VerifyPartyExport(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Talks != "us:muscat" || !rep.Record.Pinned || rep.Events == 0 || rep.Acts == 0 || len(rep.Messages) != 12 ||
		len(rep.RootsCompared) != 3 || rep.Confirmed == 0 {
		t.Fatalf("report %+v (record %+v)", rep, rep.Record)
	}
	var bodies []string
	for _, m := range rep.Messages {
		if !m.Verified || m.Author == "" || m.Flag != "" {
			t.Errorf("message %d: %+v", m.Index, m)
		}
		bodies = append(bodies, m.Body)
	}
	if !slices.Contains(bodies, "us note 5") || !slices.Contains(bodies, "ir note 0") {
		t.Errorf("the disclosed words are %q", bodies)
	}
	var px client.PartyExport
	if err := json.Unmarshal(data, &px); err != nil {
		t.Fatal(err)
	}
	_, other, _ := exportOf(t, client.ExportOptions{})
	otherRoot := func(o client.VerifyOptions) client.VerifyOptions {
		o.Roots = map[string]string{"ir": other.Roots["ir"]}
		return o
	}(opts)
	envelope := func(px *client.PartyExport) int {
		for i, ev := range px.Events {
			if ev.Type == "envelope" {
				return i
			}
		}
		t.Fatal("no envelope")
		return 0
	}
	withRecord := func(px *client.PartyExport, edit func(e *record.Export)) []byte {
		var e record.Export
		if err := json.Unmarshal(px.Record, &e); err != nil {
			t.Fatal(err)
		}
		edit(&e)
		px.Record = mustJSON(t, e)
		return mustJSON(t, px)
	}
	for _, tc := range []struct {
		name  string
		alter func(px *client.PartyExport) []byte
		opts  client.VerifyOptions
	}{
		{"an event's bytes", func(px *client.PartyExport) []byte {
			px.Events[len(px.Events)-1].Data[10] ^= 1
			return mustJSON(t, px)
		}, opts},
		{"an event moved", func(px *client.PartyExport) []byte {
			px.Events[0].Index, px.Events[1].Index = px.Events[1].Index, px.Events[0].Index
			return mustJSON(t, px)
		}, opts},
		{"an act left out", func(px *client.PartyExport) []byte {
			for i, ev := range px.Events {
				if ev.Type == "act" {
					px.Events = slices.Delete(px.Events, i, i+1)
					break
				}
			}
			return mustJSON(t, px)
		}, opts},
		{"a disclosed key changed", func(px *client.PartyExport) []byte {
			px.Disclosed[0].Key[0] ^= 1
			return mustJSON(t, px)
		}, opts},
		{"a key disclosed for another envelope", func(px *client.PartyExport) []byte {
			px.Disclosed[0].Index = px.Disclosed[1].Index
			px.Disclosed = px.Disclosed[:1]
			return mustJSON(t, px)
		}, opts},
		{"a key disclosed for an act", func(px *client.PartyExport) []byte {
			px.Disclosed[0].Index = px.Events[0].Index
			return mustJSON(t, px)
		}, opts},
		{"an envelope swapped for another of the record", func(px *client.PartyExport) []byte {
			i := envelope(px)
			px.Events[i].Data = px.Events[len(px.Events)-1].Data
			return mustJSON(t, px)
		}, opts},
		{"a leaf left out", func(px *client.PartyExport) []byte {
			return withRecord(px, func(e *record.Export) { e.Entries = e.Entries[1:] })
		}, opts},
		{"the record's checkpoint", func(px *client.PartyExport) []byte {
			px.Record = bytes.Replace(px.Record, []byte(`\n`), []byte(`\n\n`), 1)
			return mustJSON(t, px)
		}, opts},
		{"another host's key", func(px *client.PartyExport) []byte { return mustJSON(t, px) }, other},
		{"another root than the one compared", func(px *client.PartyExport) []byte { return mustJSON(t, px) }, otherRoot},
		{"an unknown field", func(px *client.PartyExport) []byte {
			return bytes.Replace(mustJSON(t, px), []byte(`{`), []byte(`{"extra":1,`), 1)
		}, opts},
		{"not JSON", func(*client.PartyExport) []byte { return []byte("a letter") }, opts},
	} {
		var copy client.PartyExport
		if err := json.Unmarshal(data, &copy); err != nil {
			t.Fatal(err)
		}
		_, err := client.VerifyPartyExport(tc.alter(&copy), tc.opts)
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, client.ErrExport) {
			t.Errorf("%s: VerifyPartyExport = %v, want ErrExport", tc.name, err)
		}
	}
	// The record inside verifies on its own, as a bare record export.
	rep, err = client.VerifyPartyExport(px.Record, opts)
	if err != nil || rep.Talks != "" || rep.Record.Entries == 0 {
		t.Fatalf("the bare record: %+v, %v", rep, err)
	}
}

// A cosigner the export itself declares proves nothing: cosignatures count only under the keys
// of the parties' credentials on the record. An exporter who adds a cosignature in Iran's name
// with a key of its own, and lists that key, is refused; without the listed key, the forged
// cosignature is not counted.
func TestASelfDeclaredCosignerIsNotCounted(t *testing.T) {
	data, opts, _ := exportOf(t, client.ExportOptions{})
	var px client.PartyExport
	if err := json.Unmarshal(data, &px); err != nil {
		t.Fatal(err)
	}
	var e record.Export
	if err := json.Unmarshal(px.Record, &e); err != nil {
		t.Fatal(err)
	}
	last := e.Checkpoints[len(e.Checkpoints)-1]
	text, _, _ := strings.Cut(last, "\n\n")
	cp, err := record.ParseCheckpointBody([]byte(text + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	forger, err := record.NewCosigner("ir/foreign-minister", key)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := forger.Cosign(cp, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, sig, _ := strings.Cut(string(forged), "\n\n")
	e.Checkpoints[len(e.Checkpoints)-1] = last + sig
	unlisted := mustJSON(t, e)
	e.CosignerKeys = []string{forger.VerifierKey()}
	listed := mustJSON(t, e)

	px.Record = listed
	if _, err := client.VerifyPartyExport(mustJSON(t, px), opts); !errors.Is(err, client.ErrExport) {
		t.Errorf("an export listing its own cosigner key: %v, want ErrExport", err)
	}
	px.Record = unlisted
	rep, err := client.VerifyPartyExport(mustJSON(t, px), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Record.Checkpoints {
		if slices.Contains(c.Cosigners, "ir/foreign-minister") && c.Size == cp.Size {
			t.Errorf("checkpoint %d counts the forged cosignature: %v", c.Size, c.Cosigners)
		}
	}
}

// A party discloses chosen messages to an arbitrator: the export opens those and no others, and
// the arbitrator, with no keystore, reads their words as their authors signed them.
func TestAPartyDisclosesChosenMessagesToAnArbitrator(t *testing.T) {
	chosen := func(m *client.Message) bool { return string(m.Opened.Body) == "ir note 3" }
	data, opts, fw := exportOf(t, client.ExportOptions{Disclose: chosen})
	rep, err := client.VerifyPartyExport(data, client.VerifyOptions{LogKey: opts.LogKey, Roots: opts.Roots})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Messages) != 1 {
		t.Fatalf("%d messages disclosed, want 1", len(rep.Messages))
	}
	m := rep.Messages[0]
	if m.Body != "ir note 3" || m.Author != "ir:foreign-minister" || m.Room != "caucus:ir" || m.Kind != "note" ||
		!slices.Equal(m.Topics, []string{"nuclear-programme"}) || m.Time.IsZero() {
		t.Errorf("the arbitrator reads %+v", m)
	}
	// No other message's words are in the file.
	for _, other := range []string{"ir note 2", "us note 3"} {
		if bytes.Contains(data, []byte(other)) {
			t.Errorf("the export shows %q in clear", other)
		}
	}
	var px client.PartyExport
	if err := json.Unmarshal(data, &px); err != nil {
		t.Fatal(err)
	}
	if len(px.Disclosed) != 1 {
		t.Fatalf("%d keys disclosed, want 1", len(px.Disclosed))
	}
	// Nor can its keys open another envelope of the export.
	var env *seal.Envelope
	for _, ev := range px.Events {
		if ev.Type == "envelope" && ev.Index != px.Disclosed[0].Index {
			if env, err = seal.ParseEnvelope(ev.Data); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	b := fw.omFM.Book("us:muscat")
	if _, err := b.Trust.OpenDisclosed(env, px.Disclosed[0].Key, seal.Expect{Talks: "us:muscat", Room: env.Room, AnyRound: true}); !errors.Is(err, seal.ErrTampered) {
		t.Errorf("the disclosed key opens another envelope: %v", err)
	}
}

// Messages signed before their author's credential was revoked stand, and verify says which:
// the revocation is on the record after them.
func TestAMessageSignedBeforeItsAuthorsRevocationStands(t *testing.T) {
	fw := newFaultWorld(t)
	v, err := fw.roots["us"].Revoke(fw.envoy.Credential(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(fw.url, nil).Revoke(fw.ctx, v); err != nil {
		t.Fatal(err)
	}
	data, opts := exportFrom(t, fw, client.ExportOptions{})
	rep, err := client.VerifyPartyExport(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	var revoked int
	for _, m := range rep.Messages {
		switch {
		case m.Author == "us:special-envoy" && m.AuthorRevokedAt > m.Index:
			revoked++
		case m.Author == "us:special-envoy" || m.AuthorRevokedAt != 0:
			t.Errorf("message %d by %s: revoked at %d", m.Index, m.Author, m.AuthorRevokedAt)
		}
	}
	if revoked != 6 {
		t.Errorf("%d of the envoy's 6 messages are shown signed before its revocation", revoked)
	}
}

// A message signed after its author's credential was revoked is refused, even disclosed with
// its key: a host that logs one anyway, and a party that discloses it, show nothing genuine.
func TestAMessageSignedAfterItsAuthorsRevocationIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	b := mustSync(t, fw.ctx, fw.envoy)
	envoy := fw.envoy.Credential()
	// What a reader that never heard of the revocation trusts: the roots and the credentials.
	unaware, err := seal.NewTrust(fw.roots["us"].Public(), fw.roots["ir"].Public(), fw.roots["om"].Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*seal.Credential{envoy, fw.omFM.Credential()} {
		if err := unaware.AddCredential(c); err != nil {
			t.Fatal(err)
		}
	}
	v, err := fw.roots["us"].Revoke(envoy, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(fw.url, nil).Revoke(fw.ctx, v); err != nil {
		t.Fatal(err)
	}
	env, err := fw.envoy.Identity().Seal(rand.Reader, seal.Context{Talks: "us:muscat", Room: talks.RoomCaucus("us"),
		Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Round: uint32(b.State.InSession()),
		Prev: b.Last(talks.RoomCaucus("us")), CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: 1 << 40},
		[]byte("written after the revocation"), []*seal.Credential{envoy, fw.omFM.Credential()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fw.faults.Append(fw.ctx, "us:muscat", func(tx store.AppendTx) error {
		tx.Append(backchannel.Event{Type: backchannel.EventEnvelope, Room: env.Room, Data: env.Marshal()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	o, err := fw.omFM.Identity().Open(env, unaware, seal.Expect{Talks: "us:muscat", Room: env.Room, AnyRound: true})
	if err != nil {
		t.Fatal(err)
	}
	data, opts := exportFrom(t, fw, client.ExportOptions{})
	var px client.PartyExport
	if err := json.Unmarshal(data, &px); err != nil {
		t.Fatal(err)
	}
	for _, ev := range px.Events {
		if ev.Type == backchannel.EventEnvelope && bytes.Equal(ev.Data, env.Marshal()) {
			px.Disclosed = append(px.Disclosed, client.Disclosure{Index: ev.Index, Key: o.ContentKey()})
		}
	}
	_, err = client.VerifyPartyExport(mustJSON(t, px), opts)
	if !errors.Is(err, client.ErrExport) || !errors.Is(err, seal.ErrRevoked) {
		t.Fatalf("a message signed after its author's revocation, disclosed: %v, want ErrExport and ErrRevoked", err)
	}
}

// The party export vector (testdata/party-export.json, with what its verifier trusts in
// testdata/party-export.trust) keeps verifying: the format does not drift. go test -run Vector
// -update rewrites both from a fresh world.
func TestPartyExportVector(t *testing.T) {
	path, trustPath := filepath.Join("testdata", "party-export.json"), filepath.Join("testdata", "party-export.trust")
	if *update {
		data, opts, _ := exportOf(t, client.ExportOptions{})
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		trust, err := json.MarshalIndent(opts, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(trustPath, append(trust, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join("testdata", "party-export.key"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := os.ReadFile(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	var opts client.VerifyOptions
	if err := json.Unmarshal(trust, &opts); err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyPartyExport(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Talks != "us:muscat" || !rep.Record.Pinned || len(rep.Messages) != 12 || len(rep.RootsCompared) != 3 {
		t.Fatalf("the vector verifies as %+v", rep)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzVerifyPartyExport feeds the verifier of exports, which reads files anyone may have
// altered: whatever it is given, it answers with a report or an error wrapping ErrExport,
// and a report it gives is for the talks the file names. Every input that parses costs a
// replay and dozens of signature checks: fuzz budget: 20000x.
func FuzzVerifyPartyExport(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "party-export.json"))
	if err != nil {
		f.Fatal(err)
	}
	trust, err := os.ReadFile(filepath.Join("testdata", "party-export.trust"))
	if err != nil {
		f.Fatal(err)
	}
	var opts client.VerifyOptions
	if err := json.Unmarshal(trust, &opts); err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"format":"backchannel-party-export/v2","talks":"us:muscat","record":{},"events":[],"disclosed":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := client.VerifyPartyExport(b, opts)
		if err != nil {
			if !errors.Is(err, client.ErrExport) {
				t.Fatalf("error does not wrap ErrExport: %v", err)
			}
			return
		}
		var head struct{ Talks string }
		_ = json.Unmarshal(b, &head)
		if rep.Talks != head.Talks {
			t.Fatalf("a report for talks %q of an export of %q", rep.Talks, head.Talks)
		}
	})
}
