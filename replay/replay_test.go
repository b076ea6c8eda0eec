package replay_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// fixture is a talks' first events: its charter, the roots it pins and its founder's
// credential, made with fresh keys.
type fixture struct {
	founder *seal.Identity
	events  []backchannel.Event
	at      time.Time
}

func newFixture(t testing.TB, id string) *fixture {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Millisecond)
	var roots []*seal.Root
	for _, org := range []string{"us", "ir"} {
		r, err := seal.NewRoot(rand.Reader, org)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, r)
	}
	founder, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := roots[0].Issue(seal.Credential{Principal: "envoy", Name: "Envoy", Title: "Envoy", Rank: 3,
		IdentityKey: founder.IdentityKey(), EncryptionKey: founder.EncryptionKey(), Serial: 1,
		NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := founder.SetCredential(cr); err != nil {
		t.Fatal(err)
	}
	pin := func(r *seal.Root) talks.Pin {
		fp := r.Public().Fingerprint()
		return talks.Pin{Org: r.Public().Org, Fingerprint: hex.EncodeToString(fp[:])}
	}
	ch := talks.Charter{ID: id, At: at, Proposer: talks.Actor{Principal: cr.Handle(), Org: "us", Rank: 3, Title: "Envoy"},
		Parties: []string{"us", "ir"}, Roots: []talks.Pin{pin(roots[0]), pin(roots[1])},
		Visibility: talks.VisibilitySecret, Format: talks.FormatDirect, Level: 1, Agenda: []string{"nuclear-programme"}}
	payload, err := talks.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	act, err := founder.Act(id, talks.TypeCharter, payload, at)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{founder: founder, at: at}
	f.add(backchannel.EventCharter, act.Marshal())
	f.add(backchannel.EventRoot, roots[0].Public().Marshal())
	f.add(backchannel.EventRoot, roots[1].Public().Marshal())
	f.add(backchannel.EventCredential, cr.Marshal())
	return f
}

func (f *fixture) add(typ string, data []byte) {
	f.events = append(f.events, backchannel.Event{Index: uint64(len(f.events)), Type: typ, Data: data})
}

func apply(b *replay.Book, evs []backchannel.Event, h replay.Hooks) error {
	for _, e := range evs {
		if err := b.Apply(e, h); err != nil {
			return err
		}
	}
	return nil
}

// The record of a talks rebuilds its state and trust; each hook sees its events; a record that
// could not have been accepted is refused with the reason.
func TestApplyRebuildsTheTalksAndRefusesWhatCannotBeOnTheRecord(t *testing.T) {
	f := newFixture(t, "t1")
	var roots, credentials int
	b := replay.New("t1")
	err := apply(b, f.events, replay.Hooks{
		Root:       func(seal.RootKey) error { roots++; return nil },
		Credential: func(*seal.Credential) error { credentials++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.State == nil || b.State.Charter().ID != "t1" || roots != 2 || credentials != 1 {
		t.Fatalf("state %v, %d roots, %d credentials", b.State, roots, credentials)
	}
	if _, err := b.Trust.Credential(f.founder.Credential().ID()); err != nil {
		t.Fatalf("the founder's credential is not trusted: %v", err)
	}

	statement := func(text, digest string) []byte {
		d, _ := json.Marshal(backchannel.StatementText{Round: 1, Digest: digest, Text: text})
		return d
	}
	vote, err := talks.Marshal(talks.Vote{At: f.at, By: talks.Actor{Principal: "ir:fm", Org: "ir", Rank: 4}, Motion: "m", Accept: false})
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused by the hook")
	for _, tc := range []struct {
		name  string
		book  func() *replay.Book
		event backchannel.Event
		hooks replay.Hooks
		want  string
	}{
		{"a charter of other talks", func() *replay.Book { return replay.New("t2") }, f.events[0], replay.Hooks{}, "not this talks' charter"},
		{"a second charter", b.Clone, f.events[0], replay.Hooks{}, "a second charter"},
		{"an event before the charter", func() *replay.Book { return replay.New("t1") }, f.events[1], replay.Hooks{}, "before the charter"},
		// Every vote is an act its party signs: a vote in no one's signature, as the host once
		// cast a party's standing refusals, is no event of the record.
		{"a vote the host casts", b.Clone, backchannel.Event{Type: "standing", Data: vote}, replay.Hooks{}, `unknown event type "standing"`},
		{"a statement whose text is not its digest", b.Clone, backchannel.Event{Type: backchannel.EventStatement,
			Data: statement("we agree", backchannel.StatementDigest("we disagree"))}, replay.Hooks{}, "does not match its digest"},
		{"an unknown type", b.Clone, backchannel.Event{Type: "gossip"}, replay.Hooks{}, `unknown event type "gossip"`},
		{"malformed bytes", b.Clone, backchannel.Event{Type: backchannel.EventEnvelope, Data: []byte("x")}, replay.Hooks{}, "malformed"},
		{"a root the hook refuses", func() *replay.Book { nb := replay.New("t1"); _ = nb.Apply(f.events[0], replay.Hooks{}); return nb },
			f.events[1], replay.Hooks{Root: func(seal.RootKey) error { return refused }}, refused.Error()},
	} {
		err := tc.book().Apply(tc.event, tc.hooks)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Apply = %v, want %q", tc.name, err, tc.want)
		}
	}

	// A statement whose text matches is kept; a clone does not see what the original learns.
	c := b.Clone()
	if err := b.Apply(backchannel.Event{Type: backchannel.EventStatement, Data: statement("we agree", backchannel.StatementDigest("we agree"))}, replay.Hooks{}); err != nil {
		t.Fatal(err)
	}
	if b.Statements[backchannel.StatementDigest("we agree")] != "we agree" || len(c.Statements) != 0 {
		t.Fatalf("statements %v, the clone's %v", b.Statements, c.Statements)
	}
}

// Whatever bytes the host serves as an event, Apply refuses them or applies them; it never
// panics, and a refused event leaves a clone of the book untouched.
func FuzzApply(f *testing.F) {
	fx := newFixture(f, "t1")
	for _, e := range fx.events {
		f.Add(e.Type, e.Data)
	}
	f.Add(backchannel.EventStatement, []byte(`{"round":1,"digest":"00","text":"x"}`))
	f.Add(backchannel.EventRelayed, []byte(`{"original":"00"}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		b := replay.New("t1")
		if err := apply(b, fx.events, replay.Hooks{}); err != nil {
			t.Fatal(err)
		}
		c := b.Clone()
		_ = c.Apply(backchannel.Event{Index: uint64(len(fx.events)), Type: typ, Data: data}, replay.Hooks{})
		if b.State.Charter().ID != "t1" {
			t.Fatal("applying to a clone changed the original")
		}
	})
}
