package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/backchannel/backchannel/internal/store"
)

// hub wakes the event streams of a talks when its log grows. It learns of growth from the
// store's notices, which cover every node on the database; a stream always reads the events
// themselves from the store, so a notice carries no data and a missed one costs only latency:
// the hub also wakes every stream on a slow timer as a safety net.
type hub struct {
	store store.Notices
	log   *slog.Logger
	// grew is told of each notice before the streams wake, so that they know how far to read.
	grew func(talks string, size int64)

	mu    sync.Mutex
	talks map[string]chan struct{} // closed and replaced at each growth
}

func newHub(st store.Notices, log *slog.Logger, grew func(talks string, size int64)) *hub {
	return &hub{store: st, log: log, grew: grew, talks: make(map[string]chan struct{})}
}

// wait returns a channel that is closed when talks next grows.
func (h *hub) wait(talks string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.talks[talks]
	if !ok {
		ch = make(chan struct{})
		h.talks[talks] = ch
	}
	return ch
}

// wake wakes the streams of talks.
func (h *hub) wake(talks string) {
	h.mu.Lock()
	ch, ok := h.talks[talks]
	if ok {
		delete(h.talks, talks)
	}
	h.mu.Unlock()
	if ok {
		close(ch)
	}
}

// wakeAll wakes every stream.
func (h *hub) wakeAll() {
	h.mu.Lock()
	old := h.talks
	h.talks = make(map[string]chan struct{})
	h.mu.Unlock()
	for _, ch := range old {
		close(ch)
	}
}

// run relays the store's notices until ctx is done.
func (h *hub) run(ctx context.Context) {
	notices := h.store.Watch(ctx)
	safety := time.NewTicker(5 * time.Second)
	defer safety.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-notices:
			if !ok {
				return
			}
			h.grew(n.Talks, n.Size)
			h.wake(n.Talks)
		case <-safety.C:
			h.wakeAll()
		}
	}
}
