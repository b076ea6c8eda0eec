package client_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// memKeeper is a StateKeeper in memory, shared by the clients of successive "runs".
type memKeeper struct {
	mu    sync.Mutex
	saved map[string]client.VerifiedState
	saves int
}

func (k *memKeeper) LoadVerified(id string) (client.VerifiedState, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.saved[id]
	return st, ok, nil
}

func (k *memKeeper) SaveVerified(id string, st client.VerifiedState) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.saved == nil {
		k.saved = make(map[string]client.VerifiedState)
	}
	k.saved[id] = st
	k.saves++
	return nil
}

// A client given a StateKeeper remembers, from one run to the next, what it verified: a host
// that restores an old copy of its data between two runs is caught by the later run, as it
// would be within one. A client without one has nothing to compare with.
func TestStateKeeperCatchesARollbackBetweenRuns(t *testing.T) {
	fw := newFaultWorld(t)
	backup := fw.db + ".backup"
	fw.restart(func(db string) { copyDB(t, db, backup) })

	keeper := &memKeeper{}
	run := func(k client.StateKeeper) error {
		opts := []client.Option{}
		if k != nil {
			opts = append(opts, client.WithStateKeeper(k))
		}
		_, err := client.New(fw.url, fw.omFM.Identity(), opts...).Sync(fw.ctx, "us:muscat")
		return err
	}
	// The record grows; a run of the mediator's client verifies and cosigns it.
	fw.send(fw.envoy, talks.RoomCaucus("us"), "after the host's copy")
	if err := run(keeper); err != nil {
		t.Fatal(err)
	}
	if keeper.saves == 0 {
		t.Fatal("the client saved nothing")
	}
	// The host serves its old copy.
	fw.restart(func(db string) { copyDB(t, backup, db) })
	if err := run(nil); err != nil {
		t.Fatalf("a client without saved state: %v", err)
	}
	if err := run(keeper); !errors.Is(err, client.ErrRecord) {
		t.Fatalf("a later run with saved state: %v, want ErrRecord", err)
	}
	// Saved state that cannot be read back is refused, not forgotten.
	keeper.saved["us:muscat"] = client.VerifiedState{Verifier: []byte(`{"origin":`)}
	if err := run(keeper); !errors.Is(err, client.ErrSavedState) {
		t.Fatalf("a run with damaged saved state: %v, want ErrSavedState", err)
	}
}

// Roots expected everywhere (a party's own organisation's) are checked in every talks: a
// record that pins a look-alike is refused as it is replayed.
func TestExpectedRootsAreCheckedInEveryTalks(t *testing.T) {
	fw := newFaultWorld(t)
	lookAlike, err := seal.NewRoot(rand.Reader, "om")
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(r *seal.Root) string {
		fp := r.Public().Fingerprint()
		return hex.EncodeToString(fp[:])
	}
	for _, tc := range []struct {
		name string
		root *seal.Root
		want error
	}{
		{"its own root", fw.roots["om"], nil},
		{"a look-alike", lookAlike, client.ErrRecord},
	} {
		c := client.New(fw.url, fw.omFM.Identity(), client.WithExpectedRoots(map[string]string{"om": hexOf(tc.root)}))
		if _, err := c.Sync(fw.ctx, "us:muscat"); !errors.Is(err, tc.want) {
			t.Errorf("%s: Sync = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A new device starts from what an existing one verified, handed over: a host that shows the
// new device an old copy of its data is refused there as it would be on the old device, where a
// device that starts from nothing believes it. A handover altered, or of another host, is
// refused and changes nothing.
func TestANewDeviceStartsFromAHandedOverCheckpoint(t *testing.T) {
	fw := newFaultWorld(t)
	backup := fw.db + ".backup"
	fw.restart(func(db string) { copyDB(t, db, backup) })
	fw.send(fw.envoy, talks.RoomCaucus("us"), "after the host's copy")
	old := client.New(fw.url, fw.omFM.Identity(), client.WithStateKeeper(&memKeeper{}))
	if _, err := old.Sync(fw.ctx, "us:muscat"); err != nil {
		t.Fatal(err)
	}
	h, err := old.Handover("us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	handover, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	// The host serves its old copy.
	fw.restart(func(db string) { copyDB(t, backup, db) })
	if _, err := client.New(fw.url, fw.omFM.Identity(), client.WithStateKeeper(&memKeeper{})).Sync(fw.ctx, "us:muscat"); err != nil {
		t.Fatalf("a new device that starts from nothing: %v", err)
	}
	_, otherHost, _ := exportOf(t, client.ExportOptions{})
	for _, tc := range []struct {
		name string
		data []byte
		opts []client.Option
	}{
		{"altered", bytes.Replace(handover, []byte(`\n`), []byte(`\n\n`), 1), nil},
		{"of another format", bytes.Replace(handover, []byte(client.HandoverFormat), []byte("backchannel-handover/v0"), 1), nil},
		{"signed with another log key than the one pinned", handover, []client.Option{client.WithLogKey(otherHost.LogKey)}},
	} {
		keeper := &memKeeper{}
		fresh := client.New(fw.url, fw.omFM.Identity(), append(tc.opts, client.WithStateKeeper(keeper))...)
		if _, err := fresh.TakeOver(fw.ctx, tc.data); !errors.Is(err, client.ErrHandover) || keeper.saves != 0 {
			t.Errorf("a handover %s: %v (%d saves), want ErrHandover and nothing saved", tc.name, err, keeper.saves)
		}
	}
	fresh := client.New(fw.url, fw.omFM.Identity(), client.WithStateKeeper(&memKeeper{}))
	if id, err := fresh.TakeOver(fw.ctx, handover); err != nil || id != "us:muscat" {
		t.Fatalf("TakeOver = %q, %v", id, err)
	}
	if _, err := fresh.Sync(fw.ctx, "us:muscat"); !errors.Is(err, client.ErrRecord) {
		t.Fatalf("a new device that took over: %v, want ErrRecord for the rolled-back record", err)
	}
}
