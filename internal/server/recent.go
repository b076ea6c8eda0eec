package server

import (
	"sync"

	"github.com/backchannel/backchannel"
)

// recent keeps the last events of each talks in memory, so that the event streams woken by an
// append read it from here rather than each querying the store: a talks with a dozen readers
// would otherwise cost a dozen queries per message. It is only a cache of the store: a stream
// uses it when it covers everything up to the log's known size, and reads the store otherwise
// (after a restart, or when another node appended).
//
// The known size is learned only from what proves the log reached it: a commit on this node or
// a store notice. A page read from the store proves nothing about the end of the log (a full page
// of 1,000 may be followed by more), so events read merely fill the cache; they never move its
// known end, and the cache answers only when what it holds ends exactly at the known size.
type recent struct {
	mu    sync.Mutex
	talks map[string]*tail
	bytes int
}

// tail is the contiguous run of a talks' latest events, and the largest size the log is known
// to have reached.
type tail struct {
	first int64
	evs   []backchannel.Event
	known int64
	bytes int
}

const (
	// recentPerTalks bounds the events kept for one talks: enough for a burst, while a stream
	// that fell further behind reads the store.
	recentPerTalks = 64
	// recentBytes bounds the whole cache.
	recentBytes = 64 << 20
)

func newRecent() *recent { return &recent{talks: make(map[string]*tail)} }

func (t *tail) end() int64 { return t.first + int64(len(t.evs)) }

// grew records that the log of talks has reached size.
func (r *recent) grew(talks string, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.talks[talks]
	if t == nil {
		t = &tail{}
		r.talks[talks] = t
	}
	if size > t.known {
		t.known = size
	}
}

// committed adds events this node just committed: they end where the log ended at the commit.
func (r *recent) committed(talks string, evs []backchannel.Event) {
	if len(evs) == 0 {
		return
	}
	r.put(talks, evs, true)
}

// read adds events just read from the store; they say nothing of where the log ends.
func (r *recent) read(talks string, evs []backchannel.Event) {
	if len(evs) == 0 {
		return
	}
	r.put(talks, evs, false)
}

// put appends contiguous events in order, and with atEnd takes their end for a size the log has
// reached.
func (r *recent) put(talks string, evs []backchannel.Event, atEnd bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.talks[talks]
	if t == nil {
		t = &tail{}
		r.talks[talks] = t
	}
	first := int64(evs[0].Index)
	if len(t.evs) == 0 || first > t.end() || first < t.first {
		r.bytes -= t.bytes
		t.first, t.evs, t.bytes = first, nil, 0
	}
	for _, e := range evs {
		if int64(e.Index) < t.end() {
			continue // already held
		}
		t.evs = append(t.evs, e)
		t.bytes += len(e.Data)
		r.bytes += len(e.Data)
	}
	if end := int64(evs[len(evs)-1].Index) + 1; atEnd && end > t.known {
		t.known = end
	}
	if drop := len(t.evs) - recentPerTalks; drop > 0 {
		for _, e := range t.evs[:drop] {
			t.bytes -= len(e.Data)
			r.bytes -= len(e.Data)
		}
		t.evs = append([]backchannel.Event(nil), t.evs[drop:]...)
		t.first += int64(drop)
	}
	for name, other := range r.talks {
		if r.bytes <= recentBytes {
			break
		}
		if name != talks {
			r.bytes -= other.bytes
			delete(r.talks, name)
		}
	}
}

// from returns the events of talks from index from to the log's known size, if the cache holds
// all of them and nothing beyond; an empty result with ok means the caller has seen everything
// known. Events held past the known size came from a read that outran the notices: the end of
// the log is then unknown, and the caller must read the store.
func (r *recent) from(talks string, from int64) (evs []backchannel.Event, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.talks[talks]
	if t == nil || len(t.evs) == 0 || from < t.first || t.end() != t.known || from > t.end() {
		return nil, false
	}
	return append([]backchannel.Event(nil), t.evs[from-t.first:]...), true
}
