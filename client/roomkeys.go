package client

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
)

// A room's events carry, on the record, a tag made with a key only the room's readers hold
// (backchannel.RoomTag). Each reader recognises among all the log's leaves the events of its
// rooms, and so knows of every one of them, the last of a quiet room included, whether or not
// the host serves it: one it recognises and is not served, in a room it still reads, was kept
// from it (ErrWithheld). Room keys travel on the record as room-key events, sealed to the
// room's readers and served to every member, so that none can be kept from the readers they
// are for. A sender tags with the newest key of the room sealed to exactly the room's readers
// as its own replay seats them, and publishes a new one first when there is none: when the
// room is first used, and whenever its readers change.

// roomKey is a key of a room's tags that this principal opened from the record.
type roomKey struct {
	key []byte
	// readers are the principals the key is sealed to, sorted.
	readers []string
}

// roomKeyHook opens a room key sealed to this principal (to any of its credentials whose key
// the client holds) and keeps it. Keys sealed to others, or that do not open, are not this
// principal's to use; the signature is checked by every party (Book.checks).
func (c *Client) roomKeyHook(b *Book, env *seal.Envelope) error {
	if _, err := b.Trust.VerifyEnvelope(env, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true}); err != nil {
		return err
	}
	opener := c.id
	if !env.Addressed(c.Credential().ID()) {
		cr := c.ownRecipient(b, env)
		if cr == nil {
			return nil
		}
		var err error
		if opener, err = c.keyFor(cr); err != nil {
			return nil
		}
	}
	o, err := opener.Open(env, b.Trust, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
	if err != nil || len(o.Body) != backchannel.RoomKeySize {
		return nil
	}
	var readers []string
	for _, id := range env.Recipients {
		if cr, err := b.Trust.Credential(id); err == nil && !slices.Contains(readers, cr.Handle()) {
			readers = append(readers, cr.Handle())
		}
	}
	slices.Sort(readers)
	if b.roomKeys == nil {
		b.roomKeys = make(map[string][]roomKey)
	}
	b.roomKeys[env.Room] = append(slices.Clip(b.roomKeys[env.Room]), roomKey{key: slices.Clone(o.Body), readers: readers})
	return nil
}

// sealableReaders returns the readers of room now, as this copy of the record seats them, that
// can be sealed to (whose latest credential on the record is valid), sorted.
func (c *Client) sealableReaders(b *Book, room string) []string {
	now := c.now()
	var out []string
	for _, p := range b.Readers(room, now) {
		org, principal, _ := seal.SplitHandle(p)
		if cr := b.Trust.Latest(org, principal); cr != nil && b.Trust.VerifyCredential(cr, now) == nil {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// currentRoomKey returns the newest key of room this copy holds that is sealed to exactly the
// room's sealable readers, or nil.
func (c *Client) currentRoomKey(b *Book, room string) []byte {
	want := c.sealableReaders(b, room)
	keys := b.roomKeys[room]
	for i := len(keys) - 1; i >= 0; i-- {
		if slices.Equal(keys[i].readers, want) {
			return keys[i].key
		}
	}
	return nil
}

// roomKey returns the key to tag an event of room with, publishing a new key for the room first
// if this principal holds none sealed to the room's readers. to are the credentials to seal a
// new key to, or nil to ask the host for the readers' newest credentials (checked against the
// record, as for any envelope).
func (c *Client) roomKey(ctx context.Context, talksID, room string, to []*seal.Credential) ([]byte, error) {
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return nil, err
	}
	if k := c.currentRoomKey(b, room); k != nil {
		return k, nil
	}
	if to == nil {
		if to, err = c.recipients(ctx, b, room); err != nil {
			return nil, err
		}
	}
	var ids []string
	for _, cr := range to {
		ids = append(ids, cr.ID().String())
	}
	slices.Sort(ids)
	var out api.Accepted
	_, err = c.submit(ctx, intent(backchannel.EventRoomKey, talksID, room, ids), "/v1/talks/"+url.PathEscape(talksID)+"/room-keys", func() (any, any, error) {
		key := make([]byte, backchannel.RoomKeySize)
		if _, err := io.ReadFull(c.rand, key); err != nil {
			return nil, nil, err
		}
		sctx := seal.Context{Talks: talksID, Room: room, Kind: backchannel.KindNote, CreatedAt: c.stamp(), Sequence: c.nextSequence()}
		env, err := c.id.Seal(c.rand, sctx, key, to)
		if err != nil {
			return nil, nil, err
		}
		return api.SubmitRoomKey{Envelope: env.Marshal()}, env, nil
	}, &out)
	if err != nil {
		return nil, fmt.Errorf("publishing a key for room %s: %w", room, err)
	}
	if _, err := c.syncRecord(ctx, talksID); err != nil {
		return nil, err
	}
	if k := c.currentRoomKey(c.Book(talksID), room); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: talks %s: the key published for room %s at event %d is not sealed to the room's readers as the record seats them", ErrRecord, talksID, room, out.Index)
}

// recognise returns the room whose key made tag, for an event of type typ hashing to h, if
// this copy holds that key.
func (b *Book) recognise(typ string, h backchannel.EventHash, tag []byte) (string, bool) {
	for room, keys := range b.roomKeys {
		for _, k := range keys {
			if hmac.Equal(backchannel.RoomTag(k.key, typ, h), tag) {
				return room, true
			}
		}
	}
	return "", false
}

// tagOf returns the room tag a submission's body carries, if any: the client holds the host to
// a leaf with that tag.
func tagOf(body []byte) []byte {
	var t struct {
		Tag []byte `json:"tag"`
	}
	if json.Unmarshal(body, &t) != nil {
		return nil
	}
	return t.Tag
}
