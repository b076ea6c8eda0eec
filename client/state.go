package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/backchannel/backchannel/record"
)

// VerifiedState is what a party verified of one talks, kept from one run of a client to the
// next: without it, a host could show a later run a record rolled back or forked from the one
// an earlier run verified and cosigned, and the client would have nothing to compare it with.
type VerifiedState struct {
	// Verifier is the state of the talks' record.Verifier: the latest checkpoint verified and
	// the latest cosigned (record.Verifier.MarshalJSON).
	Verifier json.RawMessage `json:"verifier,omitempty"`
	// Expected maps an organisation to the fingerprint (hex) of the root the party compared out
	// of band for it.
	Expected map[string]string `json:"expected,omitempty"`
	// Promises are the host's acknowledgments of this party's submissions that no verified
	// record has kept yet.
	Promises []Promise `json:"promises,omitempty"`
}

// StateKeeper keeps each talks' VerifiedState between runs: a keystore on disk, a browser's
// storage. The client loads a talks' state before its first sync and saves it after every
// sync that verified, so that rollback protection does not depend on each program
// remembering to do so.
type StateKeeper interface {
	// LoadVerified returns the state saved for talks, and false if there is none.
	LoadVerified(talksID string) (VerifiedState, bool, error)
	// SaveVerified replaces the state saved for talks.
	SaveVerified(talksID string, s VerifiedState) error
}

// WithStateKeeper makes the client load and save what it verified of each talks through k.
func WithStateKeeper(k StateKeeper) Option { return func(c *Client) { c.keeper = k } }

// WithExpectedRoots gives the roots, by organisation (hex fingerprints), that the party
// compared out of band for every talks: its own organisation's, typically. A talks whose
// record pins another root for one of them is refused as it is replayed.
func WithExpectedRoots(roots map[string]string) Option {
	return func(c *Client) { c.expectAll = maps.Clone(roots) }
}

// ExpectEverywhere adds the root fingerprint (hex) compared out of band for org to the roots
// expected in every talks the client reads from now on, as WithExpectedRoots does at the start:
// a comparison made during a session holds for talks first read later in it.
func (c *Client) ExpectEverywhere(org, fingerprint string) {
	c.expectMu.Lock()
	defer c.expectMu.Unlock()
	if c.expectAll == nil {
		c.expectAll = make(map[string]string)
	}
	c.expectAll[org] = fingerprint
}

// ErrSavedState reports a saved VerifiedState that cannot be read back: the place it is kept
// was altered or damaged. The client refuses to sync that talks rather than start afresh,
// which would forget what it verified.
var ErrSavedState = errors.New("the saved state of the talks is damaged")

// loadState gives b the state saved for its talks, once per client and talks.
func (c *Client) loadState(b *Book) error {
	if c.keeper == nil {
		return nil
	}
	c.mu.Lock()
	done := c.loaded[b.ID]
	c.mu.Unlock()
	if done {
		return nil
	}
	st, ok, err := c.keeper.LoadVerified(b.ID)
	if err != nil {
		return err
	}
	if ok {
		if err := c.applyState(b, st); err != nil {
			return fmt.Errorf("%w: talks %s: %w", ErrSavedState, b.ID, err)
		}
	}
	c.mu.Lock()
	c.loaded[b.ID] = true
	c.mu.Unlock()
	return nil
}

// applyState merges st into b: its verifier if it is newer than the one b holds (an earlier
// sync's, or RestoreVerifier's), its acknowledgments, and the roots compared, which never
// replace one b has.
func (c *Client) applyState(b *Book, st VerifiedState) error {
	if len(st.Verifier) > 0 {
		v, err := record.RestoreVerifier(st.Verifier)
		if err != nil {
			return err
		}
		if b.Verifier == nil || sizeOf(b.Verifier) < sizeOf(v) {
			b.Verifier = v
		}
	}
	for _, p := range st.Promises {
		c.holdPromise(b.ID, p)
	}
	if b.Expected == nil {
		b.Expected = make(map[string]string)
	}
	for org, fp := range st.Expected {
		if _, set := b.Expected[org]; !set {
			b.Expected[org] = fp
		}
	}
	return nil
}

// workingCopy returns a copy of the client's book of talks, with its saved state loaded, for a
// change to swap in once it is done. The caller holds the talks' lock.
func (c *Client) workingCopy(talksID string) (*Book, error) {
	c.mu.Lock()
	prev := c.books[talksID]
	c.mu.Unlock()
	if prev == nil {
		prev = c.newBook(talksID)
	}
	b := prev.clone()
	if err := c.loadState(b); err != nil {
		return nil, err
	}
	return b, nil
}

func sizeOf(v *record.Verifier) int64 {
	cp, _ := v.Latest()
	return cp.Size
}

// saveState saves what b verified.
func (c *Client) saveState(b *Book) error {
	if c.keeper == nil || b.Verifier == nil {
		return nil
	}
	v, err := b.Verifier.MarshalJSON()
	if err != nil {
		return err
	}
	return c.keeper.SaveVerified(b.ID, VerifiedState{Verifier: v, Expected: maps.Clone(b.Expected), Promises: c.Promises(b.ID)})
}

// savePromises saves the acknowledgments held for talks beside what the client verified, so
// that a run that submits and ends still holds the host to them at the next run's sync.
func (c *Client) savePromises(talksID string) error {
	if c.keeper == nil {
		return nil
	}
	st, _, err := c.keeper.LoadVerified(talksID)
	if err != nil {
		return err
	}
	st.Promises = c.Promises(talksID)
	return c.keeper.SaveVerified(talksID, st)
}
