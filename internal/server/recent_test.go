package server

import (
	"fmt"
	"testing"

	"github.com/backchannel/backchannel"
)

func evs(from, to int64) []backchannel.Event {
	var out []backchannel.Event
	for i := from; i < to; i++ {
		out = append(out, backchannel.Event{Index: uint64(i), Type: "envelope", Data: []byte(fmt.Sprint("event ", i))})
	}
	return out
}

func TestRecentServesOnlyWhatItHoldsUpToTheKnownSize(t *testing.T) {
	r := newRecent()
	if _, ok := r.from("t", 0); ok {
		t.Fatal("an empty cache claimed to cover a talks")
	}
	r.add("t", evs(0, 10))
	if got, ok := r.from("t", 4); !ok || len(got) != 6 || got[0].Index != 4 {
		t.Fatalf("from(4) = %d events, %v", len(got), ok)
	}
	if got, ok := r.from("t", 10); !ok || len(got) != 0 {
		t.Fatalf("from(end) = %d events, %v; want none, covered", len(got), ok)
	}
	// Another node appended: the cache no longer reaches the known size, so readers go to the
	// store rather than miss the new events.
	r.grew("t", 12)
	if _, ok := r.from("t", 10); ok {
		t.Fatal("the cache claimed to cover events it does not hold")
	}
	r.add("t", evs(10, 12))
	if got, ok := r.from("t", 10); !ok || len(got) != 2 {
		t.Fatalf("after the store read: %d events, %v", len(got), ok)
	}
	// Overlapping and repeated events are held once.
	r.add("t", evs(8, 13))
	if got, _ := r.from("t", 0); len(got) != 13 {
		t.Fatalf("after an overlapping add: %d events, want 13", len(got))
	}
	// Only the latest events are kept; older ones come from the store.
	r.add("t", evs(13, 13+2*recentPerTalks))
	if _, ok := r.from("t", 0); ok {
		t.Fatal("the cache claimed to hold events it dropped")
	}
	if got, ok := r.from("t", 13+recentPerTalks); !ok || len(got) != recentPerTalks {
		t.Fatalf("latest events: %d, %v", len(got), ok)
	}
	// A gap resets the run rather than joining two runs.
	r.add("t", evs(500, 502))
	if _, ok := r.from("t", 13+recentPerTalks); ok {
		t.Fatal("the cache bridged a gap")
	}
}
