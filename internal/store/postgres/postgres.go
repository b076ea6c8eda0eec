// Package postgres is store.Store on PostgreSQL, for several stateless server nodes on one
// database, the database being the one source of truth.
//
// Durability: every write commits with the server's synchronous_commit (on by default, and never
// lowered here), so the commit is flushed to the write-ahead log before Append returns.
// Throughput comes from group commit: Append calls wait in one queue per talks, and a writer
// goroutine takes every request waiting at that moment, for any number of talks, and commits
// them in one transaction.
//
// Locking: the append transaction locks the talks rows it writes (SELECT ... FOR UPDATE, in id
// order, so that two nodes never lock two talks in opposite orders), so appends to one talks are
// serialised across every process on the database and a log never forks, while different talks
// proceed in parallel. Within one process, a talks is in at most one transaction at a time.
// Each request of a batch is checked completely before anything of it is written (its callback,
// its event types and rooms, and duplicate events, which the row lock keeps from appearing
// meanwhile), so a refused request writes nothing and leaves the others intact without a
// savepoint. That saves a round trip per request and keeps large batches clear of PostgreSQL's
// limit of 64 cached subtransactions per backend, past which every snapshot on the server slows.
// The duplicate check rarely needs the database: each Store keeps a Bloom filter of the event
// hashes of the logs it appends to, brought up to date with what other nodes appended when a
// batch locks the log, and asks the events table only when the filter says "perhaps". A batch's
// writes then go in one pipelined round trip, with the commit, so that a batch of any size costs
// about three round trips.
//
// Fan-out: the append transaction runs pg_notify('backchannel_log', '<talks> <size>') for every
// log it grows; PostgreSQL delivers the notification only if the transaction commits. Each Store
// keeps one LISTEN connection and publishes what arrives to its watchers, whichever node made the
// commit. If that connection drops, the Store reconnects with backoff and then publishes the
// size of every log that grew since it last looked, found by the transaction id stored with each
// talks, so that a lost notification loses nothing. PostgreSQL commits notifying transactions
// one at a time (it holds a database-wide lock on the notification queue until the commit is
// flushed), which is one more reason to group many talks into one transaction.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/logbatch"
	"github.com/backchannel/backchannel/internal/store/migrate"
	"github.com/backchannel/backchannel/internal/store/sqlstore"
	"github.com/backchannel/backchannel/internal/store/watch"
)

// Config configures a Store.
type Config struct {
	// URL is the database to use, as a PostgreSQL connection URL or keyword/value string
	// ("postgres://user@host:5432/backchannel?sslmode=verify-full"). Required.
	URL string
	// Signer signs a checkpoint for every log that a commit grows. Required.
	Signer store.CheckpointSigner
	// MaxBatch bounds how many Append calls share one commit. Default 512.
	MaxBatch int
	// Writers is how many append transactions this node runs at once, each on its own
	// connection. Default 4.
	Writers int
	// MaxConns bounds the connections for reads and the directory, besides the writers' and the
	// listener's. Default 16.
	MaxConns int
	// TxTimeout bounds one append transaction, from its first statement to its commit; a batch
	// that overruns it fails and is rolled back. Default 30s.
	TxTimeout time.Duration
	// ListenRetry is the first delay before reconnecting a lost LISTEN connection; it doubles on
	// every failure up to 5s. Default 100ms.
	ListenRetry time.Duration
	// Now returns the time events are stamped with. Default time.Now.
	Now func() time.Time
	// OnCommit, if set, is told the number of appends each commit carried (for metrics).
	OnCommit func(appends int, took time.Duration)
	// Logger receives the listener's connection failures. Default: discarded.
	Logger *slog.Logger
}

// Store is store.Store on PostgreSQL.
type Store struct {
	// DB serves every read, the directory, cosignatures and secrets, as on SQLite, through
	// database/sql on pool.
	*sqlstore.DB
	cfg  Config
	pool *pgxpool.Pool
	// listenCfg and writeCfg are the connection settings of the listener and the writers.
	listenCfg *pgx.ConnConfig
	writeCfg  *pgx.ConnConfig

	mu     sync.Mutex
	wake   sync.Cond
	queues map[string]*queue
	ready  []string // talks with requests waiting and no transaction in flight, oldest first
	closed bool

	edges   edgeCache
	filters filters

	writers   sync.WaitGroup
	stopListn context.CancelFunc
	listening chan struct{} // closed when the listener has stopped
	watch     watch.Hub
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

//go:embed schema/*.sql
var schemaFS embed.FS

// migrateLock serialises schema changes, so that several nodes starting together on one database
// apply each migration once: migrate.Apply runs it first in every migration's transaction.
const migrateLock = "SELECT pg_advisory_xact_lock(7089630537885835636)" // "bcmigrat"

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// listenChannel is the NOTIFY channel of log growth; payloads are "<talks> <size>".
const listenChannel = "backchannel_log"

// Open connects to the database at cfg.URL, brings its schema up to date, and starts the writers
// and the listener. Several processes may open one database at once: schema changes are applied
// once, under an advisory lock.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Signer == nil {
		return nil, errors.New("postgres: Config.Signer is required")
	}
	if cfg.URL == "" {
		return nil, errors.New("postgres: Config.URL is required")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 4
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	if cfg.TxTimeout <= 0 {
		cfg.TxTimeout = 30 * time.Second
	}
	if cfg.ListenRetry <= 0 {
		cfg.ListenRetry = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pcfg, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	named := func(name string) *pgx.ConnConfig {
		c := pcfg.Copy()
		if c.RuntimeParams["application_name"] == "" {
			c.RuntimeParams["application_name"] = name
		}
		return c
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	poolCfg.ConnConfig = named("backchannel")
	poolCfg.MaxConns = int32(cfg.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Store{
		DB:        &sqlstore.DB{Read: db, Write: db},
		cfg:       cfg,
		pool:      pool,
		listenCfg: named("backchannel-listen"),
		writeCfg:  named("backchannel-write"),
		queues:    make(map[string]*queue),
		listening: make(chan struct{}),
	}
	s.wake.L = &s.mu
	if _, err := migrate.Apply(ctx, db, mustSub(schemaFS, "schema"), migrate.Options{Lock: migrateLock}); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Listen before Open returns, so that a Watch started after Open sees every later commit.
	lc, mark, err := s.listenConnect(ctx, nil)
	if err != nil {
		s.closeDB()
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListn = cancel
	go s.listen(lctx, lc, mark)
	for i := 0; i < cfg.Writers; i++ {
		s.writers.Add(1)
		go s.writer()
	}
	return s, nil
}

// Close stops the writers after the batches in flight, refuses the appends still queued, and
// closes the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.wake.Broadcast()
		s.mu.Unlock()
		s.writers.Wait()
		s.mu.Lock()
		for _, q := range s.queues {
			for _, r := range q.reqs {
				r.Err = backchannel.ErrClosed
				r.Done()
			}
		}
		s.queues = nil
		s.mu.Unlock()
		s.stopListn()
		<-s.listening
		s.closeDB()
	})
	return nil
}

// closeDB closes the database/sql handle and the pool under it.
func (s *Store) closeDB() {
	s.DB.Read.Close()
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Watch returns notices of every commit that grows a log, made by any node on the database.
func (s *Store) Watch(ctx context.Context) <-chan backchannel.Notice { return s.watch.Watch(ctx) }

// CreateTalks creates a talks' log and runs fn to append its first events, in one transaction.
func (s *Store) CreateTalks(ctx context.Context, id string, members []string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	if err := backchannel.CheckID("talks id", id); err != nil {
		return nil, backchannel.Checkpoint{}, err
	}
	if err := sqlstore.CheckTexts("member", members...); err != nil {
		return nil, backchannel.Checkpoint{}, err
	}
	return s.submit(ctx, logbatch.NewRequest(id, true, members, fn))
}

// Append appends the events fn adds to a talks' log, durably, in a group commit.
func (s *Store) Append(ctx context.Context, talks string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.submit(ctx, logbatch.NewRequest(talks, false, nil, fn))
}

// queryEvents reads the events of a talks with from <= index < to, in order.
func queryEvents(ctx context.Context, c *pgx.Conn, talks string, from, to int64) ([]backchannel.Event, error) {
	rows, _ := c.Query(ctx, `SELECT idx, type, room, data, time_ms, tag FROM events
		WHERE talks = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, talks, from, to)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (backchannel.Event, error) {
		return scanEvent(row, talks)
	})
}

func scanEvent(row pgx.Row, talks string) (backchannel.Event, error) {
	e := backchannel.Event{Talks: talks}
	var idx, ms int64
	if err := row.Scan(&idx, &e.Type, &e.Room, &e.Data, &ms, &e.Tag); err != nil {
		return e, err
	}
	e.Index = uint64(idx)
	e.Time = time.UnixMilli(ms).UTC()
	return e, nil
}

func eventByHash(ctx context.Context, c *pgx.Conn, talks string, h backchannel.EventHash) (backchannel.Event, bool, error) {
	e, err := scanEvent(c.QueryRow(ctx, `SELECT idx, type, room, data, time_ms, tag FROM events WHERE talks = $1 AND hash = $2`,
		talks, h[:]), talks)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// readHashes reads the stored hashes of a talks at the given indexes, in their order.
func readHashes(ctx context.Context, c *pgx.Conn, talks string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	rows, _ := c.Query(ctx, `SELECT idx, hash FROM hashes WHERE talks = $1 AND idx = ANY($2)`, talks, indexes)
	got := make(map[int64]tlog.Hash, len(indexes))
	var x int64
	var h []byte
	_, err := pgx.ForEachRow(rows, []any{&x, &h}, func() error {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("stored hash %d of talks %q has %d bytes", x, talks, len(h))
		}
		got[x] = tlog.Hash(h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	missing := 0
	for i, x := range indexes {
		v, ok := got[x]
		if !ok {
			missing++
		}
		out[i] = v
	}
	if missing > 0 {
		return nil, fmt.Errorf("talks %q: %d of %d stored hashes missing: %w", talks, missing, len(indexes), backchannel.ErrNotFound)
	}
	return out, nil
}
