package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/strictjson"
)

// HandoverFormat names and versions a handover (docs/record.md, "A new device").
const HandoverFormat = "backchannel-handover/v1"

// Handover is what one of a party's devices hands a new one, so that the new device starts
// from what the old one verified of a talks instead of from nothing: the latest checkpoint it
// verified and the one it cosigned, both signed with the log key, the roots it compared out of
// band, and the host's acknowledgments it still holds the host to. A new device that takes it
// over refuses a record rolled back below it, as the old device would; without it, a host
// could show the new device an old copy of its data and be believed.
//
// Nothing in it is secret, and nothing is taken on the old device's word that the new one can
// check: every checkpoint is verified again against the log key the new device pinned.
type Handover struct {
	Format string        `json:"format"`
	Talks  string        `json:"talks"`
	State  VerifiedState `json:"state"`
}

// ErrHandover reports a handover the client cannot take over: altered, of another host, or
// of another talks than it claims.
var ErrHandover = errors.New("the handover does not verify")

// Handover returns the handover of talks: what this client verified of it, as last synced or
// saved.
func (c *Client) Handover(talksID string) (*Handover, error) {
	unlock := c.lockTalks(talksID)
	defer unlock()
	b, err := c.workingCopy(talksID)
	if err != nil {
		return nil, err
	}
	if b.Verifier == nil {
		return nil, fmt.Errorf("nothing of talks %s has been verified here to hand over: sync it first", talksID)
	}
	v, err := b.Verifier.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return &Handover{Format: HandoverFormat, Talks: talksID,
		State: VerifiedState{Verifier: v, Expected: maps.Clone(b.Expected), Promises: c.Promises(talksID)}}, nil
}

// TakeOver makes this client start talks from a handover another device of the party wrote:
// the checkpoints in it must be signed with the log key this client pinned (it pins the one
// they are signed with if it has none yet: the handover comes from a device the party trusts)
// for that talks, and each acknowledgment in it too. What this client verified already is
// kept if it is newer. It returns the talks' id.
func (c *Client) TakeOver(ctx context.Context, data []byte) (string, error) {
	h, err := parseHandover(data)
	if err != nil {
		return "", err
	}
	v, err := record.RestoreVerifier(h.State.Verifier)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrHandover, err)
	}
	host, talksID, err := record.ParseOrigin(v.Origin())
	if err != nil || talksID != h.Talks {
		return "", fmt.Errorf("%w: it names talks %s, but its checkpoints are of %s", ErrHandover, h.Talks, v.Origin())
	}
	if c.Host() != "" && host != c.Host() {
		return "", fmt.Errorf("%w: its checkpoints are of host %s, not %s", ErrHandover, host, c.Host())
	}
	c.mu.Lock()
	pinned := c.logKey
	if pinned == "" {
		c.logKey = v.State().LogKey
		pinned = c.logKey
	}
	c.mu.Unlock()
	want, err := record.OriginVerifierKey(pinned, v.Origin())
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrHandover, err)
	}
	if v.State().LogKey != want {
		return "", fmt.Errorf("%w: its checkpoints are signed with log key %s, not the one pinned here (%s)", ErrHandover, v.State().LogKey, want)
	}
	for _, p := range h.State.Promises {
		if _, _, err := record.OpenCheckpoint([]byte(p.Checkpoint), v.Origin(), v.LogVerifier()); err != nil {
			return "", fmt.Errorf("%w: the acknowledgment of event %d: %w", ErrHandover, p.Index, err)
		}
	}
	unlock := c.lockTalks(talksID)
	defer unlock()
	b, err := c.workingCopy(talksID)
	if err != nil {
		return "", err
	}
	if err := c.applyState(b, h.State); err != nil {
		return "", fmt.Errorf("%w: %w", ErrHandover, err)
	}
	if err := c.saveState(b); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.books[talksID] = b
	c.mu.Unlock()
	return talksID, nil
}

// parseHandover decodes a handover strictly.
func parseHandover(data []byte) (*Handover, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandover, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var h Handover
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandover, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the handover", ErrHandover)
	}
	if h.Format != HandoverFormat {
		return nil, fmt.Errorf("%w: format %q, this client reads %q", ErrHandover, h.Format, HandoverFormat)
	}
	return &h, nil
}
