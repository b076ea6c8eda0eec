package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// badInput is a request that must be refused with a problem whose detail names what was wrong,
// and change no record.
type badInput struct {
	name    string
	build   func(m *muscat) request
	status  int
	problem string
	detail  []string // each must appear in the problem's detail
}

// flip returns b with the byte at i (from the end if negative) changed.
func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	if i < 0 {
		i += len(out)
	}
	out[i] ^= 0x01
	return out
}

// envelopeJSON is a submit-envelope body around raw envelope bytes.
func envelopeJSON(b []byte) string {
	return `{"envelope":"` + base64.StdEncoding.EncodeToString(b) + `"}`
}

// note seals a note of p into room, in the round in session.
func (m *muscat) note(p *person, room string, topics ...string) *seal.Envelope {
	return m.seal(p, m.id, draft{room: room, kind: backchannel.KindNote, topics: topics, round: m.inSession(m.us, m.id),
		body: "A note.", to: m.recipients(m.us, m.id, room)})
}

func badInputs() []badInput {
	envelopes := func(m *muscat) string { return talksPath(m.id, "envelopes") }
	raw := func(body string) func(m *muscat) request {
		return func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: body}
		}
	}
	return []badInput{
		{name: "malformed JSON", build: raw(`{"envelope": "AAAA"`), status: 400, problem: "malformed", detail: []string{"body"}},
		{name: "not an object", build: raw(`["AAAA"]`), status: 400, problem: "malformed", detail: []string{"body", "object"}},
		{name: "unknown field", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token,
				body: `{"envelope":"` + base64.StdEncoding.EncodeToString(m.note(m.us, talks.RoomCaucus("us")).Marshal()) + `","room":"caucus:ir"}`}
		}, status: 400, problem: "malformed", detail: []string{"room", "unexpected property"}},
		{name: "missing required field", build: raw(`{}`), status: 400, problem: "malformed", detail: []string{"envelope", "required"}},
		// Two envelopes under one key, or a key that binds only case-insensitively: a proxy or
		// an auditor reading the body could see another envelope than the server.
		{name: "a key twice", build: func(m *muscat) request {
			a := base64.StdEncoding.EncodeToString(m.note(m.us, talks.RoomCaucus("us")).Marshal())
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token,
				body: `{"envelope":"` + a + `","envelope":"` + a + `"}`}
		}, status: 400, problem: "malformed", detail: []string{`"envelope" appears twice`}},
		{name: "a case-folded key", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token,
				body: `{"Envelope":"` + base64.StdEncoding.EncodeToString(m.note(m.us, talks.RoomCaucus("us")).Marshal()) + `"}`}
		}, status: 400, problem: "malformed", detail: []string{`"Envelope"`}},
		{name: "bad base64", build: raw(`{"envelope":"not base64!"}`), status: 400, problem: "malformed", detail: []string{"envelope", "base64"}},
		{name: "trailing data", build: raw(`{"envelope":"AAAA"} {}`), status: 400, problem: "malformed", detail: []string{"body"}},
		{name: "body of another media type", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: `envelope=AAAA`,
				header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
		}, status: 415, problem: "unsupported-media-type", detail: []string{"application/x-www-form-urlencoded"}},
		{name: "not an envelope", build: raw(`{"envelope":"AAAA"}`), status: 400, problem: "malformed-signed-data", detail: []string{"envelope"}},
		{name: "unknown talks", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath("nowhere", "envelopes"), token: m.us.token,
				body: envelopeJSON(m.note(m.us, talks.RoomCaucus("us")).Marshal())}
		}, status: 404, problem: "unknown-talks", detail: []string{`"nowhere"`}},
		{name: "unknown talks, read", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath("nowhere", "events"), token: m.us.token}
		}, status: 404, problem: "unknown-talks", detail: []string{`"nowhere"`}},
		{name: "talks id too long", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(strings.Repeat("x", 65)), token: m.us.token}
		}, status: 400, problem: "malformed", detail: []string{"talksID", "64"}},
		{name: "room that does not exist", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: "caucus:xx", kind: backchannel.KindNote, round: m.inSession(m.us, m.id), body: "?",
				to: []*seal.Credential{m.us.cred}})
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(env.Marshal())}
		}, status: 409, problem: "no-such-room", detail: []string{"caucus:xx"}},
		{name: "room of another party", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.ir.token, body: envelopeJSON(m.note(m.ir, talks.RoomCaucus("us")).Marshal())}
		}, status: 403, problem: "not-in-room", detail: []string{"caucus:us", "ir:foreign-minister"}},
		{name: "recipient outside the room", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindNote, round: m.inSession(m.us, m.id), body: "?",
				to: []*seal.Credential{m.us.cred, m.om.cred, m.ir.cred}})
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(env.Marshal())}
		}, status: 422, problem: "recipient-outside-room", detail: []string{"ir:foreign-minister", "caucus:us"}},
		{name: "wrong round", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindNote, round: 3, body: "?",
				to: m.recipients(m.us, m.id, talks.RoomCaucus("us"))})
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(env.Marshal())}
		}, status: 409, problem: "wrong-round", detail: []string{"round"}},
		{name: "forged envelope: a byte of the ciphertext changed", build: func(m *muscat) request {
			b := m.note(m.us, talks.RoomCaucus("us")).Marshal()
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(flip(b, -64-1))}
		}, status: 422, problem: "tampered", detail: []string{"signature"}},
		{name: "forged envelope: the signature changed", build: func(m *muscat) request {
			b := m.note(m.us, talks.RoomCaucus("us")).Marshal()
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(flip(b, -1))}
		}, status: 422, problem: "tampered", detail: []string{"signature"}},
		{name: "envelope sealed by someone else", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(m.note(m.om, talks.RoomCaucus("us")).Marshal())}
		}, status: 422, problem: "actor-mismatch", detail: []string{"sealed by credential", "not by the caller's"}},
		{name: "replayed envelope: an old sequence number", build: func(m *muscat) request {
			m.us.seq = 0 // the envoy's first envelope had sequence 1
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(m.note(m.us, talks.RoomCaucus("us")).Marshal())}
		}, status: 409, problem: "replayed", detail: []string{"sequence"}},
		{name: "envelope for other talks", build: func(m *muscat) request {
			env := m.seal(m.us, m.geneva, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindNote, body: "?", to: []*seal.Credential{m.us.cred}})
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(env.Marshal())}
		}, status: 422, problem: "wrong-talks", detail: []string{`"us:geneva"`, `"us:muscat"`}},
		{name: "relay sent as a message", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.om.token, body: envelopeJSON(m.relayed.Marshal())}
		}, status: 400, problem: "malformed", detail: []string{"relay", "/relays"}},
		{name: "relay without its notice", build: func(m *muscat) request {
			env := m.relay(m.om, m.id, m.caucusUS, m.trusted, talks.RoomCaucus("ir"), m.inSession(m.us, m.id), m.recipients(m.ir, m.id, talks.RoomCaucus("ir")))
			return request{method: http.MethodPost, path: talksPath(m.id, "relays"), token: m.om.token, body: api.SubmitEnvelope{Envelope: env.Marshal()}}
		}, status: 422, problem: "relay-notice", detail: []string{"passes on 1 envelope(s)", "0 relay notice(s)"}},
		{name: "relay whose notice tells another story", build: func(m *muscat) request {
			env := m.relay(m.om, m.id, m.caucusIR, m.trusted, talks.RoomCaucus("us"), m.inSession(m.us, m.id), m.recipients(m.us, m.id, talks.RoomCaucus("us")))
			n := backchannel.RelayNotice{Original: m.caucusIR.Hash().String(), Relay: env.Hash().String(), Mode: "verbatim",
				To: talks.RoomCaucus("ir"), By: "om:foreign-minister", At: env.CreatedAt.UTC()}
			act, err := m.om.id.Act(m.id, backchannel.EventRelayed, n.Payload(), env.CreatedAt)
			if err != nil {
				m.t.Fatal(err)
			}
			return request{method: http.MethodPost, path: talksPath(m.id, "relays"), token: m.om.token, body: api.SubmitEnvelope{Envelope: env.Marshal(), Notices: [][]byte{act.Marshal()}}}
		}, status: 422, problem: "relay-notice", detail: []string{"does not say what the relay did", `"to":"caucus:us"`}},
		{name: "a message relayed verbatim twice into one room", build: func(m *muscat) request {
			env := m.relay(m.om, m.id, m.caucusUS, m.trusted, talks.RoomCaucus("ir"), m.inSession(m.us, m.id), m.recipients(m.ir, m.id, talks.RoomCaucus("ir")))
			return request{method: http.MethodPost, path: talksPath(m.id, "relays"), token: m.om.token, body: envelopeBody(m.t, m.om, env)}
		}, status: 409, problem: "already-relayed", detail: []string{"relayed verbatim to caucus:ir already", "its readers have it"}},
		{name: "formal message below the level", build: func(m *muscat) request {
			env := m.seal(m.usAide, m.id, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindProposal, topics: []string{"nuclear-programme"},
				round: m.inSession(m.us, m.id), body: "A proposal.", to: m.recipients(m.us, m.id, talks.RoomCaucus("us"))})
			return request{method: http.MethodPost, path: envelopes(m), token: m.usAide.token, body: envelopeJSON(env.Marshal())}
		}, status: 403, problem: "rank-below-level", detail: []string{"rank 2", "3"}},
		{name: "formal message without a topic", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: talks.RoomCaucus("us"), kind: backchannel.KindProposal,
				round: m.inSession(m.us, m.id), body: "A proposal.", to: m.recipients(m.us, m.id, talks.RoomCaucus("us"))})
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(env.Marshal())}
		}, status: 409, problem: "no-topic", detail: []string{"topic"}},
		{name: "topic off the agenda", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: envelopes(m), token: m.us.token, body: envelopeJSON(m.note(m.us, talks.RoomCaucus("us"), "oil").Marshal())}
		}, status: 409, problem: "not-on-agenda", detail: []string{`oil`}},
		{name: "act of another type than the operation takes", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "votes"), token: m.us.token,
				body: api.SubmitAct{Act: m.act(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "x", Change: talks.SetVenue("Doha")})}}
		}, status: 400, problem: "malformed", detail: []string{"propose", "/acts"}},
		{name: "act signed long ago", build: func(m *muscat) request {
			at := m.now().Add(-time.Hour)
			return request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: m.us.token,
				body: api.SubmitAct{Act: m.act(m.us, m.id, talks.Propose{At: at, By: m.us.actor(), Motion: "old", Change: talks.SetVenue("Doha")})}}
		}, status: 422, problem: "clock-skew", detail: []string{"dated", "clock"}},
		{name: "act naming someone else", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: m.us.token,
				body: api.SubmitAct{Act: m.act(m.us, m.id, talks.Propose{At: m.now(), By: m.usAide.actor(), Motion: "x", Change: talks.SetVenue("Doha")})}}
		}, status: 422, problem: "actor-mismatch", detail: []string{"us:aide", "us:special-envoy"}},
		{name: "act signed by someone else than the caller", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: m.us.token,
				body: api.SubmitAct{Act: m.act(m.ir, m.id, talks.Propose{At: m.now(), By: m.ir.actor(), Motion: "relayed", Change: talks.SetVenue("Doha")})}}
		}, status: 422, problem: "actor-mismatch", detail: []string{"signed by credential", "not by the caller's"}},
		{name: "red lines signed by someone else than the caller", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "red-lines"), token: m.us.token,
				body: api.SubmitRedLines{Envelope: m.redLines(m.ir, m.id, "missiles")}}
		}, status: 422, problem: "actor-mismatch", detail: []string{"sealed by credential", "not by the caller's"}},
		{name: "an envelope following one not on the record", build: func(m *muscat) request {
			room := talks.RoomCaucus("us")
			env := m.seal(m.us, m.id, draft{room: room, kind: backchannel.KindNote, round: 1, body: "x", to: m.recipients(m.us, m.id, room), prev: seal.Hash{7}})
			return request{method: http.MethodPost, path: talksPath(m.id, "envelopes"), token: m.us.token, body: api.SubmitEnvelope{Envelope: env.Marshal()}}
		}, status: 422, problem: "unknown-envelope", detail: []string{"it follows", "not on the record"}},
		{name: "an envelope following one of another room", build: func(m *muscat) request {
			room := talks.RoomCaucus("us")
			env := m.seal(m.us, m.id, draft{room: room, kind: backchannel.KindNote, round: 1, body: "x", to: m.recipients(m.us, m.id, room), prev: m.caucusIR.Hash()})
			return request{method: http.MethodPost, path: talksPath(m.id, "envelopes"), token: m.us.token, body: api.SubmitEnvelope{Envelope: env.Marshal()}}
		}, status: 422, problem: "wrong-room", detail: []string{"caucus:ir", "caucus:us"}},
		{name: "an envelope whose room tag is not 32 bytes", build: func(m *muscat) request {
			room := talks.RoomCaucus("us")
			env := m.seal(m.us, m.id, draft{room: room, kind: backchannel.KindNote, round: 1, body: "x", to: m.recipients(m.us, m.id, room)})
			return request{method: http.MethodPost, path: talksPath(m.id, "envelopes"), token: m.us.token, body: api.SubmitEnvelope{Envelope: env.Marshal(), Tag: make([]byte, 31)}}
		}, status: 400, problem: "malformed", detail: []string{"tag", "31 bytes", "want 32"}},
		{name: "a room key sealed to one reader of the room only", build: func(m *muscat) request {
			room := talks.RoomCaucus("us")
			env := m.seal(m.us, m.id, draft{room: room, kind: backchannel.KindNote, body: "0123456789abcdef0123456789abcdef", to: []*seal.Credential{m.us.cred}})
			return request{method: http.MethodPost, path: talksPath(m.id, "room-keys"), token: m.us.token, body: api.SubmitRoomKey{Envelope: env.Marshal()}}
		}, status: 422, problem: "recipient-missing", detail: []string{"reads room caucus:us", "not sealed to it"}},
		{name: "a room key linked to an envelope", build: func(m *muscat) request {
			room := talks.RoomCaucus("us")
			env := m.seal(m.us, m.id, draft{room: room, kind: backchannel.KindNote, body: "0123456789abcdef0123456789abcdef", to: m.recipients(m.us, m.id, room), prev: m.caucusUS.Hash()})
			return request{method: http.MethodPost, path: talksPath(m.id, "room-keys"), token: m.us.token, body: api.SubmitRoomKey{Envelope: env.Marshal()}}
		}, status: 400, problem: "malformed", detail: []string{"room key", "linked to no other envelope"}},
		{name: "red lines sealed to the mediator too", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: backchannel.RoomPrivate("us"), kind: backchannel.KindNote, body: "{}", to: []*seal.Credential{m.us.cred, m.om.cred}})
			return request{method: http.MethodPost, path: talksPath(m.id, "red-lines"), token: m.us.token, body: api.SubmitRedLines{Envelope: env.Marshal()}}
		}, status: 422, problem: "recipient-outside-room", detail: []string{"om:foreign-minister", "private:us"}},
		{name: "red lines in another party's private room", build: func(m *muscat) request {
			env := m.seal(m.us, m.id, draft{room: backchannel.RoomPrivate("ir"), kind: backchannel.KindNote, body: "{}", to: []*seal.Credential{m.us.cred}})
			return request{method: http.MethodPost, path: talksPath(m.id, "red-lines"), token: m.us.token, body: api.SubmitRedLines{Envelope: env.Marshal()}}
		}, status: 422, problem: "wrong-room", detail: []string{"private:ir", "private:us"}},
		{name: "red lines of a mediator", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "red-lines"), token: m.om.token,
				body: api.SubmitRedLines{Envelope: m.redLines(m.om, m.id, "missiles")}}
		}, status: 403, problem: "forbidden", detail: []string{"not a party"}},
		{name: "vote on no motion", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "votes"), token: m.ir.token,
				body: api.SubmitAct{Act: m.act(m.ir, m.id, talks.Vote{At: m.now(), By: m.ir.actor(), Motion: "nothing", Accept: true})}}
		}, status: 409, problem: "no-such-motion", detail: []string{`"nothing"`}},
		{name: "receipt for an envelope not on the record", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: talksPath(m.id, "receipts"), token: m.us.token,
				body: api.SubmitReceipt{Receipt: m.receipt(m.us, m.id, seal.Hash{1}, seal.Read)}}
		}, status: 422, problem: "unknown-envelope", detail: []string{"not on the record"}},
		{name: "statement whose text is not the one signed", build: func(m *muscat) request {
			sg := talks.Sign{At: m.now(), By: m.us.actor(), Round: 1, Digest: digest("one text")}
			return request{method: http.MethodPost, path: talksPath(m.id, "statements"), token: m.us.token,
				body: map[string]any{"act": m.act(m.us, m.id, sg), "text": "another text"}}
		}, status: 400, problem: "malformed", detail: []string{"digest"}},
		{name: "cosignature by someone else", build: func(m *muscat) request {
			c := m.cosignature(m.us, m.ir, m.id)
			return request{method: http.MethodPost, path: talksPath(m.id, "cosignatures"), token: m.us.token, body: c}
		}, status: 400, problem: "malformed", detail: []string{"cosignature", "does not verify"}},
		{name: "cosignature of no checkpoint", build: func(m *muscat) request {
			c := m.cosignature(m.us, m.us, m.id)
			c.Size = 1 << 40
			return request{method: http.MethodPost, path: talksPath(m.id, "cosignatures"), token: m.us.token, body: c}
		}, status: 404, problem: "not-found", detail: []string{"checkpoint"}},
		{name: "proof of no event", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id, "proof") + "?index=100000", token: m.us.token}
		}, status: 404, problem: "not-found", detail: []string{"100000"}},
		{name: "page too long", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id, "events") + "?limit=5000", token: m.us.token}
		}, status: 400, problem: "malformed", detail: []string{"limit", "1000"}},
		{name: "envelope hash not hex", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id, "envelopes", strings.Repeat("Z", 64)), token: m.us.token}
		}, status: 400, problem: "malformed", detail: []string{"hash"}},
		{name: "Last-Event-ID not an index", build: func(m *muscat) request {
			return request{method: "STREAM", path: talksPath(m.id, "events", "stream"), token: m.us.token, header: map[string]string{"Last-Event-ID": "07"}}
		}, status: 400, problem: "malformed", detail: []string{"Last-Event-ID", `"07"`}},
		{name: "Last-Event-ID without a successor", build: func(m *muscat) request {
			return request{method: "STREAM", path: talksPath(m.id, "events", "stream"), token: m.us.token, header: map[string]string{"Last-Event-ID": "9223372036854775807"}}
		}, status: 400, problem: "malformed", detail: []string{"Last-Event-ID", `"9223372036854775807"`}},
		{name: "no token", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id)}
		}, status: 401, problem: "unauthenticated", detail: []string{"Authorization", "Bearer"}},
		{name: "token with a byte flipped in its payload", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id), token: flipToken(m.us.token, 3)}
		}, status: 401, problem: "unauthenticated", detail: []string{"token", "not valid"}},
		{name: "token with a byte flipped in its signature", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id), token: flipToken(m.us.token, len(m.us.token)-3)}
		}, status: 401, problem: "unauthenticated", detail: []string{"token", "not valid"}},
		{name: "login challenge as a token", build: func(m *muscat) request {
			return request{method: http.MethodGet, path: talksPath(m.id), token: m.challenge(m.us).Challenge}
		}, status: 401, problem: "unauthenticated", detail: []string{"challenge", "token"}},
		{name: "token as a login challenge", build: func(m *muscat) request {
			tr := m.tokenRequest(m.us, api.Challenge{Challenge: m.us.token, Host: m.host})
			return request{method: http.MethodPost, path: "/v1/auth/token", body: tr}
		}, status: 401, problem: "unauthenticated", detail: []string{"challenge"}},
		{name: "login signed for another host", build: func(m *muscat) request {
			ch := m.challenge(m.us)
			tr := m.tokenRequest(m.us, api.Challenge{Challenge: ch.Challenge, Host: "phishing.example"})
			return request{method: http.MethodPost, path: "/v1/auth/token", body: tr}
		}, status: 401, problem: "unauthenticated", detail: []string{"signature"}},
		{name: "login signed with another principal's key", build: func(m *muscat) request {
			tr := m.tokenRequest(m.ir, m.challenge(m.us))
			tr.Credential = m.us.cred.ID().String()
			return request{method: http.MethodPost, path: "/v1/auth/token", body: tr}
		}, status: 401, problem: "unauthenticated", detail: []string{"signature does not verify", "identity key"}},
		{name: "login challenge of another credential", build: func(m *muscat) request {
			return request{method: http.MethodPost, path: "/v1/auth/token", body: m.tokenRequest(m.ir, m.challenge(m.us))}
		}, status: 401, problem: "unauthenticated", detail: []string{"challenge was issued for credential " + "", "not"}},
		{name: "credential of an unregistered organisation", build: func(m *muscat) request {
			r, err := seal.NewRoot(rand.Reader, "zz")
			if err != nil {
				m.t.Fatal(err)
			}
			m.roots["zz"] = r
			return request{method: http.MethodPost, path: "/v1/credentials", body: api.PublishCredential{Credential: m.issue("zz", "someone", "Someone", 1).cred.Marshal()}}
		}, status: 422, problem: "unknown-organisation", detail: []string{`"zz"`, "register"}},
		{name: "credential not signed by its organisation's root", build: func(m *muscat) request {
			r, err := seal.NewRoot(rand.Reader, "us")
			if err != nil {
				m.t.Fatal(err)
			}
			q := &muscat{world: &world{testServer: m.testServer, roots: map[string]*seal.Root{"us": r}}}
			return request{method: http.MethodPost, path: "/v1/credentials", body: api.PublishCredential{Credential: q.issue("us", "impostor", "President", 5).cred.Marshal()}}
		}, status: 422, problem: "untrusted-root", detail: nil},
		{name: "revocation signed by another root", build: func(m *muscat) request {
			r, err := seal.NewRoot(rand.Reader, "us")
			if err != nil {
				m.t.Fatal(err)
			}
			v, err := r.Revoke(m.us.cred, m.now())
			if err != nil {
				m.t.Fatal(err)
			}
			return request{method: http.MethodPost, path: "/v1/credentials/" + m.us.cred.ID().String() + "/revocation", body: api.RevokeCredential{Revocation: v.Marshal()}}
		}, status: 422, problem: "untrusted-root", detail: nil},
		{name: "revocation of another credential than the path's", build: func(m *muscat) request {
			v, err := m.roots["us"].Revoke(m.usAide.cred, m.now())
			if err != nil {
				m.t.Fatal(err)
			}
			return request{method: http.MethodPost, path: "/v1/credentials/" + m.us.cred.ID().String() + "/revocation", body: api.RevokeCredential{Revocation: v.Marshal()}}
		}, status: 400, problem: "malformed", detail: []string{"names credential"}},
		{name: "organisation registered again under another root", build: func(m *muscat) request {
			r, err := seal.NewRoot(rand.Reader, "us")
			if err != nil {
				m.t.Fatal(err)
			}
			return request{method: http.MethodPost, path: "/v1/organisations", body: api.RegisterOrganisation{RootKey: r.Public().Marshal(), Name: "US"}}
		}, status: 409, problem: "exists", detail: []string{`"us"`, "never replaced"}},
	}
}

// flipToken changes one character of a token to another of the base64url alphabet.
func flipToken(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestBadInputIsRefusedAndChangesNothing sends malformed, forged, replayed and rule-breaking
// requests and checks that each gets the problem that names what was wrong, and that no
// record grew.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	m := newMuscat(t, nil)
	// A member below the talks' level, for the formal message.
	m.accepted(m.submit(m.us, m.id, talks.AddMember{At: m.now(), By: m.us.actor(), Member: talks.Member{Actor: m.usAide.actor()}}))
	for _, c := range badInputs() {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			outer := m.t
			m.t = t
			defer func() { m.t = outer }()
			req := c.build(m)
			before := m.sizes()
			var r *response
			if req.method == "STREAM" {
				r, _ = m.stream(req.path, req.token, req.header, 5*time.Second, func([]sseEvent) bool { return true })
			} else {
				r = m.do(req)
			}
			if r.status != c.status || r.name() != c.problem {
				t.Fatalf("%s %s: %s, want %d %q", req.method, req.path, r, c.status, c.problem)
			}
			p := r.problem()
			for _, d := range c.detail {
				if !strings.Contains(p.Detail, d) {
					t.Errorf("detail %q does not name %q", p.Detail, d)
				}
			}
			if after := m.sizes(); !mapsEqual(before, after) {
				t.Errorf("the refusal changed the records: %v, then %v", before, after)
			}
		})
	}
}

// TestReplayedEnvelopeIsAcceptedOnce submits the same envelope twice: the second answer is the
// first's event, marked duplicate, and nothing new is stored.
func TestReplayedEnvelopeIsAcceptedOnce(t *testing.T) {
	m := newMuscat(t, nil)
	env := m.note(m.us, talks.RoomCaucus("us"))
	first := m.accepted(m.send(m.us, m.id, env))
	size := m.size(m.id)
	again := m.accepted(m.send(m.us, m.id, env))
	if !again.Duplicate || first.Duplicate || again.Index != first.Index || again.Hash != first.Hash || again.Type != "envelope" {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	if m.size(m.id) != size || again.Checkpoint.Size != size {
		t.Fatalf("the record grew from %d to %d (checkpoint %d)", size, m.size(m.id), again.Checkpoint.Size)
	}
	// The same holds for acts.
	act := m.act(m.us, m.id, talks.Propose{At: m.now(), By: m.us.actor(), Motion: "once", Change: talks.SetVenue("Doha")})
	a1 := m.accepted(m.do(request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: m.us.token, body: api.SubmitAct{Act: act}}))
	size = m.size(m.id)
	a2 := m.accepted(m.do(request{method: http.MethodPost, path: talksPath(m.id, "motions"), token: m.us.token, body: api.SubmitAct{Act: act}}))
	if !a2.Duplicate || a2.Index != a1.Index || m.size(m.id) != size {
		t.Fatalf("first %+v, again %+v, size %d then %d", a1, a2, size, m.size(m.id))
	}
}

// TestExpiredTokenIsRefused moves the server's clock past a token's expiry.
func TestExpiredTokenIsRefused(t *testing.T) {
	w := newWorld(t, func(c *server.Config) { c.TokenTTL = time.Minute })
	w.org("us")
	p := w.person("us", "envoy", "Envoy", 3)
	want(t, w.do(request{method: http.MethodGet, path: "/v1/talks", token: p.token}), http.StatusOK, "")
	w.clock.advance(time.Minute + time.Second)
	r := w.do(request{method: http.MethodGet, path: "/v1/talks", token: p.token})
	want(t, r, http.StatusUnauthorized, "token-expired")
	if d := r.problem().Detail; !strings.Contains(d, "expired") || !strings.Contains(d, "log in again") {
		t.Errorf("detail %q", d)
	}
	// A challenge expires too.
	ch := w.challenge(p)
	w.clock.advance(3 * time.Minute)
	r = w.do(request{method: http.MethodPost, path: "/v1/auth/token", body: w.tokenRequest(p, ch)})
	want(t, r, http.StatusUnauthorized, "unauthenticated")
	if d := r.problem().Detail; !strings.Contains(d, "challenge") || !strings.Contains(d, "expired") {
		t.Errorf("detail %q", d)
	}
	w.login(p)
	want(t, w.do(request{method: http.MethodGet, path: "/v1/talks", token: p.token}), http.StatusOK, "")
}

// Whatever answers outside the operations (an unknown path, a method a path does not take, a
// tile the log does not have) answers a problem, as every operation does.
func TestEveryErrorIsAProblem(t *testing.T) {
	m := newMuscat(t, nil)
	for _, tc := range []struct {
		name    string
		req     request
		status  int
		problem string
	}{
		{"an unknown path", request{method: http.MethodGet, path: "/v1/nothing-here"}, 404, "not-found"},
		{"a method the path does not take", request{method: http.MethodDelete, path: "/v1/talks"}, 405, "method-not-allowed"},
		{"a tile beyond the tree", request{method: http.MethodGet, path: talksPath(m.id, "log", "tile", "0", "x001", "000"), token: m.us.token}, 404, "not-found"},
		{"a tile path that is no tile", request{method: http.MethodGet, path: talksPath(m.id, "log", "tile", "nonsense"), token: m.us.token}, 404, "not-found"},
	} {
		// Unrecorded: the recorder checks answers against the operations, which these are not.
		r := m.probe(tc.req)
		if r.status != tc.status || r.name() != tc.problem || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %s (%s), want %d %q as problem+json", tc.name, r, r.header.Get("Content-Type"), tc.status, tc.problem)
		}
	}
}
