package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
)

// PartyExportFormat names and versions a party's export of its own copy of a talks' record.
// Its "record" member is a record export (record.ExportFormat, docs/record.md) that any tlog
// tool can check; around it are the events behind the leaves the party may see and the
// messages it opened, each tied to its leaf by hash.
const PartyExportFormat = "backchannel-party-export/v1"

// PartyExport is what a party can prove about talks without the host.
type PartyExport struct {
	Format     string          `json:"format"`
	Talks      string          `json:"talks"`
	Server     string          `json:"server"`
	ExportedBy string          `json:"exported_by"`
	ExportedAt time.Time       `json:"exported_at"`
	Record     json.RawMessage `json:"record"`
	// Events are the events whose leaves the record proves, with their signed bytes.
	Events []ExportEvent `json:"events"`
	// Messages are the messages the party opened.
	Messages []MessageView `json:"messages"`

	// Size is the size of the checkpoint the export proves its events in, and Cosigners the
	// number of members whose cosignatures it lists; both are in Record, and here for a report
	// of what Export wrote.
	Size      int64 `json:"-"`
	Cosigners int   `json:"-"`
}

// ExportEvent is one event of the record, as the host served it.
type ExportEvent struct {
	Index int64     `json:"index"`
	Type  string    `json:"type"`
	Room  string    `json:"room,omitempty"`
	Time  time.Time `json:"time"`
	Data  []byte    `json:"data"`
}

// Export syncs talks and returns the party's export of it: the latest verified checkpoint (as
// served now, with the cosignatures gathered since), every event the party may read with its
// inclusion proof, and the messages it opened. progress, if not nil, is told how many of the
// events have been read.
func (c *Client) Export(ctx context.Context, talksID string, progress func(done, total int64)) (*PartyExport, error) {
	if _, err := c.Sync(ctx, talksID); err != nil {
		return nil, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return nil, err
	}
	v := b.Verifier
	cp, note := v.Latest()
	tc := c.LogTiles(talksID)
	if msg, err := tc.Checkpoint(ctx); err == nil {
		if served, _, err := record.OpenCheckpoint(msg, v.Origin(), v.LogVerifier()); err == nil && served == cp {
			note = msg
		}
	}
	var events []ExportEvent
	entries := make(map[int64][]byte)
	for from := int64(0); from < cp.Size; {
		page, err := c.Events(ctx, talksID, from, 1000)
		if err != nil {
			return nil, err
		}
		for _, ae := range page.Events {
			if ae.Index >= cp.Size {
				break
			}
			e := backchannel.Event{Talks: talksID, Index: uint64(ae.Index), Type: ae.Type, Room: ae.Room, Data: ae.Data, Time: ae.Time}
			entries[ae.Index] = e.Entry()
			events = append(events, ExportEvent{Index: ae.Index, Type: ae.Type, Room: ae.Room, Time: ae.Time, Data: ae.Data})
		}
		if progress != nil {
			progress(min(page.Next, cp.Size), cp.Size)
		}
		if page.Next <= from || len(page.Events) == 0 {
			break
		}
		from = page.Next
	}
	var cosigners []string
	for _, m := range b.State.Members("") {
		org, principal, _ := seal.SplitHandle(m.Principal)
		if cr := b.Trust.Latest(org, principal); cr != nil {
			if k, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey); err == nil {
				cosigners = append(cosigners, k)
			}
		}
	}
	logKey, err := record.OriginVerifierKey(c.PinnedLogKey(), v.Origin())
	if err != nil {
		return nil, err
	}
	rec, err := record.NewExport(v.Origin(), logKey, cosigners, [][]byte{note}, entries, tc.HashReader(ctx, cp))
	if err != nil {
		return nil, recordError(talksID, err)
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	px := &PartyExport{Format: PartyExportFormat, Talks: talksID, Server: c.base, ExportedBy: c.Credential().Handle(),
		ExportedAt: c.now().UTC().Truncate(time.Second), Record: recJSON, Events: events, Messages: []MessageView{},
		Size: cp.Size, Cosigners: len(cosigners)}
	for _, m := range b.Messages {
		if m.Index < cp.Size {
			px.Messages = append(px.Messages, ViewOf(b, m))
		}
	}
	return px, nil
}

// ErrExport reports an export that does not verify: the file was altered, or the host's
// record was.
var ErrExport = errors.New("the export does not verify")

// PartyExportReport is what VerifyPartyExport verified.
type PartyExportReport struct {
	// Talks and ExportedBy are empty for a bare record export.
	Talks      string               `json:"talks,omitempty"`
	ExportedBy string               `json:"exported_by,omitempty"`
	Record     *record.ExportReport `json:"record"`
	// Events is the number of events checked against their leaves; Messages the number of
	// messages checked to be the envelopes their events hold.
	Events   int `json:"events"`
	Messages int `json:"messages"`
}

// VerifyPartyExport verifies an export offline: its record (record.VerifyExport, against
// pinnedLogKey when not empty), that each event is the one its leaf commits to, and that each
// message is the envelope its event holds. A bare record export verifies too. Any failure
// wraps ErrExport.
func VerifyPartyExport(data []byte, pinnedLogKey string) (*PartyExportReport, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	var px PartyExport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&px); err != nil || px.Format != PartyExportFormat {
		rep, rerr := record.VerifyExport(data, pinnedLogKey)
		if rerr != nil {
			if err == nil {
				err = fmt.Errorf("format %q", px.Format)
			}
			return nil, fmt.Errorf("%w: neither a party export (%v) nor a record export (%w)", ErrExport, err, rerr)
		}
		return &PartyExportReport{Record: rep}, nil
	}
	rep := &PartyExportReport{Talks: px.Talks, ExportedBy: px.ExportedBy}
	var err error
	if rep.Record, err = record.VerifyExport(px.Record, pinnedLogKey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	exp, err := record.ParseExport(px.Record)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	leaves := make(map[int64][]byte, len(exp.Entries))
	for _, en := range exp.Entries {
		b, err := base64.StdEncoding.DecodeString(en.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrExport, en.Index, err)
		}
		leaves[en.Index] = b
	}
	hashes := make(map[int64]string, len(px.Events))
	for _, ev := range px.Events {
		be := backchannel.Event{Talks: px.Talks, Index: uint64(ev.Index), Type: ev.Type, Data: ev.Data}
		leaf, ok := leaves[ev.Index]
		if !ok || !bytes.Equal(leaf, be.Entry()) {
			return nil, fmt.Errorf("%w: event %d (%s) is not the one its leaf commits to", ErrExport, ev.Index, ev.Type)
		}
		if ev.Type == backchannel.EventEnvelope {
			h := sha256.Sum256(ev.Data)
			hashes[ev.Index] = hex.EncodeToString(h[:])
		}
	}
	for _, m := range px.Messages {
		if h, ok := hashes[m.Index]; !ok || h != m.Hash {
			return nil, fmt.Errorf("%w: message %s at event %d is not the envelope the record holds there", ErrExport, m.Hash, m.Index)
		}
	}
	rep.Events, rep.Messages = len(px.Events), len(px.Messages)
	return rep, nil
}
