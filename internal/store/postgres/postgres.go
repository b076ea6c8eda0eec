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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
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
	cfg  Config
	pool *pool
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
	s := &Store{
		cfg:       cfg,
		pool:      newPool(named("backchannel"), cfg.MaxConns),
		listenCfg: named("backchannel-listen"),
		writeCfg:  named("backchannel-write"),
		queues:    make(map[string]*queue),
		listening: make(chan struct{}),
	}
	s.wake.L = &s.mu
	err = s.pool.with(ctx, func(c *pgx.Conn) error {
		_, err := applySchema(ctx, c)
		return err
	})
	if err != nil {
		s.pool.close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Listen before Open returns, so that a Watch started after Open sees every later commit.
	lc, mark, err := s.listenConnect(ctx, nil)
	if err != nil {
		s.pool.close()
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
				r.err = backchannel.ErrClosed
				close(r.result)
			}
		}
		s.queues = nil
		s.mu.Unlock()
		s.stopListn()
		<-s.listening
		s.pool.close()
	})
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.with(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
}

// Watch returns notices of every commit that grows a log, made by any node on the database.
func (s *Store) Watch(ctx context.Context) <-chan backchannel.Notice { return s.watch.Watch(ctx) }

// CreateTalks creates a talks' log and runs fn to append its first events, in one transaction.
func (s *Store) CreateTalks(ctx context.Context, id string, members []string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	if err := backchannel.CheckID("talks id", id); err != nil {
		return nil, backchannel.Checkpoint{}, err
	}
	if err := checkTexts("member", members); err != nil {
		return nil, backchannel.Checkpoint{}, err
	}
	return s.submit(ctx, &request{talks: id, create: true, members: members, fn: fn})
}

// ListTalks lists every talks id, oldest first.
func (s *Store) ListTalks(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, _ := c.Query(ctx, `SELECT id FROM talks ORDER BY created_ms, id`)
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, err
}

// Append appends the events fn adds to a talks' log, durably, in a group commit.
func (s *Store) Append(ctx context.Context, talks string, fn func(tx store.AppendTx) error) ([]backchannel.Event, backchannel.Checkpoint, error) {
	return s.submit(ctx, &request{talks: talks, fn: fn})
}

// Talks returns the summary of a talks' log.
func (s *Store) Talks(ctx context.Context, id string) (backchannel.TalksInfo, error) {
	var info backchannel.TalksInfo
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, _ := c.Query(ctx, `SELECT id, size, created_ms,
			ARRAY(SELECT org FROM talks_members m WHERE m.talks = t.id ORDER BY org)
			FROM talks t WHERE id = $1`, id)
		infos, err := collectTalks(rows)
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			return fmt.Errorf("talks %q: %w", id, backchannel.ErrNotFound)
		}
		info = infos[0]
		return nil
	})
	return info, err
}

// TalksOf lists the talks in which org is a member, oldest first.
func (s *Store) TalksOf(ctx context.Context, org string) ([]backchannel.TalksInfo, error) {
	var out []backchannel.TalksInfo
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, _ := c.Query(ctx, `SELECT t.id, t.size, t.created_ms,
			ARRAY(SELECT org FROM talks_members o WHERE o.talks = t.id ORDER BY org)
			FROM talks_members m JOIN talks t ON t.id = m.talks
			WHERE m.org = $1 ORDER BY t.created_ms, t.id`, org)
		var err error
		out, err = collectTalks(rows)
		return err
	})
	return out, err
}

func collectTalks(rows pgx.Rows) ([]backchannel.TalksInfo, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (backchannel.TalksInfo, error) {
		var info backchannel.TalksInfo
		var created int64
		if err := row.Scan(&info.ID, &info.Size, &created, &info.Members); err != nil {
			return info, err
		}
		info.Created = time.UnixMilli(created).UTC()
		if len(info.Members) == 0 {
			info.Members = nil
		}
		return info, nil
	})
}

// Events returns up to limit events of a talks from index from.
func (s *Store) Events(ctx context.Context, talks string, from int64, limit int) ([]backchannel.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var evs []backchannel.Event
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var err error
		evs, err = queryEvents(ctx, c, talks, from, from+int64(limit))
		return err
	})
	return evs, err
}

// queryEvents reads the events of a talks with from <= index < to, in order.
func queryEvents(ctx context.Context, c *pgx.Conn, talks string, from, to int64) ([]backchannel.Event, error) {
	rows, _ := c.Query(ctx, `SELECT idx, type, room, data, time_ms FROM events
		WHERE talks = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, talks, from, to)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (backchannel.Event, error) {
		return scanEvent(row, talks)
	})
}

func scanEvent(row pgx.Row, talks string) (backchannel.Event, error) {
	e := backchannel.Event{Talks: talks}
	var idx, ms int64
	if err := row.Scan(&idx, &e.Type, &e.Room, &e.Data, &ms); err != nil {
		return e, err
	}
	e.Index = uint64(idx)
	e.Time = time.UnixMilli(ms).UTC()
	return e, nil
}

// EventByHash returns the event of a talks whose data hashes to h.
func (s *Store) EventByHash(ctx context.Context, talks string, h backchannel.EventHash) (backchannel.Event, error) {
	var e backchannel.Event
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var ok bool
		var err error
		e, ok, err = eventByHash(ctx, c, talks, h)
		if err == nil && !ok {
			err = fmt.Errorf("event %x of talks %q: %w", h[:8], talks, backchannel.ErrNotFound)
		}
		return err
	})
	return e, err
}

func eventByHash(ctx context.Context, c *pgx.Conn, talks string, h backchannel.EventHash) (backchannel.Event, bool, error) {
	e, err := scanEvent(c.QueryRow(ctx, `SELECT idx, type, room, data, time_ms FROM events WHERE talks = $1 AND hash = $2`,
		talks, h[:]), talks)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// ReadHashes returns stored hashes of a talks' log.
func (s *Store) ReadHashes(ctx context.Context, talks string, indexes []int64) ([]tlog.Hash, error) {
	var out []tlog.Hash
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var err error
		out, err = readHashes(ctx, c, talks, indexes)
		return err
	})
	return out, err
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

// Checkpoint returns the latest checkpoint of a talks, or the one at size.
func (s *Store) Checkpoint(ctx context.Context, talks string, size int64) (backchannel.Checkpoint, error) {
	var cp backchannel.Checkpoint
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var row pgx.Row
		if size > 0 {
			row = c.QueryRow(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = $1 AND size = $2`, talks, size)
		} else {
			row = c.QueryRow(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = $1 ORDER BY size DESC LIMIT 1`, talks)
		}
		var root []byte
		err := row.Scan(&cp.Size, &root, &cp.Note)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("checkpoint of talks %q at size %d: %w", talks, size, backchannel.ErrNotFound)
		}
		copy(cp.Root[:], root)
		return err
	})
	return cp, err
}

// AddCosignature stores a party's cosignature of a checkpoint, replacing the cosigner's earlier
// one for the same size.
func (s *Store) AddCosignature(ctx context.Context, talks string, c backchannel.Cosignature) error {
	if err := checkTexts("cosigner", []string{c.Cosigner}); err != nil {
		return err
	}
	return s.pool.with(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `INSERT INTO cosignatures (talks, size, cosigner, line, time_ms) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (talks, size, cosigner) DO UPDATE SET line = excluded.line, time_ms = excluded.time_ms`,
			talks, c.Size, c.Cosigner, nonNil(c.Line), c.Time.UnixMilli())
		return err
	})
}

// Cosignatures returns the cosignatures of a checkpoint, or with size 0 the latest of each
// cosigner.
func (s *Store) Cosignatures(ctx context.Context, talks string, size int64) ([]backchannel.Cosignature, error) {
	var out []backchannel.Cosignature
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var rows pgx.Rows
		if size > 0 {
			rows, _ = c.Query(ctx, `SELECT size, cosigner, line, time_ms FROM cosignatures
				WHERE talks = $1 AND size = $2 ORDER BY cosigner`, talks, size)
		} else {
			rows, _ = c.Query(ctx, `SELECT DISTINCT ON (cosigner) size, cosigner, line, time_ms FROM cosignatures
				WHERE talks = $1 ORDER BY cosigner, size DESC`, talks)
		}
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (backchannel.Cosignature, error) {
			var c backchannel.Cosignature
			var ms int64
			err := row.Scan(&c.Size, &c.Cosigner, &c.Line, &ms)
			c.Time = time.UnixMilli(ms).UTC()
			return c, err
		})
		return err
	})
	return out, err
}

// PutOrganisation registers an organisation and its root key. The same root again is not an
// error; another root under an existing id is ErrExists.
func (s *Store) PutOrganisation(ctx context.Context, o backchannel.Organisation) error {
	if err := checkTexts("organisation field", []string{o.ID, o.Name}); err != nil {
		return err
	}
	return s.pool.with(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `INSERT INTO organisations (id, root_key, name) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, o.ID, nonNil(o.RootKey), o.Name)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var key []byte
		if err := conn.QueryRow(ctx, `SELECT root_key FROM organisations WHERE id = $1`, o.ID).Scan(&key); err != nil {
			return err
		}
		if string(key) != string(o.RootKey) {
			return fmt.Errorf("organisation %q: %w with another root key", o.ID, backchannel.ErrExists)
		}
		return nil
	})
}

// Organisation returns a registered organisation.
func (s *Store) Organisation(ctx context.Context, id string) (backchannel.Organisation, error) {
	var o backchannel.Organisation
	err := s.pool.with(ctx, func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT id, root_key, name FROM organisations WHERE id = $1`, id).Scan(&o.ID, &o.RootKey, &o.Name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("organisation %q: %w", id, backchannel.ErrNotFound)
		}
		return err
	})
	return o, err
}

// PutCredential stores a credential. The same bytes again are not an error; other bytes under
// an existing id are ErrExists.
func (s *Store) PutCredential(ctx context.Context, c backchannel.StoredCredential) error {
	if err := checkTexts("credential field", []string{c.ID, c.Principal, c.Org}); err != nil {
		return err
	}
	return s.pool.with(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `INSERT INTO credentials (id, principal, org, serial, data) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO NOTHING`, c.ID, c.Principal, c.Org, int64(c.Serial), nonNil(c.Data))
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var data []byte
		if err := conn.QueryRow(ctx, `SELECT data FROM credentials WHERE id = $1`, c.ID).Scan(&data); err != nil {
			return err
		}
		if string(data) != string(c.Data) {
			return fmt.Errorf("credential %q: %w with other contents", c.ID, backchannel.ErrExists)
		}
		return nil
	})
}

// Credential returns the credential with the given id.
func (s *Store) Credential(ctx context.Context, id string) (backchannel.StoredCredential, error) {
	var c backchannel.StoredCredential
	err := s.pool.with(ctx, func(conn *pgx.Conn) error {
		rows, _ := conn.Query(ctx, `SELECT id, principal, org, serial, data, revocation FROM credentials WHERE id = $1`, id)
		cs, err := collectCredentials(rows)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
		}
		c = cs[0]
		return nil
	})
	return c, err
}

// CredentialsOf returns every credential of a principal, lowest serial first.
func (s *Store) CredentialsOf(ctx context.Context, principal string) ([]backchannel.StoredCredential, error) {
	var out []backchannel.StoredCredential
	err := s.pool.with(ctx, func(conn *pgx.Conn) error {
		rows, _ := conn.Query(ctx, `SELECT id, principal, org, serial, data, revocation FROM credentials
			WHERE principal = $1 ORDER BY serial, id`, principal)
		var err error
		out, err = collectCredentials(rows)
		return err
	})
	return out, err
}

func collectCredentials(rows pgx.Rows) ([]backchannel.StoredCredential, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (backchannel.StoredCredential, error) {
		var c backchannel.StoredCredential
		var serial int64
		err := row.Scan(&c.ID, &c.Principal, &c.Org, &serial, &c.Data, &c.Revocation)
		c.Serial = uint64(serial)
		return c, err
	})
}

// RevokeCredential stores a credential's signed revocation.
func (s *Store) RevokeCredential(ctx context.Context, id string, revocation []byte) error {
	return s.pool.with(ctx, func(conn *pgx.Conn) error {
		tag, err := conn.Exec(ctx, `UPDATE credentials SET revocation = $1 WHERE id = $2`, nonNil(revocation), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
		}
		return nil
	})
}

// Secret returns the named host secret, creating it on first use. Nodes racing to create it
// all end with the value stored first.
func (s *Store) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if err := checkTexts("secret name", []string{name}); err != nil {
		return nil, err
	}
	var v []byte
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		nv, err := create()
		if err != nil {
			return err
		}
		if _, err := c.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, nonNil(nv)); err != nil {
			return err
		}
		return c.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	})
	return v, err
}

// nonNil returns b, or an empty slice for nil: pgx sends a nil []byte as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
