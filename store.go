package backchannel

import (
	"crypto/sha256"
	"errors"
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
	// Time is when the server accepted the event, in UTC, to the millisecond. It is not
	// signed by the author: signed times live inside Data.
	Time time.Time
}

// EventHash is the SHA-256 of an event's Data. It identifies the event within its talks: the
// same bytes submitted twice are the same event, stored once.
type EventHash [sha256.Size]byte

// Hash returns the EventHash of e's Data.
func (e *Event) Hash() EventHash { return sha256.Sum256(e.Data) }

// entryVersion tags the version of the leaf encoding.
const entryVersion = 1

// Entry returns the bytes of the record's leaf for e: a version byte, the length of Type as one
// byte, Type, and the 32-byte EventHash of Data. The leaf names the kind of event but nothing of
// its room, author or content, so that the tiles of a talks' log reveal only how many events of
// which kinds it holds. See docs/record.md.
func (e *Event) Entry() []byte { return EntryOf(e.Type, e.Hash()) }

// EntryOf returns the record's leaf for an event of type typ whose Data hashes to h.
func EntryOf(typ string, h EventHash) []byte {
	b := make([]byte, 0, 2+len(typ)+len(h))
	b = append(b, entryVersion, byte(len(typ)))
	b = append(b, typ...)
	return append(b, h[:]...)
}

// ParseEntry returns the event type and hash that a record leaf names: the inverse of
// Event.Entry, for a party reading the log's entry tiles.
func ParseEntry(entry []byte) (typ string, h EventHash, ok bool) {
	if len(entry) < 2 || entry[0] != entryVersion || len(entry) != 2+int(entry[1])+len(h) {
		return "", h, false
	}
	n := int(entry[1])
	copy(h[:], entry[2+n:])
	return string(entry[2 : 2+n]), h, true
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
