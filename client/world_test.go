package client_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/node"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/faultstore"
	"github.com/backchannel/backchannel/seal"
)

// world is a real server on loopback with its embedded store, and the organisations and
// principals of a scenario, each principal a real client.
type world struct {
	t    testing.TB
	ctx  context.Context
	url  string
	host string
	srv  *server.Server
	// faults wraps the store, for a test to make its writes fail.
	faults *faultstore.Store
	roots  map[string]*seal.Root
	people map[string]*client.Client
	// db is the store's database file, which restart lets a test edit as the host could.
	db string
	// logs holds what the server logged at WARN and above, across restarts.
	logs *logBuffer
	// stop stops the server and closes its store.
	stop func()
	// drop closes every client connection, as a flaky network would.
	drop func()
	// configure adjusts the server's configuration, if set.
	configure func(*server.Config)
}

func newWorld(t testing.TB) *world { return newWorldWith(t, nil) }

// newWorldWith is newWorld with the server's configuration adjusted by configure.
func newWorldWith(t testing.TB, configure func(*server.Config)) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, url: "http://" + ln.Addr().String(), host: ln.Addr().String(),
		db: filepath.Join(t.TempDir(), "backchannel.db"), logs: &logBuffer{},
		roots: make(map[string]*seal.Root), people: make(map[string]*client.Client), configure: configure}
	w.start(ln)
	t.Cleanup(func() {
		if w.stop != nil {
			w.stop()
		}
	})
	return w
}

// start opens the store on w.db and serves it on ln, as every node starts (internal/node),
// with the store wrapped for faults.
func (w *world) start(ln net.Listener) {
	w.t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{w.t}, w.logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := node.DefaultConfig()
	cfg.Store, cfg.Logger, cfg.Server.Host = "sqlite:"+w.db, log, w.host
	cfg.Wrap = func(st store.Store) store.Store {
		w.faults = faultstore.New(st)
		return w.faults
	}
	if w.configure != nil {
		w.configure(&cfg.Server)
	}
	n, err := node.Open(w.ctx, cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(n.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	w.srv = n.Server
	w.drop = ts.CloseClientConnections
	w.stop = func() {
		ts.CloseClientConnections()
		ts.Close()
		n.Close()
	}
}

// metrics returns the server's Prometheus metrics, as its operators read them on their own
// listener.
func (w *world) metrics() []byte {
	w.t.Helper()
	rec := httptest.NewRecorder()
	w.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		w.t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

// dropConnections closes every connection to the server: event streams must resume.
func (w *world) dropConnections() { w.drop() }

// restart stops the server and closes its store, runs edit (if not nil) on the database file
// while nothing holds it open, as a host editing its own storage could, then opens the file
// again under a new server on the same address. Clients keep their tokens and books.
func (w *world) restart(edit func(db string)) {
	w.t.Helper()
	w.stop()
	w.stop = nil
	if edit != nil {
		edit(w.db)
	}
	ln, err := net.Listen("tcp", w.host)
	if err != nil {
		w.t.Fatal(err)
	}
	w.start(ln)
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pins is the policy of a party that compared every organisation's root out of band.
func (w *world) pins() client.PinPolicy {
	var roots []seal.RootKey
	for _, r := range w.roots {
		roots = append(roots, r.Public())
	}
	return client.PinPolicy{Known: client.KnownRoots(roots...)}
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
