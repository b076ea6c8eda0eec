package seal_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/seal"
)

// issue creates a principal of org with the given title and rank.
func issue(root *seal.Root, principal, title string, rank backchannel.Rank) *seal.Identity {
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	c, err := root.Issue(seal.Credential{
		Principal: principal, Name: "Office of the " + title, Title: title, Rank: rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := id.SetCredential(c); err != nil {
		log.Fatal(err)
	}
	return id
}

// The US Special Envoy seals a note in the US caucus for Oman's Foreign Minister, the mediator;
// the server checks it without reading it; the mediator opens it.
func Example() {
	us, _ := seal.NewRoot(rand.Reader, "us")
	oman, _ := seal.NewRoot(rand.Reader, "oman")
	envoy := issue(us, "special-envoy", "Special Envoy", 3)
	mediator := issue(oman, "foreign-minister", "Foreign Minister", 4)

	// Each party pins the roots (after comparing fingerprints) and learns the credentials.
	trust, err := seal.NewTrust(us.Public(), oman.Public())
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range []*seal.Credential{envoy.Credential(), mediator.Credential()} {
		if err := trust.AddCredential(c); err != nil {
			log.Fatal(err)
		}
	}

	ctx := seal.Context{
		Talks: "muscat-2025", Room: "caucus:us", Kind: backchannel.KindNote,
		Topics: []string{"nuclear-programme"}, Round: 1,
		CreatedAt: time.Date(2025, 4, 12, 10, 0, 0, 0, time.UTC), Sequence: 1,
	}
	env, err := envoy.Seal(rand.Reader, ctx, []byte("The United States is willing to negotiate on the nuclear issue."),
		[]*seal.Credential{mediator.Credential(), envoy.Credential()})
	if err != nil {
		log.Fatal(err)
	}

	// The server: parse, verify the sender's signature and credential, without decrypting.
	wire := env.Marshal()
	received, err := seal.ParseEnvelope(wire)
	if err != nil {
		log.Fatal(err)
	}
	expect := seal.Expect{Talks: "muscat-2025", Room: "caucus:us", Round: 1}
	sender, err := trust.VerifyEnvelope(received, expect)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server accepts from:", sender.Title, "of", sender.Org)

	// The mediator opens it.
	opened, err := mediator.Open(received, trust, expect)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%s, %s): %s\n", opened.Author.Title, opened.Author.Org, opened.Mode, opened.Body)
	// Output:
	// server accepts from: Special Envoy of us
	// Special Envoy (us, none): The United States is willing to negotiate on the nuclear issue.
}

// A fingerprint is what two organisations read to each other before pinning a root.
func ExampleFingerprint() {
	us, _ := seal.NewRoot(rand.Reader, "us")
	fp := us.Public().Fingerprint()
	fmt.Println(len(fp.String()), len(fp.Short()), fp.Equal(us.Public().Fingerprint()))
	// Output: 35 11 true
}
