package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
)

// Promise is the host's acknowledgment of one submission: the event's place and hash, and the
// checkpoint, signed with the log key, that it answered with. The client keeps it until a record
// it verifies holds the event there, consistent with that checkpoint: a host that drops what it
// acknowledged, or rolls the record back below it, is caught by the submitter itself.
type Promise struct {
	Index      int64  `json:"index"`
	Type       string `json:"type"`
	Hash       string `json:"hash"`       // hex SHA-256 of the event's bytes
	Checkpoint string `json:"checkpoint"` // the signed note answered with
	// Tag is the room tag the submission carried, which the event's leaf must carry too.
	// Hex, or empty for an event every member reads.
	Tag string `json:"tag,omitempty"`
}

// promise keeps the acknowledgment of an accepted submission, to hold the host to it, and saves
// it with the talks' verified state.
func (c *Client) promise(a api.Accepted, tag []byte) error {
	if a.Talks == "" {
		return nil
	}
	c.holdPromise(a.Talks, Promise{Index: a.Index, Type: a.Type, Hash: a.Hash, Checkpoint: a.Checkpoint.Note, Tag: hex.EncodeToString(tag)})
	return c.savePromises(a.Talks)
}

func (c *Client) holdPromise(talksID string, p Promise) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.promises == nil {
		c.promises = make(map[string][]Promise)
	}
	if !slices.Contains(c.promises[talksID], p) {
		c.promises[talksID] = append(c.promises[talksID], p)
	}
}

// Promises returns the acknowledgments of talks the client still holds the host to.
func (c *Client) Promises(talksID string) []Promise {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.promises[talksID])
}

// keepPromises checks every acknowledgment held for b's talks against cp, the host's latest
// checkpoint, just verified: the checkpoint answered was signed with the log key, cp extends it
// (a cp smaller than it is a rollback: the acknowledgment came before), and the event
// acknowledged is in cp's tree at its place. Each kept promise is let go; a broken one is a
// record fault, which the caller raises as ErrRecord.
func (c *Client) keepPromises(ctx context.Context, b *Book, tc *record.TileClient, cp record.Checkpoint) error {
	ps := c.Promises(b.ID)
	if len(ps) == 0 {
		return nil
	}
	var kept []Promise
	for _, p := range ps {
		if err := keepPromise(ctx, b, tc, cp, p); err != nil {
			return err
		}
		kept = append(kept, p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.promises[b.ID] = slices.DeleteFunc(c.promises[b.ID], func(p Promise) bool { return slices.Contains(kept, p) })
	return nil
}

func keepPromise(ctx context.Context, b *Book, tc *record.TileClient, cp record.Checkpoint, p Promise) error {
	pc, _, err := record.OpenCheckpoint([]byte(p.Checkpoint), b.Verifier.Origin(), b.Verifier.LogVerifier())
	if err != nil {
		return fmt.Errorf("the host acknowledged event %d with a checkpoint that does not verify: %w", p.Index, err)
	}
	var h backchannel.EventHash
	if n, err := hex.Decode(h[:], []byte(p.Hash)); err != nil || n != len(h) || len(p.Hash) != 2*len(h) {
		return fmt.Errorf("%w: the host acknowledged event %d with hash %q", record.ErrMalformed, p.Index, p.Hash)
	}
	tag, err := hex.DecodeString(p.Tag)
	if err != nil || (p.Tag != "" && len(tag) != backchannel.TagSize) {
		return fmt.Errorf("%w: the acknowledgment of event %d holds the tag %q", record.ErrMalformed, p.Index, p.Tag)
	}
	if p.Tag == "" {
		tag = nil
	}
	if p.Index < 0 || p.Index >= pc.Size {
		return fmt.Errorf("%w: the host acknowledged event %d with a checkpoint of size %d, which does not hold it", record.ErrNotIncluded, p.Index, pc.Size)
	}
	if pc.Size > cp.Size {
		return fmt.Errorf("%w: the host acknowledged event %d (%s) in a log of %d events, and now shows %d: it dropped what it acknowledged", record.ErrRollback, p.Index, p.Type, pc.Size, cp.Size)
	}
	hr := tc.HashReader(ctx, cp)
	if err := record.CheckNotConflicting(cp, []record.Checkpoint{pc}, hr); err != nil {
		return fmt.Errorf("the record does not extend the checkpoint the host acknowledged event %d with: %w", p.Index, err)
	}
	proof, err := record.ProveInclusion(cp.Size, p.Index, hr)
	if err != nil {
		return err
	}
	if err := record.CheckInclusion(cp, p.Index, backchannel.EntryOf(p.Type, h, tag), proof); err != nil {
		return fmt.Errorf("the event the host acknowledged at %d is not there: %w", p.Index, err)
	}
	return nil
}
