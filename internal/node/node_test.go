package node

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStore(t *testing.T) {
	tests := []struct {
		in   string
		want StoreSpec
		err  bool
	}{
		{in: "", want: StoreSpec{Kind: SQLite}},
		{in: "sqlite:", want: StoreSpec{Kind: SQLite}},
		{in: "sqlite:/var/lib/bc.db", want: StoreSpec{Kind: SQLite, Path: "/var/lib/bc.db"}},
		{in: "sqlite:///var/lib/bc.db", want: StoreSpec{Kind: SQLite, Path: "/var/lib/bc.db"}},
		{in: "sqlite:bc.db", want: StoreSpec{Kind: SQLite, Path: "bc.db"}},
		{in: "sqlite://host/bc.db", err: true},
		{in: "postgres://u@db/bc", want: StoreSpec{Kind: Postgres, URL: "postgres://u@db/bc"}},
		{in: "postgresql://u@db/bc", want: StoreSpec{Kind: Postgres, URL: "postgresql://u@db/bc"}},
		{in: "mysql://u@db/bc", err: true},
		{in: "/var/lib/bc.db", err: true},
	}
	for _, tt := range tests {
		got, err := ParseStore(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseStore(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	sp, _ := ParseStore("postgres://u:hunter2@db/bc")
	if s := sp.String(); strings.Contains(s, "hunter2") {
		t.Errorf("String() = %q shows the password", s)
	}
}

// A node opens its store, serves, and shuts down: ready while it serves, its store closed
// after. A store that cannot open is a StoreError naming it, and nothing is left open.
func TestOpenServeShutdown(t *testing.T) {
	ctx := t.Context()
	cfg := DefaultConfig()
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "node.db")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.Host = ln.Addr().String()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Serve(ln)
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %s", resp.Status)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(n.Err(), http.ErrServerClosed) {
		t.Fatalf("stopped serving with %v", n.Err())
	}
	if err := n.Store.Ping(ctx); err == nil {
		t.Fatal("the store answers after shutdown")
	}

	bad := DefaultConfig()
	bad.Store, bad.Server.Host = "sqlite:"+filepath.Join(t.TempDir(), "missing", "dir", "\x00.db"), "h.example"
	_, err = Open(ctx, bad)
	var se *StoreError
	if !errors.As(err, &se) || se.Spec.Kind != SQLite {
		t.Fatalf("Open on an impossible file = %v, want a StoreError", err)
	}
	if _, err := Open(ctx, DefaultConfig()); err == nil {
		t.Fatal("Open without a store file succeeded")
	}
}
