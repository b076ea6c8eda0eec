package seal

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/backchannel/backchannel/record"
)

func TestLoginSignatureBindsHostAndChallenge(t *testing.T) {
	w := newWorld(t)
	envoy := w.get("us/special-envoy")
	sig, err := envoy.SignLogin("talks.example", "challenge-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyLogin(envoy.cred, "talks.example", "challenge-1", sig); err != nil {
		t.Fatalf("genuine login: %v", err)
	}
	tests := []struct {
		name, host, challenge string
		cred                  *Credential
	}{
		{"another host", "other.example", "challenge-1", envoy.cred},
		{"another challenge", "talks.example", "challenge-2", envoy.cred},
		{"another principal's credential", "talks.example", "challenge-1", w.get("us/president").cred},
		// The length prefixes keep a shifted split of the same bytes from verifying.
		{"host and challenge shifted", "talks.examplec", "hallenge-1", envoy.cred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyLogin(tt.cred, tt.host, tt.challenge, sig); !errors.Is(err, ErrTampered) {
				t.Errorf("VerifyLogin = %v, want ErrTampered", err)
			}
		})
	}
	if _, err := envoy.SignLogin("", "c"); err == nil {
		t.Error("signed a login for an empty host")
	}
}

func TestCosignerUsesIdentityKeyUnderItsName(t *testing.T) {
	w := newWorld(t)
	envoy := w.get("us/special-envoy")
	c, err := envoy.Cosigner()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "us/special-envoy" {
		t.Errorf("name = %q", c.Name())
	}
	vk, err := CosignerVerifierKey(envoy.cred)
	if err != nil {
		t.Fatal(err)
	}
	if vk != c.VerifierKey() {
		t.Fatalf("verifier key from the credential %q differs from the cosigner's %q", vk, c.VerifierKey())
	}
	msg, err := c.Cosign(record.Checkpoint{Origin: "talks.example/talks/t1", Size: 1}, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	v, err := record.NewCosignatureVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("cosignature does not open with the credential's key: %v", err)
	}
}

func TestTrustPinRefusesAnotherRootForAnOrganisation(t *testing.T) {
	w := newWorld(t)
	if err := w.trust.Pin(w.roots["oman"].Public()); err != nil {
		t.Errorf("pinning the same root again: %v", err)
	}
	lookalike, err := NewRoot(stream("root/lookalike"), "oman")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.trust.Pin(lookalike.Public()); !errors.Is(err, ErrUntrustedRoot) {
		t.Errorf("pinning a look-alike root: %v, want ErrUntrustedRoot", err)
	}
	qatar, _ := NewRoot(stream("root/qatar"), "qatar")
	if err := w.trust.Pin(qatar.Public()); err != nil {
		t.Fatalf("pinning a new mediator's root: %v", err)
	}
}

func TestSequenceCheckDoesNotRemember(t *testing.T) {
	w := newWorld(t)
	c := w.get("us/special-envoy").cred
	var s SequenceTracker
	for i := 0; i < 2; i++ {
		if err := s.Check("t1", c, 1); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	if err := s.Observe("t1", c, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("t1", c, 1); !errors.Is(err, ErrSequence) {
		t.Errorf("Check after Observe = %v, want ErrSequence", err)
	}
}
