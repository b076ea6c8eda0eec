// Package faultstore wraps a store so that tests can make its writes fail, before or after they
// commit: the failures a server meets when its database goes away mid-transaction or its answer
// is lost on the way back. Tests use it to show that the server keeps no state a failed write
// did not commit, and that a client retrying the operation lands it once.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
)

// ErrInjected is the error a failure the test asked for returns.
var ErrInjected = errors.New("faultstore: injected failure")

// Op names a write of the store.
type Op string

// The writes a Store can fail.
const (
	OpCreateTalks      Op = "CreateTalks"
	OpAppend           Op = "Append"
	OpAddCosignature   Op = "AddCosignature"
	OpPutOrganisation  Op = "PutOrganisation"
	OpPutCredential    Op = "PutCredential"
	OpRevokeCredential Op = "RevokeCredential"
)

// Ops lists every write a Store can fail.
var Ops = []Op{OpCreateTalks, OpAppend, OpAddCosignature, OpPutOrganisation, OpPutCredential, OpRevokeCredential}

// When says whether an injected failure comes before the write commits (nothing is stored) or
// after (everything is stored, but the caller hears of a failure).
type When int

const (
	// BeforeCommit fails the write inside its transaction, which rolls back. For Append and
	// CreateTalks the callback runs first, as it would before a failed commit.
	BeforeCommit When = iota
	// AfterCommit lets the write commit and then returns ErrInjected, as a connection lost
	// while the database acknowledged the commit would.
	AfterCommit
)

func (w When) String() string {
	if w == AfterCommit {
		return "after commit"
	}
	return "before commit"
}

// Store is a store.Store whose writes fail when armed. Reads pass through.
type Store struct {
	store.Store

	mu    sync.Mutex
	armed map[Op]When
	fired map[Op]int

	// held is set while notices are held back; pending are those held, and release wakes
	// the watchers to send them.
	held    bool
	pending []backchannel.Notice
	release chan struct{}
}

// New wraps s.
func New(s store.Store) *Store {
	return &Store{Store: s, armed: make(map[Op]When), fired: make(map[Op]int), release: make(chan struct{})}
}

// HoldNotices keeps the notices of growth from reaching the watchers until ReleaseNotices, as a
// node hears late of a commit another node made.
func (s *Store) HoldNotices() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

// ReleaseNotices sends the notices held, and lets the later ones through.
func (s *Store) ReleaseNotices() {
	s.mu.Lock()
	s.held = false
	close(s.release)
	s.release = make(chan struct{})
	s.mu.Unlock()
}

// Watch passes the wrapped store's notices on, holding them back while HoldNotices is in force.
// It serves one watcher at a time, as a server has.
func (s *Store) Watch(ctx context.Context) <-chan backchannel.Notice {
	in := s.Store.Watch(ctx)
	out := make(chan backchannel.Notice, 64)
	go func() {
		defer close(out)
		for {
			s.mu.Lock()
			release := s.release
			var send []backchannel.Notice
			if !s.held {
				send, s.pending = s.pending, nil
			}
			s.mu.Unlock()
			for _, n := range send {
				select {
				case out <- n:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-release:
			case n, ok := <-in:
				if !ok {
					return
				}
				s.mu.Lock()
				s.pending = append(s.pending, n)
				s.mu.Unlock()
			}
		}
	}()
	return out
}

// Fail makes the next call of op fail, before or after it commits.
func (s *Store) Fail(op Op, when When) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed[op] = when
}

// Fired returns how many injected failures of op have happened.
func (s *Store) Fired(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired[op]
}

// take reports whether the next call of op must fail, and when, disarming it.
func (s *Store) take(op Op) (When, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.armed[op]
	if ok {
		delete(s.armed, op)
		s.fired[op]++
	}
	return w, ok
}

func injected(op Op, w When) error { return fmt.Errorf("%w: %s %s", ErrInjected, op, w) }

// write runs a write that has no callback: before commit it does not reach the store at all.
func (s *Store) write(op Op, do func() error) error {
	w, ok := s.take(op)
	if !ok {
		return do()
	}
	if w == BeforeCommit {
		return injected(op, w)
	}
	if err := do(); err != nil {
		return err
	}
	return injected(op, w)
}

// logWrite runs a write with a callback: before commit the callback runs and then the
// transaction fails, so that the caller has done its work inside it.
func (s *Store) logWrite(op Op, fn func(tx store.AppendTx) error, do func(fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error)) ([]backchannel.Event, backchannel.Checkpoint, error) {
	w, ok := s.take(op)
	if !ok {
		return do(fn)
	}
	if w == BeforeCommit {
		_, _, err := do(func(tx store.AppendTx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return injected(op, w)
		})
		return nil, backchannel.Checkpoint{}, err
	}
	if _, _, err := do(fn); err != nil {
		return nil, backchannel.Checkpoint{}, err
	}
	return nil, backchannel.Checkpoint{}, injected(op, w)
}

// CreateTalks implements store.Store.
func (s *Store) CreateTalks(ctx context.Context, id string, members []string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.logWrite(OpCreateTalks, fn, func(fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
		return s.Store.CreateTalks(ctx, id, members, fn)
	})
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, talks string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.logWrite(OpAppend, fn, func(fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
		return s.Store.Append(ctx, talks, fn)
	})
}

// AddCosignature implements store.Store.
func (s *Store) AddCosignature(ctx context.Context, talks string, c backchannel.Cosignature) error {
	return s.write(OpAddCosignature, func() error { return s.Store.AddCosignature(ctx, talks, c) })
}

// PutOrganisation implements store.Store.
func (s *Store) PutOrganisation(ctx context.Context, o backchannel.Organisation) error {
	return s.write(OpPutOrganisation, func() error { return s.Store.PutOrganisation(ctx, o) })
}

// PutCredential implements store.Store.
func (s *Store) PutCredential(ctx context.Context, c backchannel.StoredCredential) error {
	return s.write(OpPutCredential, func() error { return s.Store.PutCredential(ctx, c) })
}

// RevokeCredential implements store.Store.
func (s *Store) RevokeCredential(ctx context.Context, id string, revocation []byte) error {
	return s.write(OpRevokeCredential, func() error { return s.Store.RevokeCredential(ctx, id, revocation) })
}
