package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// An outsider (any principal of a self-registered organisation) cannot probe for the ids of
// secret talks with forged charters: a charter whose signature does not verify is refused the
// same way whether its id is taken or free.
func TestForgedChartersCannotProbeForTalksIDs(t *testing.T) {
	m := newMuscat(t, nil)
	forged := func(id string) []byte {
		data := m.charter(m.ae, talks.Charter{ID: id, Parties: []string{"ae", "ir"},
			Visibility: talks.VisibilitySecret, Format: talks.FormatDirect, Level: 1})
		data[len(data)-1] ^= 0x01 // the act's signature ends it
		return data
	}
	for _, tc := range []struct{ id, want string }{
		{m.geneva, "unscoped-id"}, {"us:free-talks", "unscoped-id"}, {"ae:free-talks", "tampered"},
	} {
		r := m.do(request{method: http.MethodPost, path: "/v1/talks", token: m.ae.token, body: api.CreateTalks{Charter: forged(tc.id)}})
		if r.status != http.StatusUnprocessableEntity || r.name() != tc.want {
			t.Errorf("a forged charter for %s: %s, want 422 %s", tc.id, r, tc.want)
		}
	}
}

// Nor can it with charters it signs itself: talks ids are scoped to their founder, so it can
// found talks only under its own name, and a charter for an id in another's scope is refused
// alike whether that id is taken or free. Its own "geneva" is no collision with the US's.
func TestValidChartersCannotProbeForTalksIDs(t *testing.T) {
	m := newMuscat(t, nil)
	found := func(id string) *response {
		return m.do(request{method: http.MethodPost, path: "/v1/talks", token: m.ae.token, body: api.CreateTalks{Charter: m.charter(m.ae,
			talks.Charter{ID: id, Parties: []string{"ae", "ir"}, Visibility: talks.VisibilitySecret, Format: talks.FormatDirect, Level: 1})}})
	}
	for _, id := range []string{m.geneva, "us:free-talks", "geneva", "free-talks"} {
		want(t, found(id), http.StatusUnprocessableEntity, "unscoped-id")
	}
	m.accepted(found("ae:geneva"))
}

// A signed login challenge buys one token: whoever saw the signature cannot buy another.
func TestASignedChallengeBuysOneToken(t *testing.T) {
	m := newMuscat(t, nil)
	req := m.tokenRequest(m.ir, m.challenge(m.ir))
	want(t, m.do(request{method: http.MethodPost, path: "/v1/auth/token", body: req}), http.StatusOK, "")
	for range 2 {
		r := m.do(request{method: http.MethodPost, path: "/v1/auth/token", body: req})
		want(t, r, http.StatusUnauthorized, "unauthenticated")
		if !strings.Contains(r.problem().Detail, "used already") {
			t.Fatalf("a second token for one challenge: %s", r)
		}
	}
	// A new challenge buys a new token.
	want(t, m.do(request{method: http.MethodPost, path: "/v1/auth/token", body: m.tokenRequest(m.ir, m.challenge(m.ir))}), http.StatusOK, "")
}
