// Package watch fans out store notices (a talks' log has grown) to watchers, coalescing them so
// that a slow watcher delays but never loses the news that a log has grown.
package watch

import (
	"context"
	"sync"

	"github.com/backchannel/backchannel"
)

// Hub is a set of watchers. The zero Hub is ready to use.
type Hub struct {
	mu       sync.Mutex
	watchers map[*watcher]struct{}
}

type watcher struct {
	mu      sync.Mutex
	pending map[string]int64 // talks -> largest size not yet delivered
	wake    chan struct{}
}

// Watch returns a channel of notices that is closed when ctx is done.
func (h *Hub) Watch(ctx context.Context) <-chan backchannel.Notice {
	w := &watcher{pending: make(map[string]int64), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = make(map[*watcher]struct{})
	}
	h.watchers[w] = struct{}{}
	h.mu.Unlock()

	out := make(chan backchannel.Notice, 64)
	go func() {
		defer close(out)
		defer func() {
			h.mu.Lock()
			delete(h.watchers, w)
			h.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			w.mu.Lock()
			batch := w.pending
			w.pending = make(map[string]int64, len(batch))
			w.mu.Unlock()
			for t, n := range batch {
				select {
				case out <- backchannel.Notice{Talks: t, Size: n}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// Publish tells every watcher that talks has grown to size.
func (h *Hub) Publish(talks string, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.mu.Lock()
		if w.pending[talks] < size {
			w.pending[talks] = size
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}
