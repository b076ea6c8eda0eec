package keystore_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

var update = flag.Bool("update", false, "rewrite the identity file vector in testdata/")

// newEnvoy returns a fresh us:envoy identity with its credential (serial 1).
func newEnvoy(t *testing.T) *seal.Identity {
	t.Helper()
	r, err := seal.NewRoot(rand.Reader, "us")
	if err != nil {
		t.Fatal(err)
	}
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cr, err := r.Issue(seal.Credential{Principal: "envoy", Name: "Office of the Special Envoy", Title: "Special Envoy", Rank: 3,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: start, NotAfter: start.AddDate(10, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		t.Fatal(err)
	}
	return id
}

// ageScrypt encrypts plaintext with passphrase at the lowest work factor, with age itself.
func ageScrypt(t *testing.T, plaintext []byte, passphrase string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(keystore.MinWorkFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plaintext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var scryptStanza = regexp.MustCompile(`(?m)^-> scrypt \S+ (\d+)$`)

// workFactor returns the work factor in an age file's scrypt stanza.
func workFactor(t *testing.T, file []byte) string {
	t.Helper()
	m := scryptStanza.FindSubmatch(file)
	if m == nil {
		t.Fatalf("no scrypt stanza in %q", file[:min(len(file), 120)])
	}
	return string(m[1])
}

func TestIdentityFileRoundTrips(t *testing.T) {
	id := newEnvoy(t)
	file, err := keystore.SealIdentityFile(id, "correct horse", keystore.MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(file, []byte("age-encryption.org/v1\n")) {
		t.Fatalf("not an age file: %q", file[:22])
	}
	if wf := workFactor(t, file); wf != "10" {
		t.Fatalf("work factor %s, want 10", wf)
	}
	got, err := keystore.OpenIdentityFile(file, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), id.Marshal()) || got.Credential().ID() != id.Credential().ID() {
		t.Fatal("the identity read back differs")
	}

	// Below the least work factor is raised to it.
	low, err := keystore.SealIdentityFile(id, "correct horse", 1)
	if err != nil {
		t.Fatal(err)
	}
	if wf := workFactor(t, low); wf != "10" {
		t.Fatalf("work factor 1 wrote %s, want 10", wf)
	}
	if _, err := keystore.SealIdentityFile(id, "", keystore.MinWorkFactor); err == nil {
		t.Fatal("an empty passphrase accepted")
	}
	bare, _ := seal.NewIdentity(rand.Reader)
	if _, err := keystore.SealIdentityFile(bare, "pw", keystore.MinWorkFactor); err == nil || !strings.Contains(err.Error(), "without a credential") {
		t.Fatalf("an identity without a credential: err = %v", err)
	}
}

// The Store writes and reads identity files: one it saved opens without it, and one opened
// without it saves into it and reads back the same.
func TestStoreIdentityIsAnIdentityFile(t *testing.T) {
	s := newStore(t)
	id := newEnvoy(t)
	if err := s.SaveIdentity(id, "pw"); err != nil {
		t.Fatal(err)
	}
	file, err := s.IdentityFile("us", "envoy")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(filepath.Join(s.Dir(), "principals", "us", "envoy", "identity.age"))
	if !bytes.Equal(file, onDisk) {
		t.Fatal("IdentityFile is not the file on disk")
	}
	got, err := keystore.OpenIdentityFile(file, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), id.Marshal()) {
		t.Fatal("the identity the Store saved opens as another")
	}

	other := newStore(t)
	if err := other.SaveIdentity(got, "pw2"); err != nil {
		t.Fatal(err)
	}
	back, err := other.Identity("us", "envoy", "pw2")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Marshal(), id.Marshal()) {
		t.Fatal("the imported identity reads back differently")
	}
	if _, err := other.IdentityFile("us", "adviser"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a missing identity file: err = %v", err)
	}
}

func TestIdentityFileRefusals(t *testing.T) {
	id := newEnvoy(t)
	file, err := keystore.SealIdentityFile(id, "correct horse", keystore.MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	x25519, _ := age.GenerateX25519Identity()
	var forKey bytes.Buffer
	w, _ := age.Encrypt(&forKey, x25519.Recipient())
	w.Write(id.Marshal())
	w.Close()
	bare, _ := seal.NewIdentity(rand.Reader)
	// The work factor raised above the most accepted: refused before any scrypt is run.
	tooHard := scryptStanza.ReplaceAllFunc(bytes.Clone(file), func(b []byte) []byte {
		return append(bytes.Clone(b[:len(b)-2]), "23"...)
	})

	for _, c := range []struct {
		name, pass string
		file       []byte
		want       string
		is         error
	}{
		{"wrong passphrase", "battery staple", file, "identity file: wrong passphrase", keystore.ErrWrongPassphrase},
		{"garbage", "correct horse", []byte("this is not an identity file\n"), "identity file: not an age file", nil},
		{"empty", "correct horse", nil, "identity file: not an age file", nil},
		{"armored", "correct horse", []byte("-----BEGIN AGE ENCRYPTED FILE-----\n"), "identity file: not an age file in its binary form (this one is armored)", nil},
		{"truncated", "correct horse", file[:len(file)-20], "identity file: a damaged age file", nil},
		{"not an identity", "pw", ageScrypt(t, []byte("hello, world"), "pw"), "identity file: not an identity: ", nil},
		{"no credential", "pw", ageScrypt(t, bare.Marshal(), "pw"), "identity file: an identity without a credential", nil},
		{"not for a passphrase", "pw", forKey.Bytes(), "identity file: an age file not encrypted with a passphrase (its recipients: X25519)", nil},
		{"work factor", "correct horse", tooHard, "identity file: a scrypt work factor of 23, above the most accepted (22)", nil},
		{"empty passphrase", "", file, "identity file: an empty passphrase", nil},
	} {
		got, err := keystore.OpenIdentityFile(c.file, c.pass)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: OpenIdentityFile = %v, %v; want an error %q", c.name, got, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
	}
}

// identityVector is testdata/identity-v1.json: what testdata/identity-v1.age holds and opens
// with, for any implementation of the identity file (the browser's) to check against.
type identityVector struct {
	Note       string `json:"note"`
	File       string `json:"file"`
	Passphrase string `json:"passphrase"`
	WorkFactor int    `json:"work_factor"`
	// Plaintext is the identity's secret encoding (seal.Identity.Marshal), hex.
	Plaintext  string `json:"plaintext"`
	Principal  string `json:"principal"`
	Title      string `json:"title"`
	Rank       int    `json:"rank"`
	Serial     uint64 `json:"serial"`
	Credential string `json:"credential"`
}

// The identity file vector opens with its passphrase to the identity it records.
func TestIdentityFileVector(t *testing.T) {
	const dir = "testdata"
	if *update {
		id := newEnvoy(t)
		v := identityVector{
			Note: "An identity file (a principal's identity.age): an age file encrypted with the passphrase " +
				"(scrypt, work factor 10) whose plaintext is the identity's secret encoding (docs/protocol.md, section 10).",
			File: "identity-v1.age", Passphrase: "correct horse battery staple", WorkFactor: keystore.MinWorkFactor,
			Plaintext: hex.EncodeToString(id.Marshal()), Principal: id.Credential().Handle(),
			Title: id.Credential().Title, Rank: int(id.Credential().Rank), Serial: id.Credential().Serial,
			Credential: id.Credential().ID().String(),
		}
		file, err := keystore.SealIdentityFile(id, v.Passphrase, v.WorkFactor)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, v.File), file, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "identity-v1.json"), append(j, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j, err := os.ReadFile(filepath.Join(dir, "identity-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v identityVector
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, v.File))
	if err != nil {
		t.Fatal(err)
	}
	if wf := workFactor(t, file); wf != "10" || v.WorkFactor != 10 {
		t.Fatalf("the vector's work factor is %s (%d), want 10", wf, v.WorkFactor)
	}
	id, err := keystore.OpenIdentityFile(file, v.Passphrase)
	if err != nil {
		t.Fatal(err)
	}
	cr := id.Credential()
	if hex.EncodeToString(id.Marshal()) != v.Plaintext {
		t.Error("the plaintext differs from the vector's")
	}
	if cr.Handle() != v.Principal || cr.Title != v.Title || int(cr.Rank) != v.Rank || cr.Serial != v.Serial || cr.ID().String() != v.Credential {
		t.Errorf("credential %s %q rank %d serial %d %s; the vector says %+v", cr.Handle(), cr.Title, cr.Rank, cr.Serial, cr.ID(), v)
	}
	if !bytes.Equal(cr.IdentityKey, id.IdentityKey()) {
		t.Error("the credential does not bind the identity's key")
	}
	if _, err := keystore.OpenIdentityFile(file, v.Passphrase+"!"); !errors.Is(err, keystore.ErrWrongPassphrase) {
		t.Errorf("the vector with a wrong passphrase: err = %v", err)
	}
}
