package logbatch

import (
	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
)

// Request is one CreateTalks or Append waiting for a store's writer, and then its outcome. Both
// stores queue them and commit many in one transaction; only how they write differs.
type Request struct {
	Talks   string
	Create  bool
	Members []string
	Fn      func(store.AppendTx) error

	// Events, Checkpoint and Err are the outcome, set by the writer before Done.
	Events     []backchannel.Event
	Checkpoint backchannel.Checkpoint
	Err        error

	result chan struct{}
}

// NewRequest returns a request to append to talks with fn; with create it creates the talks
// with the given members first.
func NewRequest(talks string, create bool, members []string, fn func(store.AppendTx) error) *Request {
	return &Request{Talks: talks, Create: create, Members: members, Fn: fn, result: make(chan struct{})}
}

// Done tells the submitter that the outcome is set. The writer calls it once.
func (r *Request) Done() { close(r.result) }

// Wait waits for Done and returns the outcome.
func (r *Request) Wait() ([]backchannel.Event, backchannel.Checkpoint, error) {
	<-r.result
	return r.Events, r.Checkpoint, r.Err
}

// Pending is what one request's AppendTx has added and not yet committed: its events and the
// members it set. Each store's AppendTx embeds it and adds how to read what is committed.
type Pending struct {
	// Added are the events appended so far, stamped with their talks and index.
	Added []backchannel.Event
	// Members is what SetMembers set, or nil.
	Members []string
}

// Add stamps e as the event of talks at index and keeps it.
func (p *Pending) Add(talks string, index int64, e backchannel.Event) backchannel.Event {
	e.Talks, e.Index = talks, uint64(index)
	p.Added = append(p.Added, e)
	return e
}

// Since appends to out the added events at index from or later.
func (p *Pending) Since(out []backchannel.Event, from int64) []backchannel.Event {
	for _, e := range p.Added {
		if int64(e.Index) >= from {
			out = append(out, e)
		}
	}
	return out
}

// Find returns the added event whose Data hashes to h.
func (p *Pending) Find(h backchannel.EventHash) (backchannel.Event, bool) {
	for _, e := range p.Added {
		if e.Hash() == h {
			return e, true
		}
	}
	return backchannel.Event{}, false
}

// SetMembers records the organisations taking part, as store.AppendTx.SetMembers.
func (p *Pending) SetMembers(orgs []string) { p.Members = append([]string{}, orgs...) }
