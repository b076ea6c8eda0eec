package seal

import (
	"fmt"
	"sync"
)

// SequenceTracker rejects duplicate or non-monotonic per-author sequence numbers, for a caller
// (the server, a client) that keeps track of them. Sequences belong to a principal within one
// talks, across rotations of its credential. The zero value is ready to use; it is safe for
// concurrent use. It holds state in memory only: a server restores it from its store.
type SequenceTracker struct {
	mu   sync.Mutex
	last map[[3]string]uint64
}

// Check reports whether Observe would accept seq, without remembering it.
func (s *SequenceTracker) Check(talks string, c *Credential, seq uint64) error {
	k := [3]string{talks, c.Org, c.Principal}
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.last[k]; ok && seq <= last {
		return fmt.Errorf("seal: %s in %s: %w: %d after %d", c, talks, ErrSequence, seq, last)
	}
	return nil
}

// Observe accepts seq for the author of c in talks if it is greater than every sequence seen
// before for that author, and remembers it; otherwise it returns an error wrapping ErrSequence.
func (s *SequenceTracker) Observe(talks string, c *Credential, seq uint64) error {
	k := [3]string{talks, c.Org, c.Principal}
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.last[k]; ok && seq <= last {
		return fmt.Errorf("seal: %s in %s: %w: %d after %d", c, talks, ErrSequence, seq, last)
	}
	if s.last == nil {
		s.last = make(map[[3]string]uint64)
	}
	s.last[k] = seq
	return nil
}
