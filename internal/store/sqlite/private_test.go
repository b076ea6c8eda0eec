package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/internal/store/storetest"
)

// The database holds the host's log and token keys: it and its write-ahead log are created
// private to their owner, and a database that others may read is refused at open.
func TestDatabaseIsPrivateToItsOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backchannel.db")
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Signer: storetest.Signer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "log-key", func() ([]byte, error) { return []byte("a secret"), nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), perm)
		}
	}
	s.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, sqlite.Config{Path: path, Signer: storetest.Signer}); !errors.Is(err, sqlite.ErrNotPrivate) {
		t.Fatalf("Open on a database others may read = %v, want ErrNotPrivate", err)
	}
}
