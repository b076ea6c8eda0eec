package talks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bc "github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/talks"
)

// Talks between two parties with a mediator: a message off the agreed agenda is refused with
// the rule it breaks, and a caucus room's recipients are its party and the mediator.
func Example() {
	at := time.Date(2025, 4, 12, 10, 0, 0, 0, time.UTC)
	envoy := talks.Actor{Principal: "us.special-envoy", Org: "us", Rank: 3, Title: "Special Envoy"}
	minister := talks.Actor{Principal: "ir.foreign-minister", Org: "ir", Rank: 3, Title: "Foreign Minister"}
	mediator := talks.Actor{Principal: "om.foreign-minister", Org: "om", Rank: 4, Title: "Foreign Minister"}

	// Each organisation's root is pinned by fingerprint: in practice the hex of
	// seal.RootKey.Fingerprint(), here a stand-in digest.
	root := func(org string) talks.Pin {
		sum := sha256.Sum256([]byte("root key of " + org))
		return talks.Pin{Org: org, Fingerprint: hex.EncodeToString(sum[:])}
	}

	tk, err := talks.New(talks.Charter{
		ID: "muscat", At: at, Proposer: envoy,
		Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{root("us"), root("ir"), root("om")},
		Visibility: talks.VisibilityPublic, Format: talks.FormatIndirect, Level: 3,
		Venue: "Muscat", Agenda: []string{"nuclear-programme", "sanctions-relief"},
	})
	if err != nil {
		panic(err)
	}
	for _, e := range []talks.Event{
		talks.AcceptCharter{At: at, By: minister},
		talks.AcceptCharter{At: at, By: mediator},
	} {
		if err := tk.Apply(e); err != nil {
			panic(err)
		}
	}
	fmt.Println(tk.Status(), tk.Recipients(talks.RoomCaucus("ir"), at))

	err = tk.CheckMessage(talks.Header{
		Author: envoy, Room: talks.RoomCaucus("us"), Kind: bc.KindProposal, Topics: []string{"missiles"},
	}, at)
	fmt.Println(errors.Is(err, talks.ErrNotOnAgenda))
	fmt.Println(err)
	// Output:
	// active [ir.foreign-minister om.foreign-minister]
	// true
	// talks muscat: message in "caucus:us": not-on-agenda: "missiles" is not on the agreed agenda (nuclear-programme, sanctions-relief)
}
