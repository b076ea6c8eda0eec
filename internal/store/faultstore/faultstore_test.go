package faultstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/faultstore"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/internal/store/storetest"
)

func open(t *testing.T, signer store.CheckpointSigner) *faultstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "db"), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return faultstore.New(s)
}

// Unarmed, the wrapper is the store it wraps: it passes the conformance suite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, signer store.CheckpointSigner) store.Store { return open(t, signer) })
}

// Armed, a write fails once: before commit nothing is stored, after commit everything is.
func TestFailBeforeOrAfterCommit(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		when     faultstore.When
		wantSize int64
	}{
		{faultstore.BeforeCommit, 1},
		{faultstore.AfterCommit, 2},
	} {
		t.Run(tc.when.String(), func(t *testing.T) {
			s := open(t, storetest.Signer)
			if _, _, err := s.CreateTalks(ctx, "t", []string{"a"}, storetest.First(backchannel.Event{Type: "charter", Data: []byte("c")})); err != nil {
				t.Fatal(err)
			}
			s.Fail(faultstore.OpAppend, tc.when)
			ran := 0
			_, _, err := s.Append(ctx, "t", func(tx store.AppendTx) error {
				ran++
				tx.Append(backchannel.Event{Type: "act", Data: []byte("x")})
				return nil
			})
			if !errors.Is(err, faultstore.ErrInjected) || ran != 1 || s.Fired(faultstore.OpAppend) != 1 {
				t.Fatalf("Append = %v after running its callback %d times (fired %d)", err, ran, s.Fired(faultstore.OpAppend))
			}
			info, err := s.Talks(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != tc.wantSize {
				t.Fatalf("the log has %d events, want %d", info.Size, tc.wantSize)
			}
			// The failure was once: the next append lands.
			if _, _, err := s.Append(ctx, "t", storetest.First(backchannel.Event{Type: "act", Data: []byte("y")})); err != nil {
				t.Fatal(err)
			}
		})
	}
}
