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
	"github.com/backchannel/backchannel/internal/store/migrate"
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
	if err := private(cfg.Path); err != nil {
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

// private creates the database file readable and writable by its owner only, if it does not
// exist, and refuses one (or its write-ahead log) that others may read or write. SQLite
// creates the write-ahead log and its index with the database file's permissions.
func private(path string) error {
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
	return s.submit(ctx, &request{talks: id, create: true, members: members, fn: fn})
}

// ListTalks lists every talks id.
func (s *Store) ListTalks(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM talks ORDER BY created_ms, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Append appends the events fn adds to a talks' log, durably, in a group commit.
func (s *Store) Append(ctx context.Context, talks string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.submit(ctx, &request{talks: talks, fn: fn})
}

func (s *Store) submit(ctx context.Context, r *request) ([]backchannel.Event, backchannel.Checkpoint, error) {
	r.result = make(chan struct{})
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
	<-r.result
	return r.events, r.checkpoint, r.err
}

// Talks returns the summary of a talks' log.
func (s *Store) Talks(ctx context.Context, id string) (backchannel.TalksInfo, error) {
	var info backchannel.TalksInfo
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, size, created_ms FROM talks WHERE id = ?`, id).Scan(&info.ID, &info.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return info, fmt.Errorf("talks %q: %w", id, backchannel.ErrNotFound)
	}
	if err != nil {
		return info, err
	}
	info.Created = time.UnixMilli(created).UTC()
	info.Members, err = s.members(ctx, id)
	return info, err
}

func (s *Store) members(ctx context.Context, talks string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT org FROM talks_members WHERE talks = ? ORDER BY org`, talks)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var orgs []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		orgs = append(orgs, o)
	}
	return orgs, rows.Err()
}

// TalksOf lists the talks in which org is a member.
func (s *Store) TalksOf(ctx context.Context, org string) ([]backchannel.TalksInfo, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT t.id FROM talks_members m JOIN talks t ON t.id = m.talks
		WHERE m.org = ? ORDER BY t.created_ms, t.id`, org)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]backchannel.TalksInfo, 0, len(ids))
	for _, id := range ids {
		info, err := s.Talks(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Events returns up to limit events of a talks from index from.
func (s *Store) Events(ctx context.Context, talks string, from int64, limit int) ([]backchannel.Event, error) {
	return queryEvents(ctx, s.read, talks, from, limit)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func queryEvents(ctx context.Context, q querier, talks string, from int64, limit int) ([]backchannel.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT idx, type, room, data, time_ms FROM events
		WHERE talks = ? AND idx >= ? ORDER BY idx LIMIT ?`, talks, from, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []backchannel.Event
	for rows.Next() {
		e := backchannel.Event{Talks: talks}
		var ms int64
		if err := rows.Scan(&e.Index, &e.Type, &e.Room, &e.Data, &ms); err != nil {
			return nil, err
		}
		e.Time = time.UnixMilli(ms).UTC()
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// EventByHash returns the event of a talks whose data hashes to h.
func (s *Store) EventByHash(ctx context.Context, talks string, h backchannel.EventHash) (backchannel.Event, error) {
	e, ok, err := eventByHash(ctx, s.read, talks, h)
	if err == nil && !ok {
		err = fmt.Errorf("event %x of talks %q: %w", h[:8], talks, backchannel.ErrNotFound)
	}
	return e, err
}

func eventByHash(ctx context.Context, q querier, talks string, h backchannel.EventHash) (backchannel.Event, bool, error) {
	e := backchannel.Event{Talks: talks}
	var ms int64
	err := q.QueryRowContext(ctx, `SELECT idx, type, room, data, time_ms FROM events WHERE talks = ? AND hash = ?`,
		talks, h[:]).Scan(&e.Index, &e.Type, &e.Room, &e.Data, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, err
	}
	e.Time = time.UnixMilli(ms).UTC()
	return e, true, nil
}

// Checkpoint returns the latest checkpoint of a talks, or the one at size.
func (s *Store) Checkpoint(ctx context.Context, talks string, size int64) (backchannel.Checkpoint, error) {
	var cp backchannel.Checkpoint
	var root []byte
	var err error
	if size > 0 {
		err = s.read.QueryRowContext(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = ? AND size = ?`,
			talks, size).Scan(&cp.Size, &root, &cp.Note)
	} else {
		err = s.read.QueryRowContext(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = ? ORDER BY size DESC LIMIT 1`,
			talks).Scan(&cp.Size, &root, &cp.Note)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return cp, fmt.Errorf("checkpoint of talks %q at size %d: %w", talks, size, backchannel.ErrNotFound)
	}
	if err != nil {
		return cp, err
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// AddCosignature stores a party's cosignature of a checkpoint.
func (s *Store) AddCosignature(ctx context.Context, talks string, c backchannel.Cosignature) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO cosignatures (talks, size, cosigner, line, time_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (talks, size, cosigner) DO UPDATE SET line = excluded.line, time_ms = excluded.time_ms`,
		talks, c.Size, c.Cosigner, c.Line, c.Time.UnixMilli())
	return err
}

// Cosignatures returns the cosignatures of a checkpoint, or the latest of each cosigner.
func (s *Store) Cosignatures(ctx context.Context, talks string, size int64) ([]backchannel.Cosignature, error) {
	var rows *sql.Rows
	var err error
	if size > 0 {
		rows, err = s.read.QueryContext(ctx, `SELECT size, cosigner, line, time_ms FROM cosignatures
			WHERE talks = ? AND size = ? ORDER BY cosigner`, talks, size)
	} else {
		rows, err = s.read.QueryContext(ctx, `SELECT size, cosigner, line, time_ms FROM cosignatures c
			WHERE talks = ? AND size = (SELECT MAX(size) FROM cosignatures d WHERE d.talks = c.talks AND d.cosigner = c.cosigner)
			ORDER BY cosigner`, talks)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []backchannel.Cosignature
	for rows.Next() {
		var c backchannel.Cosignature
		var ms int64
		if err := rows.Scan(&c.Size, &c.Cosigner, &c.Line, &ms); err != nil {
			return nil, err
		}
		c.Time = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutOrganisation registers an organisation.
func (s *Store) PutOrganisation(ctx context.Context, o backchannel.Organisation) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var key []byte
	err = tx.QueryRowContext(ctx, `SELECT root_key FROM organisations WHERE id = ?`, o.ID).Scan(&key)
	switch {
	case err == nil:
		if string(key) == string(o.RootKey) {
			return nil
		}
		return fmt.Errorf("organisation %q: %w with another root key", o.ID, backchannel.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO organisations (id, root_key, name) VALUES (?, ?, ?)`, o.ID, o.RootKey, o.Name); err != nil {
		return err
	}
	return tx.Commit()
}

// Organisation returns a registered organisation.
func (s *Store) Organisation(ctx context.Context, id string) (backchannel.Organisation, error) {
	var o backchannel.Organisation
	err := s.read.QueryRowContext(ctx, `SELECT id, root_key, name FROM organisations WHERE id = ?`, id).Scan(&o.ID, &o.RootKey, &o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("organisation %q: %w", id, backchannel.ErrNotFound)
	}
	return o, err
}

// PutCredential stores a credential.
func (s *Store) PutCredential(ctx context.Context, c backchannel.StoredCredential) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var data []byte
	err = tx.QueryRowContext(ctx, `SELECT data FROM credentials WHERE id = ?`, c.ID).Scan(&data)
	switch {
	case err == nil:
		if string(data) == string(c.Data) {
			return nil
		}
		return fmt.Errorf("credential %q: %w with other contents", c.ID, backchannel.ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, principal, org, serial, data) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Principal, c.Org, int64(c.Serial), c.Data); err != nil {
		return err
	}
	return tx.Commit()
}

// Credential returns the credential with the given id.
func (s *Store) Credential(ctx context.Context, id string) (backchannel.StoredCredential, error) {
	var c backchannel.StoredCredential
	var serial int64
	err := s.read.QueryRowContext(ctx, `SELECT id, principal, org, serial, data, revocation FROM credentials WHERE id = ?`, id).
		Scan(&c.ID, &c.Principal, &c.Org, &serial, &c.Data, &c.Revocation)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
	}
	c.Serial = uint64(serial)
	return c, err
}

// CredentialsOf returns every credential of a principal.
func (s *Store) CredentialsOf(ctx context.Context, principal string) ([]backchannel.StoredCredential, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, principal, org, serial, data, revocation FROM credentials
		WHERE principal = ? ORDER BY serial, id`, principal)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []backchannel.StoredCredential
	for rows.Next() {
		var c backchannel.StoredCredential
		var serial int64
		if err := rows.Scan(&c.ID, &c.Principal, &c.Org, &serial, &c.Data, &c.Revocation); err != nil {
			return nil, err
		}
		c.Serial = uint64(serial)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeCredential stores a credential's signed revocation.
func (s *Store) RevokeCredential(ctx context.Context, id string, revocation []byte) error {
	res, err := s.write.ExecContext(ctx, `UPDATE credentials SET revocation = ? WHERE id = ?`, revocation, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
	}
	return nil
}

// Secret returns the named host secret, creating it on first use.
func (s *Store) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := s.read.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	nv, err := create()
	if err != nil {
		return nil, err
	}
	// Another caller may have created it meanwhile: the first value stored wins, for everyone.
	if _, err := s.write.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, nv); err != nil {
		return nil, err
	}
	err = s.write.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	return v, err
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
