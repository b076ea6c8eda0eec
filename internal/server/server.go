// Package server is backchannel's HTTP API: it verifies what principals submit against the
// talks' rules (package talks) and signatures (package seal), appends it to the talks' record
// through a store.Store, and serves the record back, as JSON, Server-Sent Events and C2SP
// tlog-tiles. It never holds a key that opens a message.
//
// The API is described by api/openapi.yaml, generated from the operations registered here with
// huma (code-first OpenAPI 3.1, request validation, RFC 9457 errors) so that the document
// cannot drift from the code.
package server

import (
	"container/list"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/record"
)

// Config is the server's configuration. The zero value of every field but Host means its
// default.
type Config struct {
	// Host is this host's name as principals reach it ("talks.example.org", "127.0.0.1:8080").
	// It names the host in every checkpoint's origin and in every login signature, so it is
	// kept in the store at first start and can never change: New refuses another name on a
	// store that has one (a HostChangedError). Required.
	Host string
	// KeepHost makes Host only the name of a new store: a store that already has a name keeps
	// it whatever Host says. For a Host derived from the address listened on, which may change
	// between starts while the host stays the same.
	KeepHost bool
	// MaxBody bounds a request body, in bytes. Default 4 MiB: a 1 MiB letter to 64 recipients.
	MaxBody int64
	// Rate is the sustained requests per second allowed to one principal (or, before login, to
	// one address), and Burst the requests it may make at once. Defaults 200 and 400.
	Rate  float64
	Burst int
	// TrustedProxies are the addresses and CIDR ranges of the reverse proxies (load
	// balancers) in front of the server. A request from one of them is taken to come from the
	// rightmost address of its X-Forwarded-For that is not itself a trusted proxy, for the
	// rate limit of callers not logged in; any other request from its own peer address, its
	// X-Forwarded-For ignored. Default none.
	TrustedProxies []string
	// MaxStreams bounds the event streams open at once, and MaxStreamsPerPrincipal those of one
	// principal. Defaults 20,000 and 32.
	MaxStreams             int
	MaxStreamsPerPrincipal int
	// MaxTalksInMemory bounds the talks whose state the server keeps in memory; the least
	// recently used are dropped and rebuilt from the record when next used. Default 10,000.
	MaxTalksInMemory int
	// TokenTTL is how long a bearer token lasts. Default 1 hour.
	TokenTTL time.Duration
	// ChallengeTTL is how long a login challenge may wait for its signature. Default 2 minutes.
	ChallengeTTL time.Duration
	// ClockSkew is how far a signed time may be from the server's clock. Default 5 minutes.
	ClockSkew time.Duration
	// KeepAlive is the interval of comments on an idle event stream. Default 25 seconds.
	KeepAlive time.Duration
	// WitnessRetry is how often a checkpoint some witness of its charter has not cosigned
	// yet is submitted again. Default 30 seconds.
	WitnessRetry time.Duration
	// Now is the server's clock. Default time.Now.
	Now func() time.Time
	// Version is reported in the OpenAPI document.
	Version string
}

// DefaultConfig returns the configuration of a server with every default filled in and no
// host: what serve's flags start from.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.MaxBody <= 0 {
		c.MaxBody = 4 << 20
	}
	if c.Rate <= 0 {
		c.Rate = 200
	}
	if c.Burst <= 0 {
		c.Burst = 400
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 20000
	}
	if c.MaxStreamsPerPrincipal <= 0 {
		c.MaxStreamsPerPrincipal = 32
	}
	if c.MaxTalksInMemory <= 0 {
		c.MaxTalksInMemory = 10000
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = time.Hour
	}
	if c.ChallengeTTL <= 0 {
		c.ChallengeTTL = 2 * time.Minute
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = 5 * time.Minute
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 25 * time.Second
	}
	if c.WitnessRetry <= 0 {
		c.WitnessRetry = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Signer signs checkpoints with the host's log key. The store calls it inside the transaction
// that grows a log; the key and the host's name live in the store (as host secrets shared by
// every node), so a Signer is made before the store is opened and given both by New.
type Signer struct {
	key atomic.Pointer[signingKey]
}

// signingKey is what a Signer signs with: the host's name and its log key, and the server's
// check of a checkpoint before it is signed.
type signingKey struct {
	host  string
	key   *record.LogKey
	guard func(talks string, next record.Checkpoint, hashes tlog.HashReader) error
}

// NewSigner returns a Signer for checkpoints, to open the store with and to give to New.
func NewSigner() *Signer { return &Signer{} }

// Sign implements store.CheckpointSigner.
// It refuses to sign a checkpoint that does not extend what a party cosigned: a host whose
// storage was rolled back or rewritten signs no second history.
func (s *Signer) Sign(talks string, size int64, root tlog.Hash, hashes tlog.HashReader) ([]byte, error) {
	sk := s.key.Load()
	if sk == nil {
		return nil, errors.New("server: checkpoint signer has no key yet")
	}
	k := sk.key
	origin, err := record.Origin(sk.host, talks)
	if err != nil {
		return nil, err
	}
	next := record.Checkpoint{Origin: origin, Size: size, Hash: root}
	if sk.guard != nil && hashes != nil {
		if err := sk.guard(talks, next, hashes); err != nil {
			return nil, err
		}
	}
	ns, err := k.Signer(origin)
	if err != nil {
		return nil, err
	}
	return record.SignCheckpoint(ns, next)
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	store   store.Store
	signer  *Signer
	log     *slog.Logger
	metrics *metrics
	remote  *remoteAddr
	tokens  minter
	logKey  *record.LogKey

	api     huma.API
	mux     *http.ServeMux
	handler http.Handler

	booksMu sync.Mutex
	books   map[string]*book
	lru     *list.List // of talks ids, most recently used first

	creds   credCache
	limits  *limiter
	streams streamCounter
	hub     *hub
	recent  *recent

	// conflicts caches the check of each talks' latest checkpoint against the stored
	// cosignatures (cosign_conflict.go).
	conflicts conflictChecks
	// cosignedCache keeps what the parties cosigned, for the check before signing.
	cosignedCache cosignedCache
	// witnessing submits checkpoints to the witnesses charters name (witnessing.go).
	witnessing *witnessing

	ready atomic.Bool
}

// New builds a server on store. signer must be the Signer the store was opened with.
func New(ctx context.Context, cfg Config, st store.Store, signer *Signer, log *slog.Logger) (*Server, error) {
	if cfg.Host == "" {
		return nil, errors.New("server: Config.Host is required")
	}
	// The host names every checkpoint's origin: refuse at once a name no checkpoint can carry,
	// rather than fail every append later.
	if _, err := record.Origin(cfg.Host, "talks"); err != nil {
		return nil, fmt.Errorf("server: Config.Host %q cannot name this host in checkpoints: %w", cfg.Host, err)
	}
	if signer == nil {
		return nil, errors.New("server: New needs the Signer the store was opened with")
	}
	host, err := keepHost(ctx, st, cfg.Host, cfg.KeepHost)
	if err != nil {
		return nil, err
	}
	cfg.Host = host
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	remote, err := newRemoteAddr(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{
		remote:  remote,
		cfg:     cfg,
		store:   st,
		signer:  signer,
		log:     log,
		metrics: newMetrics(),
		books:   make(map[string]*book),
		lru:     list.New(),
		limits:  newLimiter(cfg.Rate, cfg.Burst),
	}
	tokenKey, err := st.Secret(ctx, "token-key", randomBytes(32))
	if err != nil {
		return nil, fmt.Errorf("server: token key: %w", err)
	}
	s.tokens = minter{key: tokenKey}
	seed, err := st.Secret(ctx, "log-key", randomBytes(ed25519.SeedSize))
	if err != nil {
		return nil, fmt.Errorf("server: log key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("server: the stored log key is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	if s.logKey, err = record.NewLogKey(ed25519.NewKeyFromSeed(seed)); err != nil {
		return nil, err
	}
	signer.key.Store(&signingKey{host: cfg.Host, key: s.logKey, guard: s.guardCheckpoint})
	s.recent = newRecent()
	s.witnessing = newWitnessing(s)
	s.hub = newHub(st, log, func(talks string, size int64) {
		s.recent.grew(talks, size)
		s.witnessing.poke(talks)
	})
	s.routes()
	s.ready.Store(true)
	return s, nil
}

// HostChangedError refuses to start a host under another name than the one its store was
// first started with: every checkpoint already signed names the first, and clients have pinned
// the log key under it, so a new name would make every record unpresentable.
type HostChangedError struct {
	// Stored is the name the store keeps; Configured the one this start was given.
	Stored, Configured string
}

func (e *HostChangedError) Error() string {
	return fmt.Sprintf("this store belongs to host %q, not %q: every checkpoint on it names %q, and clients pinned its log key under that name", e.Stored, e.Configured, e.Stored)
}

// keepHost returns the host's name: the one the store keeps, stored now if it keeps none.
func keepHost(ctx context.Context, st store.Store, host string, keep bool) (string, error) {
	stored, err := st.Secret(ctx, "host-name", func() ([]byte, error) { return []byte(host), nil })
	if err != nil {
		return "", fmt.Errorf("server: host name: %w", err)
	}
	switch name := string(stored); {
	case name == host:
		return host, nil
	case keep:
		if _, err := record.Origin(name, "talks"); err != nil {
			return "", fmt.Errorf("server: the stored host name %q cannot name this host in checkpoints: %w", name, err)
		}
		return name, nil
	default:
		return "", &HostChangedError{Stored: name, Configured: host}
	}
}

func randomBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		_, err := rand.Read(b)
		return b, err
	}
}

// ObserveCommit records one durable store commit that carried the given number of appends: the
// store's OnCommit hook, for the group-commit metrics.
func (s *Server) ObserveCommit(appends int, took time.Duration) {
	s.metrics.commitBatch.Observe(float64(appends))
	s.metrics.commitTime.Observe(took.Seconds())
}

// LogKey returns the host's checkpoint-signing key as a signed-note verifier key, for parties
// to pin (GET /v1/log-key serves the same).
func (s *Server) LogKey() string {
	vk, err := s.logKey.VerifierKey(s.cfg.Host)
	if err != nil {
		// New checked that the host is a valid key name.
		panic(err)
	}
	return vk
}

// Host returns the host's name, as its store keeps it.
func (s *Server) Host() string { return s.cfg.Host }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI returns the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Run watches the store for growth, to wake event streams and to submit new checkpoints to the
// witnesses their charters name, until ctx is done.
func (s *Server) Run(ctx context.Context) {
	go s.witnessing.run(ctx, s.cfg.WitnessRetry)
	s.hub.run(ctx)
}

// SetReady sets what /readyz answers: a server shutting down stops being ready first, so a load
// balancer takes it out of rotation before connections are closed.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// NewAPI returns a huma API configured as the server's, on mux: for the server itself and for
// generating the OpenAPI document.
func newAPI(mux *http.ServeMux, version string) huma.API {
	huma.NewError = newHumaError
	cfg := huma.DefaultConfig("backchannel", version)
	cfg.Formats = namedBase64Errors(cfg.Formats)
	cfg.Info.Description = "A secure channel for indirect, mediated negotiation. Every body that " +
		"matters is signed bytes (base64) in the formats of docs/protocol.md; errors are RFC 9457 " +
		"problem details whose type is urn:backchannel:problem:<name> (docs/api.md)."
	cfg.OpenAPIPath = "/v1/openapi"
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "A token from POST /v1/auth/token."},
	}
	// No "$schema" links injected into responses: clients get exactly the documented bodies.
	cfg.CreateHooks = nil
	return humago.New(mux, cfg)
}

// book returns the book of a talks, replaying its record on first use.
func (s *Server) book(ctx context.Context, id string) (*book, error) {
	s.booksMu.Lock()
	b, ok := s.books[id]
	if ok {
		s.lru.MoveToFront(b.used)
	} else {
		b = newBook(id)
		b.used = s.lru.PushFront(id)
		s.books[id] = b
		// A request still holding a dropped book finishes with it: the next one to append
		// brings its own copy level with the log (catchUp), so two copies never disagree.
		for s.lru.Len() > s.cfg.MaxTalksInMemory {
			old := s.lru.Remove(s.lru.Back()).(string)
			delete(s.books, old)
		}
	}
	s.metrics.talksInMem.Set(float64(s.lru.Len()))
	s.booksMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.State != nil {
		return b, nil
	}
	if err := s.rebuild(ctx, b, func(from int64) ([]backchannel.Event, error) {
		return s.store.Events(ctx, id, from, 1024)
	}); err != nil {
		s.dropBook(id)
		return nil, err
	}
	if b.State == nil {
		s.dropBook(id)
		return nil, problemf(api.ProblemUnknownTalks, "no talks %q on this host", id)
	}
	return b, nil
}

// rebuild replays a record into an empty book, page by page.
func (s *Server) rebuild(ctx context.Context, b *book, page func(from int64) ([]backchannel.Event, error)) error {
	b.reset()
	for {
		evs, err := page(b.size)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			if err := b.replay(e); err != nil {
				s.log.ErrorContext(ctx, "record does not replay", "talks", b.ID, "err", err)
				return err
			}
		}
	}
}

// catchUp brings a book level with the log inside an append transaction: another node may have
// appended, or an earlier transaction may have failed after the book moved ahead.
func (s *Server) catchUp(b *book, tx store.AppendTx) error {
	if b.size == tx.Size() && b.State != nil {
		return nil
	}
	if b.size < tx.Size() && b.State != nil {
		evs, err := tx.Events(b.size)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := b.replay(e); err != nil {
				return err
			}
		}
		return nil
	}
	evs, err := tx.Events(0)
	if err != nil {
		return err
	}
	return s.rebuild(context.Background(), b, func(from int64) ([]backchannel.Event, error) {
		if from == 0 {
			return evs, nil
		}
		return nil, nil
	})
}

// dropBook forgets a book, to be rebuilt from the record on next use.
func (s *Server) dropBook(id string) {
	s.booksMu.Lock()
	if b, ok := s.books[id]; ok {
		s.lru.Remove(b.used)
		delete(s.books, id)
	}
	s.metrics.talksInMem.Set(float64(s.lru.Len()))
	s.booksMu.Unlock()
}

// published reports whether the credential is on the book's record. The trust may know a
// credential that is not (verified for a submission that was then refused); only what is on
// the record counts, so that the record alone verifies.
func (b *book) published(id interface{ String() string }) bool {
	return b.onRecord[id.String()]
}

func (b *book) markPublished(id interface{ String() string }) {
	if b.onRecord == nil {
		b.onRecord = make(map[string]bool)
	}
	b.onRecord[id.String()] = true
}
