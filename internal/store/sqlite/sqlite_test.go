package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/internal/store/storetest"
)

func open(t *testing.T, path string, signer store.CheckpointSigner) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, signer store.CheckpointSigner) store.Store {
		return open(t, filepath.Join(t.TempDir(), "db", "backchannel.db"), signer)
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backchannel.db")
	s := open(t, path, storetest.Signer)
	if _, _, err := s.CreateTalks(ctx, "t1", []string{"us"}, storetest.First(backchannel.Event{Type: "act", Data: []byte("charter")})); err != nil {
		t.Fatal(err)
	}
	_, cp, err := s.Append(ctx, "t1", func(tx store.AppendTx) error {
		tx.Append(backchannel.Event{Type: "envelope", Room: "caucus:us", Data: []byte("m")})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, storetest.Signer)
	got, err := s.Checkpoint(ctx, "t1", 0)
	if err != nil || got.Size != 2 || got.Root != cp.Root {
		t.Fatalf("after reopen: checkpoint %+v, %v; want %+v", got, err, cp)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backchannel.db")
	s := open(t, path, storetest.Signer)
	s.Close()
	// Simulate a database written by a later release.
	raw, err := sqlite.OpenRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_version (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(ctx, sqlite.Config{Path: path, Signer: storetest.Signer})
	if !errors.Is(err, backchannel.ErrSchemaTooNew) {
		t.Fatalf("Open on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}
