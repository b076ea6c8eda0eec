package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// muscat is indirect talks between two parties, the United States (us) and Iran (ir), with
// Oman (om) mediating, as each role sees them, plus an organisation outside them (ae) and a US
// principal whose credential was revoked after it logged in.
type muscat struct {
	*world
	id     string // the talks, active, round 1 in session
	geneva string // other talks of the same organisations, founded by us and not yet accepted

	us, ir, om *person // the head of each delegation
	ae         *person // a principal of an organisation that takes no part
	revoked    *person // a US principal whose credential is revoked; its token predates that
	// revokedChallenge is a login challenge the revoked principal obtained before revocation.
	revokedChallenge api.Challenge

	usAide, irAide, omAide *person // published, logged in, not (yet) in a delegation

	caucusUS *seal.Envelope // the US envoy's proposal in the US caucus
	relayed  *seal.Envelope // Oman's verbatim relay of it into the Iranian caucus
	caucusIR *seal.Envelope // an Iranian note in the Iranian caucus
	trusted  *seal.Trust    // every root and head's credential, to open envelopes
}

// agenda is muscat's agreed agenda.
var agenda = []string{"nuclear-programme", "sanctions-relief"}

func newMuscat(t *testing.T, configure func(*server.Config)) *muscat {
	t.Helper()
	m := &muscat{world: newWorld(t, configure), id: "us:muscat", geneva: "us:geneva"}
	for _, org := range []string{"us", "ir", "om", "ae"} {
		m.org(org)
	}
	m.us = m.person("us", "special-envoy", "Special Envoy", 3)
	m.ir = m.person("ir", "foreign-minister", "Foreign Minister", 4)
	m.om = m.person("om", "foreign-minister", "Foreign Minister", 4)
	m.ae = m.person("ae", "ambassador", "Ambassador", 3)
	m.revoked = m.person("us", "clerk", "Clerk", 1)
	m.usAide = m.person("us", "aide", "Aide", 2)
	m.irAide = m.person("ir", "aide", "Aide", 2)
	m.omAide = m.person("om", "aide", "Aide", 2)

	m.accepted(m.do(request{method: http.MethodPost, path: "/v1/talks", token: m.us.token, body: api.CreateTalks{Charter: m.charter(m.us, talks.Charter{
		ID: m.id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 3, Venue: "Muscat", Agenda: agenda,
	})}}))
	m.accepted(m.submit(m.ir, m.id, talks.AcceptCharter{At: m.now(), By: m.ir.actor()}))
	m.accepted(m.submit(m.om, m.id, talks.AcceptCharter{At: m.now(), By: m.om.actor()}))
	for _, id := range []string{"round-1", "round-2", "round-3"} {
		m.accepted(m.submit(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: id, Change: talks.ScheduleRound("Muscat", m.now())}))
		m.accepted(m.submit(m.ir, m.id, talks.Vote{At: m.now(), By: m.ir.actor(), Motion: id, Accept: true}))
	}
	m.accepted(m.submit(m.om, m.id, talks.OpenRound{At: m.now(), By: m.om.actor(), Round: 1}))
	m.accepted(m.do(request{method: http.MethodPost, path: talksPath(m.id, "red-lines"), token: m.us.token,
		body: api.SubmitRedLines{Envelope: m.redLines(m.us, m.id, "regime-change")}}))

	m.trusted = m.trust([]string{"us", "ir", "om", "ae"}, m.us, m.ir, m.om)
	m.caucusUS = m.seal(m.us, m.id, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindProposal, topics: []string{"nuclear-programme"},
		round: 1, body: "The United States is willing to negotiate on the nuclear issue.", to: m.recipients(m.us, m.id, talks.RoomCaucus("us"))})
	m.accepted(m.send(m.us, m.id, m.caucusUS))
	m.relayed = m.relay(m.om, m.id, m.caucusUS, m.trusted, talks.RoomCaucus("ir"), 1, m.recipients(m.om, m.id, talks.RoomCaucus("ir")))
	m.accepted(m.send(m.om, m.id, m.relayed))
	m.caucusIR = m.seal(m.ir, m.id, draft{room: talks.RoomCaucus("ir"), kind: backchannel.KindNote, round: 1,
		body: "Received.", to: m.recipients(m.ir, m.id, talks.RoomCaucus("ir"))})
	m.accepted(m.send(m.ir, m.id, m.caucusIR))

	m.accepted(m.do(request{method: http.MethodPost, path: "/v1/talks", token: m.us.token, body: api.CreateTalks{Charter: m.charter(m.us, talks.Charter{
		ID: m.geneva, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 2, Venue: "Geneva", Agenda: agenda,
	})}}))

	// The clerk logs in and is served, then its root revokes it. The server remembers a
	// credential for a few seconds: move its clock past that.
	m.revokedChallenge = m.challenge(m.revoked)
	want(t, m.do(request{method: http.MethodGet, path: "/v1/talks", token: m.revoked.token}), http.StatusOK, "")
	m.revoke(m.revoked)
	m.clock.advance(10 * time.Second)
	return m
}

// sizes are the sizes of every talks' record, to check that a refusal changed nothing.
func (m *muscat) sizes() map[string]int64 {
	return map[string]int64{m.id: m.size(m.id), m.geneva: m.size(m.geneva)}
}
