package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/postgres"
	"github.com/backchannel/backchannel/internal/store/storetest"
)

// defaultAdminURL is the server the tests use when BACKCHANNEL_TEST_POSTGRES is unset.
const defaultAdminURL = "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"

// adminURL returns the URL of a database through which the tests create their own. The tests
// fail, rather than skip, when PostgreSQL is unreachable, unless BACKCHANNEL_TEST_POSTGRES is
// "skip": a CI without PostgreSQL must say so.
func adminURL(t testing.TB) string {
	u := os.Getenv("BACKCHANNEL_TEST_POSTGRES")
	switch u {
	case "skip":
		t.Skip("BACKCHANNEL_TEST_POSTGRES=skip")
	case "":
		u = defaultAdminURL
	}
	return u
}

// newDatabase creates an empty database for one test and returns its URL; the database is
// dropped when the test ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for tests (BACKCHANNEL_TEST_POSTGRES, or =skip): %v", err)
	}
	defer c.Close(ctx)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "bc_test_" + hex.EncodeToString(rnd[:])
	if _, err := c.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("BACKCHANNEL_TEST_POSTGRES must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB, cfg postgres.Config) *postgres.Store {
	t.Helper()
	if cfg.Signer == nil {
		cfg.Signer = storetest.Signer
	}
	s, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw connects to the test database directly, as an operator would.
func raw(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, signer store.CheckpointSigner) store.Store {
		// Each case has a database of its own: they can run side by side, which hides most of
		// the time PostgreSQL takes to create and drop a database.
		t.Parallel()
		return open(t, postgres.Config{URL: newDatabase(t), Signer: signer})
	})
}

func ev(typ, room, data string) backchannel.Event {
	return backchannel.Event{Type: typ, Room: room, Data: []byte(data)}
}

func appendOne(t testing.TB, s store.Store, talks, data string) backchannel.Checkpoint {
	t.Helper()
	_, cp, err := s.Append(context.Background(), talks, func(tx store.AppendTx) error {
		tx.Append(ev("envelope", "caucus:us", data))
		return nil
	})
	if err != nil {
		t.Fatalf("Append(%s, %q): %v", talks, data, err)
	}
	return cp
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDatabase(t)
	s := open(t, postgres.Config{URL: db})
	if _, _, err := s.CreateTalks(ctx, "t1", []string{"us"}, storetest.First(ev("act", "", "charter"))); err != nil {
		t.Fatal(err)
	}
	cp := appendOne(t, s, "t1", "m")
	s.Close()
	s = open(t, postgres.Config{URL: db})
	got, err := s.Checkpoint(ctx, "t1", 0)
	if err != nil || got.Size != 2 || got.Root != cp.Root {
		t.Fatalf("after reopen: checkpoint %+v, %v; want %+v", got, err, cp)
	}
	// The log goes on growing from where it was, with its right edge read back from the table.
	cp3 := appendOne(t, s, "t1", "m2")
	evs, _ := s.Events(ctx, "t1", 0, 10)
	if cp3.Size != 3 || len(evs) != 3 {
		t.Fatalf("after reopen and append: size %d, %d events", cp3.Size, len(evs))
	}
	checkLog(t, s, db, "t1", 3)
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	db := newDatabase(t)
	s := open(t, postgres.Config{URL: db})
	s.Close()
	// A database written by a later release.
	if _, err := raw(t, db).Exec(context.Background(), `INSERT INTO schema_version (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), postgres.Config{URL: db, Signer: storetest.Signer})
	if !errors.Is(err, backchannel.ErrSchemaTooNew) {
		t.Fatalf("Open on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	db := newDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), postgres.Config{URL: db, Signer: storetest.Signer})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	// Each migration recorded once: as many rows as versions, 1 to the newest.
	var n, distinct, newest int
	err := raw(t, db).QueryRow(context.Background(), `SELECT count(*), count(DISTINCT version), max(version) FROM schema_version`).Scan(&n, &distinct, &newest)
	if err != nil || n != distinct || n != newest || n < 1 {
		t.Errorf("schema_version has %d rows, %d versions, the newest %d (%v): want each version once", n, distinct, newest, err)
	}
}

// waitNotice waits for a notice that talks has grown to at least size.
func waitNotice(t *testing.T, notices <-chan backchannel.Notice, talks string, size int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-notices:
			if n.Talks == talks && n.Size >= size {
				return
			}
		case <-deadline:
			t.Fatalf("no notice of %s growing to %d", talks, size)
		}
	}
}

func TestWatchSeesCommitsOfOtherNodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := newDatabase(t)
	a := open(t, postgres.Config{URL: db})
	b := open(t, postgres.Config{URL: db})
	notices := a.Watch(ctx)
	if _, _, err := b.CreateTalks(ctx, "t1", nil, storetest.First(ev("act", "", "charter"))); err != nil {
		t.Fatal(err)
	}
	waitNotice(t, notices, "t1", 1)
	appendOne(t, b, "t1", "from b")
	waitNotice(t, notices, "t1", 2)
}

// A node whose LISTEN connection drops reconnects and reports what it missed meanwhile.
func TestWatchSurvivesLostListener(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := newDatabase(t)
	a := open(t, postgres.Config{URL: db, ListenRetry: 1500 * time.Millisecond})
	// Node b's connections carry another name, so that a's listener is the only one so named.
	bURL, _ := url.Parse(db)
	q := bURL.Query()
	q.Set("application_name", "node-b")
	bURL.RawQuery = q.Encode()
	b := open(t, postgres.Config{URL: bURL.String()})
	if _, _, err := b.CreateTalks(ctx, "t1", nil, storetest.First(ev("act", "", "charter"))); err != nil {
		t.Fatal(err)
	}
	notices := a.Watch(ctx)

	admin := raw(t, db)
	dbName := bURL.Path[1:]
	var pid int32
	if err := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'backchannel-listen'`,
		dbName).Scan(&pid); err != nil {
		t.Fatalf("find the listener: %v", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
		t.Fatal(err)
	}
	// While a is deaf (it waits 1.5s before reconnecting), b commits: the notification is lost,
	// and a must find the growth in the table.
	appendOne(t, b, "t1", "while deaf 1")
	appendOne(t, b, "t1", "while deaf 2")
	waitNotice(t, notices, "t1", 3)
	var listeners int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'backchannel-listen' AND pid <> $2`,
		dbName, pid).Scan(&listeners); err != nil || listeners != 1 {
		t.Fatalf("%d new listeners (%v), want 1", listeners, err)
	}
	// And it listens again.
	appendOne(t, b, "t1", "heard")
	waitNotice(t, notices, "t1", 4)
}

// Two nodes appending to the same talks at once serialise on its row lock: the log has every
// event once, without a gap, and every checkpoint stored extends the one before.
func TestTwoNodesNeverFork(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := newDatabase(t)
	nodes := []*postgres.Store{open(t, postgres.Config{URL: db}), open(t, postgres.Config{URL: db})}
	talks := []string{"shared", "other"}
	for _, id := range talks {
		if _, _, err := nodes[0].CreateTalks(ctx, id, nil, storetest.First(ev("act", "", "charter of "+id))); err != nil {
			t.Fatal(err)
		}
	}
	notices := nodes[0].Watch(ctx)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*writers*each)
	for n, s := range nodes {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					// Mostly the shared talks; now and then another, so that batches carry
					// several talks and lock them in order.
					id := talks[0]
					if i%4 == 3 {
						id = talks[1]
					}
					_, _, err := s.Append(ctx, id, func(tx store.AppendTx) error {
						tx.Append(ev("envelope", "mediators", fmt.Sprintf("n%d-w%d-%d", n, w, i)))
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	shared := int64(1 + len(nodes)*writers*(each-each/4))
	checkLog(t, nodes[1], db, "shared", shared)
	checkLog(t, nodes[0], db, "other", int64(1+len(nodes)*writers*(each/4)))
	// Node 0 heard of the last commit, whichever node made it.
	waitNotice(t, notices, "shared", shared)
}

// checkLog checks a talks' log against an independent recomputation: want events, indexed
// 0..want-1, none twice; every stored hash; every checkpoint stored, its root, its note, and
// its consistency with the checkpoint before it.
func checkLog(t *testing.T, s store.Store, db, talks string, want int64) {
	t.Helper()
	ctx := context.Background()
	evs, err := s.Events(ctx, talks, 0, int(want)+10)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(evs)) != want {
		t.Fatalf("talks %s has %d events, want %d", talks, len(evs), want)
	}
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(hashes)) {
				return nil, fmt.Errorf("no hash %d", x)
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	roots := make(map[int64]tlog.Hash)
	seen := make(map[string]bool)
	for i, e := range evs {
		if int64(e.Index) != int64(i) {
			t.Fatalf("talks %s: event %d has index %d", talks, i, e.Index)
		}
		if seen[string(e.Data)] {
			t.Fatalf("talks %s: %q stored twice", talks, e.Data)
		}
		seen[string(e.Data)] = true
		hs, err := tlog.StoredHashes(int64(i), e.Entry(), hr)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
		if roots[int64(i+1)], err = tlog.TreeHash(int64(i+1), hr); err != nil {
			t.Fatal(err)
		}
	}
	idx := make([]int64, len(hashes))
	for i := range idx {
		idx[i] = int64(i)
	}
	stored, err := s.ReadHashes(ctx, talks, idx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stored {
		if stored[i] != hashes[i] {
			t.Fatalf("talks %s: stored hash %d = %v, want %v", talks, i, stored[i], hashes[i])
		}
	}
	storeHR := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, talks, idx) })
	rows, _ := raw(t, db).Query(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = $1 ORDER BY size`, talks)
	type cp struct {
		size       int64
		root, note []byte
	}
	cps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cp, error) {
		var c cp
		err := row.Scan(&c.size, &c.root, &c.note)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) == 0 || cps[len(cps)-1].size != want {
		t.Fatalf("talks %s: %d checkpoints, the last not at size %d", talks, len(cps), want)
	}
	for i, c := range cps {
		root := tlog.Hash(c.root)
		if root != roots[c.size] {
			t.Fatalf("talks %s: checkpoint at %d has root %v, want %v", talks, c.size, root, roots[c.size])
		}
		if note, _ := storetest.Signer(talks, c.size, root, nil); !bytes.Equal(c.note, note) {
			t.Fatalf("talks %s: checkpoint note at %d = %q, want %q", talks, c.size, c.note, note)
		}
		if i == 0 {
			continue
		}
		prev := cps[i-1]
		p, err := tlog.ProveTree(c.size, prev.size, storeHR)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, c.size, root, prev.size, tlog.Hash(prev.root)); err != nil {
			t.Fatalf("talks %s: checkpoint %d is not consistent with %d: %v", talks, c.size, prev.size, err)
		}
	}
	last, err := s.Checkpoint(ctx, talks, 0)
	if err != nil || last.Size != want || last.Root != roots[want] {
		t.Fatalf("talks %s: latest checkpoint %d %v (%v), want %d %v", talks, last.Size, last.Root, err, want, roots[want])
	}
}

// Each node remembers which events its logs hold; what another node appended must still be
// found, and refused when appended again.
func TestDuplicateAcrossNodesIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDatabase(t)
	a, b := open(t, postgres.Config{URL: db}), open(t, postgres.Config{URL: db})
	if _, _, err := a.CreateTalks(ctx, "t1", nil, storetest.First(ev("act", "", "charter"))); err != nil {
		t.Fatal(err)
	}
	appendOne(t, b, "t1", "x") // b learns the log
	appendOne(t, a, "t1", "y") // and a grows it behind b's back
	for _, data := range []string{"charter", "x", "y"} {
		_, _, err := b.Append(ctx, "t1", func(tx store.AppendTx) error {
			tx.Append(ev("envelope", "caucus:us", data))
			return nil
		})
		if !errors.Is(err, backchannel.ErrExists) {
			t.Errorf("appending %q again on node b: %v, want ErrExists", data, err)
		}
		_, _, err = b.Append(ctx, "t1", func(tx store.AppendTx) error {
			e := backchannel.Event{Data: []byte(data)}
			if _, ok, err := tx.Lookup(e.Hash()); err != nil || !ok {
				return fmt.Errorf("Lookup(%q) on node b = %v, %v", data, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	checkLog(t, a, db, "t1", 3)
}

// Requests that share a transaction see each other: a later request finds an earlier one's
// event, a duplicate of it is refused, and neither disturbs the rest.
func TestBatchedRequestsSeeEachOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDatabase(t)
	var batches []int
	var mu sync.Mutex
	s := open(t, postgres.Config{URL: db, Writers: 1, OnCommit: func(n int, _ time.Duration) {
		mu.Lock()
		batches = append(batches, n)
		mu.Unlock()
	}})
	for _, id := range []string{"t1", "t2"} {
		if _, _, err := s.CreateTalks(ctx, id, nil, storetest.First(ev("act", "", "charter of "+id))); err != nil {
			t.Fatal(err)
		}
	}
	// Hold the only writer inside a transaction while the next requests queue up.
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Append(ctx, "t2", func(tx store.AppendTx) error {
			close(held)
			<-hold
			tx.Append(ev("envelope", "", "t2 first"))
			return nil
		})
	}()
	<-held
	type result struct {
		evs []backchannel.Event
		err error
	}
	results := make([]result, 4)
	fns := []func(tx store.AppendTx) error{
		func(tx store.AppendTx) error {
			tx.Append(ev("envelope", "", "m"))
			return nil
		},
		func(tx store.AppendTx) error { // a duplicate of the first
			tx.Append(ev("envelope", "", "m"))
			return nil
		},
		func(tx store.AppendTx) error { // the server's idempotency pattern
			m := backchannel.Event{Data: []byte("m")}
			e, ok, err := tx.Lookup(m.Hash())
			if err != nil || !ok || e.Index != 1 {
				return fmt.Errorf("Lookup of the pending event = %+v, %v, %v", e, ok, err)
			}
			evs, err := tx.Events(0)
			if err != nil || len(evs) != 2 || string(evs[1].Data) != "m" {
				return fmt.Errorf("Events(0) = %v, %v", evs, err)
			}
			tx.Append(ev("envelope", "", "n"))
			return nil
		},
		func(tx store.AppendTx) error {
			tx.Append(ev("envelope", "", "o"))
			tx.SetMembers([]string{"ir", "us"})
			return nil
		},
	}
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].evs, _, results[i].err = s.Append(ctx, "t1", fn)
		}()
		time.Sleep(50 * time.Millisecond) // in this order in the queue
	}
	// A create refused by its callback, in the same transaction, leaves no talks behind.
	var refusedCreate, create error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _, refusedCreate = s.CreateTalks(ctx, "t3", nil, func(tx store.AppendTx) error {
			tx.Append(ev("act", "", "charter of t3"))
			return errors.New("refused")
		})
	}()
	time.Sleep(50 * time.Millisecond)
	go func() {
		defer wg.Done()
		_, _, create = s.CreateTalks(ctx, "t4", nil, storetest.First(ev("act", "", "charter of t4")))
	}()
	time.Sleep(50 * time.Millisecond)
	close(hold)
	wg.Wait()
	if refusedCreate == nil || create != nil {
		t.Errorf("refused create: %v; create: %v", refusedCreate, create)
	}
	if _, err := s.Talks(ctx, "t3"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("a refused create left talks t3: %v", err)
	}
	checkLog(t, s, db, "t4", 1)
	if results[0].err != nil || results[0].evs[0].Index != 1 {
		t.Errorf("first: %+v", results[0])
	}
	if !errors.Is(results[1].err, backchannel.ErrExists) {
		t.Errorf("duplicate: %v, want ErrExists", results[1].err)
	}
	if results[2].err != nil || results[2].evs[0].Index != 2 {
		t.Errorf("third: %+v", results[2])
	}
	if results[3].err != nil || results[3].evs[0].Index != 3 {
		t.Errorf("fourth: %+v", results[3])
	}
	mu.Lock()
	last := batches[len(batches)-1]
	mu.Unlock()
	if last != 6 {
		t.Errorf("the queued requests took commits of %v, want one of 6", batches)
	}
	checkLog(t, s, db, "t1", 4)
	info, _ := s.Talks(ctx, "t1")
	if fmt.Sprint(info.Members) != "[ir us]" {
		t.Errorf("members = %v", info.Members)
	}
}

func TestCreateTalksRefusesWhatItCannotStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, postgres.Config{URL: newDatabase(t)})
	for _, c := range []struct {
		id      string
		charter backchannel.Event
	}{
		{"Bad ID", ev("act", "", "c")},
		{"t1", ev("", "", "c")},
		{"t1", ev("act", "room\x00", "c")},
		{"t1", ev("act", "\xff", "c")},
	} {
		if _, _, err := s.CreateTalks(ctx, c.id, nil, storetest.First(c.charter)); err == nil {
			t.Errorf("CreateTalks(%q, %+v) succeeded", c.id, c.charter)
		}
	}
	if _, err := s.Talks(ctx, "t1"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("a refused create left talks t1: %v", err)
	}
	if _, _, err := s.CreateTalks(ctx, "t1", nil, storetest.First(ev("act", "", "c"))); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		tx.Append(ev("envelope", "caucus\x00", "x"))
		return nil
	})
	if err == nil {
		t.Error("an event with a NUL in its room was accepted")
	}
	appendOne(t, s, "t1", "fine")
}

// BenchmarkAppendParallel measures group commit: many goroutines appending 1 KiB events to one
// talks, and spread over 16.
func BenchmarkAppendParallel(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("talks=%d", n), func(b *testing.B) {
			ctx := context.Background()
			var commits, appends atomic.Int64
			s := open(b, postgres.Config{URL: newDatabase(b), OnCommit: func(k int, _ time.Duration) {
				commits.Add(1)
				appends.Add(int64(k))
			}})
			for i := range n {
				if _, _, err := s.CreateTalks(ctx, fmt.Sprintf("t%d", i), nil, storetest.First(ev("act", "", fmt.Sprint("charter", i)))); err != nil {
					b.Fatal(err)
				}
			}
			commits.Store(0)
			appends.Store(0)
			var seq atomic.Uint64
			b.SetParallelism(128)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				data := make([]byte, 1024)
				rand.Read(data)
				for pb.Next() {
					k := seq.Add(1)
					binary.BigEndian.PutUint64(data, k)
					talks := fmt.Sprintf("t%d", k%uint64(n))
					_, _, err := s.Append(ctx, talks, func(tx store.AppendTx) error {
						tx.Append(backchannel.Event{Type: "envelope", Room: "mediators", Data: bytes.Clone(data)})
						return nil
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(appends.Load())/float64(c), "appends/commit")
			}
		})
	}
}
