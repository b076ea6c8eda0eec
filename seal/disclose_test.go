package seal

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// A reader discloses one envelope's content key, and anyone who trusts the roots, an
// arbitrator with no key of the talks, opens it: the words, their author and, for a verbatim
// relay, the mediator who passed them on, all verified as the reader verified them.
func TestADisclosedKeyShowsTheWordsToAnyone(t *testing.T) {
	w := newWorld(t)
	oman, iran := w.get("oman/foreign-minister"), w.get("iran/foreign-minister")
	orig := sealFromEnvoy(t, w)
	o, err := oman.Open(orig, w.trust, expect(roomUS))
	if err != nil {
		t.Fatal(err)
	}
	relay, err := oman.RelayVerbatim(stream("content/relay"), o,
		Relay{Room: roomIran, Round: 1, CreatedAt: round1.Add(time.Hour), Sequence: 7},
		[]*Credential{iran.cred, oman.cred})
	if err != nil {
		t.Fatal(err)
	}
	r, err := iran.Open(relay, w.trust, expect(roomIran))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     *Envelope
		key     []byte
		room    string
		relayer string
	}{
		{"the envoy's note, as Oman read it", orig, o.ContentKey(), roomUS, ""},
		{"its verbatim relay, as Iran read it", relay, r.ContentKey(), roomIran, "oman"},
	} {
		got, err := w.trust.OpenDisclosed(tc.env, tc.key, expect(tc.room))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got.Body) != envoyNote || got.Author.Handle() != "us:special-envoy" || got.Context.Room != roomUS {
			t.Errorf("%s: opened %q by %s in %s", tc.name, got.Body, got.Author, got.Context.Room)
		}
		if (got.Relayer == nil) != (tc.relayer == "") || (got.Relayer != nil && got.Relayer.Org != tc.relayer) {
			t.Errorf("%s: relayer %v, want %q", tc.name, got.Relayer, tc.relayer)
		}
		if !bytes.Equal(got.Message(), o.Message()) {
			t.Errorf("%s: the signed message differs from the one Oman opened", tc.name)
		}
	}
}

// A content key opens its own envelope only, and only if it is the key the sender committed to:
// a sender who made one ciphertext open to other words under a second key (AES-GCM alone would
// let it) could otherwise show an arbitrator words its readers never read.
func TestADisclosedKeyOpensItsEnvelopeOnly(t *testing.T) {
	w := newWorld(t)
	envoy, oman := w.get("us/special-envoy"), w.get("oman/foreign-minister")
	e := sealFromEnvoy(t, w)
	o, err := oman.Open(e, w.trust, expect(roomUS))
	if err != nil {
		t.Fatal(err)
	}
	other, err := envoy.Seal(stream("content/other"), ctxAt(roomUS, "note", 2), []byte("Another note."), []*Credential{oman.cred})
	if err != nil {
		t.Fatal(err)
	}
	key := o.ContentKey()
	flipped := o.ContentKey()
	flipped[0] ^= 1
	// The sender commits to another key than the one its ciphertext is under, and signs it.
	uncommitted := bytes.Clone(e.Marshal())
	at := len(uncommitted) - sigLen - len(e.ciphertext)
	uncommitted[at] ^= 1
	uncommitted = append(uncommitted[:len(uncommitted)-sigLen], envoy.sign(signedBytes(domainEnvelope, uncommitted[:len(uncommitted)-sigLen]))...)
	lying, err := ParseEnvelope(uncommitted)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func() (*Opened, error)
	}{
		{"another envelope's key", func() (*Opened, error) { return w.trust.OpenDisclosed(other, key, expect(roomUS)) }},
		{"a key with one bit changed", func() (*Opened, error) { return w.trust.OpenDisclosed(e, flipped, expect(roomUS)) }},
		{"a short key", func() (*Opened, error) { return w.trust.OpenDisclosed(e, key[:16], expect(roomUS)) }},
		{"a commitment to another key, disclosed", func() (*Opened, error) { return w.trust.OpenDisclosed(lying, key, expect(roomUS)) }},
		{"a commitment to another key, opened by its reader", func() (*Opened, error) { return oman.Open(lying, w.trust, expect(roomUS)) }},
	} {
		if got, err := tc.open(); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: opened %v, %v; want ErrTampered", tc.name, got, err)
		}
	}
}
