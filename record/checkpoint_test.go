package record_test

import (
	"bytes"
	"crypto/ed25519"
	_ "embed"
	"strings"
	"testing"

	formatslog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
)

//go:embed testdata/checkpoint.txt
var checkpointVector []byte

func TestOriginIsHostSlashTalksSlashID(t *testing.T) {
	for _, tc := range []struct {
		host, id, want string
		ok             bool
	}{
		{"backchannel.example", "muscat-1", "backchannel.example/talks/muscat-1", true},
		{"localhost:8080", "t1", "localhost:8080/talks/t1", true},
		{"Backchannel.example", "t1", "", false},
		{"host", "T1", "", false},
		{"host", "-t1", "", false},
		{"host:080", "t1", "", false},
		{"host:0", "t1", "", false},
		{"ho st", "t1", "", false},
		{"", "t1", "", false},
		{"host", strings.Repeat("a", 65), "", false},
		{"host+evil", "t1", "", false},
	} {
		got, err := record.Origin(tc.host, tc.id)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Origin(%q, %q) = %q, %v; want %q, ok=%v", tc.host, tc.id, got, err, tc.want, tc.ok)
		}
		if tc.ok {
			h, id, err := record.ParseOrigin(got)
			if err != nil || h != tc.host || id != tc.id {
				t.Errorf("ParseOrigin(%q) = %q, %q, %v", got, h, id, err)
			}
		}
	}
}

func TestCheckpointVectorIsStable(t *testing.T) {
	m := newTestLog(t, 3)
	got, _ := m.Checkpoint(t.Context())
	checkVector(t, "checkpoint.txt", got, checkpointVector)
}

func TestOpenCheckpointRefuses(t *testing.T) {
	m := newTestLog(t, 3)
	good, _ := m.Checkpoint(t.Context())
	otherKey, _ := record.NewLogKey(testKey("impostor"))
	otherSigner, _ := otherKey.Signer(testOrigin)
	c, _, _ := record.OpenCheckpoint(good, testOrigin, logVerifier(t))
	forged, _ := record.SignCheckpoint(otherSigner, c)
	otherOrigin, _ := record.Origin(testHost, "other")
	otherSigner2, _ := testLogKey(t).Signer(otherOrigin)
	elsewhere, _ := record.SignCheckpoint(otherSigner2, record.Checkpoint{Origin: otherOrigin, Size: c.Size, Hash: c.Hash})
	flipped := bytes.Clone(good)
	flipped[len(testOrigin)+1] = '4' // size 3 → 4 under the same signature

	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"good", good, nil},
		{"signed by another key", forged, record.ErrBadSignature},
		{"another talks' checkpoint", elsewhere, record.ErrWrongOrigin},
		{"size changed under the signature", flipped, record.ErrBadSignature},
		{"no signature", c.Body(), record.ErrMalformed},
		{"garbage", []byte("hello\n\n— x y\n"), record.ErrMalformed},
		{"too large", bytes.Repeat([]byte("a"), record.MaxCheckpointSize+1), record.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := record.OpenCheckpoint(tc.msg, testOrigin, logVerifier(t))
			wantErr(t, err, tc.want)
		})
	}
}

func TestParseCheckpointBodyIsCanonical(t *testing.T) {
	h := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"o/talks/t\n0\n" + h + "\n", true},
		{"o/talks/t\n00\n" + h + "\n", false},
		{"o/talks/t\n+1\n" + h + "\n", false},
		{"o/talks/t\n-1\n" + h + "\n", false},
		{"o/talks/t\n1\n" + h + "\nextension\n", false},
		{"o/talks/t\n1\n" + h, false},
		{"o/talks/t\n1\n" + strings.TrimSuffix(h, "=") + "\n", false},
		{"o/talks/t\n1\n" + h[:len(h)-2] + "V=\n", false}, // non-zero padding bits
		{"o/talks/t\n1\nAAAA\n", false},
		{"\n1\n" + h + "\n", false},
		{"o talks\n1\n" + h + "\n", false},
		{"o/talks/t\n99999999999999999999\n" + h + "\n", false},
	} {
		c, err := record.ParseCheckpointBody([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("ParseCheckpointBody(%q) = %v, ok want %v", tc.body, err, tc.ok)
		}
		if err == nil && string(c.Body()) != tc.body {
			t.Errorf("ParseCheckpointBody(%q) re-encodes as %q", tc.body, c.Body())
		}
	}
}

// An independent parser (transparency-dev/formats) reads our checkpoints with x/mod's
// verifier for the published key.
func TestCheckpointReadByTransparencyDevFormats(t *testing.T) {
	m := newTestLog(t, 5)
	msg, _ := m.Checkpoint(t.Context())
	cp, _, _, err := formatslog.ParseCheckpoint(msg, testOrigin, logVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := tlog.TreeHash(5, m)
	if cp.Size != 5 || !bytes.Equal(cp.Hash, root[:]) || cp.Origin != testOrigin {
		t.Fatalf("formats parsed %+v", cp)
	}
}

func TestOriginVerifierKeyDerivesFromHostKey(t *testing.T) {
	k := testLogKey(t)
	want, _ := k.VerifierKey(testOrigin)
	got, err := record.OriginVerifierKey(hostVKey(t), testOrigin)
	if err != nil || got != want {
		t.Fatalf("OriginVerifierKey = %q, %v; want %q", got, err, want)
	}
	// A cosigner key (algorithm 0x04) is not a log key.
	if _, err := record.OriginVerifierKey(testCosigner(t, "a").VerifierKey(), testOrigin); err == nil {
		t.Fatal("a cosignature/v1 key was taken as a log key")
	}
	if _, err := record.OriginVerifierKey(hostVKey(t), "bad origin"); err == nil {
		t.Fatal("an origin with a space was accepted as a key name")
	}
	if _, err := record.NewLogKey(ed25519.PrivateKey{1, 2}); err == nil {
		t.Fatal("a short log key was accepted")
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(checkpointVector)
	text, _ := record.NoteText(checkpointVector)
	f.Add(text)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if c, err := record.ParseCheckpointBody(msg); err == nil && !bytes.Equal(c.Body(), msg) {
			t.Fatalf("ParseCheckpointBody(%q) re-encodes as %q", msg, c.Body())
		}
		c, _, err := record.OpenCheckpoint(msg, testOrigin, logVerifier(t))
		if err != nil {
			return
		}
		// Anything that opens was signed by the test key over its canonical body.
		if text, _ := record.NoteText(msg); !bytes.Equal(text, c.Body()) {
			t.Fatalf("opened %q with body %q", msg, c.Body())
		}
	})
}
