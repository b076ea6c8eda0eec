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
	r.committed("t", evs(0, 10))
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
	r.read("t", evs(10, 12))
	if got, ok := r.from("t", 10); !ok || len(got) != 2 {
		t.Fatalf("after the store read: %d events, %v", len(got), ok)
	}
	// Overlapping and repeated events are held once.
	r.committed("t", evs(8, 13))
	if got, _ := r.from("t", 0); len(got) != 13 {
		t.Fatalf("after an overlapping add: %d events, want 13", len(got))
	}
	// Only the latest events are kept; older ones come from the store.
	r.committed("t", evs(13, 13+2*recentPerTalks))
	if _, ok := r.from("t", 0); ok {
		t.Fatal("the cache claimed to hold events it dropped")
	}
	if got, ok := r.from("t", 13+recentPerTalks); !ok || len(got) != recentPerTalks {
		t.Fatalf("latest events: %d, %v", len(got), ok)
	}
	// A gap resets the run rather than joining two runs.
	r.read("t", evs(500, 502))
	if _, ok := r.from("t", 13+recentPerTalks); ok {
		t.Fatal("the cache bridged a gap")
	}
}

// After a restart the cache knows no end; a full page read from the store must not be taken for
// one, or a stream resuming at the page's end is told it has everything.
func TestRecentNeverTakesAPageForTheEndOfTheLog(t *testing.T) {
	r := newRecent()
	r.read("t", evs(0, maxPage))
	for _, from := range []int64{maxPage - 10, maxPage} {
		if got, ok := r.from("t", from); ok {
			t.Errorf("from(%d) after reading a page of %d: %d events, covered; the log may go on", from, maxPage, len(got))
		}
	}
	// A notice says where the log ends: short of the page, the page is all; past it, not.
	r.grew("t", maxPage+152)
	if _, ok := r.from("t", maxPage); ok {
		t.Error("the cache claimed to cover events past the page it read")
	}
	r.read("t", evs(maxPage, maxPage+152))
	if got, ok := r.from("t", maxPage+100); !ok || len(got) != 52 {
		t.Errorf("after reading to the notified end: %d events, %v; want 52, covered", len(got), ok)
	}
	// Reads that run past the known end leave it unknown again.
	r.read("t", evs(maxPage+152, maxPage+160))
	if _, ok := r.from("t", maxPage+152); ok {
		t.Error("a read past the notified end was taken for the end")
	}
}

// Dropping old events, from the run or the whole talks, must keep the end it knows or forget
// the talks entirely; it must never leave a shorter end behind.
func TestRecentKeepsTheKnownEndWhenItDropsEvents(t *testing.T) {
	r := newRecent()
	r.committed("t", evs(0, 3*recentPerTalks))
	r.grew("t", 3*recentPerTalks+5)
	// The run restarts at a gap; the known end stays.
	r.read("t", evs(3*recentPerTalks+1, 3*recentPerTalks+3))
	if _, ok := r.from("t", 3*recentPerTalks+1); ok {
		t.Error("the cache claimed to cover a talks whose known end it holds no events up to")
	}
	r.read("t", evs(3*recentPerTalks+3, 3*recentPerTalks+5))
	if got, ok := r.from("t", 3*recentPerTalks+1); !ok || len(got) != 4 {
		t.Errorf("from the new run: %d events, %v; want 4, covered", len(got), ok)
	}
}
