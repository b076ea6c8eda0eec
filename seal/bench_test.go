package seal

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
)

// The benchmarks measure seal and open of a 1 KiB message to 4 recipients next to the
// primitives they are made of, so the overhead (encoding, copies, allocations) shows as a ratio:
//
//	seal  = 4 HPKE seals + 2 Ed25519 signs (message, envelope)
//	open  = 1 HPKE open + 2 Ed25519 verifies (envelope, message)
//	verify (server) = 1 Ed25519 verify; credential = 1 Ed25519 verify

func benchSetup(b *testing.B) (*world, []*Credential, Context, []byte) {
	w := newWorld(b)
	to := []*Credential{
		w.get("oman/foreign-minister").cred, w.get("us/special-envoy").cred,
		w.get("us/president").cred, w.get("iran/foreign-minister").cred,
	}
	body := make([]byte, 1024)
	return w, to, ctxAt(roomUS, backchannel.KindProposal, 1), body
}

func BenchmarkSeal(b *testing.B) {
	w, to, ctx, body := benchSetup(b)
	envoy := w.get("us/special-envoy")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envoy.Seal(rand.Reader, ctx, body, to); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	w, to, ctx, body := benchSetup(b)
	e, err := w.get("us/special-envoy").Seal(rand.Reader, ctx, body, to)
	if err != nil {
		b.Fatal(err)
	}
	oman := w.get("oman/foreign-minister")
	x := expect(roomUS)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := oman.Open(e, w.trust, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyEnvelope is the server's per-envelope cost: parse the wire bytes and verify.
func BenchmarkVerifyEnvelope(b *testing.B) {
	w, to, ctx, body := benchSetup(b)
	e, err := w.get("us/special-envoy").Seal(rand.Reader, ctx, body, to)
	if err != nil {
		b.Fatal(err)
	}
	wire := e.Marshal()
	x := expect(roomUS)
	b.ReportAllocs()
	for b.Loop() {
		p, err := ParseEnvelope(wire)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.trust.VerifyEnvelope(p, x); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCredential(b *testing.B) {
	w := newWorld(b)
	c := w.get("us/president").cred
	b.ReportAllocs()
	for b.Loop() {
		if err := w.trust.VerifyCredential(c, round1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrimitiveEd25519Sign(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1400)
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
}

func BenchmarkPrimitiveEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1400)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkPrimitiveHPKESeal(b *testing.B) {
	k, _ := suiteKEM.GenerateKey()
	pk := k.PublicKey()
	key := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hpke.Seal(pk, suiteKDF, suiteAEAD, []byte("info"), key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrimitiveHPKEOpen(b *testing.B) {
	k, _ := suiteKEM.GenerateKey()
	ct, _ := hpke.Seal(k.PublicKey(), suiteKDF, suiteAEAD, []byte("info"), make([]byte, 32))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hpke.Open(k, suiteKDF, suiteAEAD, []byte("info"), ct); err != nil {
			b.Fatal(err)
		}
	}
}

// The overhead benchmarks interleave each operation with the primitives it must perform, on the
// same inputs, and report their ratio: on a shared, busy machine separate benchmarks drift
// apart, while interleaved ones see the same load.

func BenchmarkSealOverhead(b *testing.B) {
	w, to, ctx, body := benchSetup(b)
	envoy := w.get("us/special-envoy")
	msg := make([]byte, 1400)
	env := make([]byte, 6400)
	key := make([]byte, 32)
	var op, prims time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := envoy.Seal(rand.Reader, ctx, body, to); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		ed25519.Sign(envoy.signer, msg)
		for _, c := range to {
			pk, _ := c.hpkeKey()
			if _, err := hpke.Seal(pk, suiteKDF, suiteAEAD, msg[:64], key); err != nil {
				b.Fatal(err)
			}
		}
		ed25519.Sign(envoy.signer, env)
		t2 := time.Now()
		op += t1.Sub(t0)
		prims += t2.Sub(t1)
	}
	b.ReportMetric(float64(op.Microseconds())/float64(b.N), "seal-µs")
	b.ReportMetric(float64(prims.Microseconds())/float64(b.N), "primitives-µs")
	b.ReportMetric(float64(op)/float64(prims), "ratio")
}

func BenchmarkOpenOverhead(b *testing.B) {
	w, to, ctx, body := benchSetup(b)
	envoy, oman := w.get("us/special-envoy"), w.get("oman/foreign-minister")
	e, err := envoy.Seal(rand.Reader, ctx, body, to)
	if err != nil {
		b.Fatal(err)
	}
	i, _ := e.recipientIndex(oman.cred.ID())
	h := e.headerHash()
	info := wrapInfo(&h)
	wrap := e.wraps[i*wrapLen : (i+1)*wrapLen]
	o, err := oman.Open(e, w.trust, expect(roomUS))
	if err != nil {
		b.Fatal(err)
	}
	msg := signedBytes(domainMessage, o.message[:len(o.message)-sigLen])
	msgSig := o.message[len(o.message)-sigLen:]
	envSig := e.raw[len(e.raw)-sigLen:]
	x := expect(roomUS)
	var op, prims time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := oman.Open(e, w.trust, x); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if !ed25519.Verify(envoy.cred.IdentityKey, e.signed, envSig) {
			b.Fatal("envelope signature")
		}
		if _, err := hpke.Open(oman.kem, suiteKDF, suiteAEAD, info, wrap); err != nil {
			b.Fatal(err)
		}
		if !ed25519.Verify(envoy.cred.IdentityKey, msg, msgSig) {
			b.Fatal("message signature")
		}
		t2 := time.Now()
		op += t1.Sub(t0)
		prims += t2.Sub(t1)
	}
	b.ReportMetric(float64(op.Microseconds())/float64(b.N), "open-µs")
	b.ReportMetric(float64(prims.Microseconds())/float64(b.N), "primitives-µs")
	b.ReportMetric(float64(op)/float64(prims), "ratio")
}
