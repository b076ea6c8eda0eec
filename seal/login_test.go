package seal

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"testing"
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

func TestCosignatureSignerSignsOnlyCosignatures(t *testing.T) {
	w := newWorld(t)
	envoy := w.get("us/special-envoy")
	if got := CosignerName(envoy.cred); got != "us/special-envoy" {
		t.Errorf("CosignerName = %q", got)
	}
	s := envoy.CosignatureSigner()
	if !envoy.cred.IdentityKey.Equal(s.Public()) {
		t.Fatal("the cosignature signer's public key is not the credential's identity key")
	}
	msg := []byte("cosignature/v1\ntime 1700000000\ntalks.example/talks/t1\n1\nAAAA\n")
	sig, err := s.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(envoy.cred.IdentityKey, msg, sig) {
		t.Fatal("the cosignature does not verify with the identity key")
	}
	refused := []struct {
		name string
		msg  []byte
		opts crypto.SignerOpts
	}{
		{"a login", mustLoginMessage(t, "talks.example", "challenge-1"), crypto.Hash(0)},
		{"an act's domain", []byte(domainLogin), crypto.Hash(0)},
		{"no prefix", []byte("talks.example/talks/t1\n1\n"), crypto.Hash(0)},
		{"the prefix without its newline", []byte("cosignature/v1 time 1"), crypto.Hash(0)},
		{"a digest", msg, crypto.SHA256},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Sign(nil, tt.msg, tt.opts); err == nil {
				t.Errorf("signed %s through the cosignature signer", tt.name)
			}
		})
	}
}

func mustLoginMessage(t *testing.T, host, challenge string) []byte {
	t.Helper()
	m, err := loginMessage(host, challenge)
	if err != nil {
		t.Fatal(err)
	}
	return m
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
