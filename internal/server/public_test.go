package server_test

import (
	"net/http"
	"testing"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/talks"
)

// The record of public talks (checkpoint and tiles) is served to anyone, without a token, for
// monitors and witnesses; that of confidential and secret talks only to their members, and an
// anonymous request for it is answered as one for talks that do not exist.
func TestAPublicRecordIsServedWithoutAToken(t *testing.T) {
	m := newMuscat(t, nil)
	const public = "us:oslo"
	m.accepted(m.do(request{method: http.MethodPost, path: "/v1/talks", token: m.us.token, body: api.CreateTalks{Charter: m.charter(m.us, talks.Charter{
		ID: public, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Visibility: talks.VisibilityPublic, Format: talks.FormatIndirect, Level: 1, Venue: "Oslo", Agenda: agenda,
	})}}))

	r := m.do(request{method: http.MethodGet, path: talksPath(public, "log", "checkpoint")})
	want(t, r, http.StatusOK, "")
	origin, err := record.Origin(m.host, public)
	if err != nil {
		t.Fatal(err)
	}
	v, err := record.NewVerifier(origin, m.srv.LogKey())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := record.OpenCheckpoint(r.body, origin, v.LogVerifier())
	if err != nil || cp.Size == 0 {
		t.Fatalf("the public checkpoint: %v, %v", cp, err)
	}
	want(t, m.do(request{method: http.MethodGet, path: talksPath(public, "log", "tile", "0", "000.p", "1")}), http.StatusOK, "")
	// Anyone: a member, an outsider with a token, and no token at all.
	for _, p := range []*person{m.us, m.ae, nil} {
		req := request{method: http.MethodGet, path: talksPath(public, "log", "checkpoint")}
		if p != nil {
			req.token = p.token
		}
		want(t, m.do(req), http.StatusOK, "")
	}

	nowhere := m.do(request{method: http.MethodGet, path: talksPath("us:nowhere", "log", "checkpoint")})
	for _, id := range []string{m.id, m.geneva} {
		r := m.do(request{method: http.MethodGet, path: talksPath(id, "log", "checkpoint")})
		if r.status != nowhere.status || r.status == http.StatusOK {
			t.Errorf("talks %s without a token: %d, talks that do not exist: %d", id, r.status, nowhere.status)
		}
	}
}
