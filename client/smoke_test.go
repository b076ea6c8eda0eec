package client_test

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

func TestRelayVerbatimReachesOtherRoomWithAuthorSignature(t *testing.T) {
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	omFM := w.person("om", "foreign-minister", "Foreign Minister", 4)
	ctx := w.ctx

	w.ok(envoy.CreateTalks(ctx, talks.Charter{
		ID: "us:muscat", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 3,
		Venue: "Muscat", Agenda: []string{"nuclear-programme", "sanctions-relief"},
	}))
	w.ok(irFM.Accept(ctx, "us:muscat", w.pins()))
	w.ok(omFM.Accept(ctx, "us:muscat", w.pins()))
	w.ok(envoy.Propose(ctx, "us:muscat", "round-1", talks.ScheduleRound("Muscat", time.Now().UTC().Truncate(time.Second)), time.Time{}))
	w.ok(irFM.Vote(ctx, "us:muscat", "round-1", true))
	w.ok(omFM.OpenRound(ctx, "us:muscat", 1))

	_, env, err := envoy.Send(ctx, "us:muscat", client.Draft{
		Room: talks.RoomCaucus("us"), Kind: backchannel.KindProposal, Topics: []string{"nuclear-programme"},
		Body: []byte("The United States is willing to negotiate on the nuclear issue."),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := omFM.Sync(ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Err != nil || got[0].Hash != env.Hash() {
		t.Fatalf("mediator received %d messages: %+v", len(got), got)
	}
	w.ok3(omFM.RelayVerbatim(ctx, "us:muscat", got[0], talks.RoomCaucus("ir")))
	in, err := irFM.Sync(ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 1 {
		t.Fatalf("Iran received %d messages, want 1", len(in))
	}
	m := in[0]
	if m.Err != nil || m.Opened.Mode != seal.RelayVerbatim || m.Opened.Author.Principal != "special-envoy" ||
		m.Opened.Relayer.Org != "om" || string(m.Opened.Body) != "The United States is willing to negotiate on the nuclear issue." {
		t.Fatalf("Iran opened %+v (err %v)", m.Opened, m.Err)
	}
	// The envoy learns that, and how, its message went on.
	w.ok(envoy.Sync(ctx, "us:muscat"))
	mine := envoy.Book("us:muscat").Message(env.Hash())
	if mine == nil || len(mine.Relays) != 1 || mine.Relays[0].Mode != "verbatim" || mine.Relays[0].To != talks.RoomCaucus("ir") {
		t.Fatalf("envoy's own message relays = %+v", mine)
	}
	// Iran cannot read the US caucus.
	page, err := irFM.Events(ctx, "us:muscat", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Events {
		if e.Room == talks.RoomCaucus("us") {
			t.Fatalf("Iran was served event %d of the US caucus", e.Index)
		}
	}
}
