package client_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

func TestWaiting(t *testing.T) {
	at := time.Date(2025, time.May, 1, 9, 0, 0, 0, time.UTC)
	actor := func(org string) talks.Actor {
		return talks.Actor{Principal: org + ".envoy", Org: org, Rank: 3, Title: "Envoy"}
	}
	root := func(org string) string {
		h := sha256.Sum256([]byte("root key of " + org))
		return hex.EncodeToString(h[:])
	}
	var pins []talks.Pin
	for _, o := range []string{"us", "ir", "fr", "om"} {
		pins = append(pins, talks.Pin{Org: o, Fingerprint: root(o)})
	}
	// The parties are out of alphabetical order, so that an unsorted answer shows.
	tk, err := talks.New(talks.Charter{
		ID: "waiting", At: at, Proposer: actor("us"), Parties: []string{"us", "ir", "fr"}, Mediators: []string{"om"},
		Roots: pins, Visibility: talks.VisibilityPublic, Format: talks.FormatDirect, Level: 1, Venue: "Muscat",
	})
	if err != nil {
		t.Fatal(err)
	}
	events := []talks.Event{
		talks.AcceptCharter{At: at, By: actor("ir")},
		talks.AcceptCharter{At: at, By: actor("fr")},
		talks.AcceptCharter{At: at, By: actor("om")},
		talks.Propose{At: at, By: actor("ir"), Motion: "venue", Change: talks.SetVenue("Geneva")},
		talks.Propose{At: at, By: actor("us"), Motion: "add", Change: talks.AddParty("de", root("de"))},
		talks.Propose{At: at, By: actor("us"), Motion: "remove", Change: talks.RemoveParty("fr")},
		talks.Propose{At: at, By: actor("om"), Motion: "round", Change: talks.ScheduleRound("", at.Add(time.Hour))},
		talks.Propose{At: at, By: actor("us"), Motion: "refused", Change: talks.AddTopic("sanctions")},
		talks.Vote{At: at, By: actor("fr"), Motion: "refused", Accept: false},
		talks.Propose{At: at, By: actor("us"), Motion: "passed", Change: talks.AddTopic("water")},
		talks.Vote{At: at, By: actor("ir"), Motion: "passed", Accept: true},
		talks.Vote{At: at, By: actor("fr"), Motion: "passed", Accept: true},
	}
	for _, e := range events {
		if err := tk.Apply(e); err != nil {
			t.Fatalf("%T: %v", e, err)
		}
	}
	for motion, want := range map[string][]string{
		"venue":   {"fr", "us"},       // the proposer's own acceptance is in; the mediator does not vote
		"add":     {"de", "fr", "ir"}, // the invited organisation votes on its own admission
		"remove":  {"ir"},             // the party to be removed does not vote
		"round":   {"fr", "ir", "us"}, // a mediator proposes without voting
		"refused": {},
		"passed":  {},
	} {
		m, ok := tk.Motion(motion)
		if !ok {
			t.Fatalf("no motion %q", motion)
		}
		got := client.Waiting(tk, m)
		if got == nil || !slices.Equal(got, want) {
			t.Errorf("Waiting(%s) = %#v, want %q", motion, got, want)
		}
	}
}

func TestDescribeChange(t *testing.T) {
	start := time.Date(2025, time.June, 2, 14, 30, 0, 0, time.FixedZone("GST", 4*3600))
	for _, c := range []struct {
		change talks.Change
		want   string
	}{
		{talks.InviteMediator("qa", ""), "invite-mediator qa"},
		{talks.RemoveParty("fr"), "remove-party fr"},
		{talks.SetVenue("Geneva"), "set-venue Geneva"},
		{talks.SetFormat(talks.FormatIndirect), "set-format indirect"},
		{talks.SetLevel(4), "set-level 4"},
		{talks.RemoveTopic("water"), "remove-topic water"},
		{talks.ScheduleRound("", start), "schedule-round at 2025-06-02 10:30:00 UTC"},
		{talks.ScheduleRound("Muscat", start), "schedule-round at 2025-06-02 10:30:00 UTC in Muscat"},
		{talks.OpenSession(start), "open-session until 2025-06-02 10:30:00 UTC"},
		{talks.Suspend(), "suspend"},
	} {
		if got := client.DescribeChange(c.change); got != c.want {
			t.Errorf("DescribeChange(%+v) = %q, want %q", c.change, got, c.want)
		}
	}
}
