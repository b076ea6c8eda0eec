package client_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/witness"
	"github.com/backchannel/backchannel/internal/witness/witnesstest"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/talks"
)

// witnessedWorld founds talks id whose charter names the witnesses given, has every party and
// the mediator accept it and the parties write, and returns the world and its clients.
func witnessedWorld(t *testing.T, id string, quorum int, witnesses func(host, hostKey, origin string) []talks.Witness) (*world, []*client.Client) {
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Iran"), w.org("om", "Oman")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	omFM := w.person("om", "foreign-minister", "Foreign Minister", 4)
	if err := envoy.Login(w.ctx); err != nil {
		t.Fatal(err)
	}
	lk, err := envoy.LogKey(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	origin, err := record.Origin(envoy.Host(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(envoy.CreateTalks(w.ctx, talks.Charter{
		ID: id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
		Witnesses: witnesses(envoy.Host(), lk.Verifier, origin), WitnessQuorum: quorum,
	}))
	w.ok(irFM.Accept(w.ctx, id, w.pins()))
	w.ok(omFM.Accept(w.ctx, id, w.pins()))
	for _, c := range []*client.Client{envoy, irFM} {
		room := talks.RoomCaucus(c.Credential().Org)
		if _, _, err := c.Send(w.ctx, id, client.Draft{Room: room, Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Body: []byte("a note")}); err != nil {
			t.Fatal(err)
		}
	}
	return w, []*client.Client{envoy, irFM, omFM}
}

// syncAll syncs every client (each cosigns what it verified) and returns the first's book.
func syncAll(t *testing.T, ctx context.Context, id string, cs []*client.Client) *client.Book {
	t.Helper()
	for range 2 { // twice: the second sync reads the others' cosignatures of the first
		for _, c := range cs {
			if _, err := c.Sync(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cs[0].Book(id)
}

// A checkpoint every party cosigned is still unconfirmed while the witnesses its charter names
// have not: here, a witness that never answers.
func TestACheckpointShortOfItsWitnessesIsUnconfirmed(t *testing.T) {
	w, err := witness.Init(context.Background(), witness.Config{Path: filepath.Join(t.TempDir(), "w.db"), Name: "witness.example/silent"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	world, cs := witnessedWorld(t, "us:silent", 0, func(_, _, _ string) []talks.Witness {
		return []talks.Witness{{Key: w.VerifierKey(), URL: "http://127.0.0.1:1"}}
	})
	b := syncAll(t, world.ctx, "us:silent", cs)
	if b.ConfirmedBy("us") != b.Size || b.ConfirmedBy("ir") != b.Size {
		t.Fatalf("the parties cosigned %d and %d of %d", b.ConfirmedBy("us"), b.ConfirmedBy("ir"), b.Size)
	}
	if got := b.Confirmed(); got != 0 || b.WitnessedBy("witness.example/silent") != 0 {
		t.Fatalf("confirmed %d, witnessed %d: a checkpoint no witness cosigned is confirmed", got, b.WitnessedBy("witness.example/silent"))
	}
}

// The host submits each new checkpoint to the witnesses the charter names, ours and one we did
// not write (litewitness), and every party's client counts their cosignatures: the record is
// confirmed once both parties and both witnesses have cosigned it, and an export verifies
// with the witnesses among its cosigners.
func TestTheHostIsWitnessedByTheCharterWitnesses(t *testing.T) {
	ours, err := witness.Init(context.Background(), witness.Config{Path: filepath.Join(t.TempDir(), "w.db"), Name: "witness.example/ours"})
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	srv := httptest.NewServer(ours.Handler())
	defer srv.Close()
	const id = "us:witnessed"
	world, cs := witnessedWorld(t, id, 0, func(host, hostKey, origin string) []talks.Witness {
		if _, err := ours.TrustHost(context.Background(), hostKey); err != nil {
			t.Fatal(err)
		}
		originKey, err := record.OriginVerifierKey(hostKey, origin)
		if err != nil {
			t.Fatal(err)
		}
		lwURL, lwKey := witnesstest.StartLitewitness(t, map[string]string{origin: originKey})
		return []talks.Witness{{Key: ours.VerifierKey(), URL: srv.URL}, {Key: lwKey, URL: lwURL}}
	})
	// The witnesses cosign in the background; wait until both have cosigned the record as it
	// stands (a condition, not a duration: the deadline only bounds a failure).
	deadline := time.Now().Add(60 * time.Second)
	var b *client.Book
	for {
		b = syncAll(t, world.ctx, id, cs)
		if b.Confirmed() == b.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the record of %d is confirmed to %d (ours %d, litewitness %d)", b.Size, b.Confirmed(),
				b.WitnessedBy("witness.example/ours"), b.WitnessedBy(witnesstest.Name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b.WitnessedBy("witness.example/ours") != b.Size || b.WitnessedBy(witnesstest.Name) != b.Size {
		t.Fatalf("witnessed %d and %d of %d", b.WitnessedBy("witness.example/ours"), b.WitnessedBy(witnesstest.Name), b.Size)
	}
	// The record grows on past what the witnesses cosigned: the host's check before it signs
	// takes the witnesses' cosignatures by the charter's keys, and signs on.
	if _, _, err := cs[0].Send(world.ctx, id, client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
		Topics: []string{"nuclear-programme"}, Body: []byte("after the witnesses")}); err != nil {
		t.Fatal(err)
	}
	px, err := cs[0].Export(world.ctx, id, client.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := mustJSON(t, px)
	rep, err := client.VerifyPartyExport(data, client.VerifyOptions{LogKey: cs[0].PinnedLogKey()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Confirmed != b.Size {
		t.Errorf("the export is confirmed to %d, want %d; checkpoints %+v", rep.Confirmed, b.Size, rep.Record.Checkpoints)
	}
}
