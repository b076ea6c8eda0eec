package backchannel

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Event is one accepted entry of a talks' record: an envelope, a signed act (motion, vote,
// round change, statement, delegation change), a receipt or a credential. The store keeps Data
// exactly as accepted; the record's leaf for the event is Entry(), which commits to Data by hash
// so that the log can be served and checked without revealing any room's traffic.
type Event struct {
	// Talks is the id of the talks whose record holds the event.
	Talks string
	// Index is the event's position in the talks' log, from 0. The store assigns it.
	Index uint64
	// Type says how to decode Data: "envelope", "act", "receipt", "credential", ...
	// It is a CheckID identifier.
	Type string
	// Room is the room whose members may read the event, or "" when every member of the talks
	// may. The server filters what it serves by it; the record itself never names it.
	Room string
	// Data is the exact signed bytes that were accepted.
	Data []byte
	// Tag is the room tag of an event filed under a room (RoomTag), as its submitter computed
	// it with the room's key, or nil for an event every member reads. The record's leaf carries
	// it, so that a member can tell the events of its rooms from others' without reading them.
	Tag []byte
	// Time is when the server accepted the event, in UTC, to the millisecond. It is not
	// signed by the author: signed times live inside Data.
	Time time.Time
}

// EventHash is the SHA-256 of an event's Data. It identifies the event within its talks: the
// same bytes submitted twice are the same event, stored once.
type EventHash [sha256.Size]byte

// Hash returns the EventHash of e's Data.
func (e *Event) Hash() EventHash { return sha256.Sum256(e.Data) }

// The versions of the leaf encoding: 1 for an event every member reads, 2 for one filed under
// a room, which also carries the room tag.
const (
	entryVersion       = 1
	entryVersionTagged = 2
)

// TagSize is the size of a room tag.
const TagSize = sha256.Size

// CheckTag reports whether tag is a room tag of the right size, or none.
func CheckTag(tag []byte) error {
	if tag != nil && len(tag) != TagSize {
		return fmt.Errorf("room tag of %d bytes, want %d", len(tag), TagSize)
	}
	return nil
}

// Entry returns the bytes of the record's leaf for e: a version byte, the length of Type as one
// byte, Type, the 32-byte EventHash of Data and, for an event filed under a room, its 32-byte
// room tag. The leaf names the kind of event but nothing of its room, author or content, so
// that the tiles of a talks' log reveal only how many events of which kinds it holds; only the
// members of an event's room can recognise its tag. See docs/record.md.
func (e *Event) Entry() []byte { return EntryOf(e.Type, e.Hash(), e.Tag) }

// EntryOf returns the record's leaf for an event of type typ whose Data hashes to h, with room
// tag tag (nil for an event every member reads).
func EntryOf(typ string, h EventHash, tag []byte) []byte {
	b := make([]byte, 0, 2+len(typ)+len(h)+len(tag))
	v := byte(entryVersion)
	if tag != nil {
		v = entryVersionTagged
	}
	b = append(b, v, byte(len(typ)))
	b = append(b, typ...)
	b = append(b, h[:]...)
	return append(b, tag...)
}

// ParseEntry returns the event type, hash and room tag (nil if none) that a record leaf names:
// the inverse of Event.Entry, for a party reading the log's entry tiles.
func ParseEntry(entry []byte) (typ string, h EventHash, tag []byte, ok bool) {
	if len(entry) < 2 {
		return "", h, nil, false
	}
	n := int(entry[1])
	switch {
	case entry[0] == entryVersion && len(entry) == 2+n+len(h):
	case entry[0] == entryVersionTagged && len(entry) == 2+n+len(h)+TagSize:
		tag = entry[2+n+len(h):]
	default:
		return "", h, nil, false
	}
	copy(h[:], entry[2+n:])
	return string(entry[2 : 2+n]), h, tag, true
}

// Checkpoint is a signed statement of a talks' log at some size: the C2SP signed note, as the
// log signed it, with any cosignatures that parties have added.
type Checkpoint struct {
	Size int64
	Root tlog.Hash
	// Note is the signed note text (checkpoint body and signature lines).
	Note []byte
}

// Cosignature is a party's signature over a checkpoint it has verified, in the C2SP
// tlog-cosignature format: a signature line to add to the checkpoint note.
type Cosignature struct {
	// Size is the size of the checkpoint cosigned.
	Size int64
	// Cosigner is the name of the cosigner's key (the note key name).
	Cosigner string
	// Line is the signature line, "— <name> <base64>\n".
	Line []byte
	// Time is when the store received it.
	Time time.Time
}

// TalksInfo summarises a talks' log as the store holds it.
type TalksInfo struct {
	ID      string
	Size    int64
	Created time.Time
	// Members lists the organisations taking part, as last set by AppendTx.SetMembers.
	Members []string
}

// Notice tells a watcher that a talks' log has grown to Size.
type Notice struct {
	Talks string
	Size  int64
}

// Errors that stores return, for callers to test with errors.Is.
var (
	// ErrNotFound reports an unknown talks, event, credential or organisation.
	ErrNotFound = errors.New("not found")
	// ErrExists reports a create of something that already exists.
	ErrExists = errors.New("already exists")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("store closed")
	// ErrSchemaTooNew reports a database whose schema a newer backchannel wrote: the store
	// refuses to open it rather than run old code on a schema it does not know.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")
)

// Organisation is an organisation as the directory keeps it: its id and the encoded public half
// of its root key (seal.RootKey).
type Organisation struct {
	ID      string
	RootKey []byte
	// Name is the organisation's display name.
	Name string
}

// StoredCredential is a credential as the directory keeps it: its signed bytes and the fields
// the server looks it up by.
type StoredCredential struct {
	ID        string
	Principal string
	Org       string
	Serial    uint64
	Data      []byte
	// Revocation is the signed revocation of the credential, or nil.
	Revocation []byte
}
