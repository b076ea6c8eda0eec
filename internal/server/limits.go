package server

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per principal (or, before login, per address). Buckets idle
// for a while are forgotten, so the map does not grow with every caller ever seen.
type limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*bucket)}
}

// allow reports whether key may make one more request now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// streamCounter bounds open event streams, in all and per principal, and shares them fairly
// between organisations. An organisation mints principals at will, and anyone may register an
// organisation, so neither bound alone stops one from taking every slot: when all are taken, a
// stream of an organisation holding fewer than the largest holder (by two or more) takes the
// slot of the largest holder's newest stream, which ends. So a full server still admits every
// organisation up to its share.
type streamCounter struct {
	mu    sync.Mutex
	total int
	by    map[string]int           // principal -> open streams
	orgs  map[string][]*streamSlot // organisation -> its streams, oldest first
}

// streamSlot is one open stream's place. evicted is closed when another organisation's stream
// takes it: the stream must end.
type streamSlot struct {
	principal, org string
	evicted        chan struct{}
	released       bool
}

// acquire takes a stream slot for principal of org, or reports false if a bound is reached.
func (c *streamCounter) acquire(principal, org string, max, perPrincipal int) (*streamSlot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by, c.orgs = make(map[string]int), make(map[string][]*streamSlot)
	}
	if c.by[principal] >= perPrincipal {
		return nil, false
	}
	if c.total >= max {
		largest := ""
		for o, slots := range c.orgs {
			if largest == "" || len(slots) > len(c.orgs[largest]) || (len(slots) == len(c.orgs[largest]) && o < largest) {
				largest = o
			}
		}
		if largest == "" || len(c.orgs[largest]) < len(c.orgs[org])+2 {
			return nil, false
		}
		slots := c.orgs[largest]
		victim := slots[len(slots)-1]
		c.releaseLocked(victim)
		close(victim.evicted)
	}
	slot := &streamSlot{principal: principal, org: org, evicted: make(chan struct{})}
	c.total++
	c.by[principal]++
	c.orgs[org] = append(c.orgs[org], slot)
	return slot, true
}

// release frees a slot; releasing one already freed (an evicted stream ending) does nothing.
func (c *streamCounter) release(slot *streamSlot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(slot)
}

func (c *streamCounter) releaseLocked(slot *streamSlot) {
	if slot.released {
		return
	}
	slot.released = true
	c.total--
	if c.by[slot.principal]--; c.by[slot.principal] <= 0 {
		delete(c.by, slot.principal)
	}
	slots := c.orgs[slot.org]
	if i := slices.Index(slots, slot); i >= 0 {
		slots = slices.Delete(slots, i, i+1)
	}
	if len(slots) == 0 {
		delete(c.orgs, slot.org)
	} else {
		c.orgs[slot.org] = slots
	}
}
