package client_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/store/faultstore"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// A write of the host's store fails before it commits (nothing stored) or after (everything
// stored, but the host hears of a failure and answers 500). Either way, the client that sent
// the operation and sends it again lands it once, and every party's record still verifies:
// the host kept no state its store did not commit.
func TestFaultStoreFailingBeforeOrAfterCommitLandsEachRetriedOperationOnce(t *testing.T) {
	fw := newFaultWorld(t)
	ctx := fw.ctx
	us, ir, om := fw.roots["us"], fw.roots["ir"], fw.roots["om"]
	n := 0
	next := func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	usNote := func() *client.Message {
		b := mustSync(t, ctx, fw.omFM)
		for i := len(b.Messages) - 1; i >= 0; i-- {
			if m := b.Messages[i]; m.Opened != nil && m.Room == talks.RoomCaucus("us") {
				return m
			}
		}
		t.Fatal("the mediator opened no message of the US caucus")
		return nil
	}
	type outcome struct {
		accepted *api.Accepted // nil for the directory's operations
		err      error
	}
	for _, tc := range []struct {
		name string
		op   faultstore.Op
		// prepare runs before the store is armed; do is the operation, sent twice.
		prepare func() func() outcome
	}{
		{"register an organisation", faultstore.OpPutOrganisation, func() func() outcome {
			r, err := seal.NewRoot(rand.Reader, next("org"))
			if err != nil {
				t.Fatal(err)
			}
			return func() outcome {
				_, err := client.New(fw.url, nil).RegisterOrganisation(ctx, r.Public(), "An organisation")
				return outcome{err: err}
			}
		}},
		{"publish a credential", faultstore.OpPutCredential, func() func() outcome {
			id, err := seal.NewIdentity(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Millisecond)
			cr, err := us.Issue(seal.Credential{Principal: next("adviser"), Name: "An adviser", Title: "Adviser", Rank: 2,
				IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return func() outcome {
				_, err := client.New(fw.url, nil).PublishCredential(ctx, cr)
				return outcome{err: err}
			}
		}},
		{"found talks", faultstore.OpCreateTalks, func() func() outcome {
			id := talks.ScopedID("us", next("talks"))
			return func() outcome {
				a, err := fw.envoy.CreateTalks(ctx, talks.Charter{
					ID: id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
					Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
					Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
				})
				return outcome{&a, err}
			}
		}},
		{"propose", faultstore.OpAppend, func() func() outcome {
			motion := next("venue")
			return func() outcome {
				a, err := fw.envoy.Propose(ctx, "us:muscat", motion, talks.SetVenue("Muscat"), time.Time{})
				return outcome{&a, err}
			}
		}},
		{"send", faultstore.OpAppend, func() func() outcome {
			body := next("a note")
			return func() outcome {
				a, _, err := fw.envoy.Send(ctx, "us:muscat", client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
					Topics: []string{"nuclear-programme"}, Body: []byte(body)})
				return outcome{&a, err}
			}
		}},
		{"relay verbatim", faultstore.OpAppend, func() func() outcome {
			// A note not relayed yet: the host refuses a second verbatim relay into one room.
			fw.send(fw.envoy, talks.RoomCaucus("us"), next("a note to relay"))
			m := usNote()
			return func() outcome {
				a, _, err := fw.omFM.RelayVerbatim(ctx, "us:muscat", m, talks.RoomCaucus("ir"))
				return outcome{&a, err}
			}
		}},
		{"receipt", faultstore.OpAppend, func() func() outcome {
			m := usNote()
			return func() outcome {
				a, err := fw.omFM.Receipt(ctx, "us:muscat", m.Hash, seal.Acknowledged)
				return outcome{&a, err}
			}
		}},
		{"cosign", faultstore.OpAddCosignature, func() func() outcome {
			fw.send(fw.irFM, talks.RoomCaucus("ir"), next("news for a cosignature"))
			return func() outcome {
				_, err := fw.omFM.Sync(ctx, "us:muscat")
				return outcome{err: err}
			}
		}},
	} {
		for _, when := range []faultstore.When{faultstore.BeforeCommit, faultstore.AfterCommit} {
			name := fmt.Sprintf("%s/%s %s", tc.name, tc.op, when)
			do := tc.prepare()
			fired := fw.faults.Fired(tc.op)
			fw.faults.Fail(tc.op, when)
			first := do()
			if fw.faults.Fired(tc.op) != fired+1 {
				t.Fatalf("%s: the operation did not reach the store's %s", name, tc.op)
			}
			if first.err == nil {
				t.Fatalf("%s: the store failed, and the operation succeeded", name)
			}
			if !api.IsProblem(first.err, api.ProblemInternal.Name) {
				t.Fatalf("%s: the store's failure was answered %v, want the problem %q", name, first.err, api.ProblemInternal.Name)
			}
			again := do()
			if again.err != nil {
				t.Fatalf("%s: sent again after %v: %v", name, first.err, again.err)
			}
			if a := again.accepted; a != nil && a.Duplicate != (when == faultstore.AfterCommit) {
				t.Fatalf("%s: sent again, it was taken as a duplicate: %v (committed the first time: %v)", name, a.Duplicate, when == faultstore.AfterCommit)
			}
			// Every party, and one reading from scratch, still verifies the whole record.
			for _, c := range []*client.Client{fw.envoy, fw.irFM, fw.omFM, client.New(fw.url, fw.omFM.Identity())} {
				if _, err := c.Sync(ctx, "us:muscat"); err != nil {
					t.Fatalf("%s: then a sync fails: %v", name, err)
				}
			}
		}
	}
}
