// Package webtest sets up what the web client's tests need: a real server on loopback with
// the web client mounted, as `backchannel serve` runs it, and a cast of organisations whose
// principals' identity files are those the command line's keystore writes.
package webtest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/internal/node"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/web"
)

// Host starts a node on loopback with its embedded SQLite store and the web client, and
// returns its URL.
func Host(t testing.TB) string { return StartHost(t).URL }

// A TestHost is a node serving the web client, whose event streams a test can cut.
type TestHost struct {
	URL string

	mu      sync.Mutex
	streams map[*http.Request]context.CancelFunc
	cut     int
	logKeys int
}

// LogKeyRequests returns how many times a client asked the host for its log key.
func (h *TestHost) LogKeyRequests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logKeys
}

// DropStreams ends every event stream open now, as a lost connection would, and returns how
// many it ended.
func (h *TestHost) DropStreams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.streams)
	for r, cancel := range h.streams {
		cancel()
		delete(h.streams, r)
	}
	h.cut += n
	return n
}

// Streams returns how many event streams are open.
func (h *TestHost) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// track keeps each event stream's cancel, for DropStreams, and counts the log key's requests.
func (h *TestHost) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/log-key" {
			h.mu.Lock()
			h.logKeys++
			h.mu.Unlock()
		}
		if !strings.HasSuffix(r.URL.Path, "/events/stream") {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		r = r.WithContext(ctx)
		h.mu.Lock()
		h.streams[r] = cancel
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.streams, r)
			h.mu.Unlock()
			cancel()
		}()
		next.ServeHTTP(w, r)
	})
}

// StartHost is Host, returning the host.
func StartHost(t testing.TB) *TestHost {
	t.Helper()
	h := &TestHost{streams: map[*http.Request]context.CancelFunc{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts := httptest.NewUnstartedServer(nil)
	addr := ts.Listener.Addr().String()
	cfg := node.DefaultConfig()
	cfg.Store, cfg.Server.Host = "sqlite:"+filepath.Join(t.TempDir(), "backchannel.db"), addr
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Site = web.Handler
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h.track(n.Handler())
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		n.Close()
	})
	h.URL = ts.URL
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Passphrase is every identity file's passphrase in the tests.
const Passphrase = "correct horse battery staple"

// Person is a principal of the cast.
type Person struct {
	Handle string
	// File is the principal's identity file, as `backchannel cred export` writes it, under
	// Passphrase with a low work factor (tests unlock it many times).
	File []byte
	ID   *seal.Identity
}

// Cast is the organisations and principals a test plays with.
type Cast struct {
	Roots  map[string]*seal.Root
	People map[string]*Person
}

// Safety returns the safety number of an organisation's root, as it reads it out.
func (c *Cast) Safety(org string) string { return c.Roots[org].Public().Fingerprint().String() }

// Member is one principal to create: org, principal, title, rank.
type Member struct {
	Org, Principal, Title string
	Rank                  int
}

// Muscat is the cast of round 1 of the Muscat scenario.
var Muscat = []Member{
	{"us", "special-envoy", "Special Envoy", 3},
	{"ir", "foreign-minister", "Foreign Minister", 4},
	{"om", "foreign-minister", "Foreign Minister", 4},
}

// NewCast registers each member's organisation on the server at base and publishes the
// credential its root issues to each member.
func NewCast(t testing.TB, base string, members []Member) *Cast {
	t.Helper()
	ctx := context.Background()
	c := &Cast{Roots: map[string]*seal.Root{}, People: map[string]*Person{}}
	anon := client.New(base, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, m := range members {
		root := c.Roots[m.Org]
		if root == nil {
			var err error
			if root, err = seal.NewRoot(rand.Reader, m.Org); err != nil {
				t.Fatal(err)
			}
			if _, err := anon.RegisterOrganisation(ctx, root.Public(), strings.ToUpper(m.Org)); err != nil {
				t.Fatal(err)
			}
			c.Roots[m.Org] = root
		}
		id, err := seal.NewIdentity(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cr, err := root.Issue(seal.Credential{
			Principal: m.Principal, Name: "Office of the " + m.Title, Title: m.Title, Rank: backchannel.Rank(m.Rank),
			IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := id.SetCredential(cr); err != nil {
			t.Fatal(err)
		}
		if _, err := anon.PublishCredential(ctx, cr); err != nil {
			t.Fatal(err)
		}
		file, err := keystore.SealIdentityFile(id, Passphrase, keystore.MinWorkFactor)
		if err != nil {
			t.Fatal(err)
		}
		c.People[cr.Handle()] = &Person{Handle: cr.Handle(), File: file, ID: id}
	}
	return c
}
