package server_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The roles of the authorisation matrix, in the order each row runs them: those that must
// change nothing first.
const (
	outsider = "outsider" // a principal of an organisation that takes no part in the talks
	revoked  = "revoked"  // a US principal whose credential was revoked after it logged in
	own      = "own"      // the United States, whose caucus and messages the rows are about
	other    = "other"    // Iran, the other party
	mediator = "mediator" // Oman
)

var roles = []string{outsider, revoked, own, other, mediator}

// outcome is the status and problem name a role must get ("" for a success).
type outcome struct {
	status  int
	problem string
}

var (
	ok200        = outcome{http.StatusOK, ""}
	ok201        = outcome{http.StatusCreated, ""}
	unknownTalks = outcome{http.StatusNotFound, "unknown-talks"}
	unauthorised = outcome{http.StatusUnauthorized, "unauthenticated"}
	notInRoom    = outcome{http.StatusForbidden, "not-in-room"}
	notFound     = outcome{http.StatusNotFound, "not-found"}
	forbidden    = outcome{http.StatusForbidden, "forbidden"}
	notAllowed   = outcome{http.StatusForbidden, "not-allowed-to-propose"}
	notAVoter    = outcome{http.StatusForbidden, "not-a-voter"}
	noAuthority  = outcome{http.StatusForbidden, "no-authority"}
	notMember    = outcome{http.StatusForbidden, "not-member"}
	alreadyVoted = outcome{http.StatusConflict, "already-voted"}
	relayRefused = outcome{http.StatusConflict, "relay"}
)

// members is the outcome of an operation on talks for its members; a principal of another
// organisation finds no such talks, and a revoked credential is not authenticated.
func members(own_, other_, mediator_ outcome) map[string]outcome {
	return map[string]outcome{outsider: unknownTalks, revoked: unauthorised, own: own_, other: other_, mediator: mediator_}
}

// everyone is the outcome of an operation that needs no principal.
func everyone(o outcome) map[string]outcome {
	return map[string]outcome{outsider: o, revoked: o, own: o, other: o, mediator: o}
}

// row is one operation, as one request per role.
type row struct {
	op   string // operation id
	note string // what the request is, when an operation has several rows
	want map[string]outcome
	// build makes the request role makes as p; a stream row's method is "STREAM".
	build func(m *muscat, role string, p *person) request
	// check, if set, looks further at a successful answer.
	check func(t *testing.T, m *muscat, role string, r *response, events []sseEvent)
}

func (m *muscat) as(role string) *person {
	switch role {
	case outsider:
		return m.ae
	case revoked:
		return m.revoked
	case own:
		return m.us
	case other:
		return m.ir
	}
	return m.om
}

// get is a row builder for a GET of a path.
func get(path func(m *muscat) string) func(m *muscat, role string, p *person) request {
	return func(m *muscat, _ string, p *person) request {
		return request{method: http.MethodGet, path: path(m), token: p.token}
	}
}

// post is a row builder for a POST of a body.
func post(path func(m *muscat) string, body func(m *muscat, role string, p *person) any) func(m *muscat, role string, p *person) request {
	return func(m *muscat, role string, p *person) request {
		return request{method: http.MethodPost, path: path(m), token: p.token, body: body(m, role, p)}
	}
}

func muscatPath(rest ...string) func(m *muscat) string {
	return func(m *muscat) string { return talksPath(m.id, rest...) }
}

// actBody is a row body: an act of the event ev makes for role.
func actBody(ev func(m *muscat, role string, p *person) talks.Event) func(m *muscat, role string, p *person) any {
	return func(m *muscat, role string, p *person) any {
		return api.SubmitAct{Act: m.act(p, m.id, ev(m, role, p))}
	}
}

// readable are the rooms each role reads in muscat: what it sits in and its own delegation's
// private events.
var readable = map[string][]string{
	own:      {"", talks.RoomCaucus("us"), "private:us"},
	other:    {"", talks.RoomCaucus("ir"), "private:ir"},
	mediator: {"", talks.RoomCaucus("us"), talks.RoomCaucus("ir"), talks.RoomMediators},
}

// mustRead are rooms whose events each role must find among what it is served.
var mustRead = map[string][]string{
	own:      {"", talks.RoomCaucus("us"), "private:us"},
	other:    {"", talks.RoomCaucus("ir")},
	mediator: {"", talks.RoomCaucus("us"), talks.RoomCaucus("ir")},
}

func checkRooms(t *testing.T, role string, evs []api.Event) {
	t.Helper()
	seen := make(map[string]bool)
	for _, e := range evs {
		if !slices.Contains(readable[role], e.Room) {
			t.Errorf("%s was served event %d (%s) of room %q", role, e.Index, e.Type, e.Room)
		}
		seen[e.Room] = true
	}
	for _, r := range mustRead[role] {
		if !seen[r] {
			t.Errorf("%s was served no event of room %q", role, r)
		}
	}
}

// sealedBy seals, as p, a message into room with the given recipients.
func (m *muscat) sealedBy(p *person, room string, kind backchannel.Kind, topics []string, to []*seal.Credential) *seal.Envelope {
	return m.seal(p, m.id, draft{room: room, kind: kind, topics: topics, round: m.inSession(m.us, m.id), body: "text", to: to})
}

// selfRelay is an envelope p sealed to itself and relays as p: what a principal that sits in
// no room of the talks can put together.
func (m *muscat) selfRelay(p *person, room string) *seal.Envelope {
	env := m.seal(p, m.id, draft{room: room, kind: backchannel.KindNote, body: "text", to: []*seal.Credential{p.cred}})
	tr := m.trust([]string{p.org}, p)
	return m.relay(p, m.id, env, tr, talks.RoomCaucus("ir"), 0, []*seal.Credential{p.cred})
}

func authzRows() []row {
	return []row{
		// Operations that need no principal answer every role alike.
		{op: "healthz", want: everyone(ok200), build: get(func(*muscat) string { return "/healthz" })},
		{op: "readyz", want: everyone(ok200), build: get(func(*muscat) string { return "/readyz" })},
		{op: "get-log-key", want: everyone(ok200), build: get(func(*muscat) string { return "/v1/log-key" })},
		{op: "get-organisation", want: everyone(ok200), build: get(func(*muscat) string { return "/v1/organisations/us" })},
		{op: "get-credential", want: everyone(ok200), build: get(func(m *muscat) string { return "/v1/credentials/" + m.us.cred.ID().String() })},
		{op: "list-principal-credentials", want: everyone(ok200), build: get(func(*muscat) string { return "/v1/organisations/us/principals/special-envoy/credentials" })},
		{op: "public-statements", want: everyone(ok200), build: get(func(*muscat) string { return "/v1/statements" }),
			check: func(t *testing.T, m *muscat, role string, r *response, _ []sseEvent) {
				var l api.PublicStatements
				r.decode(t, &l)
				for _, s := range l.Statements {
					if s.Talks == m.geneva {
						t.Errorf("the public feed shows a statement of secret talks %s", m.geneva)
					}
				}
			}},
		{op: "register-organisation", want: everyone(ok201), build: post(func(*muscat) string { return "/v1/organisations" },
			func(m *muscat, role string, _ *person) any {
				r, err := seal.NewRoot(rand.Reader, "x-"+role)
				if err != nil {
					m.t.Fatal(err)
				}
				return api.RegisterOrganisation{RootKey: r.Public().Marshal(), Name: role}
			})},
		{op: "publish-credential", want: everyone(ok201), build: post(func(*muscat) string { return "/v1/credentials" },
			func(m *muscat, role string, p *person) any {
				return api.PublishCredential{Credential: m.issue(p.org, "new-"+role, "Attaché", 1).cred.Marshal()}
			})},
		{op: "revoke-credential", want: everyone(ok200), build: func(m *muscat, role string, p *person) request {
			q := m.issue(p.org, "gone-"+role, "Attaché", 1)
			want(m.t, m.do(request{method: http.MethodPost, path: "/v1/credentials", body: api.PublishCredential{Credential: q.cred.Marshal()}}), http.StatusCreated, "")
			v, err := m.roots[p.org].Revoke(q.cred, m.now())
			if err != nil {
				m.t.Fatal(err)
			}
			return request{method: http.MethodPost, path: "/v1/credentials/" + q.cred.ID().String() + "/revocation", body: api.RevokeCredential{Revocation: v.Marshal()}}
		}},
		{op: "login-challenge", want: map[string]outcome{outsider: ok200, revoked: unauthorised, own: ok200, other: ok200, mediator: ok200},
			build: post(func(*muscat) string { return "/v1/auth/challenge" }, func(m *muscat, role string, p *person) any {
				return api.ChallengeRequest{Credential: p.cred.ID().String()}
			})},
		{op: "login-token", want: map[string]outcome{outsider: ok200, revoked: unauthorised, own: ok200, other: ok200, mediator: ok200},
			build: post(func(*muscat) string { return "/v1/auth/token" }, func(m *muscat, role string, p *person) any {
				if role == revoked {
					return m.tokenRequest(p, m.revokedChallenge)
				}
				return m.tokenRequest(p, m.challenge(p))
			})},

		// Talks: anyone may found talks it takes part in; each lists only its own.
		{op: "create-talks", want: map[string]outcome{outsider: ok201, revoked: unauthorised, own: ok201, other: ok201, mediator: ok201},
			build: post(func(*muscat) string { return "/v1/talks" }, func(m *muscat, role string, p *person) any {
				parties, mediators := []string{p.org, "ir"}, []string{"om"}
				switch p.org {
				case "ir":
					parties = []string{"ir", "us"}
				case "om":
					parties = []string{"us", "ir"}
				}
				return api.CreateTalks{Charter: m.charter(p, talks.Charter{
					ID: talks.ScopedID(p.org, "founded-by-"+role), Parties: parties, Mediators: mediators,
					Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1,
				})}
			})},
		{op: "list-talks", want: map[string]outcome{outsider: ok200, revoked: unauthorised, own: ok200, other: ok200, mediator: ok200},
			build: get(func(*muscat) string { return "/v1/talks" }),
			check: func(t *testing.T, m *muscat, role string, r *response, _ []sseEvent) {
				var l api.TalksList
				r.decode(t, &l)
				var ids []string
				for _, s := range l.Talks {
					ids = append(ids, s.ID)
				}
				if slices.Contains(ids, m.id) != (role != outsider) {
					t.Errorf("%s lists %v", role, ids)
				}
				if role != outsider && !slices.ContainsFunc(ids, func(id string) bool { return strings.HasSuffix(id, ":founded-by-"+role) }) {
					t.Errorf("%s lists %v, without the talks it founded", role, ids)
				}
				if role == outsider && !slices.Equal(ids, []string{"ae:founded-by-outsider"}) {
					t.Errorf("the outsider lists %v", ids)
				}
			}},
		{op: "get-talks", want: members(ok200, ok200, ok200), build: get(muscatPath())},
		{op: "get-talks", note: "secret talks not yet accepted", want: members(ok200, ok200, ok200),
			build: get(func(m *muscat) string { return talksPath(m.geneva) })},
		{op: "list-motions", want: members(ok200, ok200, ok200), build: get(muscatPath("motions"))},
		{op: "list-rounds", want: members(ok200, ok200, ok200), build: get(muscatPath("rounds"))},
		{op: "list-statements", want: members(ok200, ok200, ok200), build: get(muscatPath("statements"))},
		{op: "get-proof", want: members(ok200, ok200, ok200), build: get(func(m *muscat) string { return talksPath(m.id, "proof") + "?index=1&from=1" })},
		{op: "get-log", want: members(ok200, ok200, ok200), build: get(muscatPath("log", "checkpoint"))},
		{op: "get-log", note: "a tile", want: members(ok200, ok200, ok200), build: get(muscatPath("log", "tile", "0", "000.p", "8"))},

		// Rooms: a party reads its own caucus, never the other's.
		{op: "get-recipients", note: "the US caucus", want: members(ok200, notInRoom, ok200), build: get(muscatPath("rooms", talks.RoomCaucus("us"), "recipients")),
			check: func(t *testing.T, m *muscat, role string, r *response, _ []sseEvent) {
				var rs api.Recipients
				r.decode(t, &rs)
				var got []string
				for _, c := range credentials(t, rs) {
					got = append(got, c.Handle())
				}
				if want := []string{m.us.handle(), m.om.handle()}; !slices.Equal(got, want) {
					t.Errorf("the US caucus seats %v, want %v", got, want)
				}
			}},
		{op: "get-recipients", note: "the mediators' room", want: members(notInRoom, notInRoom, ok200), build: get(muscatPath("rooms", talks.RoomMediators, "recipients"))},
		{op: "get-envelope", note: "in the US caucus", want: members(ok200, notFound, ok200),
			build: get(func(m *muscat) string { return talksPath(m.id, "envelopes", m.caucusUS.Hash().String()) })},
		{op: "get-envelope", note: "relayed into the Iranian caucus", want: members(notFound, ok200, ok200),
			build: get(func(m *muscat) string { return talksPath(m.id, "envelopes", m.relayed.Hash().String()) })},
		{op: "list-events", want: members(ok200, ok200, ok200), build: get(func(m *muscat) string { return talksPath(m.id, "events") + "?limit=1000" }),
			check: func(t *testing.T, m *muscat, role string, r *response, _ []sseEvent) {
				var page api.EventPage
				r.decode(t, &page)
				checkRooms(t, role, page.Events)
				if page.Next != page.Size {
					t.Errorf("next %d, size %d: the page stopped early", page.Next, page.Size)
				}
			}},
		{op: "stream-events", want: members(ok200, ok200, ok200),
			build: func(m *muscat, _ string, p *person) request {
				return request{method: "STREAM", path: talksPath(m.id, "events", "stream"), token: p.token}
			},
			check: func(t *testing.T, m *muscat, role string, _ *response, events []sseEvent) {
				var page api.EventPage
				m.do(request{method: http.MethodGet, path: talksPath(m.id, "events") + "?limit=1000", token: m.as(role).token}).decode(t, &page)
				evs := checkStreamEvents(t, m.world, events)
				checkRooms(t, role, evs)
				if len(evs) != len(page.Events) {
					t.Fatalf("%s: the stream sent %d events, the page %d", role, len(evs), len(page.Events))
				}
				for i := range evs {
					if evs[i].Index != page.Events[i].Index || evs[i].Hash != page.Events[i].Hash {
						t.Errorf("stream event %d is %d, the page's %d", i, evs[i].Index, page.Events[i].Index)
					}
				}
			}},
		{op: "list-cosigned", want: members(ok200, ok200, ok200), build: get(muscatPath("cosignatures"))},
		{op: "cosign", want: members(ok201, ok201, ok201), build: post(muscatPath("cosignatures"), func(m *muscat, _ string, p *person) any {
			return m.cosignature(m.us, p, m.id)
		})},

		// Acting in the talks: every member within its role, nobody else.
		{op: "set-red-lines", want: members(ok201, ok201, forbidden), build: post(muscatPath("red-lines"), func(m *muscat, _ string, p *person) any {
			return api.SubmitRedLines{Envelope: m.redLines(p, m.id, "regime-change", "uranium-enrichment")}
		})},
		{op: "change-delegation", want: members(ok201, ok201, ok201), build: post(muscatPath("delegations"), actBody(func(m *muscat, _ string, p *person) talks.Event {
			aide := map[string]*person{"us": m.usAide, "ir": m.irAide, "om": m.omAide, "ae": m.ae}[p.org]
			if aide == nil {
				aide = m.usAide
			}
			return talks.AddMember{At: m.now(), By: p.actor(), Member: talks.Member{Actor: aide.actor()}}
		}))},
		{op: "change-delegation", note: "into another party's delegation", want: members(noAuthority, noAuthority, noAuthority),
			build: post(muscatPath("delegations"), actBody(func(m *muscat, _ string, p *person) talks.Event {
				other := m.ir
				if p.org == "ir" {
					other = m.us
				}
				return talks.AddMember{At: m.now(), By: p.actor(), Member: talks.Member{Actor: other.actor()}}
			}))},
		{op: "submit-act", want: members(ok201, ok201, ok201), build: post(muscatPath("acts"), actBody(func(m *muscat, role string, p *person) talks.Event {
			return talks.Propose{At: m.now(), By: p.actor(), Motion: "act-" + role, Change: talks.SetVenue("Salalah " + role)}
		}))},
		{op: "propose-motion", want: members(ok201, ok201, ok201), build: post(muscatPath("motions"), actBody(func(m *muscat, role string, p *person) talks.Event {
			change := map[string]talks.Change{own: talks.SetVenue("Geneva"), other: talks.AddTopic("water"), mediator: talks.ScheduleRound("Muscat", m.now())}[role]
			if change.Kind == "" {
				change = talks.SetVenue("Abu Dhabi")
			}
			return talks.Propose{At: m.now(), By: p.actor(), Motion: "m-" + role, Change: change}
		}))},
		{op: "propose-motion", note: "the level, which is the parties' to decide", want: members(ok201, ok201, notAllowed),
			build: post(muscatPath("motions"), actBody(func(m *muscat, role string, p *person) talks.Event {
				return talks.Propose{At: m.now(), By: p.actor(), Motion: "level-" + role, Change: talks.SetLevel(4)}
			}))},
		{op: "vote", want: members(ok201, ok201, notAVoter), build: post(muscatPath("votes"), actBody(func(m *muscat, role string, p *person) talks.Event {
			// Each votes on another's motion; the mediator on its own.
			motion := map[string]string{own: "m-other", other: "m-own", mediator: "m-mediator"}[role]
			if motion == "" {
				motion = "m-own"
			}
			return talks.Vote{At: m.now(), By: p.actor(), Motion: motion, Accept: true}
		}))},
		{op: "accept-charter", note: "of talks not yet accepted", want: members(alreadyVoted, ok201, ok201),
			build: func(m *muscat, _ string, p *person) request {
				return request{method: http.MethodPost, path: talksPath(m.geneva, "acceptances"), token: p.token,
					body: api.SubmitAct{Act: m.act(p, m.geneva, talks.AcceptCharter{At: m.now(), By: p.actor()})}}
			}},

		// Messages: a principal posts and acknowledges only in rooms it sits in.
		{op: "send-envelope", note: "into the US caucus", want: members(ok201, notInRoom, ok201),
			build: post(muscatPath("envelopes"), func(m *muscat, role string, p *person) any {
				to := m.recipients(m.us, m.id, talks.RoomCaucus("us"))
				return api.SubmitEnvelope{Envelope: m.sealedBy(p, talks.RoomCaucus("us"), backchannel.KindNote, nil, to).Marshal()}
			})},
		{op: "send-envelope", note: "into the Iranian caucus", want: members(notInRoom, ok201, ok201),
			build: post(muscatPath("envelopes"), func(m *muscat, role string, p *person) any {
				to := m.recipients(m.ir, m.id, talks.RoomCaucus("ir"))
				return api.SubmitEnvelope{Envelope: m.sealedBy(p, talks.RoomCaucus("ir"), backchannel.KindNote, nil, to).Marshal()}
			})},
		{op: "relay-envelope", note: "into the Iranian caucus", want: members(notInRoom, relayRefused, ok201),
			build: post(muscatPath("relays"), func(m *muscat, role string, p *person) any {
				switch role {
				case own:
					// The US envoy passing its own message on itself.
					return envelopeBody(m.t, p, m.relay(p, m.id, m.caucusUS, m.trusted, talks.RoomCaucus("ir"), m.inSession(m.us, m.id), m.recipients(m.ir, m.id, talks.RoomCaucus("ir"))))
				case mediator:
					// Iran's note, not yet passed on (the US proposal was, in the fixture).
					return envelopeBody(m.t, p, m.relay(p, m.id, m.caucusIR, m.trusted, talks.RoomCaucus("us"), m.inSession(m.us, m.id), m.recipients(m.us, m.id, talks.RoomCaucus("us"))))
				case other:
					// Iran cannot relay at all: only a mediator relays (it sits in its own caucus).
					return envelopeBody(m.t, p, m.relay(p, m.id, m.caucusIR, m.trusted, talks.RoomCaucus("ir"), m.inSession(m.us, m.id), m.recipients(m.ir, m.id, talks.RoomCaucus("ir"))))
				}
				return envelopeBody(m.t, p, m.selfRelay(p, talks.RoomCaucus("us")))
			})},
		{op: "publish-room-key", note: "of the US caucus", want: members(ok201, notInRoom, ok201),
			build: post(muscatPath("room-keys"), func(m *muscat, _ string, p *person) any {
				to := m.recipients(m.us, m.id, talks.RoomCaucus("us"))
				return api.SubmitRoomKey{Envelope: m.sealedBy(p, talks.RoomCaucus("us"), backchannel.KindNote, nil, to).Marshal()}
			})},
		{op: "send-receipt", note: "of the US envoy's proposal", want: members(ok201, notInRoom, ok201),
			build: post(muscatPath("receipts"), func(m *muscat, _ string, p *person) any {
				return api.SubmitReceipt{Receipt: m.receipt(p, m.id, m.caucusUS.Hash(), seal.Read)}
			})},
		{op: "send-receipt", note: "of the relay to Iran", want: members(notInRoom, ok201, ok201),
			build: post(muscatPath("receipts"), func(m *muscat, _ string, p *person) any {
				return api.SubmitReceipt{Receipt: m.receipt(p, m.id, m.relayed.Hash(), seal.Acknowledged)}
			})},

		// Rounds and statements.
		{op: "change-round", want: members(ok201, ok201, ok201), build: post(muscatPath("rounds"), actBody(func(m *muscat, role string, p *person) talks.Event {
			switch role {
			case own:
				return talks.CloseRound{At: m.now(), By: p.actor(), Round: 1}
			case other:
				return talks.OpenRound{At: m.now(), By: p.actor(), Round: 2}
			case mediator:
				return talks.CloseRound{At: m.now(), By: p.actor(), Round: 2}
			}
			return talks.OpenRound{At: m.now(), By: p.actor(), Round: 3}
		}))},
		{op: "publish-statement", want: members(ok201, ok201, notMember), build: post(muscatPath("statements"), func(m *muscat, role string, p *person) any {
			text := "Round 1 was held in Muscat. (" + role + ")"
			sg := talks.Sign{At: m.now(), By: p.actor(), Round: 1, Digest: digest(text)}
			return map[string]any{"act": m.act(p, m.id, sg), "text": text}
		})},
	}
}

// digest is how a statement's text is committed to in a talks.Sign.
func digest(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// TestAuthorisationMatrix calls every operation as each role and checks the status and
// problem each gets: a member acts within its role, a party never reads or posts in another
// party's caucus, an outsider cannot tell the talks exist, and a revoked credential is refused
// everywhere. A refusal changes no record.
func TestAuthorisationMatrix(t *testing.T) {
	m := newMuscat(t, nil)
	rows := authzRows()

	covered := make(map[string]bool)
	for _, r := range rows {
		covered[r.op] = true
	}
	var missing []string
	for _, o := range documentOperations(m.srv.OpenAPI()) {
		if !covered[o.op.OperationID] {
			missing = append(missing, o.op.OperationID)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the matrix has no row for %v", missing)
	}

	for _, r := range rows {
		name := r.op
		if r.note != "" {
			name += " (" + r.note + ")"
		}
		for _, role := range roles {
			t.Run(strings.ReplaceAll(name, " ", "_")+"/"+role, func(t *testing.T) {
				outer := m.t
				m.t = t
				defer func() { m.t = outer }()
				w, ok := r.want[role]
				if !ok {
					t.Fatalf("no outcome for %s", role)
				}
				before := m.sizes()
				req := r.build(m, role, m.as(role))
				var resp *response
				var events []sseEvent
				if req.method == "STREAM" {
					want := -1
					if w.status == http.StatusOK {
						var page api.EventPage
						m.do(request{method: http.MethodGet, path: talksPath(m.id, "events") + "?limit=1000", token: req.token}).decode(t, &page)
						want = len(page.Events)
					}
					resp, events = m.stream(req.path, req.token, nil, 5*time.Second, func(evs []sseEvent) bool { return len(evs) >= want })
				} else {
					resp = m.do(req)
				}
				if resp.status != w.status || resp.name() != w.problem {
					t.Fatalf("%s %s as %s: %s, want %d %q", req.method, req.path, role, resp, w.status, w.problem)
				}
				if w.status >= 400 {
					if after := m.sizes(); !mapsEqual(before, after) {
						t.Errorf("a refusal changed the records: %v, then %v", before, after)
					}
				} else if r.check != nil {
					r.check(t, m, role, resp, events)
				}
			})
		}
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
