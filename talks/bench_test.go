package talks

import (
	"testing"

	bc "github.com/backchannel/backchannel"
)

// BenchmarkCheckMessage measures the rule check the server makes on every envelope.
func BenchmarkCheckMessage(b *testing.B) {
	t := &testing.T{}
	r := playMuscat(t)
	h := Header{Author: usVP, Room: "caucus:us", Kind: bc.KindProposal, Topics: []string{"nuclear-programme"}, Round: 3}
	now := r.now
	if err := r.talks.CheckMessage(h, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.talks.CheckMessage(h, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay measures rebuilding the Muscat talks from their events.
func BenchmarkReplay(b *testing.B) {
	r := playMuscat(&testing.T{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Replay(r.events); err != nil {
			b.Fatal(err)
		}
	}
}
