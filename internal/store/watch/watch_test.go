package watch

import (
	"context"
	"testing"
	"time"
)

func TestWatchCoalescesToTheLargestSizeAndNeverLosesGrowth(t *testing.T) {
	var h Hub
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := h.Watch(ctx)
	// Publish far more than the channel holds before anyone reads: nothing may be lost.
	for i := int64(1); i <= 1000; i++ {
		h.Publish("muscat", i)
		h.Publish("doha", i/2)
	}
	latest := map[string]int64{}
	deadline := time.After(5 * time.Second)
	for latest["muscat"] != 1000 || latest["doha"] != 500 {
		select {
		case n := <-ch:
			if n.Size < latest[n.Talks] {
				t.Fatalf("talks %s went back from %d to %d", n.Talks, latest[n.Talks], n.Size)
			}
			latest[n.Talks] = n.Size
		case <-deadline:
			t.Fatalf("latest sizes seen: %v", latest)
		}
	}
	cancel()
	for range ch {
	}
}
