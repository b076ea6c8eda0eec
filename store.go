package backchannel

import (
	"context"
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
func (e *Event) Entry() []byte {
	h := e.Hash()
	b := make([]byte, 0, 2+len(e.Type)+len(h))
	b = append(b, entryVersion, byte(len(e.Type)))
	b = append(b, e.Type...)
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

// CheckpointSigner signs a checkpoint for a talks' log of the given size and root; the store
// calls it inside the transaction that grows the log, so that every acknowledged event is
// covered by a signed checkpoint stored in the same commit.
type CheckpointSigner func(talks string, size int64, root tlog.Hash) ([]byte, error)

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

// Store is where the server keeps everything: the talks' logs and their Merkle hashes,
// checkpoints and cosignatures, and the directory of organisations and credentials. Two
// implementations exist, SQLite (embedded, the default) and PostgreSQL (several server nodes on
// one database); one conformance suite, internal/store/storetest, holds both to this contract.
//
// Durability: a method that writes returns only after its transaction has committed durably
// (fsync'd). Concurrent Append calls may be committed together in one transaction (group
// commit) but each returns only after the commit that holds its events.
//
// Concurrency: every method is safe to call from many goroutines, and from several processes
// on one database where the implementation supports it: appends to one talks are serialised,
// appends to different talks may proceed in parallel.
type Store interface {
	// CreateTalks creates the log of talks id, with the organisations taking part, and runs fn
	// to append its first events (the charter, and what it pins), all in one transaction, as
	// Append does. It returns ErrExists if the talks exists.
	CreateTalks(ctx context.Context, id string, members []string, fn func(tx AppendTx) error) ([]Event, Checkpoint, error)

	// Append runs fn exactly once inside a transaction that holds the talks' log exclusively,
	// appends the
	// events fn added with tx.Append, stores their Merkle hashes and a checkpoint signed for the
	// new size, and commits. If fn returns an error, nothing fn did is stored and Append returns
	// that error. Append returns ErrNotFound for an unknown talks. On any error the caller must
	// assume that state it derived inside fn was not committed.
	Append(ctx context.Context, talks string, fn func(tx AppendTx) error) ([]Event, Checkpoint, error)

	// Talks returns the summary of a talks' log, or ErrNotFound.
	Talks(ctx context.Context, id string) (TalksInfo, error)
	// ListTalks lists the ids of every talks, oldest first.
	ListTalks(ctx context.Context) ([]string, error)
	// TalksOf lists the talks in which organisation org is a member, oldest first.
	TalksOf(ctx context.Context, org string) ([]TalksInfo, error)

	// Events returns up to limit events of a talks' log starting at index from, in order.
	Events(ctx context.Context, talks string, from int64, limit int) ([]Event, error)
	// EventByHash returns the event of a talks whose Data hashes to h, or ErrNotFound.
	EventByHash(ctx context.Context, talks string, h EventHash) (Event, error)

	// ReadHashes returns the stored Merkle hashes of a talks' log at the given tlog stored-hash
	// indexes (see golang.org/x/mod/sumdb/tlog), for proofs and tiles.
	ReadHashes(ctx context.Context, talks string, indexes []int64) ([]tlog.Hash, error)
	// Checkpoint returns the latest checkpoint of a talks' log, or the one at size if size > 0.
	Checkpoint(ctx context.Context, talks string, size int64) (Checkpoint, error)

	// AddCosignature stores a cosignature of a checkpoint of the talks' log, replacing an
	// earlier one from the same cosigner for the same size.
	AddCosignature(ctx context.Context, talks string, c Cosignature) error
	// Cosignatures returns the cosignatures of the checkpoint of a talks at the given size, and
	// with size 0 the latest cosignature of each cosigner, whatever its size.
	Cosignatures(ctx context.Context, talks string, size int64) ([]Cosignature, error)

	// PutOrganisation registers an organisation and its root key. Registering the same root
	// again is not an error; another root under an existing id gives ErrExists.
	PutOrganisation(ctx context.Context, o Organisation) error
	// Organisation returns the organisation with the given id, or ErrNotFound.
	Organisation(ctx context.Context, id string) (Organisation, error)

	// PutCredential stores a credential (its signed bytes) under its id. Storing the same bytes
	// again is not an error; other bytes under an existing id give ErrExists.
	PutCredential(ctx context.Context, c StoredCredential) error
	// Credential returns the credential with the given id, or ErrNotFound.
	Credential(ctx context.Context, id string) (StoredCredential, error)
	// CredentialsOf returns every credential of a principal, lowest serial first.
	CredentialsOf(ctx context.Context, principal string) ([]StoredCredential, error)
	// RevokeCredential stores the signed revocation of credential id. Revoking again with the
	// same bytes is not an error; it returns ErrNotFound for an unknown credential.
	RevokeCredential(ctx context.Context, id string, revocation []byte) error

	// Secret returns the host secret of the given name, creating it from create on first use,
	// so that every node on one database shares its signing and token keys.
	Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)

	// Watch returns a channel that receives a Notice after every commit that grows a log, from
	// any node on the same database, until ctx is done. Notices may be coalesced and may
	// repeat (after a reconnection a store may announce again what may have been missed): a
	// watcher reads the events themselves from the store, which stays the one source of truth.
	Watch(ctx context.Context) <-chan Notice

	// Ping checks that the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store. Calls after Close return ErrClosed.
	Close() error
}

// AppendTx is the view of a talks' log that Store.Append gives its callback.
type AppendTx interface {
	// Size is the log's size, counting events appended by this transaction so far.
	Size() int64
	// Events returns the committed or pending events from index from to Size.
	Events(from int64) ([]Event, error)
	// Lookup returns the event whose Data hashes to h, if the log holds it.
	Lookup(h EventHash) (Event, bool, error)
	// Append adds an event at index Size. The store sets e.Talks and e.Index.
	Append(e Event) Event
	// SetMembers records the organisations taking part, for Store.TalksOf.
	SetMembers(orgs []string)
}

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
