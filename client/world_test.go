package client_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/seal"
)

// world is a real server on loopback with its embedded store, and the organisations and
// principals of a scenario, each principal a real client.
type world struct {
	t      testing.TB
	ctx    context.Context
	url    string
	host   string
	srv    *server.Server
	store  *sqlite.Store
	roots  map[string]*seal.Root
	people map[string]*client.Client
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts := httptest.NewUnstartedServer(nil)
	host := ts.Listener.Addr().String()
	signer := server.NewSigner(host)
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "backchannel.db"), Signer: signer.Sign})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, server.Config{Host: host}, st, signer, log)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Run(ctx)
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		st.Close()
	})
	return &world{t: t, ctx: ctx, url: ts.URL, host: host, srv: srv, store: st,
		roots: make(map[string]*seal.Root), people: make(map[string]*client.Client)}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// org creates and registers an organisation.
func (w *world) org(id, name string) *seal.Root {
	w.t.Helper()
	r, err := seal.NewRoot(rand.Reader, id)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := client.New(w.url, nil).RegisterOrganisation(w.ctx, r.Public(), name); err != nil {
		w.t.Fatalf("register %s: %v", id, err)
	}
	w.roots[id] = r
	return r
}

// person issues and publishes a credential for a principal and returns its client.
func (w *world) person(org, principal, title string, rank backchannel.Rank) *client.Client {
	w.t.Helper()
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cr, err := w.roots[org].Issue(seal.Credential{
		Principal: principal, Name: "Office of the " + title, Title: title, Rank: rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		w.t.Fatal(err)
	}
	c := client.New(w.url, id)
	if _, err := c.PublishCredential(w.ctx, cr); err != nil {
		w.t.Fatalf("publish %s/%s: %v", org, principal, err)
	}
	w.people[org+"/"+principal] = c
	return c
}

// ok fails the test if a call returned an error.
func (w *world) ok(_ any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// ok3 is ok for calls with two results and an error.
func (w *world) ok3(_, _ any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// refused fails the test unless err is the problem named.
func refused(t *testing.T, err error, name string) {
	t.Helper()
	if !client.IsProblem(err, name) {
		t.Fatalf("error = %v, want problem %q", err, name)
	}
}
