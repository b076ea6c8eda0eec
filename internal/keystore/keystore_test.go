package keystore_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

func newStore(t *testing.T) *keystore.Store {
	t.Helper()
	s, err := keystore.Open(filepath.Join(t.TempDir(), "ks"), keystore.WithWorkFactor(keystore.MinWorkFactor))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRootRoundTripsUnderItsPassphraseOnly(t *testing.T) {
	s := newStore(t)
	r, err := seal.NewRoot(rand.Reader, "us")
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOrganisation(r, "United States", "correct horse", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if o.SafetyNum != r.Public().Fingerprint().String() {
		t.Fatalf("safety number %q", o.SafetyNum)
	}
	got, err := s.Root("us", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Marshal()) != string(r.Marshal()) {
		t.Fatal("the root read back differs")
	}
	if _, err := s.Root("us", "wrong"); !errors.Is(err, keystore.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
	if _, err := s.CreateOrganisation(r, "again", "x", time.Now()); !errors.Is(err, keystore.ErrExists) {
		t.Fatalf("second create: err = %v", err)
	}
	if _, err := s.Root("ir", "x"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("unknown organisation: err = %v", err)
	}
}

func TestFilesArePrivate(t *testing.T) {
	s := newStore(t)
	r, _ := seal.NewRoot(rand.Reader, "om")
	if _, err := s.CreateOrganisation(r, "Oman", "pw", time.Now()); err != nil {
		t.Fatal(err)
	}
	err := filepath.Walk(s.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), "orgs", "om", "root.age"))
	if string(b[:22]) != "age-encryption.org/v1\n" {
		t.Fatalf("root file does not start with the age header: %q", b[:22])
	}
}

func TestRotationKeepsTheRetiredIdentity(t *testing.T) {
	s := newStore(t)
	r, _ := seal.NewRoot(rand.Reader, "us")
	if _, err := s.CreateOrganisation(r, "United States", "pw", time.Now()); err != nil {
		t.Fatal(err)
	}
	issue := func(serial uint64) *seal.Identity { return issueEnvoy(t, s, r, serial, "pw") }
	first := issue(1)
	second := issue(2)
	p, err := s.Principal("us", "envoy")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Credentials) != 2 || p.Current().Serial != 2 {
		t.Fatalf("credentials %v", p.Credentials)
	}
	id, err := s.Identity("us", "envoy", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if id.Credential().ID() != second.Credential().ID() {
		t.Fatal("the current identity is not the rotated one")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "principals", "us", "envoy", "retired", "1.age")); err != nil {
		t.Fatal(err)
	}
	// The retired identity opens what was sealed to the first credential.
	if serials, err := s.RetiredSerials("us", "envoy"); err != nil || !slices.Equal(serials, []uint64{1}) {
		t.Fatalf("retired serials %v, %v", serials, err)
	}
	old, err := s.RetiredIdentity("us", "envoy", 1, "pw")
	if err != nil || old.Credential().ID() != first.Credential().ID() {
		t.Fatalf("retired identity 1: %v", err)
	}
	if _, err := s.RetiredIdentity("us", "envoy", 1, "wrong"); !errors.Is(err, keystore.ErrWrongPassphrase) {
		t.Fatalf("retired identity with a wrong passphrase: %v", err)
	}
	if _, err := s.RetiredIdentity("us", "envoy", 2, "pw"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("the current serial as a retired one: %v", err)
	}
}

func TestServerKeyIsAFileName(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":        "127.0.0.1_8080",
		"https://Backchannel.example/": "https_backchannel.example",
		"http://[::1]:80":              "__1_80",
	} {
		got, err := keystore.ServerKey(in)
		if err != nil || got != want {
			t.Errorf("ServerKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := keystore.ServerKey("ftp://x"); err == nil {
		t.Error("ftp URL accepted")
	}
}

// The keystore keeps each principal's verified state of each talks on each server apart, and
// gives back what it was given.
func TestVerifiedStateRoundTripsPerServerAndPrincipal(t *testing.T) {
	s := newStore(t)
	a := s.Verified("https://host.example", "us:envoy")
	st := client.VerifiedState{Verifier: []byte(`{"origin":"host.example/talks/t1"}`), Expected: map[string]string{"ir": "ab12"}}
	if err := a.SaveVerified("t1", st); err != nil {
		t.Fatal(err)
	}
	got, ok, err := a.LoadVerified("t1")
	var compact bytes.Buffer
	if err == nil && ok {
		err = json.Compact(&compact, got.Verifier)
	}
	if err != nil || !ok || compact.String() != string(st.Verifier) || got.Expected["ir"] != "ab12" {
		t.Fatalf("LoadVerified = %+v, %v, %v", got, ok, err)
	}
	for _, other := range []*keystore.VerifiedKeeper{
		s.Verified("https://other.example", "us:envoy"),
		s.Verified("https://host.example", "us:adviser"),
	} {
		if _, ok, err := other.LoadVerified("t1"); ok || err != nil {
			t.Fatalf("another server or principal sees the state: %v, %v", ok, err)
		}
	}
	if _, ok, err := a.LoadVerified("t2"); ok || err != nil {
		t.Fatalf("another talks: %v, %v", ok, err)
	}
}

// unlockedMap is an Unlocked in memory.
type unlockedMap map[[32]byte][]byte

func (m unlockedMap) Unlocked(sum [32]byte) ([]byte, bool) { b, ok := m[sum]; return b, ok }
func (m unlockedMap) Unlock(sum [32]byte, b []byte)        { m[sum] = b }

// A key decrypted once is given again without its passphrase while unlocked, and a key replaced
// on disk is not answered from the older copy.
func TestUnlockedKeysNeedNoPassphrase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	u := unlockedMap{}
	s, err := keystore.Open(dir, keystore.WithWorkFactor(keystore.MinWorkFactor), keystore.WithUnlocked(u))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := seal.NewRoot(rand.Reader, "us")
	if _, err := s.CreateOrganisation(r, "United States", "pass", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Root("us", ""); !errors.Is(err, keystore.ErrLocked) {
		t.Fatalf("a locked root without a passphrase: err = %v", err)
	}
	if _, err := s.Root("us", "wrong"); !errors.Is(err, keystore.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
	if len(u) != 0 {
		t.Fatal("a failed decryption unlocked something")
	}
	if _, err := s.Root("us", "pass"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Root("us", "")
	if err != nil {
		t.Fatalf("an unlocked root without a passphrase: %v", err)
	}
	if !bytes.Equal(got.Marshal(), r.Marshal()) {
		t.Fatal("the unlocked root differs")
	}
	// Another keystore value on the same directory without the unlocked keys still needs it.
	plain, _ := keystore.Open(dir)
	if _, err := plain.Root("us", ""); !errors.Is(err, keystore.ErrLocked) {
		t.Fatalf("without the unlocked keys: err = %v", err)
	}

	issueEnvoy(t, s, r, 1, "pass")
	if _, err := s.Identity("us", "envoy", "pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity("us", "envoy", ""); err != nil {
		t.Fatalf("an unlocked identity: %v", err)
	}
	// A rotation writes a new identity file: the unlocked copy of the old one is not it.
	issueEnvoy(t, s, r, 2, "pass")
	if _, err := s.Identity("us", "envoy", ""); !errors.Is(err, keystore.ErrLocked) {
		t.Fatalf("a replaced identity answered from the old unlocked copy: err = %v", err)
	}
}

// issueEnvoy issues us:envoy a new identity with the given serial and saves it under pass.
func issueEnvoy(t *testing.T, s *keystore.Store, r *seal.Root, serial uint64, pass string) *seal.Identity {
	t.Helper()
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cr, err := r.Issue(seal.Credential{Principal: "envoy", Name: "Envoy", Title: "Special Envoy", Rank: 3,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: serial,
		NotBefore: now, NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveIdentity(id, pass); err != nil {
		t.Fatal(err)
	}
	return id
}
