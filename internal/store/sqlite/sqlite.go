// Package sqlite is the embedded store: store.Store on an SQLite database in one file,
// in-process, with no server to run.
//
// The driver is modernc.org/sqlite, SQLite compiled to pure Go: the binary stays free of cgo, so
// it cross-compiles and builds in half the time of the cgo driver, which is no faster here.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a commit is fsync'd (with
// fdatasync) before Append returns. Throughput comes from group commit: one writer goroutine
// takes every Append waiting at that moment, applies each inside its own savepoint of one
// transaction, and commits them together, so that one fsync covers the whole batch.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/logbatch"
	"github.com/backchannel/backchannel/internal/store/migrate"
	"github.com/backchannel/backchannel/internal/store/sqlstore"
	"github.com/backchannel/backchannel/internal/store/watch"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Config configures a Store.
type Config struct {
	// Path is the database file. Its directory is created if missing.
	Path string
	// Signer signs a checkpoint for every log that a commit grows. Required.
	Signer store.CheckpointSigner
	// MaxBatch bounds how many Append calls share one commit. Default 512.
	MaxBatch int
	// Now returns the time events are stamped with. Default time.Now.
	Now func() time.Time
	// OnCommit, if set, is told the number of appends each commit carried (for metrics).
	OnCommit func(appends int, took time.Duration)
}

// Store is store.Store on SQLite.
type Store struct {
	// DB serves every read, the directory, cosignatures and secrets, as on PostgreSQL.
	*sqlstore.DB
	cfg   Config
	read  *sql.DB // a pool of readers; WAL lets them run beside the writer
	write *sql.DB // one connection: SQLite has one writer at a time

	reqs    chan *request
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
	watch   watch.Hub

	// closing guards the hand-over of requests to the writer: submitters hold it for reading
	// while they queue, Close takes it for writing, so no request is queued after the writer
	// has drained the queue for the last time.
	closing sync.RWMutex
	closed  bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Signer == nil {
		return nil, errors.New("sqlite: Config.Signer is required")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	if err := Private(cfg.Path); err != nil {
		return nil, err
	}
	// fdatasync is as durable as fsync for a commit (it syncs the data and the size) and saves
	// the journal write of a timestamp on every commit.
	if _, err := sqlite.Fdatasync(true); err != nil && !errors.Is(err, sqlite.ErrFdatasyncUnavailable) {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dsn := "file:" + cfg.Path +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if _, err := migrate.Apply(ctx, write, mustSub(schemaFS, "schema"), migrate.Options{}); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", cfg.Path, err)
	}
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	s := &Store{
		DB:      &sqlstore.DB{Read: read, Write: write},
		cfg:     cfg,
		read:    read,
		write:   write,
		reqs:    make(chan *request, cfg.MaxBatch),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// ErrNotPrivate reports a database file that others than its owner may read or write. It holds
// the host's log key and token key: anyone who reads it can sign checkpoints and tokens as
// the host.
var ErrNotPrivate = errors.New("the database file is not private to its owner")

// Private creates the database file readable and writable by its owner only, if it does not
// exist, and refuses one (or its write-ahead log) that others may read or write. SQLite
// creates the write-ahead log and its index with the database file's permissions.
func Private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("sqlite: %w: %s has mode %04o; make it %04o (chmod 600 %s)", ErrNotPrivate, p, perm, perm&0o700, p)
		}
	}
	return nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Close stops the writer after the batch in flight and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closing.Lock()
		s.closed = true
		s.closing.Unlock()
		close(s.done)
		<-s.stopped
	})
	err1 := s.read.Close()
	err2 := s.write.Close()
	return errors.Join(err1, err2)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.done:
		return backchannel.ErrClosed
	default:
	}
	return s.read.PingContext(ctx)
}

// Watch returns notices of every commit that grows a log.
func (s *Store) Watch(ctx context.Context) <-chan backchannel.Notice { return s.watch.Watch(ctx) }

// CreateTalks creates a talks' log with its charter.
func (s *Store) CreateTalks(ctx context.Context, id string, members []string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.submit(ctx, logbatch.NewRequest(id, true, members, fn))
}

// Append appends the events fn adds to a talks' log, durably, in a group commit.
func (s *Store) Append(ctx context.Context, talks string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.submit(ctx, logbatch.NewRequest(talks, false, nil, fn))
}

func (s *Store) submit(ctx context.Context, r *request) ([]backchannel.Event, backchannel.Checkpoint, error) {
	s.closing.RLock()
	if s.closed {
		s.closing.RUnlock()
		return nil, backchannel.Checkpoint{}, backchannel.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.closing.RUnlock()
	case <-ctx.Done():
		s.closing.RUnlock()
		return nil, backchannel.Checkpoint{}, ctx.Err()
	}
	// Once queued, the request is committed or refused whatever the caller's context does:
	// wait for the outcome so that an acknowledged append is never reported as failed.
	return r.Wait()
}

// isConstraint reports whether err is an SQLite constraint violation.
func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}

// OpenRaw opens the database file for direct SQL, without the store around it: for tests
// that play a host editing its own database, and for operators' inspection.
func OpenRaw(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}
