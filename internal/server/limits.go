package server

import (
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

// streamCounter bounds open event streams, in all and per principal.
type streamCounter struct {
	mu    sync.Mutex
	total int
	by    map[string]int
}

// acquire takes a stream slot for principal, or reports false if a bound is reached.
func (c *streamCounter) acquire(principal string, max, perPrincipal int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = make(map[string]int)
	}
	if c.total >= max || c.by[principal] >= perPrincipal {
		return false
	}
	c.total++
	c.by[principal]++
	return true
}

func (c *streamCounter) release(principal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.by[principal]--; c.by[principal] <= 0 {
		delete(c.by, principal)
	}
}
