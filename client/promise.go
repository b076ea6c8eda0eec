package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

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

// promise keeps the acknowledgment of a submission to path with body, to hold the host to it,
// and saves it with the talks' verified state. What is promised is the client's own: the talks,
// the type, the hash of the bytes sent and their room tag; the host gives only the index and the
// checkpoint, and an answer naming another event than the one sent is refused. A relay's notices
// are promised too, at the indexes right after the relay's.
func (c *Client) promise(path string, a api.Accepted, body []byte) error {
	sent, err := sentEvents(path, body)
	if err != nil {
		return err
	}
	if len(sent) == 0 {
		return nil
	}
	talksID := sent[0].talks
	if talksID == "" {
		talksID = a.Talks // founding talks: the charter names them, and the host echoes it
	}
	main := sent[0]
	if a.Talks != talksID || a.Type != main.typ || a.Hash != main.hash {
		return fmt.Errorf("%w: the host acknowledged event %d of talks %q as a %s hashing to %.12s, but the submission was a %s hashing to %.12s of talks %q",
			ErrRecord, a.Index, a.Talks, a.Type, a.Hash, main.typ, main.hash, talksID)
	}
	for i, e := range sent {
		c.holdPromise(talksID, Promise{Index: a.Index + int64(i), Type: e.typ, Hash: e.hash, Checkpoint: a.Checkpoint.Note, Tag: e.tag})
	}
	return c.savePromises(talksID)
}

// sentEvent is an event a submission puts on the record, as the client sent it.
type sentEvent struct {
	talks, typ, hash, tag string // hash and tag in hex
}

// sentEvents returns the events a submission to path with body appends, in their order on the
// record: the submission's own, then a relay's notices. Submissions the client does not hold the
// host to (none) return nothing.
func sentEvents(path string, body []byte) ([]sentEvent, error) {
	var in struct {
		Charter    []byte   `json:"charter"`
		Act        []byte   `json:"act"`
		Envelope   []byte   `json:"envelope"`
		Receipt    []byte   `json:"receipt"`
		Tag        []byte   `json:"tag"`
		Notices    [][]byte `json:"notices"`
		NoticeTags [][]byte `json:"notice_tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(path, "/v1/talks")
	if !ok {
		return nil, nil
	}
	var talksID, op string
	if rest != "" {
		escaped, after, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		var err error
		if talksID, err = url.PathUnescape(escaped); err != nil {
			return nil, err
		}
		op = after
	}
	var typ string
	var data []byte
	switch op {
	case "":
		typ, data = backchannel.EventCharter, in.Charter
	case "envelopes", "relays":
		typ, data = backchannel.EventEnvelope, in.Envelope
	case "red-lines":
		typ, data = backchannel.EventRedLines, in.Envelope
	case "room-keys":
		typ, data = backchannel.EventRoomKey, in.Envelope
	case "receipts":
		typ, data = backchannel.EventReceipt, in.Receipt
	default:
		typ, data = backchannel.EventAct, in.Act
	}
	if data == nil {
		return nil, nil
	}
	out := []sentEvent{{talks: talksID, typ: typ, hash: hashHex(data), tag: hex.EncodeToString(in.Tag)}}
	for i, n := range in.Notices {
		var tag []byte
		if i < len(in.NoticeTags) {
			tag = in.NoticeTags[i]
		}
		out = append(out, sentEvent{talks: talksID, typ: backchannel.EventRelayed, hash: hashHex(n), tag: hex.EncodeToString(tag)})
	}
	return out, nil
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
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

// keepPromises checks ps, the acknowledgments held for b's talks when cp was asked for, against
// cp, the host's latest checkpoint, just verified: the checkpoint answered was signed with the log key, cp extends it
// (a cp smaller than it is a rollback: the acknowledgment came before), and the event
// acknowledged is in cp's tree at its place. Each kept promise is let go; a broken one is a
// record fault, which the caller raises as ErrRecord.
func (c *Client) keepPromises(ctx context.Context, b *Book, tc *record.TileClient, cp record.Checkpoint, ps []Promise) error {
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
