package client

import (
	"bytes"
	"context"
	"crypto/hmac"
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
	// sealedTo are the credentials the key is sealed to, sorted: a reader that rotated its
	// credential since, or had it revoked, is not one the key reaches.
	sealedTo []seal.CredentialID
	// fault, if set, says why a key sealed to this principal did not open (key is nil then):
	// its sender's doing. Until a newer key comes, this principal could not recognise the
	// room's tags, so its client hands the room a new key (Client.healRoomKeys).
	fault string
}

// roomKeyHook opens a room key sealed to this principal (to any of its credentials whose key
// the client holds) and keeps it. Keys sealed to others, or that do not open, are not this
// principal's to use; the signature is checked by every party (Book.checks).
func (c *Client) roomKeyHook(b *Book, e backchannel.Event, env *seal.Envelope) error {
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
	k := roomKey{sealedTo: slices.Clone(env.Recipients)}
	o, err := opener.Open(env, b.Trust, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
	switch {
	case err != nil:
		k.fault = fmt.Sprintf("the key of room %s sealed at event %d does not open: %v", env.Room, e.Index, err)
	case len(o.Body) != backchannel.RoomKeySize:
		k.fault = fmt.Sprintf("the key of room %s sealed at event %d is %d bytes, not %d", env.Room, e.Index, len(o.Body), backchannel.RoomKeySize)
	default:
		k.key = slices.Clone(o.Body)
	}
	if b.roomKeys == nil {
		b.roomKeys = make(map[string][]roomKey)
	}
	b.roomKeys[env.Room] = append(slices.Clip(b.roomKeys[env.Room]), k)
	return nil
}

// healRoomKeys hands a new key to each room this principal reads whose newest key for its
// readers did not open for it: otherwise the room's other readers would go on tagging with a key
// this principal cannot recognise, and the host could keep the room's events from it unseen.
func (c *Client) healRoomKeys(ctx context.Context, talksID string) error {
	b := c.Book(talksID)
	if b == nil || b.State == nil || b.LeftAt > 0 {
		return nil
	}
	me := c.Credential().Handle()
	for room := range b.roomKeys {
		if !slices.Contains(b.Readers(room, c.now()), me) {
			continue
		}
		if k := c.newestRoomKey(b, room); k != nil && k.key == nil {
			if _, err := c.roomKey(ctx, talksID, room, nil); err != nil {
				return fmt.Errorf("%s; handing the room a new key: %w", k.fault, err)
			}
		}
	}
	return nil
}

// sealableReaders returns the latest credential on the record of each reader of room now, as
// this copy of the record seats them, that can be sealed to (valid now), sorted by id.
func (c *Client) sealableReaders(b *Book, room string) []seal.CredentialID {
	now := c.now()
	var out []seal.CredentialID
	for _, p := range b.Readers(room, now) {
		org, principal, _ := seal.SplitHandle(p)
		if cr := b.Trust.Latest(org, principal); cr != nil && b.Trust.VerifyCredential(cr, now) == nil {
			out = append(out, cr.ID())
		}
	}
	slices.SortFunc(out, func(a, b seal.CredentialID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// currentRoomKey returns the newest key of room this copy holds that is sealed to exactly the
// latest credentials of the room's sealable readers, or nil (none, or it did not open).
func (c *Client) currentRoomKey(b *Book, room string) []byte {
	if k := c.newestRoomKey(b, room); k != nil {
		return k.key
	}
	return nil
}

// newestRoomKey returns the newest key of room sealed to exactly the latest credentials of the
// room's sealable readers, opened or not, or nil.
func (c *Client) newestRoomKey(b *Book, room string) *roomKey {
	want := c.sealableReaders(b, room)
	keys := b.roomKeys[room]
	for i := len(keys) - 1; i >= 0; i-- {
		if slices.Equal(keys[i].sealedTo, want) {
			return &keys[i]
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
	if len(c.sealableReaders(b, room)) == 0 {
		// A room with no readers now (a plenary whose session closed): nothing new is sealed
		// there, but its envelopes are still acknowledged, and such a receipt is tagged with
		// the room's newest key, or carries no tag if the room never had one.
		for i := len(b.roomKeys[room]) - 1; i >= 0; i-- {
			if k := b.roomKeys[room][i].key; k != nil {
				return k, nil
			}
		}
		return nil, nil
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

// roomTag is the tag of an event of type typ hashing to h made with key, or none without a key.
func roomTag(key []byte, typ string, h backchannel.EventHash) []byte {
	if key == nil {
		return nil
	}
	return backchannel.RoomTag(key, typ, h)
}

// recognise returns the room whose key made tag, for an event of type typ hashing to h, if
// this copy holds that key.
func (b *Book) recognise(typ string, h backchannel.EventHash, tag []byte) (string, bool) {
	for room, keys := range b.roomKeys {
		for _, k := range keys {
			if k.key != nil && hmac.Equal(backchannel.RoomTag(k.key, typ, h), tag) {
				return room, true
			}
		}
	}
	return "", false
}
