package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/backchannel/backchannel"
)

// The host sees every envelope's length. Messages whose lengths differ within a bucket must
// give envelopes of one length, and a long message no more than its bucket: the host learns an
// order of magnitude, not what was said in how many words. Each reader still gets the exact
// body back.
func TestEnvelopeLengthsRevealOnlyABucket(t *testing.T) {
	w := newWorld(t)
	envoy, oman := w.get("us/special-envoy"), w.get("oman/foreign-minister")
	sealed := func(n int) *Envelope {
		t.Helper()
		body := bytes.Repeat([]byte("y"), n)
		e, err := envoy.Seal(stream("content/pad"), ctxAt(roomUS, backchannel.KindNote, 1), body, []*Credential{oman.cred})
		if err != nil {
			t.Fatal(err)
		}
		o, err := oman.Open(e, w.trust, expect(roomUS))
		if err != nil || !bytes.Equal(o.Body, body) {
			t.Fatalf("a body of %d bytes opens as %d bytes (%v)", n, len(o.Body), err)
		}
		return e
	}
	short := len(sealed(0).Marshal())
	for _, n := range []int{1, 2, 17, 100, 200} {
		if got := len(sealed(n).Marshal()); got != short {
			t.Errorf("a body of %d bytes seals to %d bytes, an empty one to %d: the host learns the length", n, got, short)
		}
	}
	// 64 bodies of consecutive lengths fall in one bucket, or straddle two.
	for _, n := range []int{1000, 5000, 40000, 300000} {
		lengths := make(map[int]bool)
		for k := n; k < n+64; k++ {
			lengths[len(sealed(k).Marshal())] = true
		}
		if len(lengths) > 2 {
			t.Errorf("bodies of %d to %d bytes seal to %d lengths", n, n+63, len(lengths))
		}
	}
}

func TestPaddedLenIsPadme(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 544}, {1000, 1024}, {1024, 1024}, {1025, 1088},
		{65536, 65536}, {65537, 67584}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<15},
	} {
		if got := paddedLen(tc.n); got != tc.want {
			t.Errorf("paddedLen(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	prev := 0
	for n := 1; n < 1<<21; n += 1 + n/7 {
		p := paddedLen(n)
		if p < n || p < prev || (n > minPadded && float64(p) > 1.12*float64(n)) {
			t.Fatalf("paddedLen(%d) = %d (previous %d): not a bucket within 12%%", n, p, prev)
		}
		prev = p
	}
}

func TestUnpadRefusesAnyOtherPadding(t *testing.T) {
	msg := []byte("a message\x00\x00") // a message may itself end in zeros
	good := pad(msg)
	if got, err := unpad(good); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("unpad(pad(msg)) = %q, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"no marker":          make([]byte, 512),
		"empty":              nil,
		"a longer bucket":    append(bytes.Clone(good), make([]byte, 512)...),
		"a shorter length":   good[:len(good)-1],
		"another marker":     append(bytes.Clone(msg), append([]byte{0x01}, make([]byte, 512-len(msg)-1)...)...),
		"nothing but marker": append([]byte{0x80}, make([]byte, 10)...),
	} {
		if _, err := unpad(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: unpad = %v, want ErrMalformed", name, err)
		}
	}
}

// The host needs no reply-to link for any of its rules, and with it would learn who answers
// whom: the link travels inside the ciphertext only, and the reader gets it back.
func TestReplyToTravelsOnlyInsideTheCiphertext(t *testing.T) {
	w := newWorld(t)
	envoy, oman := w.get("us/special-envoy"), w.get("oman/foreign-minister")
	answered := sealFromEnvoy(t, w).Hash()
	c := ctxAt(roomUS, backchannel.KindNote, 2)
	c.ReplyTo = answered
	e, err := envoy.Seal(stream("content/reply"), c, []byte("In answer."), []*Credential{oman.cred})
	if err != nil {
		t.Fatal(err)
	}
	if !e.ReplyTo.IsZero() || bytes.Contains(e.Marshal(), answered[:]) {
		t.Fatalf("the envelope shows the host that it answers %s", answered)
	}
	o, err := oman.Open(e, w.trust, expect(roomUS))
	if err != nil || o.Context.ReplyTo != answered {
		t.Fatalf("the reader gets reply-to %s (%v), want %s", o.Context.ReplyTo, err, answered)
	}
}
