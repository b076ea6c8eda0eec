// Package client is the Go client of backchannel: everything a principal does, with the
// sealing, opening and checking done on the principal's side. The command line, the demo, the
// benchmark and the tests all act through it.
//
// A Client speaks for one principal (a seal.Identity with its credential) to one server. It logs
// in by signing the server's challenge, seals messages for the exact members of a room, opens
// what it receives, and keeps for each talks a Book: its own replay of the record, in which
// every signature is checked against the roots the charter pinned and every event against the
// log's verified tiles, so that nothing the host says is taken on trust.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
)

// Client is a principal's session with a server. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
	id   *seal.Identity
	rand io.Reader
	now  func() time.Time

	mu       sync.Mutex
	token    string
	tokenExp time.Time
	host     string
	logKey   string
	seq      uint64
	books    map[string]*Book
	syncing  map[string]*sync.Mutex // by talks: one sync or change of a talks at a time
	pending  pendingSubmissions
	audience string // the host this client logs in to (WithHost)
	keeper   StateKeeper
	// expectAll are roots expected in every talks (WithExpectedRoots, ExpectEverywhere),
	// guarded by expectMu: a leaf lock, since books are made with and without mu held.
	expectMu  sync.Mutex
	expectAll map[string]string
	loaded    map[string]bool // talks whose saved state the keeper gave
	tokens    TokenKeeper
	tokenKept bool // whether the kept token was taken, once: a refused one is not taken again
	// retiredKeys finds the identities of this principal's earlier credentials (WithRetiredKeys),
	// and retired remembers what it found, by credential.
	retiredKeys RetiredKeys
	retired     map[seal.CredentialID]retiredKey
	// promises are the host's acknowledgments of submissions, by talks, held until a verified
	// record keeps them (promise.go).
	promises map[string][]Promise
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client with a 30 s timeout for requests;
// event streams are not subject to it).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the clock that dates what the client signs.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRand sets the randomness of content keys (default crypto/rand).
func WithRand(r io.Reader) Option { return func(c *Client) { c.rand = r } }

// WithHost names the host the client means to reach, as its server is configured (serve
// --host): the name it signs logins for and expects in every checkpoint's origin. Without it,
// the client expects the host and port of the URL it dials. A server that asks for a login to
// another host is refused: a look-alike relaying another host's challenge would otherwise get
// a token for the principal there.
func WithHost(name string) Option { return func(c *Client) { c.audience = name } }

// HostMismatchError is a server asking the client to sign a login for another host than the
// one the client means to reach.
type HostMismatchError struct {
	URL      string // the server dialled
	Asked    string // the host its challenge names
	Expected string // the host the client means to reach
}

func (e *HostMismatchError) Error() string {
	return fmt.Sprintf("the server at %s asks for a login to host %q, not %q: it may be relaying another host's challenge", e.URL, e.Asked, e.Expected)
}

// TokenKeeper keeps a principal's bearer token between clients, so that a short-lived program
// (one command of the command line) reuses a valid token instead of logging in each time. The
// command line's agent keeps them in memory only: a token is as good as the identity key for
// its lifetime.
type TokenKeeper interface {
	// LoadToken returns the token kept for this client's server and principal, if any.
	LoadToken() (token string, expires time.Time, ok bool)
	// SaveToken keeps a token the client obtained.
	SaveToken(token string, expires time.Time)
}

// WithTokenKeeper makes the client start from the token k keeps, and give k every token it
// obtains. A kept token the server refuses (expired early, or the server's token key changed) is
// dropped and the client logs in again, once.
func WithTokenKeeper(k TokenKeeper) Option { return func(c *Client) { c.tokens = k } }

// WithLogKey pins the host's log key (a signed-note verifier key, as GET /v1/log-key gives
// it). Without it the client pins what the server first presents, as an SSH client does.
func WithLogKey(vkey string) Option { return func(c *Client) { c.logKey = vkey } }

// New returns a client for the server at baseURL ("http://127.0.0.1:8080") acting as id. id
// may be nil for the operations that need no principal (registering an organisation,
// publishing a credential).
func New(baseURL string, id *seal.Identity, opts ...Option) *Client {
	c := &Client{
		base:  strings.TrimRight(baseURL, "/"),
		http:  &http.Client{Timeout: 30 * time.Second},
		id:    id,
		rand:  rand.Reader,
		now:   time.Now,
		books: make(map[string]*Book), syncing: make(map[string]*sync.Mutex), loaded: make(map[string]bool),
	}
	for _, o := range opts {
		o(c)
	}
	if c.audience == "" {
		if u, err := url.Parse(c.base); err == nil {
			c.audience = u.Host
		}
	}
	c.http = withRetryLater(c.http)
	return c
}

// Identity returns the identity the client acts as.
func (c *Client) Identity() *seal.Identity { return c.id }

// Credential returns the client's credential.
func (c *Client) Credential() *seal.Credential { return c.id.Credential() }

// ErrNoServer reports a server that could not be reached.
var ErrNoServer = errors.New("cannot reach the server")

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, authed bool, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var resp *http.Response
	if authed {
		resp, err = c.sendAuthorized(req, c.http.Do)
	} else {
		resp, err = c.http.Do(req)
	}
	var le loginError
	if errors.As(err, &le) {
		return le.err
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s: %v", ErrNoServer, c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		p := api.ReadProblem(resp.StatusCode, data)
		if !strings.HasPrefix(string(data), "{") {
			// Not an answer of our API (a proxy's page, a bare status): say which request.
			p.Detail = strings.TrimSpace(fmt.Sprintf("%s %s: %s", method, path, p.Detail))
		}
		return p
	}
	if out == nil {
		return nil
	}
	if err := strictjson.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// bearer returns a valid token, logging in when there is none or it is about to expire.
func (c *Client) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token == "" && c.tokens != nil && !c.tokenKept {
		c.tokenKept = true
		if tok, exp, ok := c.tokens.LoadToken(); ok {
			c.token, c.tokenExp = tok, exp
		}
	}
	tok, exp := c.token, c.tokenExp
	c.mu.Unlock()
	if tok != "" && c.now().Add(30*time.Second).Before(exp) {
		return tok, nil
	}
	if err := c.Login(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, nil
}

// Login proves to the server that the client holds its identity key and obtains a token.
func (c *Client) Login(ctx context.Context) error {
	if c.id == nil || c.id.Credential() == nil {
		return errors.New("client: logging in needs an identity with a credential")
	}
	cred := c.id.Credential().ID().String()
	var ch api.Challenge
	if err := c.do(ctx, http.MethodPost, "/v1/auth/challenge", false, api.ChallengeRequest{Credential: cred}, &ch); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if ch.Host != c.audience {
		return &HostMismatchError{URL: c.base, Asked: ch.Host, Expected: c.audience}
	}
	sig, err := c.id.SignLogin(c.audience, ch.Challenge)
	if err != nil {
		return err
	}
	var t api.Token
	if err := c.do(ctx, http.MethodPost, "/v1/auth/token", false, api.TokenRequest{Credential: cred, Challenge: ch.Challenge, Signature: sig}, &t); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.mu.Lock()
	c.token, c.tokenExp, c.host = t.Token, t.Expires, ch.Host
	c.mu.Unlock()
	if c.tokens != nil {
		c.tokens.SaveToken(t.Token, t.Expires)
	}
	return nil
}

// Token returns a bearer token for the client's principal, valid for at least 30 seconds more,
// logging in if it holds none: for a standard tlog client reading the members-only tiles
// ("Authorization: Bearer <token>").
func (c *Client) Token(ctx context.Context) (string, time.Time, error) {
	tok, err := c.bearer(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return tok, c.tokenExp, nil
}

// sendAuthorized sends req with the client's bearer token. A token refused as unauthorized is
// dropped and the request sent once more with a fresh login: a kept token (WithTokenKeeper) may
// have been good when kept and not now.
func (c *Client) sendAuthorized(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	tok, err := c.bearer(req.Context())
	if err != nil {
		return nil, loginError{err}
	}
	first := req.Clone(req.Context())
	first.Header.Set("Authorization", "Bearer "+tok)
	resp, err := send(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	resp.Body.Close()
	c.dropToken(tok)
	if tok, err = c.bearer(req.Context()); err != nil {
		return nil, loginError{err}
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	again.Header.Set("Authorization", "Bearer "+tok)
	return send(again)
}

// loginError is a failure to log in before a request, which is the request's answer as it is,
// not a failure to reach the server.
type loginError struct{ err error }

func (e loginError) Error() string { return e.err.Error() }
func (e loginError) Unwrap() error { return e.err }

// dropToken forgets tok if it is still the client's token, so that the next request logs in.
func (c *Client) dropToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token, c.tokenExp = "", time.Time{}
	}
}

// Host returns the host name the server signs its checkpoints under, as learnt at login.
func (c *Client) Host() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.host
}

// RegisterOrganisation registers an organisation's root key with the server.
func (c *Client) RegisterOrganisation(ctx context.Context, root seal.RootKey, name string) (api.Organisation, error) {
	var o api.Organisation
	err := c.do(ctx, http.MethodPost, "/v1/organisations", false, api.RegisterOrganisation{RootKey: root.Marshal(), Name: name}, &o)
	return o, err
}

// Organisation returns an organisation as the server has it registered.
func (c *Client) Organisation(ctx context.Context, org string) (api.Organisation, error) {
	var o api.Organisation
	err := c.do(ctx, http.MethodGet, "/v1/organisations/"+url.PathEscape(org), false, nil, &o)
	return o, err
}

// PrincipalCredentials returns the credentials the directory holds for principal (its name) of
// org, oldest first, unverified: check each against the talks' trust (seal.Trust.VerifyCredential)
// before using it.
func (c *Client) PrincipalCredentials(ctx context.Context, org, principal string) ([]*seal.Credential, error) {
	var all []api.Credential
	if err := c.do(ctx, http.MethodGet, "/v1/organisations/"+url.PathEscape(org)+"/principals/"+url.PathEscape(principal)+"/credentials", false, nil, &all); err != nil {
		return nil, err
	}
	out := make([]*seal.Credential, 0, len(all))
	for _, ac := range all {
		cr, err := seal.ParseCredential(ac.Data)
		if err != nil {
			return nil, err
		}
		if cr.Org != org || cr.Principal != principal {
			return nil, errf("the directory answers %s for %s", cr.Handle(), seal.Handle(org, principal))
		}
		out = append(out, cr)
	}
	return out, nil
}

// PublishCredential publishes a credential its organisation's root issued.
func (c *Client) PublishCredential(ctx context.Context, cred *seal.Credential) (api.Credential, error) {
	var out api.Credential
	err := c.do(ctx, http.MethodPost, "/v1/credentials", false, api.PublishCredential{Credential: cred.Marshal()}, &out)
	return out, err
}

// Revoke publishes a root's revocation of a credential.
func (c *Client) Revoke(ctx context.Context, v *seal.Revocation) (api.Credential, error) {
	var out api.Credential
	err := c.do(ctx, http.MethodPost, "/v1/credentials/"+v.Credential.String()+"/revocation", false, api.RevokeCredential{Revocation: v.Marshal()}, &out)
	return out, err
}

// LogKey returns the host's checkpoint-signing key.
func (c *Client) LogKey(ctx context.Context) (api.LogKey, error) {
	var k api.LogKey
	err := c.do(ctx, http.MethodGet, "/v1/log-key", false, nil, &k)
	return k, err
}

// pinnedLogKey returns the log key this client trusts, pinning the server's on first use.
func (c *Client) pinnedLogKey(ctx context.Context) (string, error) {
	c.mu.Lock()
	k := c.logKey
	c.mu.Unlock()
	if k != "" {
		return k, nil
	}
	lk, err := c.LogKey(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.logKey == "" {
		c.logKey = lk.Verifier
	}
	k = c.logKey
	c.mu.Unlock()
	return k, nil
}

// PinnedLogKey returns the log key the client has pinned, if any.
func (c *Client) PinnedLogKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logKey
}

// PinLogKey pins vkey as the host's log key, as a login that pinned it on first use does, so
// that the client's first sync does not ask the host again (and trust the second answer). A
// client that pinned another key already refuses.
func (c *Client) PinLogKey(vkey string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logKey != "" && c.logKey != vkey {
		return fmt.Errorf("the client pinned the log key %s already, not %s", LogKeySafetyNumber(c.logKey), LogKeySafetyNumber(vkey))
	}
	c.logKey = vkey
	return nil
}

// LogKeySafetyNumber is a host's log key as people compare it, out of band with the host's
// operator: the SHA-256 of the verifier key, read as a safety number like a root's.
func LogKeySafetyNumber(vkey string) string {
	return seal.Fingerprint(sha256.Sum256([]byte(vkey))).String()
}

// nextSequence returns a per-author sequence number: strictly increasing for this principal
// across runs without any state, because it follows the clock in microseconds.
func (c *Client) nextSequence() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := uint64(c.now().UnixMicro())
	if n <= c.seq {
		n = c.seq + 1
	}
	c.seq = n
	return n
}
