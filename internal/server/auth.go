package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/realclientip/realclientip-go"
)

// Auth without passwords: a principal asks for a challenge for its credential, signs it (with
// the host name) using its identity key, and exchanges the signature for a bearer token
// (token.go says why tokens rather than a signature on every request).

// caller is an authenticated principal.
type caller struct {
	cred *seal.Credential
	// expires is when the caller's token does.
	expires time.Time
}

func (c *caller) principal() string { return c.cred.Handle() }
func (c *caller) org() string       { return c.cred.Org }

// AuthHeader is the Authorization header every authenticated operation takes.
type AuthHeader struct {
	Authorization string `header:"Authorization" doc:"Bearer <token>, from POST /v1/auth/token."`
}

type remoteKey struct{}

// remoteAddr finds the address a request comes from: its peer's, or, from a trusted reverse
// proxy, the client's that the proxies put in X-Forwarded-For (realclientip's rightmost
// trusted-range strategy). Behind a load balancer, every caller not logged in would otherwise
// share the balancer's address, and its bucket of the rate limit.
type remoteAddr struct {
	trusted []net.IPNet
	header  realclientip.Strategy
}

func newRemoteAddr(proxies []string) (*remoteAddr, error) {
	trusted, err := realclientip.AddressesAndRangesToIPNets(proxies...)
	if err != nil {
		return nil, fmt.Errorf("server: Config.TrustedProxies: %w", err)
	}
	header, err := realclientip.NewRightmostTrustedRangeStrategy("X-Forwarded-For", trusted)
	if err != nil {
		return nil, err
	}
	return &remoteAddr{trusted: trusted, header: header}, nil
}

// of returns the address request r comes from.
func (a *remoteAddr) of(r *http.Request) string {
	peer := realclientip.RemoteAddrStrategy{}.ClientIP(nil, r.RemoteAddr)
	if peer == "" {
		return r.RemoteAddr
	}
	if ip := net.ParseIP(peer); ip != nil && slices.ContainsFunc(a.trusted, func(n net.IPNet) bool { return n.Contains(ip) }) {
		if client := a.header.ClientIP(r.Header, r.RemoteAddr); client != "" {
			return client
		}
	}
	return peer
}

// record records the client's address in the request context, for limits before login.
func (a *remoteAddr) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), remoteKey{}, a.of(r))))
	})
}

func remoteOf(ctx context.Context) string {
	s, _ := ctx.Value(remoteKey{}).(string)
	return s
}

// limitAnonymous applies the rate limit of an unauthenticated caller, by address.
func (s *Server) limitAnonymous(ctx context.Context) error {
	if !s.limits.allow("addr:"+remoteOf(ctx), s.cfg.Now()) {
		return problemf(api.ProblemRateLimited, "too many requests from %s: slow down", remoteOf(ctx))
	}
	return nil
}

// credCache remembers credentials looked up for tokens, briefly, so that a revocation reaches
// every node within seconds without a store read on every request.
type credCache struct {
	mu sync.Mutex
	m  map[string]credCacheEntry
}

type credCacheEntry struct {
	cred    *seal.Credential
	revoked bool
	fetched time.Time
}

const credCacheTTL = 5 * time.Second

// credential returns a credential from the directory, through the cache.
func (s *Server) credential(ctx context.Context, id string, now time.Time) (*seal.Credential, bool, error) {
	s.creds.mu.Lock()
	e, ok := s.creds.m[id]
	s.creds.mu.Unlock()
	if ok && now.Sub(e.fetched) < credCacheTTL {
		return e.cred, e.revoked, nil
	}
	sc, err := s.store.Credential(ctx, id)
	if err != nil {
		return nil, false, err
	}
	c, err := seal.ParseCredential(sc.Data)
	if err != nil {
		return nil, false, err
	}
	s.creds.mu.Lock()
	if s.creds.m == nil {
		s.creds.m = make(map[string]credCacheEntry)
	}
	s.creds.m[id] = credCacheEntry{cred: c, revoked: sc.Revocation != nil, fetched: now}
	s.creds.mu.Unlock()
	return c, sc.Revocation != nil, nil
}

// authenticate checks a bearer token and the caller's rate.
func (s *Server) authenticate(ctx context.Context, in AuthHeader) (*caller, error) {
	now := s.cfg.Now()
	tok, ok := strings.CutPrefix(in.Authorization, "Bearer ")
	if !ok || tok == "" {
		s.metrics.authFailures.WithLabelValues("missing").Inc()
		if err := s.limitAnonymous(ctx); err != nil {
			return nil, err
		}
		return nil, problemf(api.ProblemUnauthenticated, "this operation needs an Authorization: Bearer token; get one with POST /v1/auth/challenge and /v1/auth/token")
	}
	id, expires, err := s.tokens.check(kindToken, tok, now)
	if err != nil {
		if err := s.limitAnonymous(ctx); err != nil {
			return nil, err
		}
		if errors.Is(err, errTokenExpired) {
			s.metrics.authFailures.WithLabelValues("expired").Inc()
			return nil, problemf(api.ProblemTokenExpired, "the token %v: log in again", err)
		}
		s.metrics.authFailures.WithLabelValues("invalid").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "the bearer token is not valid (%v): log in again", err)
	}
	c, revoked, err := s.credential(ctx, id, now)
	if err != nil {
		return nil, err
	}
	if revoked {
		s.metrics.authFailures.WithLabelValues("revoked").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "credential %s has been revoked", id)
	}
	if !c.ValidAt(now) {
		s.metrics.authFailures.WithLabelValues("expired-credential").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "credential %s is not valid now (%s to %s)", id,
			c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	if !s.limits.allow(c.Handle(), now) {
		return nil, problemf(api.ProblemRateLimited, "%s is sending more than %g requests a second: slow down", c.Handle(), s.cfg.Rate)
	}
	return &caller{cred: c, expires: expires}, nil
}

// stillAllowed reports whether a caller authenticated earlier (an open event stream's) may
// still be served: its token has not expired, and its credential is neither revoked nor past
// its validity. A revocation reaches it within the credential cache's few seconds.
func (s *Server) stillAllowed(ctx context.Context, c *caller) bool {
	now := s.cfg.Now()
	if !now.Before(c.expires) {
		return false
	}
	cred, revoked, err := s.credential(ctx, c.cred.ID().String(), now)
	return err == nil && !revoked && cred.ValidAt(now)
}

// challenge issues a login challenge for a published, unrevoked credential.
func (s *Server) challenge(ctx context.Context, req api.ChallengeRequest) (*api.Challenge, error) {
	if err := s.limitAnonymous(ctx); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	if _, _, err := s.loginCredential(ctx, req.Credential, now); err != nil {
		return nil, err
	}
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	exp := now.Add(s.cfg.ChallengeTTL).Truncate(time.Second)
	ch := s.tokens.mint(kindChallenge, req.Credential+" "+base64.RawURLEncoding.EncodeToString(nonce), exp)
	return &api.Challenge{Challenge: ch, Host: s.cfg.Host, Expires: exp.UTC()}, nil
}

// loginCredential fetches a credential that may log in now.
func (s *Server) loginCredential(ctx context.Context, id string, now time.Time) (*seal.Credential, string, error) {
	sc, err := s.store.Credential(ctx, id)
	if errors.Is(err, backchannel.ErrNotFound) {
		return nil, "", problemf(api.ProblemUnknownCredential, "credential %q is not published: publish it with POST /v1/credentials", id)
	}
	if err != nil {
		return nil, "", err
	}
	if sc.Revocation != nil {
		return nil, "", problemf(api.ProblemUnauthenticated, "credential %s has been revoked", id)
	}
	c, err := seal.ParseCredential(sc.Data)
	if err != nil {
		return nil, "", err
	}
	if !c.ValidAt(now) {
		return nil, "", problemf(api.ProblemUnauthenticated, "credential %s is not valid now", id)
	}
	return c, sc.Org, nil
}

// token exchanges a signed challenge for a bearer token.
func (s *Server) token(ctx context.Context, req api.TokenRequest) (*api.Token, error) {
	if err := s.limitAnonymous(ctx); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	subject, challengeExp, err := s.tokens.check(kindChallenge, req.Challenge, now)
	if err != nil {
		s.metrics.authFailures.WithLabelValues("challenge").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "the challenge is not valid (%v): ask for a new one", err)
	}
	credID, _, _ := strings.Cut(subject, " ")
	if credID != req.Credential {
		s.metrics.authFailures.WithLabelValues("challenge").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "the challenge was issued for credential %s, not %s", credID, req.Credential)
	}
	c, _, err := s.loginCredential(ctx, req.Credential, now)
	if err != nil {
		return nil, err
	}
	if err := seal.VerifyLogin(c, s.cfg.Host, req.Challenge, req.Signature); err != nil {
		s.metrics.authFailures.WithLabelValues("signature").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "the login signature does not verify with the identity key of credential %s", req.Credential)
	}
	// A signed challenge buys one token: whoever saw the signature (a proxy, a log) cannot
	// buy another with it, on this node or any other on the database.
	sum := sha256.Sum256([]byte(req.Challenge))
	first, err := s.store.UseOnce(ctx, "login-challenge:"+hex.EncodeToString(sum[:]), now, challengeExp)
	if err != nil {
		return nil, err
	}
	if !first {
		s.metrics.authFailures.WithLabelValues("challenge").Inc()
		return nil, problemf(api.ProblemUnauthenticated, "the challenge was used already: ask for a new one")
	}
	// The root's signature on the credential was checked when it was published.
	exp := now.Add(s.cfg.TokenTTL).Truncate(time.Second)
	if c.NotAfter.Before(exp) {
		exp = c.NotAfter
	}
	return &api.Token{
		Token:      s.tokens.mint(kindToken, req.Credential, exp),
		Expires:    exp.UTC(),
		Credential: req.Credential,
		Principal:  c.Principal,
		Org:        c.Org,
	}, nil
}
