// Package storetest is the conformance suite that every store.Store must pass. Each
// store's own tests call Run with a constructor; the suite exercises the contract stated on
// store.Store: atomic appends, Merkle hashes and checkpoints in the same commit,
// idempotency, serialised appends under concurrency, and the directory.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
)

// NewStore opens a fresh, empty store whose checkpoints are signed by signer. The store is
// closed by the suite (and may also be closed by t.Cleanup).
type NewStore func(t *testing.T, signer store.CheckpointSigner) store.Store

// Signer is the checkpoint signer the suite uses: it writes the talks, size and root as text,
// so that the suite can check what the store asked to sign.
func Signer(talks string, size int64, root tlog.Hash, _ tlog.HashReader) ([]byte, error) {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", talks, size, root), nil
}

// Run runs the conformance suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateTalksStoresCharterAsFirstLeaf", testCreate},
		{"CreateTalksTwiceIsRefused", testCreateTwice},
		{"AppendToUnknownTalksIsNotFound", testAppendUnknown},
		{"RefusedCreateLeavesNothing", testRefusedCreate},
		{"RefusedAppendChangesNothing", testRefusedAppend},
		{"AppendIsIdempotentByHash", testIdempotent},
		{"HashesAndCheckpointMatchRFC6962", testHashes},
		{"ConcurrentAppendsNeitherForkNorGap", testConcurrent},
		{"RefusalInBatchLeavesOthersIntact", testBatchIsolation},
		{"EventsPaginate", testEventsPaginate},
		{"AppendTxSeesPendingEvents", testAppendTxView},
		{"CosignaturesKeepLatestPerCosigner", testCosignatures},
		{"CredentialsDirectory", testCredentials},
		{"OrganisationsDirectory", testOrganisations},
		{"SecretIsCreatedOnce", testSecret},
		{"UseOnceUntilExpiry", testUseOnce},
		{"WatchReportsGrowth", testWatch},
		{"TalksOfListsMembership", testTalksOf},
		{"RoomTagsAreKeptAndInTheLeaf", testRoomTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, Signer)
			defer s.Close()
			tt.fn(t, s)
		})
	}
	t.Run("ClosedStoreRefuses", func(t *testing.T) {
		s := newStore(t, Signer)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Append(context.Background(), "t1", func(store.AppendTx) error { return nil })
		if err == nil {
			t.Fatal("Append after Close succeeded")
		}
	})
}

func ev(typ, room, data string) backchannel.Event {
	return backchannel.Event{Type: typ, Room: room, Data: []byte(data)}
}

// First returns a CreateTalks callback that appends the given events.
func First(evs ...backchannel.Event) func(store.AppendTx) error {
	return func(tx store.AppendTx) error {
		for _, e := range evs {
			tx.Append(e)
		}
		return nil
	}
}

func mustCreate(t *testing.T, s store.Store, id string, members ...string) {
	t.Helper()
	if _, _, err := s.CreateTalks(context.Background(), id, members, First(ev("act", "", "charter of "+id))); err != nil {
		t.Fatalf("CreateTalks(%q): %v", id, err)
	}
}

func appendN(t *testing.T, s store.Store, talks string, prefix string, n int) []backchannel.Event {
	t.Helper()
	evs, _, err := s.Append(context.Background(), talks, func(tx store.AppendTx) error {
		for i := 0; i < n; i++ {
			tx.Append(ev("envelope", "caucus:us", fmt.Sprintf("%s-%d", prefix, i)))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return evs
}

// memLog recomputes a log's hashes independently of the store.
type memLog struct{ hashes []tlog.Hash }

func (m *memLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("memLog: no hash %d", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLog) add(t *testing.T, n int64, entry []byte) {
	hs, err := tlog.StoredHashes(n, entry, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, hs...)
}

func testCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	charter := ev("act", "", "the charter")
	evs, cp, err := s.CreateTalks(ctx, "muscat-1", []string{"us", "ir"}, First(charter))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("CreateTalks appended %d events, want 1", len(evs))
	}
	e := evs[0]
	if e.Index != 0 || e.Talks != "muscat-1" || !bytes.Equal(e.Data, charter.Data) || e.Time.IsZero() {
		t.Errorf("charter event = %+v", e)
	}
	if cp.Size != 1 || cp.Root != tlog.RecordHash(charter.Entry()) {
		t.Errorf("checkpoint = size %d root %v, want size 1 root of the charter leaf", cp.Size, cp.Root)
	}
	info, err := s.Talks(ctx, "muscat-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 1 || strings.Join(info.Members, ",") != "ir,us" {
		t.Errorf("Talks = %+v, want size 1 members ir,us", info)
	}
	evs, err = s.Events(ctx, "muscat-1", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Type != "act" || !evs[0].Time.Equal(e.Time) {
		t.Errorf("Events = %+v, %v", evs, err)
	}
	if _, err := s.Talks(ctx, "nowhere"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("Talks(unknown) error = %v, want ErrNotFound", err)
	}
}

func testCreateTwice(t *testing.T, s store.Store) {
	mustCreate(t, s, "t1", "us")
	_, _, err := s.CreateTalks(context.Background(), "t1", nil, First(ev("act", "", "another charter")))
	if !errors.Is(err, backchannel.ErrExists) {
		t.Fatalf("second CreateTalks error = %v, want ErrExists", err)
	}
	info, _ := s.Talks(context.Background(), "t1")
	if info.Size != 1 {
		t.Errorf("size after refused create = %d, want 1", info.Size)
	}
}

func testRefusedCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, _, err := s.CreateTalks(ctx, "t1", []string{"us"}, func(tx store.AppendTx) error {
		tx.Append(ev("act", "", "charter"))
		return errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Fatalf("CreateTalks error = %v, want the callback's", err)
	}
	if _, err := s.Talks(ctx, "t1"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("a refused create left talks behind: %v", err)
	}
	mustCreate(t, s, "t1")
}

func testAppendUnknown(t *testing.T, s store.Store) {
	called := false
	_, _, err := s.Append(context.Background(), "nowhere", func(tx store.AppendTx) error {
		called = true
		return nil
	})
	if !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("Append(unknown) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("Append(unknown) called fn")
	}
}

var errRefused = errors.New("refused by the rules")

func testRefusedAppend(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	before, _ := s.Checkpoint(ctx, "t1", 0)
	_, _, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		tx.Append(ev("envelope", "caucus:us", "half-written"))
		return errRefused
	})
	if !errors.Is(err, errRefused) {
		t.Fatalf("Append error = %v, want the callback's error", err)
	}
	info, _ := s.Talks(ctx, "t1")
	after, _ := s.Checkpoint(ctx, "t1", 0)
	if info.Size != 1 || after.Size != before.Size || after.Root != before.Root {
		t.Errorf("refused append changed the log: size %d, checkpoint %d", info.Size, after.Size)
	}
	if _, err := s.EventByHash(ctx, "t1", backchannel.EventHash(hashOf("half-written"))); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("refused event is findable: %v", err)
	}
	// The log still grows normally afterwards, at the index the refused event would have had.
	evs := appendN(t, s, "t1", "ok", 1)
	if evs[0].Index != 1 {
		t.Errorf("next index = %d, want 1", evs[0].Index)
	}
}

func hashOf(s string) [32]byte {
	e := backchannel.Event{Data: []byte(s)}
	return e.Hash()
}

func testIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	first := appendN(t, s, "t1", "msg", 1)[0]
	// The server's pattern: look the event up inside the transaction and return it if present.
	evs, _, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		e, ok, err := tx.Lookup(first.Hash())
		if err != nil {
			return err
		}
		if !ok {
			t.Error("Lookup did not find a committed event")
		}
		if e.Index != first.Index || !bytes.Equal(e.Data, first.Data) {
			t.Errorf("Lookup = %+v, want %+v", e, first)
		}
		return nil
	})
	if err != nil || len(evs) != 0 {
		t.Errorf("Append with nothing new = %v, %v", evs, err)
	}
	// Appending the same bytes again is refused by the store itself.
	_, _, err = s.Append(ctx, "t1", func(tx store.AppendTx) error {
		tx.Append(ev("envelope", "caucus:us", "msg-0"))
		return nil
	})
	if !errors.Is(err, backchannel.ErrExists) {
		t.Errorf("duplicate append error = %v, want ErrExists", err)
	}
	got, err := s.EventByHash(ctx, "t1", first.Hash())
	if err != nil || got.Index != first.Index {
		t.Errorf("EventByHash = %+v, %v", got, err)
	}
	info, _ := s.Talks(ctx, "t1")
	if info.Size != 2 {
		t.Errorf("size = %d, want 2 (charter + one message)", info.Size)
	}
}

func testHashes(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	var m memLog
	charter := ev("act", "", "charter of t1")
	m.add(t, 0, charter.Entry())
	n := int64(1)
	for round := 0; round < 7; round++ {
		evs := appendN(t, s, "t1", fmt.Sprintf("r%d", round), round*3+1)
		for _, e := range evs {
			if int64(e.Index) != n {
				t.Fatalf("index %d, want %d", e.Index, n)
			}
			m.add(t, n, e.Entry())
			n++
		}
		want, err := tlog.TreeHash(n, &m)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := s.Checkpoint(ctx, "t1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != n || cp.Root != want {
			t.Fatalf("checkpoint size %d root %v, want %d %v", cp.Size, cp.Root, n, want)
		}
		wantNote, _ := Signer("t1", n, want, nil)
		if !bytes.Equal(cp.Note, wantNote) {
			t.Fatalf("checkpoint note = %q, want %q", cp.Note, wantNote)
		}
		// Every stored hash the store holds is the one RFC 6962 gives.
		idx := make([]int64, tlog.StoredHashCount(n))
		for i := range idx {
			idx[i] = int64(i)
		}
		got, err := s.ReadHashes(ctx, "t1", idx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != m.hashes[i] {
				t.Fatalf("stored hash %d = %v, want %v", i, got[i], m.hashes[i])
			}
		}
		// Proofs built from the store's hashes check against the checkpoint.
		hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, "t1", idx) })
		for i := int64(0); i < n; i++ {
			p, err := tlog.ProveRecord(n, i, hr)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, n, cp.Root, i, m.hashes[tlog.StoredHashIndex(0, i)]); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, n, err)
			}
		}
		old, err := s.Checkpoint(ctx, "t1", 1)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := tlog.ProveTree(n, 1, hr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(tp, n, cp.Root, 1, old.Root); err != nil {
			t.Fatalf("consistency 1..%d: %v", n, err)
		}
	}
	// One read of more hashes than a store puts in one query (1000), in reverse order and with
	// repeats, answers each in its place.
	for _, e := range appendN(t, s, "t1", "big", 1000) {
		m.add(t, n, e.Entry())
		n++
	}
	var idx []int64
	for i := tlog.StoredHashCount(n) - 1; i >= 0; i-- {
		idx = append(idx, i)
		if i%7 == 0 {
			idx = append(idx, i)
		}
	}
	if tlog.StoredHashCount(n) <= 2000 {
		t.Fatalf("only %d hashes: the read does not cross two query boundaries", tlog.StoredHashCount(n))
	}
	got, err := s.ReadHashes(ctx, "t1", idx)
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range idx {
		if got[k] != m.hashes[i] {
			t.Fatalf("stored hash %d (asked for at %d of %d) = %v, want %v", i, k, len(idx), got[k], m.hashes[i])
		}
	}
	if _, err := s.ReadHashes(ctx, "t1", []int64{1 << 40}); err == nil {
		t.Error("ReadHashes of a hash beyond the log succeeded")
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	talks := []string{"a", "b", "c"}
	for _, id := range talks {
		mustCreate(t, s, id)
	}
	const writers, each = 12, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			id := talks[w%len(talks)]
			for i := 0; i < each; i++ {
				_, _, err := s.Append(ctx, id, func(tx store.AppendTx) error {
					tx.Append(ev("envelope", "mediators", fmt.Sprintf("w%d-%d", w, i)))
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range talks {
		evs, err := s.Events(ctx, id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want := 1 + writers/len(talks)*each
		if len(evs) != want {
			t.Fatalf("talks %s has %d events, want %d", id, len(evs), want)
		}
		var m memLog
		seen := map[string]bool{}
		for i, e := range evs {
			if int64(e.Index) != int64(i) {
				t.Fatalf("talks %s: event %d has index %d (gap or reorder)", id, i, e.Index)
			}
			if seen[string(e.Data)] {
				t.Fatalf("talks %s: %q stored twice", id, e.Data)
			}
			seen[string(e.Data)] = true
			m.add(t, int64(i), e.Entry())
		}
		cp, _ := s.Checkpoint(ctx, id, 0)
		root, _ := tlog.TreeHash(int64(len(evs)), &m)
		if cp.Size != int64(len(evs)) || cp.Root != root {
			t.Fatalf("talks %s: checkpoint %d %v, want %d %v", id, cp.Size, cp.Root, len(evs), root)
		}
	}
}

func testBatchIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	const n = 40
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, results[i] = s.Append(ctx, "t1", func(tx store.AppendTx) error {
				tx.Append(ev("envelope", "caucus:ir", fmt.Sprintf("m%d", i)))
				if i%3 == 0 {
					return errRefused
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	ok := 0
	for i, err := range results {
		switch {
		case i%3 == 0 && !errors.Is(err, errRefused):
			t.Errorf("append %d: error %v, want refusal", i, err)
		case i%3 != 0 && err != nil:
			t.Errorf("append %d: %v", i, err)
		case err == nil:
			ok++
		}
	}
	evs, _ := s.Events(ctx, "t1", 1, 1000)
	if len(evs) != ok {
		t.Fatalf("%d events stored, want %d", len(evs), ok)
	}
	for _, e := range evs {
		var i int
		fmt.Sscanf(string(e.Data), "m%d", &i)
		if i%3 == 0 {
			t.Errorf("refused event %q was stored", e.Data)
		}
	}
}

func testEventsPaginate(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	appendN(t, s, "t1", "m", 25)
	var all []backchannel.Event
	for from := int64(0); ; {
		page, err := s.Events(ctx, "t1", from, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		from = int64(page[len(page)-1].Index) + 1
	}
	if len(all) != 26 {
		t.Fatalf("paged %d events, want 26", len(all))
	}
	if page, _ := s.Events(ctx, "t1", 100, 7); len(page) != 0 {
		t.Errorf("Events beyond the end = %d events", len(page))
	}
}

func testAppendTxView(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	appendN(t, s, "t1", "m", 2)
	_, _, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		if tx.Size() != 3 {
			t.Errorf("Size = %d, want 3", tx.Size())
		}
		e := tx.Append(ev("vote", "", "v1"))
		if e.Index != 3 || e.Talks != "t1" || tx.Size() != 4 {
			t.Errorf("Append = index %d talks %q, Size %d", e.Index, e.Talks, tx.Size())
		}
		evs, err := tx.Events(2)
		if err != nil {
			return err
		}
		if len(evs) != 2 || string(evs[0].Data) != "m-1" || string(evs[1].Data) != "v1" {
			t.Errorf("Events(2) = %v", evs)
		}
		if _, ok, _ := tx.Lookup(e.Hash()); !ok {
			t.Error("Lookup does not see a pending event")
		}
		tx.SetMembers([]string{"us", "ir", "om"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Talks(ctx, "t1")
	if strings.Join(info.Members, ",") != "ir,om,us" {
		t.Errorf("members = %v", info.Members)
	}
}

func testCosignatures(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	now := time.UnixMilli(1_700_000_000_000).UTC()
	add := func(size int64, who, line string) {
		t.Helper()
		if err := s.AddCosignature(ctx, "t1", backchannel.Cosignature{Size: size, Cosigner: who, Line: []byte(line), Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "us", "— us A\n")
	add(1, "ir", "— ir B\n")
	add(3, "us", "— us C\n")
	add(1, "ir", "— ir B2\n")
	at1, err := s.Cosignatures(ctx, "t1", 1)
	if err != nil || len(at1) != 2 || string(at1[0].Line) != "— ir B2\n" || string(at1[1].Line) != "— us A\n" {
		t.Errorf("Cosignatures(1) = %+v, %v", at1, err)
	}
	latest, err := s.Cosignatures(ctx, "t1", 0)
	if err != nil || len(latest) != 2 || latest[0].Size != 1 || latest[1].Size != 3 || !latest[1].Time.Equal(now) {
		t.Errorf("Cosignatures(latest) = %+v, %v", latest, err)
	}
}

func testCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	c1 := backchannel.StoredCredential{ID: "cred-1", Principal: "us.envoy", Org: "us", Serial: 1, Data: []byte("one")}
	c2 := backchannel.StoredCredential{ID: "cred-2", Principal: "us.envoy", Org: "us", Serial: 2, Data: []byte("two")}
	for _, c := range []backchannel.StoredCredential{c2, c1, c1} {
		if err := s.PutCredential(ctx, c); err != nil {
			t.Fatalf("PutCredential(%s): %v", c.ID, err)
		}
	}
	bad := c1
	bad.Data = []byte("forged")
	if err := s.PutCredential(ctx, bad); !errors.Is(err, backchannel.ErrExists) {
		t.Errorf("PutCredential with other bytes: %v, want ErrExists", err)
	}
	got, err := s.Credential(ctx, "cred-1")
	if err != nil || string(got.Data) != "one" || got.Serial != 1 || got.Revocation != nil {
		t.Errorf("Credential = %+v, %v", got, err)
	}
	all, err := s.CredentialsOf(ctx, "us.envoy")
	if err != nil || len(all) != 2 || all[0].ID != "cred-1" || all[1].ID != "cred-2" {
		t.Errorf("CredentialsOf = %+v, %v", all, err)
	}
	if err := s.RevokeCredential(ctx, "cred-1", []byte("revoked")); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Credential(ctx, "cred-1")
	if string(got.Revocation) != "revoked" {
		t.Errorf("revocation = %q", got.Revocation)
	}
	if err := s.RevokeCredential(ctx, "nope", []byte("x")); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("RevokeCredential(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Credential(ctx, "nope"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("Credential(unknown) = %v, want ErrNotFound", err)
	}
}

func testSecret(t *testing.T, s store.Store) {
	ctx := context.Background()
	calls := 0
	mk := func() ([]byte, error) { calls++; return []byte(fmt.Sprintf("secret-%d", calls)), nil }
	a, err := s.Secret(ctx, "log-key", mk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Secret(ctx, "log-key", mk)
	if err != nil || !bytes.Equal(a, b) || calls != 1 {
		t.Errorf("second Secret = %q (first %q), %d creations, %v", b, a, calls, err)
	}
}

func testUseOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	later := now.Add(time.Minute) // when what is used at now expires
	for _, tt := range []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"challenge:a", now, true},
		{"challenge:a", now, false},
		{"challenge:b", now, true},
		{"challenge:a", later.Add(-time.Millisecond), false},
		{"challenge:a", later, true}, // expired, so free again, until later+1m
		{"challenge:a", later, false},
		{"challenge:b", later, true},
	} {
		got, err := s.UseOnce(ctx, tt.key, tt.at, tt.at.Add(time.Minute))
		if err != nil || got != tt.want {
			t.Errorf("UseOnce(%s at +%v) = %v, %v; want %v", tt.key, tt.at.Sub(now), got, err, tt.want)
		}
	}
}

func testWatch(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notices := s.Watch(ctx)
	mustCreate(t, s, "t1")
	appendN(t, s, "t1", "m", 3)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-notices:
			if n.Talks == "t1" && n.Size == 4 {
				return
			}
		case <-deadline:
			t.Fatal("no notice of growth to size 4")
		}
	}
}

func testTalksOf(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1", "us", "ir")
	mustCreate(t, s, "t2", "us", "qa")
	got, err := s.TalksOf(ctx, "us")
	if err != nil || len(got) != 2 {
		t.Fatalf("TalksOf(us) = %+v, %v", got, err)
	}
	got, _ = s.TalksOf(ctx, "qa")
	if len(got) != 1 || got[0].ID != "t2" {
		t.Errorf("TalksOf(qa) = %+v", got)
	}
	got, _ = s.TalksOf(ctx, "ae")
	if len(got) != 0 {
		t.Errorf("TalksOf(ae) = %+v", got)
	}
	ids, err := s.ListTalks(ctx)
	if err != nil || strings.Join(ids, ",") != "t1,t2" {
		t.Errorf("ListTalks = %v, %v", ids, err)
	}
}

func testOrganisations(t *testing.T, s store.Store) {
	ctx := context.Background()
	om := backchannel.Organisation{ID: "om", RootKey: []byte("root key of oman"), Name: "Sultanate of Oman"}
	if err := s.PutOrganisation(ctx, om); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOrganisation(ctx, om); err != nil {
		t.Errorf("registering the same root again: %v", err)
	}
	lookalike := om
	lookalike.RootKey = []byte("another key")
	if err := s.PutOrganisation(ctx, lookalike); !errors.Is(err, backchannel.ErrExists) {
		t.Errorf("another root under the same id: %v, want ErrExists", err)
	}
	got, err := s.Organisation(ctx, "om")
	if err != nil || got.ID != om.ID || string(got.RootKey) != string(om.RootKey) || got.Name != om.Name {
		t.Errorf("Organisation = %+v, %v", got, err)
	}
	if _, err := s.Organisation(ctx, "ae"); !errors.Is(err, backchannel.ErrNotFound) {
		t.Errorf("Organisation(unknown) = %v, want ErrNotFound", err)
	}
}

// testRoomTags checks that an event's room tag is stored, read back with it, and committed to by
// its leaf, and that a tag of the wrong size is refused and changes nothing.
func testRoomTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s, "t1")
	var m memLog
	charter := ev("act", "", "charter of t1")
	m.add(t, 0, charter.Entry())
	tagged := ev("envelope", "caucus:us", "tagged")
	tagged.Tag = bytes.Repeat([]byte{0x5a}, backchannel.TagSize)
	untagged := ev("act", "", "untagged")
	evs, cp, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		tx.Append(tagged)
		tx.Append(untagged)
		return nil
	})
	if err != nil || len(evs) != 2 {
		t.Fatalf("Append = %v, %v", evs, err)
	}
	m.add(t, 1, tagged.Entry())
	m.add(t, 2, untagged.Entry())
	if want, _ := tlog.TreeHash(3, &m); cp.Root != want {
		t.Errorf("the checkpoint's root does not commit to the tagged leaf")
	}
	got, err := s.Events(ctx, "t1", 1, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Events = %v, %v", got, err)
	}
	if !bytes.Equal(got[0].Tag, tagged.Tag) || got[1].Tag != nil {
		t.Errorf("tags read back %x and %x, want %x and none", got[0].Tag, got[1].Tag, tagged.Tag)
	}
	byHash, err := s.EventByHash(ctx, "t1", tagged.Hash())
	if err != nil || !bytes.Equal(byHash.Tag, tagged.Tag) {
		t.Errorf("EventByHash tag %x, %v", byHash.Tag, err)
	}
	short := ev("envelope", "caucus:us", "short tag")
	short.Tag = make([]byte, backchannel.TagSize-1)
	if _, _, err := s.Append(ctx, "t1", func(tx store.AppendTx) error { tx.Append(short); return nil }); err == nil {
		t.Error("an event with a 31-byte tag was appended")
	}
	if info, _ := s.Talks(ctx, "t1"); info.Size != 3 {
		t.Errorf("size %d after a refused append, want 3", info.Size)
	}
}
