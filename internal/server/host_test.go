package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
)

func TestNewRefusesAHostNoCheckpointCanName(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"Talks.Example", "talks example", "[::1]:8080"} {
		signer := server.NewSigner(host)
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
	signer := server.NewSigner("talks.example:8443")
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
