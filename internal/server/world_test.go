package server_test

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/seal"
)

// world is a test server with the organisations and principals of a scenario. Principals act
// through the raw API, signing with their own keys, so that every request is one the test
// wrote out.
type world struct {
	*testServer
	roots map[string]*seal.Root
}

func newWorld(t *testing.T, configure func(*server.Config)) *world {
	return &world{testServer: newTestServer(t, configure), roots: make(map[string]*seal.Root)}
}

// person is a principal: its keys, its published credential and its bearer token.
type person struct {
	org, name string
	id        *seal.Identity
	cred      *seal.Credential
	token     string
	seq       uint64 // the sequence number of its last envelope
}

// now is the time a principal signs: the server's clock, to the millisecond.
func (w *world) now() time.Time { return w.clock.now().UTC().Truncate(time.Millisecond) }

// want fails the test unless the answer has the given status and, if name is not empty, is
// the problem of that name.
func want(t *testing.T, r *response, status int, name string) {
	t.Helper()
	if r.status != status || r.name() != name {
		t.Fatalf("answer %s, want %d %q", r, status, name)
	}
}

// org creates and registers an organisation.
func (w *world) org(id string) *seal.Root {
	w.t.Helper()
	r, err := seal.NewRoot(rand.Reader, id)
	if err != nil {
		w.t.Fatal(err)
	}
	want(w.t, w.do(request{method: http.MethodPost, path: "/v1/organisations",
		body: api.RegisterOrganisation{RootKey: r.Public().Marshal(), Name: strings.ToUpper(id)}}), http.StatusCreated, "")
	w.roots[id] = r
	return r
}

// issue issues a credential for a new identity, without publishing it.
func (w *world) issue(org, name, title string, rank backchannel.Rank) *person {
	w.t.Helper()
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	now := w.now()
	cr, err := w.roots[org].Issue(seal.Credential{
		Principal: name, Name: "Office of the " + title, Title: title, Rank: rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		w.t.Fatal(err)
	}
	return &person{org: org, name: name, id: id, cred: cr}
}

// person issues, publishes and logs in a principal.
func (w *world) person(org, name, title string, rank backchannel.Rank) *person {
	w.t.Helper()
	p := w.issue(org, name, title, rank)
	want(w.t, w.do(request{method: http.MethodPost, path: "/v1/credentials",
		body: api.PublishCredential{Credential: p.cred.Marshal()}}), http.StatusCreated, "")
	w.login(p)
	return p
}

// challenge asks for a login challenge for p.
func (w *world) challenge(p *person) api.Challenge {
	w.t.Helper()
	r := w.do(request{method: http.MethodPost, path: "/v1/auth/challenge", body: api.ChallengeRequest{Credential: p.cred.ID().String()}})
	want(w.t, r, http.StatusOK, "")
	var ch api.Challenge
	r.decode(w.t, &ch)
	return ch
}

// tokenRequest is p's signed answer to a challenge.
func (w *world) tokenRequest(p *person, ch api.Challenge) api.TokenRequest {
	w.t.Helper()
	sig, err := p.id.SignLogin(ch.Host, ch.Challenge)
	if err != nil {
		w.t.Fatal(err)
	}
	return api.TokenRequest{Credential: p.cred.ID().String(), Challenge: ch.Challenge, Signature: sig}
}

// login logs p in and keeps its token.
func (w *world) login(p *person) {
	w.t.Helper()
	r := w.do(request{method: http.MethodPost, path: "/v1/auth/token", body: w.tokenRequest(p, w.challenge(p))})
	want(w.t, r, http.StatusOK, "")
	var tok api.Token
	r.decode(w.t, &tok)
	p.token = tok.Token
}
