package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store/logbatch"
	"github.com/backchannel/backchannel/internal/store/sqlstore"
)

// request is one CreateTalks or Append waiting for the writer.
type request = logbatch.Request

// writer is the one goroutine that writes appends: it takes every request waiting, commits them
// in one transaction, and answers each.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var batch []*request
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.done:
			s.drain()
			return
		}
	more:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		start := time.Now()
		s.commit(batch)
		if s.cfg.OnCommit != nil {
			s.cfg.OnCommit(len(batch), time.Since(start))
		}
	}
}

// drain refuses the requests still queued at Close.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			r.Err = backchannel.ErrClosed
			r.Done()
		default:
			return
		}
	}
}

// batchLog is a talks' log as a batch sees it.
type batchLog struct {
	id     string
	before int64 // size at the start of the batch
	log    *logbatch.Log
	grown  bool
}

// commit applies a batch of requests in one transaction. Each request runs inside a savepoint,
// so that one refused request leaves the others intact; the batch is acknowledged only after
// the commit returns, which with synchronous=FULL means the WAL is on disk.
func (s *Store) commit(batch []*request) {
	ctx := context.Background()
	answer := func(err error) {
		for _, r := range batch {
			if r.Err == nil && err != nil {
				r.Err = err
				r.Events = nil
			}
			r.Done()
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		answer(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	defer tx.Rollback()
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	logs := make(map[string]*batchLog)
	var order []*batchLog
	for _, r := range batch {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT req`); err != nil {
			answer(fmt.Errorf("sqlite: savepoint: %w", err))
			return
		}
		bl := logs[r.Talks]
		mark := int64(-1)
		if bl != nil {
			mark = bl.log.Mark()
		}
		bl, r.Err = s.apply(ctx, tx, logs, r, now)
		if r.Err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO req`); err != nil {
				answer(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
			if mark >= 0 {
				logs[r.Talks].log.Rollback(mark)
			} else {
				delete(logs, r.Talks)
			}
			r.Events = nil
		} else if !bl.grown {
			bl.grown = true
			order = append(order, bl)
		}
		if _, err := tx.ExecContext(ctx, `RELEASE req`); err != nil {
			answer(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	// One signed checkpoint per log grown, in the same transaction as its leaves.
	cps := make(map[string]backchannel.Checkpoint, len(order))
	for _, bl := range order {
		if bl.log.Size() == bl.before {
			continue
		}
		cp, err := s.checkpoint(ctx, tx, bl)
		if err != nil {
			answer(err)
			return
		}
		cps[bl.id] = cp
	}
	if err := tx.Commit(); err != nil {
		answer(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	for _, r := range batch {
		if r.Err == nil {
			r.Checkpoint = cps[r.Talks]
		}
	}
	answer(nil)
	for id, cp := range cps {
		s.watch.Publish(id, cp.Size)
	}
}

func (s *Store) checkpoint(ctx context.Context, tx *sql.Tx, bl *batchLog) (backchannel.Checkpoint, error) {
	size := bl.log.Size()
	root, err := bl.log.Root()
	if err != nil {
		return backchannel.Checkpoint{}, fmt.Errorf("sqlite: tree hash of talks %q: %w", bl.id, err)
	}
	note, err := s.cfg.Signer(bl.id, size, root, bl.log)
	if err != nil {
		return backchannel.Checkpoint{}, fmt.Errorf("sqlite: sign checkpoint of talks %q: %w", bl.id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (talks, size, root, note) VALUES (?, ?, ?, ?)`,
		bl.id, size, root[:], note); err != nil {
		return backchannel.Checkpoint{}, fmt.Errorf("sqlite: store checkpoint: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE talks SET size = ? WHERE id = ?`, size, bl.id); err != nil {
		return backchannel.Checkpoint{}, fmt.Errorf("sqlite: update size: %w", err)
	}
	return backchannel.Checkpoint{Size: size, Root: root, Note: note}, nil
}

// apply runs one request inside the batch transaction.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, logs map[string]*batchLog, r *request, now time.Time) (*batchLog, error) {
	bl := logs[r.Talks]
	if r.Create {
		if err := backchannel.CheckID("talks id", r.Talks); err != nil {
			return nil, err
		}
		if bl != nil {
			return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrExists)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO talks (id, size, created_ms) VALUES (?, 0, ?)`, r.Talks, now.UnixMilli())
		if isConstraint(err) {
			return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrExists)
		}
		if err != nil {
			return nil, err
		}
		if err := setMembers(ctx, tx, r.Talks, r.Members); err != nil {
			return nil, err
		}
	}
	if bl == nil {
		var size int64
		err := tx.QueryRowContext(ctx, `SELECT size FROM talks WHERE id = ?`, r.Talks).Scan(&size)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		talks := r.Talks
		bl = &batchLog{id: talks, before: size, log: logbatch.New(size, func(idx []int64) ([]tlog.Hash, error) {
			return sqlstore.ReadHashes(ctx, tx, talks, idx)
		})}
		logs[talks] = bl
	}
	atx := &appendTx{ctx: ctx, tx: tx, log: bl.log, talks: r.Talks}
	if err := r.Fn(atx); err != nil {
		return bl, err
	}
	for i := range atx.Added {
		e := &atx.Added[i]
		if err := backchannel.CheckID("event type", e.Type); err != nil {
			return bl, err
		}
		if err := backchannel.CheckTag(e.Tag); err != nil {
			return bl, err
		}
		e.Time = now
		h := e.Hash()
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (talks, idx, type, room, hash, data, time_ms, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Talks, int64(e.Index), e.Type, e.Room, h[:], e.Data, now.UnixMilli(), e.Tag); err != nil {
			if isConstraint(err) {
				return bl, fmt.Errorf("event %x of talks %q: %w", h[:8], r.Talks, backchannel.ErrExists)
			}
			return bl, err
		}
		first, hashes, err := bl.log.Add(e.Entry())
		if err != nil {
			return bl, err
		}
		if err := writeHashes(ctx, tx, r.Talks, first, hashes); err != nil {
			return bl, err
		}
	}
	if atx.Members != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM talks_members WHERE talks = ?`, r.Talks); err != nil {
			return bl, err
		}
		if err := setMembers(ctx, tx, r.Talks, atx.Members); err != nil {
			return bl, err
		}
	}
	r.Events = atx.Added
	return bl, nil
}

func setMembers(ctx context.Context, tx *sql.Tx, talks string, orgs []string) error {
	for _, o := range orgs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO talks_members (org, talks) VALUES (?, ?)`, o, talks); err != nil {
			return err
		}
	}
	return nil
}

func writeHashes(ctx context.Context, tx *sql.Tx, talks string, first int64, hashes []tlog.Hash) error {
	var b strings.Builder
	args := make([]any, 0, 3*len(hashes))
	b.WriteString(`INSERT INTO hashes (talks, idx, hash) VALUES `)
	for i := range hashes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, talks, first+int64(i), hashes[i][:])
	}
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// appendTx is the AppendTx of one request.
type appendTx struct {
	ctx   context.Context
	tx    *sql.Tx
	log   *logbatch.Log
	talks string
	logbatch.Pending
}

func (a *appendTx) Size() int64 { return a.log.Size() + int64(len(a.Added)) }

func (a *appendTx) Events(from int64) ([]backchannel.Event, error) {
	committed := a.log.Size()
	var out []backchannel.Event
	if from < committed {
		evs, err := sqlstore.Events(a.ctx, a.tx, a.talks, from, committed)
		if err != nil {
			return nil, err
		}
		out = evs
	}
	return a.Since(out, from), nil
}

func (a *appendTx) Lookup(h backchannel.EventHash) (backchannel.Event, bool, error) {
	if e, ok := a.Find(h); ok {
		return e, true, nil
	}
	return sqlstore.EventByHash(a.ctx, a.tx, a.talks, h)
}

func (a *appendTx) Append(e backchannel.Event) backchannel.Event { return a.Add(a.talks, a.Size(), e) }
