package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/talks"
)

// TestTalksDroppedFromMemoryAreRebuiltFromTheRecord runs two talks on a server that holds only
// one in memory, so that every switch rebuilds a talks from its record, and checks that the
// rules and the record come out as if nothing had been dropped.
func TestTalksDroppedFromMemoryAreRebuiltFromTheRecord(t *testing.T) {
	w := newWorldWith(t, func(c *server.Config) { c.MaxTalksInMemory = 1 })
	us, ir := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	ctx := w.ctx
	ids := []string{"us:muscat", "us:doha"}
	for _, id := range ids {
		w.ok(envoy.CreateTalks(ctx, talks.Charter{
			ID: id, Parties: []string{"us", "ir"}, Roots: []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public())},
			Visibility: talks.VisibilitySecret, Format: talks.FormatDirect, Level: 1, Agenda: []string{"nuclear-programme"},
		}))
	}
	for _, id := range ids {
		w.ok(irFM.Accept(ctx, id, w.pins()))
	}
	for i := 0; i < 3; i++ {
		for _, id := range ids {
			w.ok3(envoy.Send(ctx, id, client.Draft{Room: talks.RoomPlenary, Kind: backchannel.KindNote,
				Topics: []string{"nuclear-programme"}, Body: []byte("a note")}))
			// A rule that depends on the rebuilt state: a topic off the agenda is still refused.
			_, _, err := irFM.Send(ctx, id, client.Draft{Room: talks.RoomPlenary, Kind: backchannel.KindNote,
				Topics: []string{"missiles"}, Body: []byte("off the agenda")})
			if !api.IsProblem(err, talks.ErrNotOnAgenda.Name) {
				t.Fatalf("talks %s: a message off the agenda: %v", id, err)
			}
		}
	}
	w.ok(envoy.Propose(ctx, "us:muscat", "venue", talks.SetVenue("Muscat"), time.Time{}))
	w.ok(irFM.Vote(ctx, "us:muscat", "venue", true))
	for _, id := range ids {
		if _, err := irFM.Sync(ctx, id); err != nil {
			t.Fatalf("talks %s: %v", id, err)
		}
		verified := 0
		for _, m := range irFM.Book(id).Messages {
			if m.Err == nil && m.Opened.Author.Org == "us" {
				verified++
			}
		}
		if verified != 3 {
			t.Errorf("talks %s: Iran verified %d of the US messages, want 3", id, verified)
		}
	}
	if v, _ := envoy.Talks(ctx, "us:muscat"); v.Venue != "Muscat" {
		t.Errorf("venue = %q after the talks were rebuilt", v.Venue)
	}
	body := w.metrics()
	if !strings.Contains(string(body), "backchannel_talks_in_memory 1\n") {
		t.Errorf("the server holds more talks than configured:\n%s", grepLine(string(body), "backchannel_talks_in_memory"))
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return "(no " + prefix + ")"
}
