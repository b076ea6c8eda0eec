package seal

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
)

const envoyNote = "The United States is willing to negotiate on the nuclear issue."

// sealFromEnvoy seals the US Special Envoy's note in the US caucus to the Omani Foreign Minister
// and the envoy himself.
func sealFromEnvoy(t *testing.T, w *world) *Envelope {
	t.Helper()
	envoy, oman := w.get("us/special-envoy"), w.get("oman/foreign-minister")
	e, err := envoy.Seal(stream("content/envoy"), ctxAt(roomUS, backchannel.KindNote, 1), []byte(envoyNote),
		[]*Credential{oman.cred, envoy.cred, oman.cred})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSealOpenReturnsAuthorAndContext(t *testing.T) {
	w := newWorld(t)
	e := sealFromEnvoy(t, w)
	if len(e.Recipients) != 2 {
		t.Fatalf("recipients = %d, want 2 (duplicates dropped)", len(e.Recipients))
	}
	for _, reader := range []string{"oman/foreign-minister", "us/special-envoy"} {
		o, err := w.get(reader).Open(e, w.trust, expect(roomUS))
		if err != nil {
			t.Fatalf("%s: %v", reader, err)
		}
		if string(o.Body) != envoyNote {
			t.Errorf("%s: body = %q", reader, o.Body)
		}
		if o.Author.ID() != w.get("us/special-envoy").cred.ID() || o.Relayer != nil || o.Mode != RelayNone {
			t.Errorf("%s: author %s relayer %v mode %s", reader, o.Author, o.Relayer, o.Mode)
		}
		want := ctxAt(roomUS, backchannel.KindNote, 1)
		slices.Sort(want.Topics)
		if !slices.Equal(o.Context.Topics, want.Topics) || o.Context.Room != roomUS || !o.Context.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s: context = %+v", reader, o.Context)
		}
	}
}

func TestServerVerifiesEnvelopeWithoutDecrypting(t *testing.T) {
	w := newWorld(t)
	e := sealFromEnvoy(t, w)
	parsed, err := ParseEnvelope(e.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	sender, err := w.trust.VerifyEnvelope(parsed, expect(roomUS))
	if err != nil {
		t.Fatal(err)
	}
	if sender.Principal != "special-envoy" || parsed.Hash() != e.Hash() {
		t.Errorf("sender %s, hash %s vs %s", sender, parsed.Hash(), e.Hash())
	}
	if bytes.Contains(e.Marshal(), []byte("nuclear issue")) {
		t.Error("envelope carries the body in clear")
	}
}

func TestRelayVerbatimKeepsAuthorSignature(t *testing.T) {
	w := newWorld(t)
	orig := sealFromEnvoy(t, w)
	oman, iran := w.get("oman/foreign-minister"), w.get("iran/foreign-minister")
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
	if relay.Relay != RelayVerbatim || relay.RelayOf[0] != orig.Hash() || relay.Sender != oman.cred.ID() {
		t.Fatalf("header = %+v", relay.Header)
	}
	got, err := iran.Open(relay, w.trust, expect(roomIran))
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != RelayVerbatim || got.Author.Principal != "special-envoy" || got.Author.Org != "us" ||
		got.Relayer.Org != "oman" || got.Context.Room != roomUS || string(got.Body) != envoyNote {
		t.Errorf("opened verbatim relay: mode %s author %s relayer %s room %s body %q",
			got.Mode, got.Author, got.Relayer, got.Context.Room, got.Body)
	}
	// The server cannot see the author, only the mediator, and does not apply rank to relays.
	if _, err := w.trust.VerifyEnvelope(relay, Expect{Talks: talksID, Room: roomIran, Round: 1, MinRank: 5}); err != nil {
		t.Errorf("server check of relay: %v", err)
	}
}

func TestSummaryRelayIsMarkedAsMediatorsWords(t *testing.T) {
	w := newWorld(t)
	orig := sealFromEnvoy(t, w)
	oman, iran := w.get("oman/foreign-minister"), w.get("iran/foreign-minister")
	ctx := ctxAt(roomIran, "", 8)
	sum, err := oman.Summarize(stream("content/summary"), ctx, []byte("The United States has sent a written message on the nuclear file."),
		[]Hash{orig.Hash(), orig.Hash()}, []*Credential{iran.cred})
	if err != nil {
		t.Fatal(err)
	}
	got, err := iran.Open(sum, w.trust, expect(roomIran))
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != RelaySummary || got.Author.Org != "oman" || got.Relayer != nil ||
		got.Context.Kind != backchannel.KindSummary || len(sum.RelayOf) != 1 || sum.RelayOf[0] != orig.Hash() {
		t.Errorf("summary: mode %s author %s kind %s links %v", got.Mode, got.Author, got.Context.Kind, sum.RelayOf)
	}
	if _, err := oman.Summarize(stream("x"), ctxAt(roomIran, backchannel.KindProposal, 9), nil, []Hash{orig.Hash()}, []*Credential{iran.cred}); err == nil {
		t.Error("summary of kind proposal accepted")
	}
}

// sentinels lists every refusal, to check that each adversary case yields exactly its own.
var sentinels = []error{
	ErrMalformed, ErrTampered, ErrRelayAltered, ErrWrongTalks, ErrWrongRoom, ErrWrongRound,
	ErrContextMismatch, ErrNotAddressed, ErrUntrustedRoot, ErrUnknownCredential, ErrExpired,
	ErrRevoked, ErrRankTooLow, ErrSequence, ErrKeyMismatch,
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestAdversaryIsRefusedWithDistinctErrors(t *testing.T) {
	w := newWorld(t)
	envoy := w.get("us/special-envoy")
	oman := w.get("oman/foreign-minister")
	iran := w.get("iran/foreign-minister")
	orig := sealFromEnvoy(t, w)
	raw := orig.Marshal()

	// openAs parses (possibly altered) bytes and opens them as the Omani Foreign Minister.
	openAs := func(p *principal, b []byte, x Expect) error {
		e, err := ParseEnvelope(b)
		if err != nil {
			return err
		}
		_, err = p.Open(e, w.trust, x)
		return err
	}

	tests := []struct {
		name string
		want error
		run  func() error
	}{
		{"tampered header", ErrTampered, func() error {
			i := bytes.Index(raw, []byte(roomUS))
			return openAs(oman, flip(raw, i+len(roomUS)-1), expect("caucus:ur"))
		}},
		{"tampered wrapped key", ErrTampered, func() error {
			return openAs(oman, flip(raw, orig.headerLen+10), expect(roomUS))
		}},
		{"tampered ciphertext", ErrTampered, func() error {
			return openAs(oman, flip(raw, len(raw)-sigLen-5), expect(roomUS))
		}},
		{"tampered signature", ErrTampered, func() error {
			return openAs(oman, flip(raw, len(raw)-1), expect(roomUS))
		}},
		{"replayed into other talks", ErrWrongTalks, func() error {
			return openAs(oman, raw, Expect{Talks: "istanbul-2025", Room: roomUS, Round: 1})
		}},
		{"replayed into another room", ErrWrongRoom, func() error {
			return openAs(oman, raw, expect(roomIran))
		}},
		{"replayed into another round", ErrWrongRound, func() error {
			return openAs(oman, raw, Expect{Talks: talksID, Room: roomUS, Round: 2})
		}},
		{"signed message re-sealed under another room", ErrWrongRoom, func() error {
			o, err := oman.Open(orig, w.trust, expect(roomUS))
			if err != nil {
				return err
			}
			c, _ := ctxAt(roomMed, backchannel.KindNote, 1).normalize()
			e, err := envoy.sealEnvelope(stream("k"), Header{Context: c}, o.message, []*Credential{oman.cred})
			if err != nil {
				return err
			}
			_, err = oman.Open(e, w.trust, expect(roomMed))
			return err
		}},
		{"recipient not addressed", ErrNotAddressed, func() error {
			return openAs(iran, raw, expect(roomUS))
		}},
		{"letter from a President no President signed", ErrUntrustedRoot, func() error {
			forger, _ := NewRoot(stream("forged root"), "us")
			id, _ := NewIdentity(stream("forged president"))
			c, err := forger.Issue(Credential{Principal: "president", Name: "Office of the President", Title: "President",
				Rank: 5, IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 9, NotBefore: validFrom, NotAfter: validTo})
			if err != nil {
				return err
			}
			return w.trust.AddCredential(c)
		}},
		{"letter from an unregistered credential", ErrUnknownCredential, func() error {
			forger, _ := NewRoot(stream("forged root"), "us")
			id, _ := NewIdentity(stream("forged president"))
			c, _ := forger.Issue(Credential{Principal: "president", Name: "Office of the President", Title: "President",
				Rank: 5, IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 9, NotBefore: validFrom, NotAfter: validTo})
			if err := id.SetCredential(c); err != nil {
				return err
			}
			e, err := id.Seal(stream("k"), ctxAt(roomUS, backchannel.KindLetter, 1), []byte("forged"), []*Credential{oman.cred})
			if err != nil {
				return err
			}
			_, err = oman.Open(e, w.trust, expect(roomUS))
			return err
		}},
		{"expired credential", ErrExpired, func() error {
			old := w.add(t, person{"us", "presidential-adviser", "Presidential adviser", 2}, 1, validFrom, round1.Add(-time.Hour))
			e, err := old.Seal(stream("k"), ctxAt(roomUS, backchannel.KindNote, 1), []byte("late"), []*Credential{oman.cred})
			if err != nil {
				return err
			}
			_, err = oman.Open(e, w.trust, expect(roomUS))
			return err
		}},
		{"revoked credential", ErrRevoked, func() error {
			p := w.add(t, person{"us", "vice-president", "Vice President", 5}, 1, validFrom, validTo)
			e, err := p.Seal(stream("k"), ctxAt(roomUS, backchannel.KindNote, 1), []byte("revoked"), []*Credential{oman.cred})
			if err != nil {
				return err
			}
			v, err := w.roots["us"].Revoke(p.cred, round1)
			if err != nil {
				return err
			}
			if err := w.trust.AddRevocation(v); err != nil {
				return err
			}
			_, err = w.trust.VerifyEnvelope(e, expect(roomUS))
			return err
		}},
		{"revocation not signed by the pinned root", ErrUntrustedRoot, func() error {
			forger, _ := NewRoot(stream("forged root"), "us")
			v, err := forger.Revoke(envoy.cred, round1)
			if err != nil {
				return err
			}
			return w.trust.AddRevocation(v)
		}},
		{"mediator changes one word of a verbatim relay", ErrRelayAltered, func() error {
			o, err := oman.Open(orig, w.trust, expect(roomUS))
			if err != nil {
				return err
			}
			altered := bytes.Replace(o.message, []byte("willing"), []byte("waiting"), 1)
			c, _ := Context{Talks: talksID, Room: roomIran, Kind: backchannel.KindNote, Topics: o.Context.Topics,
				Round: 1, CreatedAt: round1, Sequence: 3}.normalize()
			e, err := oman.sealEnvelope(stream("k"), Header{Context: c, Relay: RelayVerbatim, RelayOf: []Hash{orig.Hash()}},
				altered, []*Credential{iran.cred})
			if err != nil {
				return err
			}
			_, err = iran.Open(e, w.trust, expect(roomIran))
			return err
		}},
		{"rank below the talks' level", ErrRankTooLow, func() error {
			_, err := oman.Open(orig, w.trust, Expect{Talks: talksID, Room: roomUS, Round: 1, MinRank: 4})
			return err
		}},
		{"rank below the level, at the server", ErrRankTooLow, func() error {
			_, err := w.trust.VerifyEnvelope(orig, Expect{Talks: talksID, Room: roomUS, Round: 1, MinRank: 4})
			return err
		}},
		{"duplicate sequence", ErrSequence, func() error {
			var s SequenceTracker
			if err := s.Observe(talksID, envoy.cred, 1); err != nil {
				return err
			}
			return s.Observe(talksID, envoy.cred, 1)
		}},
		{"decreasing sequence", ErrSequence, func() error {
			var s SequenceTracker
			if err := s.Observe(talksID, envoy.cred, 5); err != nil {
				return err
			}
			return s.Observe(talksID, envoy.cred, 4)
		}},
		{"trailing byte", ErrMalformed, func() error {
			return openAs(oman, append(bytes.Clone(raw), 0), expect(roomUS))
		}},
		{"credential for other keys", ErrKeyMismatch, func() error {
			return iran.SetCredential(envoy.cred)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
		})
	}
}

func TestSequenceTrackerAcceptsIncreasingPerAuthor(t *testing.T) {
	w := newWorld(t)
	var s SequenceTracker
	for _, step := range []struct {
		who string
		seq uint64
	}{{"us/special-envoy", 1}, {"iran/foreign-minister", 1}, {"us/special-envoy", 2}, {"us/special-envoy", 10}} {
		if err := s.Observe(talksID, w.get(step.who).cred, step.seq); err != nil {
			t.Fatalf("%s %d: %v", step.who, step.seq, err)
		}
	}
	if err := s.Observe("other-talks", w.get("us/special-envoy").cred, 1); err != nil {
		t.Errorf("sequence in other talks: %v", err)
	}
}

func TestRotationKeepsHistoryAndNamesLatest(t *testing.T) {
	w := newWorld(t)
	orig := sealFromEnvoy(t, w)
	rotated := w.add(t, person{"us", "special-envoy", "Special Envoy", 4}, 2, round1, validTo)
	if got := w.trust.Latest("us", "special-envoy"); got.ID() != rotated.cred.ID() {
		t.Errorf("latest = %s, want serial 2", got)
	}
	if _, err := w.trust.VerifyEnvelope(orig, expect(roomUS)); err != nil {
		t.Errorf("message under the previous credential: %v", err)
	}
}

func TestReceiptRevealsNothingOfContent(t *testing.T) {
	w := newWorld(t)
	orig := sealFromEnvoy(t, w)
	oman := w.get("oman/foreign-minister")
	rc, err := oman.Receipt(talksID, orig.Hash(), Acknowledged, round1.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseReceipt(rc.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := w.trust.VerifyReceipt(parsed, talksID)
	if err != nil || signer.Org != "oman" || parsed.Envelope != orig.Hash() || parsed.Kind != Acknowledged {
		t.Fatalf("receipt: %v %v %+v", err, signer, parsed)
	}
	if bytes.Contains(rc.Marshal(), []byte("nuclear")) {
		t.Error("receipt carries content")
	}
	if _, err := w.trust.VerifyReceipt(parsed, "other"); !errors.Is(err, ErrWrongTalks) {
		t.Errorf("receipt for other talks: %v", err)
	}
	// Move the receipt's time by a millisecond: the signer's signature no longer covers it.
	bad, _ := ParseReceipt(flip(rc.Marshal(), len(rc.Marshal())-sigLen-32-1))
	if _, err := w.trust.VerifyReceipt(bad, talksID); !errors.Is(err, ErrTampered) {
		t.Errorf("tampered receipt: %v", err)
	}
}

func TestActBindsTalksAndAuthor(t *testing.T) {
	w := newWorld(t)
	iran := w.get("iran/foreign-minister")
	a, err := iran.Act(talksID, "vote", []byte("refuse:venue:istanbul"), round1)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseAct(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	author, err := w.trust.VerifyAct(parsed, talksID, 4)
	if err != nil || author.Org != "iran" || string(parsed.Payload) != "refuse:venue:istanbul" || parsed.Type != "vote" {
		t.Fatalf("act: %v %v %+v", err, author, parsed)
	}
	if _, err := w.trust.VerifyAct(parsed, talksID, 5); !errors.Is(err, ErrRankTooLow) {
		t.Errorf("rank: %v", err)
	}
	if _, err := w.trust.VerifyAct(parsed, "istanbul-2025", 0); !errors.Is(err, ErrWrongTalks) {
		t.Errorf("other talks: %v", err)
	}
	bad, _ := ParseAct(bytes.Replace(a.Marshal(), []byte("istanbul"), []byte("muscat!!"), 1))
	if _, err := w.trust.VerifyAct(bad, talksID, 0); !errors.Is(err, ErrTampered) {
		t.Errorf("altered payload: %v", err)
	}
}

func TestFingerprintBindsOrganisationAndKey(t *testing.T) {
	w := newWorld(t)
	us := w.roots["us"].Public()
	fp := us.Fingerprint()
	s := fp.String()
	if len(s) != 35 || strings.Count(s, " ") != 5 || fp.Short() != s[:11] {
		t.Errorf("fingerprint %q, short %q", s, fp.Short())
	}
	if !fp.Equal(w.roots["us"].Public().Fingerprint()) {
		t.Error("fingerprint not stable")
	}
	renamed := RootKey{Org: "uae", Key: us.Key}
	if fp.Equal(renamed.Fingerprint()) || fp.Equal(w.roots["iran"].Public().Fingerprint()) {
		t.Error("fingerprint does not separate organisations")
	}
	k, err := ParseRootKey(us.Marshal())
	if err != nil || !k.Fingerprint().Equal(fp) {
		t.Errorf("root key round trip: %v", err)
	}
}

func TestKeystoreEncodingsRoundTrip(t *testing.T) {
	w := newWorld(t)
	root := w.roots["oman"]
	r2, err := ParseRoot(root.Marshal())
	if err != nil || !bytes.Equal(r2.Marshal(), root.Marshal()) {
		t.Fatalf("root: %v", err)
	}
	p := w.get("oman/foreign-minister")
	id2, err := ParseIdentity(p.Marshal())
	if err != nil || !bytes.Equal(id2.Marshal(), p.Marshal()) || id2.Credential().ID() != p.cred.ID() {
		t.Fatalf("identity: %v", err)
	}
	if _, err := id2.Open(sealFromEnvoy(t, w), w.trust, expect(roomUS)); err != nil {
		t.Errorf("restored identity cannot open: %v", err)
	}
}

func TestParsersRefuseNonCanonicalInput(t *testing.T) {
	w := newWorld(t)
	cred := w.get("us/president").cred.Marshal()
	env := sealFromEnvoy(t, w).Marshal()
	tests := []struct {
		name  string
		parse func([]byte) error
		in    []byte
	}{
		{"credential with trailing byte", credParse, append(bytes.Clone(cred), 0)},
		{"credential truncated", credParse, cred[:len(cred)-1]},
		{"credential as envelope", envParse, cred},
		{"credential of version 2", credParse, bytes.Replace(cred, []byte("credential/v1"), []byte("credential/v2"), 1)},
		{"credential with rank 6", credParse, setRank(cred, 6)},
		{"credential with rank 0", credParse, setRank(cred, 0)},
		{"envelope with unsorted topics", envParse, swapTopics(env)},
		{"envelope with upper-case room", envParse, bytes.Replace(env, []byte(roomUS), []byte("caucus:US"), 1)},
		{"envelope with unknown kind", envParse, bytes.Replace(env, []byte("\x04note"), []byte("\x04memo"), 1)},
		{"empty input", envParse, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(tt.in); !errors.Is(err, ErrMalformed) {
				t.Errorf("error = %v, want ErrMalformed", err)
			}
		})
	}
}

func credParse(b []byte) error { _, err := ParseCredential(b); return err }
func envParse(b []byte) error  { _, err := ParseEnvelope(b); return err }

// setRank rewrites the rank byte of an encoded credential, which follows the title.
func setRank(cred []byte, rank byte) []byte {
	c := bytes.Clone(cred)
	title := []byte("\x00\x09President")
	c[bytes.LastIndex(c, title)+len(title)] = rank
	return c
}

// swapTopics puts the two topics of an encoded envelope out of ascending order.
func swapTopics(env []byte) []byte {
	nuke := append([]byte{byte(len(topicNuke))}, topicNuke...)
	sanc := append([]byte{byte(len(topicSanc))}, topicSanc...)
	return bytes.Replace(env, append(nuke, sanc...), append(sanc, nuke...), 1)
}

// TestEncryptionKeyCheckAgreesWithHPKE checks that the cheap canonical check of a credential's
// encryption key accepts exactly what crypto/hpke accepts, on real keys and on keys with one
// coefficient pushed to or beyond q.
func TestEncryptionKeyCheckAgreesWithHPKE(t *testing.T) {
	r := stream("encryption keys")
	for i := 0; i < 64; i++ {
		id, err := NewIdentity(r)
		if err != nil {
			t.Fatal(err)
		}
		k := id.EncryptionKey()
		for _, mutate := range []func([]byte){
			func([]byte) {},
			func(k []byte) { j := 3 * (i % 384); k[j], k[j+1] = 0x01, k[j+1]|0x0d }, // first coefficient 0xd01 = 3329
			func(k []byte) { j := 3 * (i % 384); k[j+2] = 0xff },                    // second coefficient >= 0xff0
			func(k []byte) { k[1184+i%32] ^= 0xff },                                 // X25519 part: any value
		} {
			m := bytes.Clone(k)
			mutate(m)
			_, hpkeErr := suiteKEM.NewPublicKey(m)
			ourErr := checkEncryptionKey(m)
			if (hpkeErr == nil) != (ourErr == nil) {
				t.Fatalf("key %d: crypto/hpke says %v, checkEncryptionKey says %v", i, hpkeErr, ourErr)
			}
		}
	}
}
