// Package node assembles one backchannel node: its store, the server on the store, and the HTTP
// server that serves it, with a graceful shutdown. serve, demo, bench and the test harnesses
// all start their nodes here, from one DefaultConfig, so that a node runs the same way
// wherever it runs.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/postgres"
	"github.com/backchannel/backchannel/internal/store/sqlite"
)

// Config is everything a node needs.
type Config struct {
	// Server is the server's configuration: its host name and limits.
	Server server.Config
	// Store names the store (see ParseStore). An SQLite store needs its file named:
	// "sqlite:/path/to/file.db".
	Store string
	// Wrap, if set, wraps the store before the server uses it (a test's fault injector).
	Wrap func(store.Store) store.Store
	// Site, if set, serves beside the API what the API does not (the web client): it is given
	// the API's handler and returns the node's.
	Site func(api http.Handler) http.Handler
	// Logger logs the server and the store; nil discards.
	Logger *slog.Logger
	// ListenRetry is the PostgreSQL store's first delay before it reconnects a lost LISTEN
	// connection (postgres.Config.ListenRetry); zero keeps its default.
	ListenRetry time.Duration
}

// DefaultConfig returns a node's configuration with every default: the server's
// (server.DefaultConfig) and no store yet.
func DefaultConfig() Config {
	return Config{Server: server.DefaultConfig(), Store: "sqlite:"}
}

// Store kinds, as StoreSpec.Kind.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// StoreSpec says where a node's store is, as a --store flag names it:
//
//	sqlite:                 the data directory's database (Path empty: the caller fills it)
//	sqlite:/path/to/file.db an SQLite database anywhere (sqlite:///path/to/file.db too)
//	postgres://...          a PostgreSQL database (postgresql:// too, as libpq writes it)
type StoreSpec struct {
	Kind string // SQLite or Postgres
	Path string // the SQLite file; "" for the data directory's
	URL  string // the PostgreSQL URL
}

// ParseStore reads a store's name.
func ParseStore(s string) (StoreSpec, error) {
	switch {
	case s == "" || s == "sqlite" || s == "sqlite:":
		return StoreSpec{Kind: SQLite}, nil
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		// sqlite:///abs/file.db is the URL form of sqlite:/abs/file.db.
		if strings.HasPrefix(p, "///") {
			p = p[2:]
		}
		if strings.HasPrefix(p, "//") {
			return StoreSpec{}, fmt.Errorf("store %q: an SQLite store is a file, sqlite:/path/to/file.db", s)
		}
		return StoreSpec{Kind: SQLite, Path: p}, nil
	case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return StoreSpec{}, fmt.Errorf("store: %w", err)
		}
		return StoreSpec{Kind: Postgres, URL: s}, nil
	default:
		return StoreSpec{}, fmt.Errorf("store %q: want sqlite:, sqlite:/path/to/file.db or a postgres:// URL", Redact(s))
	}
}

// String names the store for logs, without a password.
func (sp StoreSpec) String() string {
	if sp.Kind == Postgres {
		return Redact(sp.URL)
	}
	return "sqlite:" + sp.Path
}

// Redact returns s with the password of a URL hidden.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// StoreError reports a store that would not open, and which.
type StoreError struct {
	Spec StoreSpec
	Err  error
}

func (e *StoreError) Error() string { return fmt.Sprintf("store %s: %v", e.Spec, e.Err) }
func (e *StoreError) Unwrap() error { return e.Err }

// Node is a server on its store, serving once Serve is called.
type Node struct {
	Server *server.Server
	// Store is the store as the server uses it (wrapped, if Config.Wrap says so).
	Store store.Store

	log     *slog.Logger
	closeDB func() error
	run     context.CancelFunc
	hs      *http.Server
	metrics *http.Server // the metrics listener's, if ServeMetrics was called
	streams streamEnder
	stopped chan struct{} // closed when serving stops
	err     error         // why it stopped
	closed  atomic.Bool
	site    func(http.Handler) http.Handler
}

// Open opens the store cfg names and builds the server on it. The server's background work
// runs until Close or Shutdown; nothing is served until Serve.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp, err := ParseStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	if sp.Kind == SQLite && sp.Path == "" {
		return nil, errors.New("node: an SQLite store needs its file: sqlite:/path/to/file.db")
	}
	signer := server.NewSigner()
	// The store is opened before the server exists (the server keeps its keys in the store),
	// so its commit hook finds the server here once it is built; nothing commits in between.
	var srv atomic.Pointer[server.Server]
	onCommit := func(appends int, took time.Duration) {
		if s := srv.Load(); s != nil {
			s.ObserveCommit(appends, took)
		}
	}
	var st store.Store
	switch sp.Kind {
	case SQLite:
		st, err = sqlite.Open(ctx, sqlite.Config{Path: sp.Path, Signer: signer.Sign, OnCommit: onCommit})
	case Postgres:
		st, err = postgres.Open(ctx, postgres.Config{URL: sp.URL, Signer: signer.Sign, OnCommit: onCommit, Logger: log, ListenRetry: cfg.ListenRetry})
	}
	if err != nil {
		return nil, &StoreError{Spec: sp, Err: err}
	}
	used := st
	if cfg.Wrap != nil {
		used = cfg.Wrap(st)
	}
	s, err := server.New(ctx, cfg.Server, used, signer, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv.Store(s)
	runCtx, run := context.WithCancel(context.WithoutCancel(ctx))
	go s.Run(runCtx)
	return &Node{Server: s, Store: used, log: log, closeDB: st.Close, run: run, site: cfg.Site}, nil
}

// Handler is the node's HTTP handler, whose event streams end when Shutdown begins.
func (n *Node) Handler() http.Handler {
	h := n.Server.Handler()
	if n.site != nil {
		h = n.site(h)
	}
	return n.streams.wrap(h)
}

// Serve serves the node on ln until Shutdown or Close. Every request's context lives until the
// server has shut down; event streams end earlier, when shutdown begins.
func (n *Node) Serve(ln net.Listener) {
	base, cancelBase := context.WithCancel(context.Background())
	n.hs = &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: event streams stay open for hours.
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	n.stopped = make(chan struct{})
	go func() {
		n.err = n.hs.Serve(ln)
		cancelBase()
		close(n.stopped)
	}()
}

// ServeMetrics serves the server's Prometheus metrics at /metrics on ln, a listener of their
// own for the host's operators, in the background until Shutdown or Close.
func (n *Node) ServeMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.Server.MetricsHandler())
	n.metrics = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := n.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("the metrics listener stopped", "err", err)
		}
	}()
}

// Stopped is closed when the node stops serving: after Shutdown or Close, or by itself (Err
// says why).
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// Err is why the node stopped serving, once Stopped is closed: http.ErrServerClosed after
// Shutdown or Close.
func (n *Node) Err() error {
	<-n.stopped
	return n.err
}

// Shutdown stops the node gracefully: it reports itself not ready, ends the event streams,
// lets the other requests in flight finish until ctx is done (then cuts them off), stops the
// server's background work and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.closed.Swap(true) {
		return nil
	}
	n.Server.SetReady(false)
	n.streams.end()
	if n.metrics != nil {
		n.metrics.Close()
	}
	var err error
	if n.hs != nil {
		if err = n.hs.Shutdown(ctx); err != nil {
			n.log.Warn("requests still in flight at the shutdown timeout were cut off", "err", err)
			n.hs.Close()
		}
		<-n.stopped
	}
	n.run()
	if cerr := n.closeDB(); cerr != nil {
		n.log.Error("closing the store", "err", cerr)
		err = errors.Join(err, cerr)
	}
	return err
}

// Close stops the node at once: connections are cut, the store closed.
func (n *Node) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	n.streams.end()
	if n.metrics != nil {
		n.metrics.Close()
	}
	if n.hs != nil {
		n.hs.Close()
		<-n.stopped
	}
	n.run()
	return n.closeDB()
}
