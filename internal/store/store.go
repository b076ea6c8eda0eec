// Package store says what the server needs of a database, in the roles its callers use: the
// talks' logs (Log), the directory of organisations and credentials (Directory), the host's
// secrets (Secrets) and the notices of a log's growth (Notices). Store is all of them together;
// two implementations exist, internal/store/sqlite (embedded, the default) and
// internal/store/postgres (several server nodes on one database), and one conformance suite,
// internal/store/storetest, holds both to this contract. Package sqlstore holds what the two
// databases agree on; each keeps only its own write strategy. The vocabulary these interfaces
// speak (Event, Checkpoint, Organisation, ...) is the root package's.
package store

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
)

// CheckpointSigner signs a checkpoint for a talks' log of the given size and root; the store
// calls it inside the transaction that grows the log, so that every acknowledged event is
// covered by a signed checkpoint stored in the same commit. hashes reads the stored hashes of
// the grown log, those of the transaction included, for a signer that first checks what it is
// asked to sign (the server checks it against the parties' cosignatures). An error aborts the
// transaction.
type CheckpointSigner func(talks string, size int64, root tlog.Hash, hashes tlog.HashReader) ([]byte, error)

// Log keeps the talks' logs: their events, Merkle hashes, checkpoints and cosignatures.
//
// Durability: a method that writes returns only after its transaction has committed durably
// (fsync'd). Concurrent Append calls may be committed together in one transaction (group
// commit) but each returns only after the commit that holds its events.
//
// Concurrency: appends to one talks are serialised, across every process on one database where
// the implementation supports several; appends to different talks may proceed in parallel.
type Log interface {
	// CreateTalks creates the log of talks id, with the organisations taking part, and runs fn
	// to append its first events (the charter, and what it pins), all in one transaction, as
	// Append does. It returns backchannel.ErrExists if the talks exists.
	CreateTalks(ctx context.Context, id string, members []string, fn func(tx AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error)

	// Append runs fn exactly once inside a transaction that holds the talks' log exclusively,
	// appends the events fn added with tx.Append, stores their Merkle hashes and a checkpoint
	// signed for the new size, and commits. If fn returns an error, nothing fn did is stored
	// and Append returns that error. Append returns backchannel.ErrNotFound for an unknown
	// talks. On any error the caller must assume that state it derived inside fn was not
	// committed.
	Append(ctx context.Context, talks string, fn func(tx AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error)

	// Talks returns the summary of a talks' log, or backchannel.ErrNotFound.
	Talks(ctx context.Context, id string) (backchannel.TalksInfo, error)
	// ListTalks lists the ids of every talks, oldest first.
	ListTalks(ctx context.Context) ([]string, error)
	// TalksOf lists the talks in which organisation org is a member, oldest first.
	TalksOf(ctx context.Context, org string) ([]backchannel.TalksInfo, error)

	// Events returns up to limit events of a talks' log starting at index from, in order.
	Events(ctx context.Context, talks string, from int64, limit int) ([]backchannel.Event, error)
	// EventByHash returns the event of a talks whose Data hashes to h, or
	// backchannel.ErrNotFound.
	EventByHash(ctx context.Context, talks string, h backchannel.EventHash) (backchannel.Event, error)

	// ReadHashes returns the stored Merkle hashes of a talks' log at the given tlog stored-hash
	// indexes (see golang.org/x/mod/sumdb/tlog), for proofs and tiles.
	ReadHashes(ctx context.Context, talks string, indexes []int64) ([]tlog.Hash, error)
	// Checkpoint returns the latest checkpoint of a talks' log, or the one at size if size > 0.
	Checkpoint(ctx context.Context, talks string, size int64) (backchannel.Checkpoint, error)

	// AddCosignature stores a cosignature of a checkpoint of the talks' log, replacing an
	// earlier one from the same cosigner for the same size.
	AddCosignature(ctx context.Context, talks string, c backchannel.Cosignature) error
	// Cosignatures returns the cosignatures of the checkpoint of a talks at the given size, and
	// with size 0 the latest cosignature of each cosigner, whatever its size.
	Cosignatures(ctx context.Context, talks string, size int64) ([]backchannel.Cosignature, error)
}

// AppendTx is the view of a talks' log that Log.Append gives its callback.
type AppendTx interface {
	// Size is the log's size, counting events appended by this transaction so far.
	Size() int64
	// Events returns the committed or pending events from index from to Size.
	Events(from int64) ([]backchannel.Event, error)
	// Lookup returns the event whose Data hashes to h, if the log holds it.
	Lookup(h backchannel.EventHash) (backchannel.Event, bool, error)
	// Append adds an event at index Size. The store sets e.Talks and e.Index.
	Append(e backchannel.Event) backchannel.Event
	// SetMembers records the organisations taking part, for Log.TalksOf.
	SetMembers(orgs []string)
}

// Directory keeps the organisations and the credentials of their principals.
type Directory interface {
	// PutOrganisation registers an organisation and its root key. Registering the same root
	// again is not an error; another root under an existing id gives backchannel.ErrExists.
	PutOrganisation(ctx context.Context, o backchannel.Organisation) error
	// Organisation returns the organisation with the given id, or backchannel.ErrNotFound.
	Organisation(ctx context.Context, id string) (backchannel.Organisation, error)

	// PutCredential stores a credential (its signed bytes) under its id. Storing the same bytes
	// again is not an error; other bytes under an existing id give backchannel.ErrExists.
	PutCredential(ctx context.Context, c backchannel.StoredCredential) error
	// Credential returns the credential with the given id, or backchannel.ErrNotFound.
	Credential(ctx context.Context, id string) (backchannel.StoredCredential, error)
	// CredentialsOf returns every credential of a principal, lowest serial first.
	CredentialsOf(ctx context.Context, principal string) ([]backchannel.StoredCredential, error)
	// RevokeCredential stores the signed revocation of credential id. Revoking again with the
	// same bytes is not an error; it returns backchannel.ErrNotFound for an unknown credential.
	RevokeCredential(ctx context.Context, id string, revocation []byte) error
}

// Secrets keeps the host's own keys.
type Secrets interface {
	// Secret returns the host secret of the given name, creating it from create on first use,
	// so that every node on one database shares its signing and token keys. Nodes racing to
	// create it all end with the value stored first.
	Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)
}

// Nonces remembers what may be used once, across every node on one database.
type Nonces interface {
	// UseOnce records key as used until expires and reports true, unless it is recorded as
	// used and not expired at now: then it reports false. Keys expired at now are forgotten.
	UseOnce(ctx context.Context, key string, now, expires time.Time) (bool, error)
}

// Notices tells of every commit that grows a log.
type Notices interface {
	// Watch returns a channel that receives a Notice after every commit that grows a log, from
	// any node on the same database, until ctx is done. Notices may be coalesced and may
	// repeat (after a reconnection a store may announce again what may have been missed): a
	// watcher reads the events themselves from the store, which stays the one source of truth.
	Watch(ctx context.Context) <-chan backchannel.Notice
}

// Store is where the server keeps everything: every role above, on one database.
type Store interface {
	Log
	Directory
	Secrets
	Nonces
	Notices

	// Ping checks that the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store. Calls after Close return backchannel.ErrClosed.
	Close() error
}
