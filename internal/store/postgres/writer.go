package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store/logbatch"
	"github.com/backchannel/backchannel/internal/store/sqlstore"
)

// request is one CreateTalks or Append waiting for the writer.
type request = logbatch.Request

// queue holds the requests waiting for one talks. A talks is in at most one transaction of
// this process at a time (busy): a second writer would only wait for the first one's row lock.
type queue struct {
	reqs []*request
	busy bool
}

// group is the requests of one talks that a batch carries, in the order they were submitted.
type group struct {
	talks string
	reqs  []*request
}

func (s *Store) submit(ctx context.Context, r *request) ([]backchannel.Event, backchannel.Checkpoint, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, backchannel.Checkpoint{}, backchannel.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return nil, backchannel.Checkpoint{}, err
	}
	q := s.queues[r.Talks]
	if q == nil {
		q = &queue{}
		s.queues[r.Talks] = q
	}
	q.reqs = append(q.reqs, r)
	if !q.busy && len(q.reqs) == 1 {
		s.ready = append(s.ready, r.Talks)
		s.wake.Signal()
	}
	s.mu.Unlock()
	// Once queued, the request is committed or refused whatever the caller's context does:
	// wait for the outcome so that an acknowledged append is never reported as failed.
	return r.Wait()
}

// take waits for requests and returns every one waiting, up to MaxBatch, for talks that no
// other writer holds; ok is false once the store is closed.
func (s *Store) take() (groups []*group, n int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ready) == 0 && !s.closed {
		s.wake.Wait()
	}
	if s.closed {
		return nil, 0, false
	}
	for len(s.ready) > 0 && n < s.cfg.MaxBatch {
		t := s.ready[0]
		s.ready = s.ready[1:]
		q := s.queues[t]
		k := min(len(q.reqs), s.cfg.MaxBatch-n)
		groups = append(groups, &group{talks: t, reqs: q.reqs[:k:k]})
		q.reqs = q.reqs[k:]
		q.busy = true
		n += k
	}
	if len(s.ready) > 0 {
		s.wake.Signal()
	}
	return groups, n, true
}

// release makes the talks of a finished batch available to the writers again.
func (s *Store) release(groups []*group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range groups {
		q := s.queues[g.talks]
		q.busy = false
		if len(q.reqs) > 0 {
			s.ready = append(s.ready, g.talks)
			s.wake.Signal()
		} else {
			delete(s.queues, g.talks)
		}
	}
}

// writer is one of the goroutines that commit batches, each on its own connection.
func (s *Store) writer() {
	defer s.writers.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		groups, n, ok := s.take()
		if !ok {
			return
		}
		start := time.Now()
		conn = s.commit(conn, groups)
		s.release(groups)
		if s.cfg.OnCommit != nil {
			s.cfg.OnCommit(n, time.Since(start))
		}
	}
}

// commit runs one batch on conn (connecting if needed), answers every request, and returns the
// connection to use next, or nil if it is no longer usable.
func (s *Store) commit(conn *pgx.Conn, groups []*group) *pgx.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TxTimeout)
	defer cancel()
	b := &batch{s: s, ctx: ctx, logs: make(map[string]*talksLog, len(groups))}
	cps, err := b.run(&conn, groups)
	if err != nil && conn != nil {
		// Leave the connection idle, or drop it: the next batch must start clean.
		if conn.IsClosed() || ctx.Err() != nil {
			conn.Close(context.Background())
			conn = nil
		} else if conn.PgConn().TxStatus() != 'I' {
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
	}
	for _, g := range groups {
		for _, r := range g.reqs {
			switch {
			case r.Err != nil:
				r.Events = nil
			case err != nil:
				r.Err = err
				r.Events = nil
			default:
				r.Checkpoint = cps[g.talks]
			}
			r.Done()
		}
	}
	return conn
}

// talksLog is a talks' log as a batch sees it.
type talksLog struct {
	id      string
	exists  bool  // the row exists and this transaction holds its lock
	relock  bool  // the row appeared after the batch's first lock (another node created it)
	created bool  // created by this transaction
	base    int64 // size committed before this transaction
	log     *logbatch.Log
	edge    map[int64]tlog.Hash // stored hashes of the right edge at size base, if known
	filter  *hashFilter         // the log's event hashes up to base, or nil

	evs    []backchannel.Event // appended by this transaction, from index base
	byHash map[backchannel.EventHash]int
	// absent holds hashes looked up in the events table and not found there: under the row
	// lock they cannot appear, so appending them needs no second look.
	absent map[backchannel.EventHash]bool

	setMembers bool
	members    []string

	hashIdx []int64 // stored hashes to write
	hashes  [][]byte
}

// batch is one append transaction.
type batch struct {
	s      *Store
	ctx    context.Context
	conn   *pgx.Conn
	now    time.Time
	logs   map[string]*talksLog
	broken error // the first database error: the transaction can only be rolled back
}

func (b *batch) fail(err error) error {
	if b.broken == nil {
		b.broken = err
	}
	return err
}

// run executes the batch. Requests refused by their callback or by the store get their own
// error in r.Err; an error returned fails every request not refused.
func (b *batch) run(connp **pgx.Conn, groups []*group) (map[string]backchannel.Checkpoint, error) {
	// Take the talks in id order, the order in which the lock query below locks them, so that
	// a talks created or locked late is still taken in order.
	slices.SortFunc(groups, func(x, y *group) int { return strings.Compare(x.talks, y.talks) })
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.talks
		b.logs[g.talks] = &talksLog{id: g.talks, byHash: make(map[backchannel.EventHash]int), absent: make(map[backchannel.EventHash]bool)}
	}
	sizes, err := b.begin(connp, ids)
	if err != nil {
		return nil, err
	}
	b.conn = *connp
	b.now = b.s.cfg.Now().UTC().Truncate(time.Millisecond)
	for id, size := range sizes {
		tl := b.logs[id]
		tl.exists, tl.base = true, size
	}
	if err := b.readKnown(); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if tl := b.logs[g.talks]; tl.exists {
			b.startLog(tl)
		}
	}
	// The requests go in rounds: the first request of every talks, then the second, and so on.
	// Requests of one round belong to different talks, so none depends on another, and one
	// query checks all their events for duplicates.
	for round := 0; ; round++ {
		var pending []*prepared
		for _, g := range groups {
			if round >= len(g.reqs) {
				continue
			}
			r := g.reqs[round]
			p, err := b.prepare(b.logs[g.talks], r)
			if b.broken != nil {
				return nil, fmt.Errorf("postgres: append to talks %q: %w", g.talks, b.broken)
			}
			if r.Err = err; err == nil {
				pending = append(pending, p)
			}
		}
		if len(pending) == 0 && !b.anyLeft(groups, round) {
			break
		}
		if err := b.checkDuplicates(pending); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		for _, p := range pending {
			if p.r.Err == nil {
				p.r.Err = b.add(p)
			}
			if b.broken != nil {
				return nil, fmt.Errorf("postgres: append to talks %q: %w", p.tl.id, b.broken)
			}
		}
	}
	return b.finish(ids)
}

// anyLeft reports whether some group has requests after round.
func (b *batch) anyLeft(groups []*group, round int) bool {
	for _, g := range groups {
		if round+1 < len(g.reqs) {
			return true
		}
	}
	return false
}

// begin opens the transaction and locks the rows of the talks that exist, in id order: appends
// to one talks are serialised across every node, and two batches never wait for each other
// in a cycle. It returns the locked talks' sizes.
func (b *batch) begin(connp **pgx.Conn, ids []string) (map[string]int64, error) {
	// A stale connection (the server restarted, a proxy dropped it) fails on its first use;
	// nothing has run yet, so one retry on a fresh connection is safe.
	for attempt := 0; ; attempt++ {
		if *connp == nil {
			c, err := pgx.ConnectConfig(b.ctx, b.s.writeCfg)
			if err != nil {
				return nil, fmt.Errorf("postgres: connect: %w", err)
			}
			*connp = c
		}
		sizes, err := lockTalks(b.ctx, *connp, ids)
		if err == nil {
			return sizes, nil
		}
		if !(*connp).IsClosed() || attempt > 0 || b.ctx.Err() != nil {
			return nil, fmt.Errorf("postgres: begin: %w", err)
		}
		(*connp).Close(context.Background())
		*connp = nil
	}
}

func lockTalks(ctx context.Context, c *pgx.Conn, ids []string) (map[string]int64, error) {
	var pb pgx.Batch
	pb.Queue(`BEGIN`)
	pb.Queue(`SELECT id, size FROM talks WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	br := c.SendBatch(ctx, &pb)
	sizes := make(map[string]int64, len(ids))
	_, err := br.Exec()
	if err == nil {
		rows, _ := br.Query()
		var id string
		var size int64
		_, err = pgx.ForEachRow(rows, []any{&id, &size}, func() error {
			sizes[id] = size
			return nil
		})
	}
	return sizes, errors.Join(err, br.Close())
}

// readKnown brings what this process knows of the locked logs up to their locked size, in one
// round trip: the right edges (the stored hashes that the next leaf and the next tree hash need)
// that it does not hold already, and the hash filters of the events that other nodes appended.
func (b *batch) readKnown() error {
	var eTalks, fTalks []string
	var eIdx, fFrom, fTo []int64
	for _, tl := range b.logs {
		if !tl.exists {
			continue
		}
		f := b.s.filters.get(tl.id)
		if f != nil && f.size > tl.base {
			// The log is shorter than the filter: the database was restored from a backup.
			// Start again rather than keep hashes the log no longer holds.
			b.s.filters.drop(tl.id)
			f = nil
		}
		if f == nil && tl.base <= maxFilterBuild {
			f = &hashFilter{}
			b.s.filters.put(tl.id, f)
		}
		if tl.filter = f; f != nil && f.size < tl.base {
			fTalks = append(fTalks, tl.id)
			fFrom = append(fFrom, f.size)
			fTo = append(fTo, tl.base)
		}
		if tl.base == 0 {
			continue
		}
		if tl.edge = b.s.edges.get(tl.id, tl.base); tl.edge != nil {
			continue
		}
		tl.edge = make(map[int64]tlog.Hash)
		for _, x := range rightEdge(tl.base) {
			eTalks = append(eTalks, tl.id)
			eIdx = append(eIdx, x)
		}
	}
	var pb pgx.Batch
	if len(eIdx) > 0 {
		pb.Queue(`SELECT h.talks, h.idx, h.hash FROM hashes h
			JOIN unnest($1::text[], $2::bigint[]) AS w(talks, idx) ON h.talks = w.talks AND h.idx = w.idx`, eTalks, eIdx)
	}
	if len(fTalks) > 0 {
		pb.Queue(`SELECT e.talks, e.hash FROM events e
			JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS w(talks, lo, hi)
			ON e.talks = w.talks AND e.idx >= w.lo AND e.idx < w.hi`, fTalks, fFrom, fTo)
	}
	if pb.Len() == 0 {
		return nil
	}
	br := b.conn.SendBatch(b.ctx, &pb)
	var t string
	var x int64
	var h []byte
	var err error
	if len(eIdx) > 0 {
		rows, _ := br.Query()
		_, err = pgx.ForEachRow(rows, []any{&t, &x, &h}, func() error {
			if len(h) != tlog.HashSize {
				return fmt.Errorf("stored hash %d of talks %q has %d bytes", x, t, len(h))
			}
			b.logs[t].edge[x] = tlog.Hash(h)
			return nil
		})
	}
	if len(fTalks) > 0 && err == nil {
		rows, _ := br.Query()
		_, err = pgx.ForEachRow(rows, []any{&t, &h}, func() error {
			if len(h) != len(backchannel.EventHash{}) {
				return fmt.Errorf("event hash of talks %q has %d bytes", t, len(h))
			}
			b.logs[t].filter.add(backchannel.EventHash(h))
			return nil
		})
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		for _, t := range fTalks {
			b.s.filters.drop(t) // partly filled: start again next time
		}
		return fmt.Errorf("postgres: read the logs' edges and hashes: %w", b.fail(err))
	}
	for i, t := range fTalks {
		b.logs[t].filter.size = fTo[i]
	}
	return nil
}

// rightEdge returns the stored-hash indexes of the complete subtrees that make up a tree of size
// n: the only stored hashes of the committed log that appending leaves and hashing the grown
// tree read.
func rightEdge(n int64) []int64 {
	var idx []int64
	for level := 0; n>>level > 0; level++ {
		if n>>level&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return idx
}

// startLog starts the hash computation of a locked log; stored hashes it needs beyond the
// known right edge are read inside the transaction.
func (b *batch) startLog(tl *talksLog) {
	if tl.edge == nil {
		tl.edge = make(map[int64]tlog.Hash)
	}
	tl.log = logbatch.New(tl.base, func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var miss []int64
		for _, x := range indexes {
			if _, ok := tl.edge[x]; !ok {
				miss = append(miss, x)
			}
		}
		if len(miss) > 0 {
			hs, err := readHashes(b.ctx, b.conn, tl.id, miss)
			if err != nil {
				return nil, b.fail(err)
			}
			for i, x := range miss {
				tl.edge[x] = hs[i]
			}
		}
		for i, x := range indexes {
			out[i] = tl.edge[x]
		}
		return out, nil
	})
}

// prepared is a request whose callback has run, waiting for the duplicate check of its round.
type prepared struct {
	tl      *talksLog
	r       *request
	tx      *appendTx
	hashes  []backchannel.EventHash
	unknown [][]byte // hashes to look for in the events table
}

// prepare runs one request's callback and checks what it appended. It returns the request's
// refusal, if any; database errors also go to b.broken. Everything that can refuse a request is
// checked before anything of it is written (the writes wait for the end of the batch), so a
// refusal needs no rollback.
func (b *batch) prepare(tl *talksLog, r *request) (_ *prepared, err error) {
	if r.Create {
		if tl.exists {
			return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrExists)
		}
		// Inserted now rather than with the batch's other writes, so that a node creating the
		// same talks at the same moment waits for this transaction and then finds it; inside a
		// savepoint, the one write made before the callback runs, in case the callback refuses.
		var pb pgx.Batch
		pb.Queue(`SAVEPOINT create_talks`)
		pb.Queue(`INSERT INTO talks (id, size, created_ms) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING`,
			r.Talks, b.now.UnixMilli())
		br := b.conn.SendBatch(b.ctx, &pb)
		_, err = br.Exec()
		var tag pgconn.CommandTag
		if err == nil {
			tag, err = br.Exec()
		}
		if err = errors.Join(err, br.Close()); err != nil {
			return nil, b.fail(err)
		}
		if tag.RowsAffected() == 0 {
			tl.relock = true
			return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrExists)
		}
		tl.exists, tl.created, tl.base = true, true, 0
		tl.setMembers, tl.members = true, r.Members
		tl.filter = &hashFilter{}
		b.startLog(tl)
		defer func() {
			if err == nil {
				return
			}
			// Refused: no talks after all.
			if _, rerr := b.conn.Exec(b.ctx, `ROLLBACK TO SAVEPOINT create_talks`); rerr != nil {
				b.fail(rerr)
			}
			tl.exists, tl.created, tl.setMembers, tl.members, tl.filter, tl.log = false, false, false, nil, nil, nil
		}()
	}
	if !tl.exists && tl.relock {
		// Another node created the talks after this batch began; lock it now. Out of id order,
		// this could deadlock with a third node: PostgreSQL would then fail one of the two
		// transactions, and nothing would be half-written.
		tl.relock = false
		err := b.conn.QueryRow(b.ctx, `SELECT size FROM talks WHERE id = $1 FOR UPDATE`, r.Talks).Scan(&tl.base)
		switch {
		case err == nil:
			tl.exists = true
			tl.edge = make(map[int64]tlog.Hash)
			b.startLog(tl)
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, b.fail(err)
		}
	}
	if !tl.exists {
		return nil, fmt.Errorf("talks %q: %w", r.Talks, backchannel.ErrNotFound)
	}
	tx := &appendTx{b: b, tl: tl}
	if err := r.Fn(tx); err != nil {
		return nil, err
	}
	if b.broken != nil {
		return nil, b.broken
	}
	p := &prepared{tl: tl, r: r, tx: tx, hashes: make([]backchannel.EventHash, len(tx.Added))}
	for i := range tx.Added {
		e := &tx.Added[i]
		if err := checkEvent(e); err != nil {
			return nil, err
		}
		h := e.Hash()
		p.hashes[i] = h
		_, dup := tl.byHash[h]
		if dup || slices.Contains(p.hashes[:i], h) {
			return nil, fmt.Errorf("event %x of talks %q: %w", h[:8], r.Talks, backchannel.ErrExists)
		}
		if !tl.created && !tl.absent[h] && (tl.filter == nil || tl.filter.mayHave(h)) {
			p.unknown = append(p.unknown, p.hashes[i][:])
		}
	}
	if tx.Members != nil {
		if err := sqlstore.CheckTexts("member", tx.Members...); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkDuplicates looks, in one query, for the events of a round's requests in the events
// table, and refuses each request with an event already there. Under the row locks, what is
// not there now cannot appear before the commit.
func (b *batch) checkDuplicates(round []*prepared) error {
	var talks []string
	var hashes [][]byte
	for _, p := range round {
		for _, h := range p.unknown {
			talks = append(talks, p.tl.id)
			hashes = append(hashes, h)
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	rows, _ := b.conn.Query(b.ctx, `SELECT e.talks, e.hash FROM events e
		JOIN unnest($1::text[], $2::bytea[]) AS w(talks, hash) ON e.talks = w.talks AND e.hash = w.hash`, talks, hashes)
	found := make(map[string]bool)
	var t string
	var h []byte
	if _, err := pgx.ForEachRow(rows, []any{&t, &h}, func() error {
		found[t+"\x00"+string(h)] = true
		return nil
	}); err != nil {
		return b.fail(err)
	}
	for _, p := range round {
		for _, h := range p.unknown {
			if found[p.tl.id+"\x00"+string(h)] {
				p.r.Err = fmt.Errorf("event %x of talks %q: %w", h[:8], p.tl.id, backchannel.ErrExists)
				break
			}
		}
	}
	return nil
}

// add appends a checked request's events to its log and computes their stored hashes.
func (b *batch) add(p *prepared) error {
	tl, tx := p.tl, p.tx
	for _, h := range p.unknown {
		tl.absent[backchannel.EventHash(h)] = true
	}
	for i := range tx.Added {
		e := &tx.Added[i]
		e.Time = b.now
		first, hs, err := tl.log.Add(e.Entry())
		if err != nil {
			return b.fail(err)
		}
		for j := range hs {
			tl.hashIdx = append(tl.hashIdx, first+int64(j))
			tl.hashes = append(tl.hashes, hs[j][:])
		}
		tl.byHash[p.hashes[i]] = len(tl.evs)
		tl.evs = append(tl.evs, *e)
	}
	if tx.Members != nil {
		tl.setMembers, tl.members = true, tx.Members
	}
	p.r.Events = tx.Added
	return nil
}

// finish signs a checkpoint for every log the batch grew, then writes the batch and commits it
// in one pipelined round trip.
func (b *batch) finish(ids []string) (map[string]backchannel.Checkpoint, error) {
	var (
		evTalks, evType, evRoom []string
		evIdx                   []int64
		evHash, evData, evTag   [][]byte
		hTalks                  []string
		hIdx                    []int64
		hHash                   [][]byte
		mTalks, mOrgTalks, mOrg []string
		cpTalks                 []string
		cpSize, cpBefore        []int64
		cpRoot, cpNote          [][]byte
		cps                     = make(map[string]backchannel.Checkpoint)
		edges                   = make(map[string]map[int64]tlog.Hash)
	)
	for _, id := range ids {
		tl := b.logs[id]
		if tl.setMembers {
			mTalks = append(mTalks, id)
			for _, o := range tl.members {
				mOrgTalks = append(mOrgTalks, id)
				mOrg = append(mOrg, o)
			}
		}
		if len(tl.evs) == 0 {
			continue
		}
		for i := range tl.evs {
			e := &tl.evs[i]
			h := e.Hash()
			evTalks = append(evTalks, id)
			evIdx = append(evIdx, int64(e.Index))
			evType = append(evType, e.Type)
			evRoom = append(evRoom, e.Room)
			evHash = append(evHash, h[:])
			evData = append(evData, sqlstore.NonNil(e.Data))
			evTag = append(evTag, e.Tag)
		}
		for range tl.hashIdx {
			hTalks = append(hTalks, id)
		}
		hIdx = append(hIdx, tl.hashIdx...)
		hHash = append(hHash, tl.hashes...)

		size := tl.log.Size()
		root, err := tl.log.Root()
		if err != nil {
			return nil, fmt.Errorf("postgres: tree hash of talks %q: %w", id, err)
		}
		note, err := b.s.cfg.Signer(id, size, root, tl.log)
		if err != nil {
			return nil, fmt.Errorf("postgres: sign checkpoint of talks %q: %w", id, err)
		}
		cps[id] = backchannel.Checkpoint{Size: size, Root: root, Note: note}
		cpTalks = append(cpTalks, id)
		cpSize = append(cpSize, size)
		cpBefore = append(cpBefore, tl.base)
		cpRoot = append(cpRoot, root[:])
		cpNote = append(cpNote, sqlstore.NonNil(note))

		edgeIdx := rightEdge(size)
		hs, err := tl.log.ReadHashes(edgeIdx)
		if err != nil {
			return nil, fmt.Errorf("postgres: right edge of talks %q: %w", id, err)
		}
		edge := make(map[int64]tlog.Hash, len(edgeIdx))
		for i, x := range edgeIdx {
			edge[x] = hs[i]
		}
		edges[id] = edge
	}
	if b.broken != nil {
		return nil, fmt.Errorf("postgres: %w", b.broken)
	}

	var pb pgx.Batch
	if len(evIdx) > 0 {
		pb.Queue(`INSERT INTO events (talks, idx, type, room, hash, data, tag, time_ms)
			SELECT u.*, $8::bigint FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::bytea[]) AS u`,
			evTalks, evIdx, evType, evRoom, evHash, evData, evTag, b.now.UnixMilli())
		pb.Queue(`INSERT INTO hashes (talks, idx, hash) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])`,
			hTalks, hIdx, hHash)
	}
	if len(mTalks) > 0 {
		pb.Queue(`DELETE FROM talks_members WHERE talks = ANY($1)`, mTalks)
		if len(mOrg) > 0 {
			pb.Queue(`INSERT INTO talks_members (org, talks) SELECT DISTINCT * FROM unnest($1::text[], $2::text[])`, mOrg, mOrgTalks)
		}
	}
	var grow int
	if len(cpTalks) > 0 {
		pb.Queue(`INSERT INTO checkpoints (talks, size, root, note) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])`,
			cpTalks, cpSize, cpRoot, cpNote)
		// The size the log had when this transaction locked it is checked once more: a log
		// that changed under the lock would be a fork, and the batch fails instead.
		grow = pb.Len()
		pb.Queue(`UPDATE talks SET size = u.size, xact = pg_current_xact_id()
			FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(id, size, before)
			WHERE talks.id = u.id AND talks.size = u.before`, cpTalks, cpSize, cpBefore)
		// Delivered to every listening node when, and only if, the transaction commits.
		pb.Queue(`SELECT pg_notify('`+listenChannel+`', u.id || ' ' || u.size)
			FROM unnest($1::text[], $2::bigint[]) AS u(id, size)`, cpTalks, cpSize)
	}
	pb.Queue(`COMMIT`)
	br := b.conn.SendBatch(b.ctx, &pb)
	var err error
	for i := 0; i < pb.Len() && err == nil; i++ {
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		switch {
		case err != nil:
		case i == grow && len(cpTalks) > 0 && tag.RowsAffected() != int64(len(cpTalks)):
			err = errors.New("a log changed size under its row lock")
		case i == pb.Len()-1 && tag.String() != "COMMIT":
			err = fmt.Errorf("commit ended with %q", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	for id, edge := range edges {
		b.s.edges.put(id, cps[id].Size, edge)
	}
	// Committed: the filters may now hold the batch's events.
	for _, id := range ids {
		tl := b.logs[id]
		if tl.filter == nil || len(tl.evs) == 0 || tl.filter.size != tl.base {
			continue
		}
		for i := range tl.evs {
			tl.filter.add(tl.evs[i].Hash())
		}
		tl.filter.size = tl.log.Size()
		if tl.created {
			b.s.filters.put(id, tl.filter)
		}
	}
	return cps, nil
}

// appendTx is the AppendTx of one request.
type appendTx struct {
	b  *batch
	tl *talksLog
	logbatch.Pending
}

func (a *appendTx) Size() int64 { return a.tl.log.Size() + int64(len(a.Added)) }

func (a *appendTx) Events(from int64) ([]backchannel.Event, error) {
	var out []backchannel.Event
	if from < a.tl.base {
		evs, err := queryEvents(a.b.ctx, a.b.conn, a.tl.id, from, a.tl.base)
		if err != nil {
			return nil, a.b.fail(err)
		}
		out = evs
	}
	for _, e := range a.tl.evs {
		if int64(e.Index) >= from {
			out = append(out, e)
		}
	}
	return a.Since(out, from), nil
}

func (a *appendTx) Lookup(h backchannel.EventHash) (backchannel.Event, bool, error) {
	if e, ok := a.Find(h); ok {
		return e, true, nil
	}
	if i, ok := a.tl.byHash[h]; ok {
		return a.tl.evs[i], true, nil
	}
	if a.tl.created || a.tl.absent[h] || (a.tl.filter != nil && !a.tl.filter.mayHave(h)) {
		return backchannel.Event{}, false, nil
	}
	e, ok, err := eventByHash(a.b.ctx, a.b.conn, a.tl.id, h)
	if err != nil {
		return e, false, a.b.fail(err)
	}
	if !ok {
		a.tl.absent[h] = true
	}
	return e, ok, nil
}

func (a *appendTx) Append(e backchannel.Event) backchannel.Event { return a.Add(a.tl.id, a.Size(), e) }

// checkEvent refuses an event that the database could not store as given: its type must be an
// identifier and its room text that PostgreSQL accepts (UTF-8 without NUL).
func checkEvent(e *backchannel.Event) error {
	if err := backchannel.CheckID("event type", e.Type); err != nil {
		return err
	}
	if err := backchannel.CheckTag(e.Tag); err != nil {
		return err
	}
	return sqlstore.CheckTexts("event room", e.Room)
}

// edgeCache keeps, for the logs this process wrote last, the right edge of the size it
// committed, so that its next batch need not read it back. Stored hashes never change once
// committed, so an entry is only ever stale in size, and then unused.
type edgeCache struct {
	mu sync.Mutex
	m  map[string]edgeEntry
}

type edgeEntry struct {
	size   int64
	hashes map[int64]tlog.Hash
}

// maxEdges bounds the cache: at most 64 hashes per log.
const maxEdges = 4096

func (c *edgeCache) get(talks string, size int64) map[int64]tlog.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[talks]
	if !ok || e.size != size {
		return nil
	}
	return maps.Clone(e.hashes)
}

func (c *edgeCache) put(talks string, size int64, hashes map[int64]tlog.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxEdges {
		c.m = make(map[string]edgeEntry)
	}
	c.m[talks] = edgeEntry{size: size, hashes: hashes}
}
