package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func (p *person) handle() string { return p.cred.Handle() }

// credentials parses the credentials of a recipients list.
func credentials(t interface{ Fatal(...any) }, rs api.Recipients) []*seal.Credential {
	out := make([]*seal.Credential, len(rs.Credentials))
	for i, c := range rs.Credentials {
		cr, err := seal.ParseCredential(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = cr
	}
	return out
}

// recipients reads, as p, the credentials of everyone in a room.
func (w *world) recipients(p *person, talksID, room string) []*seal.Credential {
	w.t.Helper()
	r := w.do(request{method: http.MethodGet, path: talksPath(talksID, "rooms", room, "recipients"), token: p.token})
	want(w.t, r, http.StatusOK, "")
	var rs api.Recipients
	r.decode(w.t, &rs)
	return credentials(w.t, rs)
}

// inSession is the round in session in talks, as p reads it, or 0.
func (w *world) inSession(p *person, talksID string) int {
	w.t.Helper()
	for _, r := range w.talks(p, talksID).Rounds {
		if r.State == "in-session" {
			return r.Number
		}
	}
	return 0
}

func (p *person) actor() talks.Actor {
	return talks.Actor{Principal: p.cred.Handle(), Org: p.cred.Org, Rank: p.cred.Rank, Title: p.cred.Title}
}

// revoke publishes p's root's revocation of p's credential.
func (w *world) revoke(p *person) {
	w.t.Helper()
	v, err := w.roots[p.org].Revoke(p.cred, w.now())
	if err != nil {
		w.t.Fatal(err)
	}
	want(w.t, w.do(request{method: http.MethodPost, path: "/v1/credentials/" + p.cred.ID().String() + "/revocation",
		body: api.RevokeCredential{Revocation: v.Marshal()}}), http.StatusOK, "")
}

// pin is the charter's pin of an organisation's root.
func (w *world) pin(org string) talks.Pin {
	fp := w.roots[org].Public().Fingerprint()
	return talks.Pin{Org: org, Fingerprint: hex.EncodeToString(fp[:])}
}

// charter signs a charter proposed by p.
func (w *world) charter(p *person, c talks.Charter) []byte {
	w.t.Helper()
	c.At, c.Proposer = w.now(), p.actor()
	for _, org := range append(append([]string{}, c.Parties...), c.Mediators...) {
		c.Roots = append(c.Roots, w.pin(org))
	}
	return w.act(p, c.ID, c)
}

// act signs a talks event as an act of p.
func (w *world) act(p *person, talksID string, e talks.Event) []byte {
	w.t.Helper()
	payload, err := talks.Marshal(e)
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := p.id.Act(talksID, e.Type(), payload, e.When())
	if err != nil {
		w.t.Fatal(err)
	}
	return a.Marshal()
}

// redLines seals red lines of p, to p alone (its delegation, in these tests), in its party's
// private room.
func (w *world) redLines(p *person, talksID string, topics ...string) []byte {
	w.t.Helper()
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	r := talks.RedLines{Talks: talksID, At: w.now(), By: p.actor(), Topics: topics, Salt: hex.EncodeToString(salt)}
	body, err := talks.MarshalRedLines(r)
	if err != nil {
		w.t.Fatal(err)
	}
	p.seq++
	env, err := p.id.Seal(rand.Reader, seal.Context{Talks: talksID, Room: backchannel.RoomPrivate(p.org), Kind: backchannel.KindNote,
		CreatedAt: r.At, Sequence: p.seq}, body, []*seal.Credential{p.cred})
	if err != nil {
		w.t.Fatal(err)
	}
	return env.Marshal()
}

// endpoint is the operation path that takes an act of the event's type.
func endpoint(e talks.Event) string {
	switch e.(type) {
	case talks.AcceptCharter:
		return "acceptances"
	case talks.AddMember, talks.RemoveMember, talks.SetHead:
		return "delegations"
	case talks.Propose:
		return "motions"
	case talks.Vote:
		return "votes"
	case talks.OpenRound, talks.CloseRound, talks.CloseSession:
		return "rounds"
	}
	return "acts"
}

func talksPath(id string, rest ...string) string {
	return "/v1/talks/" + url.PathEscape(id) + strings.Join(append([]string{""}, rest...), "/")
}

// submit signs and submits a talks event as p, to the operation that takes it.
func (w *world) submit(p *person, talksID string, e talks.Event) *response {
	w.t.Helper()
	return w.do(request{method: http.MethodPost, path: talksPath(talksID, endpoint(e)), token: p.token,
		body: api.SubmitAct{Act: w.act(p, talksID, e)}})
}

// accepted fails the test unless r accepted a submission, and returns what it says.
func (w *world) accepted(r *response) api.Accepted {
	w.t.Helper()
	want(w.t, r, http.StatusCreated, "")
	var a api.Accepted
	r.decode(w.t, &a)
	return a
}

// draft is a message to seal.
type draft struct {
	room   string
	kind   backchannel.Kind
	topics []string
	round  int
	body   string
	to     []*seal.Credential // the recipients
	prev   seal.Hash          // the envelope of the room it follows
}

// seal seals a draft as p for talks.
func (w *world) seal(p *person, talksID string, d draft) *seal.Envelope {
	w.t.Helper()
	p.seq++
	env, err := p.id.Seal(rand.Reader, seal.Context{
		Talks: talksID, Room: d.room, Kind: d.kind, Topics: d.topics, Round: uint32(d.round),
		CreatedAt: w.now(), Sequence: p.seq, Prev: d.prev,
	}, []byte(d.body), d.to)
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

// send submits an envelope as p.
func (w *world) send(p *person, talksID string, env *seal.Envelope) *response {
	w.t.Helper()
	path := talksPath(talksID, "envelopes")
	if env.Relay != seal.RelayNone {
		path = talksPath(talksID, "relays")
	}
	return w.do(request{method: http.MethodPost, path: path, token: p.token, body: envelopeBody(w.t, p, env)})
}

// envelopeBody is what p submits for env: the envelope and, for a relay, the notice of each
// envelope it passes on, signed by p as its client signs them.
func envelopeBody(t testing.TB, p *person, env *seal.Envelope) api.SubmitEnvelope {
	t.Helper()
	in := api.SubmitEnvelope{Envelope: env.Marshal()}
	for _, link := range env.RelayOf {
		n := backchannel.RelayNotice{Original: link.String(), Relay: env.Hash().String(), Mode: env.Relay.String(),
			To: env.Room, By: p.id.Credential().Handle(), At: env.CreatedAt.UTC()}
		act, err := p.id.Act(env.Talks, backchannel.EventRelayed, n.Payload(), env.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		in.Notices = append(in.Notices, act.Marshal())
	}
	return in
}

// trust is a trust of the given roots and credentials, for opening envelopes.
func (w *world) trust(orgs []string, people ...*person) *seal.Trust {
	w.t.Helper()
	var roots []seal.RootKey
	for _, o := range orgs {
		roots = append(roots, w.roots[o].Public())
	}
	tr, err := seal.NewTrust(roots...)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range people {
		if err := tr.AddCredential(p.cred); err != nil {
			w.t.Fatal(err)
		}
	}
	return tr
}

// relay relays env verbatim as p (who must be able to open it) into room.
func (w *world) relay(p *person, talksID string, env *seal.Envelope, tr *seal.Trust, room string, round int, to []*seal.Credential) *seal.Envelope {
	w.t.Helper()
	o, err := p.id.Open(env, tr, seal.Expect{Talks: talksID, Room: env.Room, AnyRound: true})
	if err != nil {
		w.t.Fatalf("%s opens %s: %v", p.handle(), env.Hash(), err)
	}
	p.seq++
	out, err := p.id.RelayVerbatim(rand.Reader, o, seal.Relay{Room: room, Round: uint32(round), CreatedAt: w.now(), Sequence: p.seq}, to)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// receipt signs a receipt of p for an envelope.
func (w *world) receipt(p *person, talksID string, h seal.Hash, kind seal.ReceiptKind) []byte {
	w.t.Helper()
	rc, err := p.id.Receipt(talksID, h, kind, w.now())
	if err != nil {
		w.t.Fatal(err)
	}
	return rc.Marshal()
}

// talks reads the host's view of talks as p.
func (w *world) talks(p *person, talksID string) api.Talks {
	w.t.Helper()
	r := w.do(request{method: http.MethodGet, path: talksPath(talksID), token: p.token})
	want(w.t, r, http.StatusOK, "")
	var v api.Talks
	r.decode(w.t, &v)
	return v
}

// size is the size of a talks' record, read from the store (whoever asks).
func (w *world) size(talksID string) int64 {
	w.t.Helper()
	info, err := w.store.Talks(w.ctx, talksID)
	if err != nil {
		w.t.Fatal(err)
	}
	return info.Size
}

// cosignature signs, as signer, a cosignature line of the latest checkpoint of talks as reader
// reads it.
func (w *world) cosignature(reader, signer *person, talksID string) api.Cosign {
	w.t.Helper()
	r := w.do(request{method: http.MethodGet, path: talksPath(talksID, "proof") + "?index=0", token: reader.token})
	want(w.t, r, http.StatusOK, "")
	var pr api.Proof
	r.decode(w.t, &pr)
	h, err := tlog.ParseHash(pr.Checkpoint.Root)
	if err != nil {
		w.t.Fatal(err)
	}
	origin, err := record.Origin(w.host, talksID)
	if err != nil {
		w.t.Fatal(err)
	}
	cs, err := record.NewCosigner(seal.CosignerName(signer.id.Credential()), signer.id.CosignatureSigner())
	if err != nil {
		w.t.Fatal(err)
	}
	n, err := cs.Cosign(record.Checkpoint{Origin: origin, Size: pr.Checkpoint.Size, Hash: h}, w.now())
	if err != nil {
		w.t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(n), "\n\n")
	if !ok {
		w.t.Fatalf("cosignature note without a signature: %q", n)
	}
	return api.Cosign{Size: pr.Checkpoint.Size, Signature: line}
}
