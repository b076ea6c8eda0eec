package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
)

func TestNewRefusesAHostNoCheckpointCanName(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"Talks.Example", "talks example", "[::1]:8080"} {
		signer := server.NewSigner()
		st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "db"), Signer: signer.Sign})
		if err != nil {
			t.Fatal(err)
		}
		_, err = server.New(ctx, server.Config{Host: host}, st, signer, nil)
		st.Close()
		if err == nil || !strings.Contains(err.Error(), "cannot name this host") {
			t.Errorf("New with host %q: %v, want a refusal", host, err)
		}
	}
	signer := server.NewSigner()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "db"), Signer: signer.Sign})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(ctx, server.Config{Host: "talks.example:8443"}, st, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vk := srv.LogKey(); !strings.HasPrefix(vk, "talks.example:8443+") {
		t.Errorf("LogKey = %q, want the host's verifier key", vk)
	}
}

// A host keeps the name its store was first started with: started again under another, it is
// refused; started with KeepHost (a name derived from the address listened on), it takes the
// stored one.
func TestNewKeepsTheHostName(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	start := func(cfg server.Config) (*server.Server, error) {
		signer := server.NewSigner()
		st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Signer: signer.Sign})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return server.New(ctx, cfg, st, signer, nil)
	}
	first, err := start(server.Config{Host: "127.0.0.1:8080", KeepHost: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg      server.Config
		wantHost string
		wantErr  string
	}{
		{server.Config{Host: "127.0.0.1:8080"}, "127.0.0.1:8080", ""},
		{server.Config{Host: "127.0.0.1:8443", KeepHost: true}, "127.0.0.1:8080", ""},
		{server.Config{Host: "talks.example.org"}, "", `this store belongs to host "127.0.0.1:8080", not "talks.example.org"`},
	}
	for _, tc := range tests {
		srv, err := start(tc.cfg)
		if tc.wantErr != "" {
			var changed *server.HostChangedError
			if !errors.As(err, &changed) || changed.Stored != "127.0.0.1:8080" || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New(%+v) = %v, want a HostChangedError saying %q", tc.cfg, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("New(%+v): %v", tc.cfg, err)
		}
		if srv.Host() != tc.wantHost || srv.LogKey() != first.LogKey() {
			t.Errorf("New(%+v): host %q, log key %q; want %q and the first start's %q", tc.cfg, srv.Host(), srv.LogKey(), tc.wantHost, first.LogKey())
		}
	}
}
