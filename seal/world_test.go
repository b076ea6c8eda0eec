package seal

import (
	"crypto/sha3"
	"io"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// stream returns a deterministic byte stream for label, so keys and content keys in tests and
// vectors are the same on every run.
func stream(label string) io.Reader {
	h := sha3.NewSHAKE128()
	h.Write([]byte("backchannel test stream\x00" + label))
	return h
}

// The Muscat scenario's talks, rooms and first round, with parties and titles only.
const (
	talksID   = "muscat-2025"
	roomUS    = "caucus:us"
	roomIran  = "caucus:iran"
	roomMed   = "mediators"
	topicNuke = "nuclear-programme"
	topicSanc = "sanctions-relief"
)

var (
	round1    = time.Date(2025, 4, 12, 10, 0, 0, 0, time.UTC)
	validFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	validTo   = time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
)

// principal is one person of the scenario: keys, credential, and its organisation's root.
type principal struct {
	*Identity
	cred *Credential
}

// world holds the scenario's roots, principals and a Trust pinning the three real roots.
type world struct {
	roots map[string]*Root
	p     map[string]*principal
	trust *Trust
}

type person struct {
	org, id, title string
	rank           backchannel.Rank
}

var people = []person{
	{"us", "president", "President", 5},
	{"us", "special-envoy", "Special Envoy", 3},
	{"iran", "foreign-minister", "Foreign Minister", 4},
	{"iran", "snsc-secretary", "Secretary of the Supreme National Security Council", 5},
	{"oman", "foreign-minister", "Foreign Minister", 4},
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{roots: map[string]*Root{}, p: map[string]*principal{}}
	var keys []RootKey
	for _, org := range []string{"us", "iran", "oman"} {
		r, err := NewRoot(stream("root/"+org), org)
		if err != nil {
			t.Fatal(err)
		}
		w.roots[org] = r
		keys = append(keys, r.Public())
	}
	var err error
	if w.trust, err = NewTrust(keys...); err != nil {
		t.Fatal(err)
	}
	for _, pp := range people {
		w.add(t, pp, 1, validFrom, validTo)
	}
	return w
}

// add issues a credential for pp with the given serial and validity, registers it with the
// world's Trust, and returns the principal.
func (w *world) add(t testing.TB, pp person, serial uint64, from, to time.Time) *principal {
	t.Helper()
	label := pp.org + "/" + pp.id
	id, err := NewIdentity(stream("identity/" + label))
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.roots[pp.org].Issue(Credential{
		Principal: pp.id, Name: "Office of the " + pp.title, Title: pp.title, Rank: pp.rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(),
		Serial: serial, NotBefore: from, NotAfter: to,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCredential(c); err != nil {
		t.Fatal(err)
	}
	if err := w.trust.AddCredential(c); err != nil {
		t.Fatal(err)
	}
	p := &principal{Identity: id, cred: c}
	w.p[label] = p
	return p
}

func (w *world) get(label string) *principal { return w.p[label] }

func ctxAt(room string, kind backchannel.Kind, seq uint64) Context {
	return Context{
		Talks: talksID, Room: room, Kind: kind, Topics: []string{topicSanc, topicNuke},
		Round: 1, CreatedAt: round1.Add(time.Duration(seq) * time.Minute), Sequence: seq,
	}
}

func expect(room string) Expect { return Expect{Talks: talksID, Room: room, Round: 1} }

func newBuilder() *cryptobyte.Builder { return cryptobyte.NewBuilder(nil) }
