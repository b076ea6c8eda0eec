package record_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/backchannel/backchannel/record"
)

// The cosignature is checked against the C2SP tlog-cosignature message written out by hand:
// key ID = SHA-256(name || "\n" || 0x04 || key)[:4], signature = ID || timestamp || Ed25519 of
// "cosignature/v1\ntime <T>\n" + checkpoint body.
func TestCosignatureFollowsTlogCosignatureV1(t *testing.T) {
	c := testCosigner(t, "party-a")
	cp := record.Checkpoint{Origin: testOrigin, Size: 7, Hash: [32]byte{1, 2, 3}}
	msg, err := c.Cosign(cp, testTime)
	if err != nil {
		t.Fatal(err)
	}
	text, sigs, _ := strings.Cut(string(msg), "\n\n")
	if text+"\n" != string(cp.Body()) {
		t.Fatalf("cosigned text %q, want %q", text, cp.Body())
	}
	name, b64, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(sigs, "— "), "\n"), " ")
	if !ok || name != "party-a" {
		t.Fatalf("signature line %q", sigs)
	}
	sig, _ := base64.StdEncoding.DecodeString(b64)
	if len(sig) != 4+8+64 {
		t.Fatalf("signature is %d bytes, want 76", len(sig))
	}
	pub := testKey("cosigner party-a").Public().(ed25519.PublicKey)
	id := record.KeyHash("party-a", append([]byte{0x04}, pub...))
	if binary.BigEndian.Uint32(sig) != id {
		t.Errorf("key ID %x, want %x", sig[:4], id)
	}
	if ts := binary.BigEndian.Uint64(sig[4:]); ts != uint64(testTime.Unix()) {
		t.Errorf("timestamp %d, want %d", ts, testTime.Unix())
	}
	signed := fmt.Sprintf("cosignature/v1\ntime %d\n%s", testTime.Unix(), cp.Body())
	if !ed25519.Verify(pub, []byte(signed), sig[12:]) {
		t.Error("the Ed25519 signature is not over the cosignature/v1 message")
	}
	v, err := record.NewCosignatureVerifier(c.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := record.CosignatureTime(n.Sigs[0]); !got.Equal(testTime) {
		t.Errorf("CosignatureTime = %v, want %v", got, testTime)
	}
	// The cosigner key must not pass for a plain Ed25519 note key, nor the reverse.
	if _, err := record.NewCosignatureVerifier(hostVKey(t)); err == nil {
		t.Error("an Ed25519 (0x01) log key was taken as a cosigner key")
	}
}

func TestAddCosignatureCollectsAndReplaces(t *testing.T) {
	a, b := testCosigner(t, "party-a"), testCosigner(t, "party-b")
	m := newTestLog(t, 4, a, b)
	ckpt, _ := m.Checkpoint(t.Context())
	cp, _, _ := record.OpenCheckpoint(ckpt, testOrigin, logVerifier(t))
	vs := note.VerifierList(mustCosigVerifier(t, a), mustCosigVerifier(t, b))

	ca, _ := a.Cosign(cp, testTime)
	cb, _ := b.Cosign(cp, testTime)
	ca2, _ := a.Cosign(cp, testTime.Add(time.Hour))
	msg, err := record.AddCosignature(ckpt, testOrigin, logVerifier(t), ca, vs)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err = record.AddCosignature(msg, testOrigin, logVerifier(t), cb, vs); err != nil {
		t.Fatal(err)
	}
	if msg, err = record.AddCosignature(msg, testOrigin, logVerifier(t), ca2, vs); err != nil {
		t.Fatal(err)
	}
	if got := record.Cosigners(msg, vs); strings.Join(got, ",") != "party-b,party-a" {
		t.Fatalf("cosigners %v, want party-b then the renewed party-a", got)
	}
	if _, _, err := record.OpenCheckpoint(msg, testOrigin, logVerifier(t)); err != nil {
		t.Fatalf("the cosigned checkpoint no longer opens with the log key: %v", err)
	}
	if bytes.Count(msg, []byte("— party-a ")) != 1 {
		t.Fatalf("party-a's older cosignature was kept:\n%s", msg)
	}

	other, _ := a.Cosign(record.Checkpoint{Origin: testOrigin, Size: 4, Hash: [32]byte{9}}, testTime)
	_, err = record.AddCosignature(ckpt, testOrigin, logVerifier(t), other, vs)
	wantErr(t, err, record.ErrMalformed)
	forged := bytes.Replace(ca, []byte("— party-a "), []byte("— party-b "), 1)
	_, err = record.AddCosignature(ckpt, testOrigin, logVerifier(t), forged, vs)
	wantErr(t, err, record.ErrBadSignature)
	stranger := testCosigner(t, "stranger")
	cs, _ := stranger.Cosign(cp, testTime)
	_, err = record.AddCosignature(ckpt, testOrigin, logVerifier(t), cs, vs)
	wantErr(t, err, record.ErrBadSignature)
}

func mustCosigVerifier(t testing.TB, c *record.Cosigner) note.Verifier {
	v, err := record.NewCosignatureVerifier(c.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}
