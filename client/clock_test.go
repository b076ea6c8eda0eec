package client_test

import (
	"testing"
	"time"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// TestActsSurviveAClockBehindAnother checks that a principal whose clock runs a few seconds
// behind another's can still act: the talks apply events in time order, so the client dates
// its act just after the record's last event when its own clock is earlier.
func TestActsSurviveAClockBehindAnother(t *testing.T) {
	w := newWorld(t)
	us, ir := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	// Iran's Foreign Minister acts through a client whose clock is 3 s behind the envoy's.
	behind := client.New(w.url, irFM.Identity(), client.WithClock(func() time.Time { return time.Now().Add(-3 * time.Second) }))
	ctx := w.ctx
	w.ok(envoy.CreateTalks(ctx, talks.Charter{
		ID: "us:muscat", Parties: []string{"us", "ir"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public())},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1,
	}))
	w.ok(behind.Accept(ctx, "us:muscat", w.pins()))
	w.ok(envoy.Propose(ctx, "us:muscat", "venue", talks.SetVenue("Muscat"), time.Time{}))
	w.ok(behind.Vote(ctx, "us:muscat", "venue", true))
	info, err := envoy.Talks(ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	if info.Venue != "Muscat" {
		t.Fatalf("venue = %q: the vote of the principal with the slow clock did not count", info.Venue)
	}
	// A plain Act, dated by the caller, is still refused: only the client's own dating adapts.
	_, err = behind.Act(ctx, "us:muscat", talks.CloseSession{At: time.Now().Add(-3 * time.Second).UTC().Truncate(time.Millisecond), By: behind.Actor()})
	if !api.IsProblem(err, talks.ErrTimeWentBack.Name) {
		t.Errorf("an act dated before the record's last event: %v, want time-went-back", err)
	}
}
