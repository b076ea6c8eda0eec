package client_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The host founds talks in a party's name: it keeps a charter naming the US envoy as proposer
// but with a signature the envoy never made, and leaves the envoy's credential off the record,
// so that nothing on it could check the charter. A party invited to the talks must refuse the
// record, not take the charter as verified and accept it.
func TestACharterWithoutItsAuthorIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	us, ir, om := fw.roots["us"], fw.roots["ir"], fw.roots["om"]
	fw.ok(fw.envoy.CreateTalks(fw.ctx, talks.Charter{
		ID: "us:forged", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
	}))
	fw.restart(editTalksDB(t, fw.host, "us:forged", func(h *hostDB) {
		var credential int64
		if err := h.db.QueryRow(`SELECT idx FROM events WHERE talks = ? AND type = 'credential'`, h.talks).Scan(&credential); err != nil {
			t.Fatal(err)
		}
		if credential != h.size()-1 {
			t.Fatalf("the founder's credential is event %d of %d", credential, h.size())
		}
		h.truncate(credential)
		var charter []byte
		if err := h.db.QueryRow(`SELECT data FROM events WHERE talks = ? AND idx = 0`, h.talks).Scan(&charter); err != nil {
			t.Fatal(err)
		}
		charter[len(charter)-1] ^= 0x01 // the act's signature ends it
		h.exec(`UPDATE events SET data = ? WHERE talks = ? AND idx = 0`, charter, h.talks)
		h.resign()
	}))
	for _, c := range []*client.Client{
		client.New(fw.url, fw.irFM.Identity(), client.WithLogKey(fw.irFM.PinnedLogKey())),
		client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey())),
	} {
		_, err := c.Sync(fw.ctx, "us:forged")
		if !errors.Is(err, client.ErrRecord) || !strings.Contains(err.Error(), "charter") {
			t.Fatalf("%s: Sync = %v, want ErrRecord about the charter", c.Credential().Handle(), err)
		}
		if _, err := c.Accept(fw.ctx, "us:forged", fw.pins()); !errors.Is(err, client.ErrRecord) {
			t.Fatalf("%s: Accept = %v, want ErrRecord", c.Credential().Handle(), err)
		}
	}
	if orgs := acceptedBesidesTheFounder(t, fw, "us:forged"); len(orgs) != 0 {
		t.Fatalf("%v accepted the forged charter", orgs)
	}
}

// acceptedBesidesTheFounder returns the organisations other than the US that accepted talks, as
// the server reports.
func acceptedBesidesTheFounder(t *testing.T, fw *faultWorld, id string) []string {
	t.Helper()
	info, err := fw.envoy.Talks(fw.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, org := range info.Accepted {
		if org != "us" {
			out = append(out, org)
		}
	}
	return out
}

// pageRewriter is a host that rewrites the pages of events it serves.
type pageRewriter struct {
	base    http.RoundTripper
	rewrite func(p *api.EventPage)
}

func (r pageRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	return bytesRewriter{base: r.base, rewrite: func(b []byte) []byte {
		var p api.EventPage
		if err := json.Unmarshal(b, &p); err != nil {
			return b
		}
		r.rewrite(&p)
		out, _ := json.Marshal(p)
		return out
	}}.RoundTrip(req)
}

// A host that serves a page whose events are not in order (an index before the page's start,
// negative, or repeated) is refused with the reason; the client neither crashes nor skips.
func TestAnEventsPageOutOfOrderIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	for _, tc := range []struct {
		name    string
		rewrite func(p *api.EventPage)
	}{
		{"an index of -1", func(p *api.EventPage) { p.Events[0].Index = -1 }},
		{"an event twice", func(p *api.EventPage) { p.Events[2] = p.Events[1] }},
		{"two events swapped", func(p *api.EventPage) { p.Events[1], p.Events[2] = p.Events[2], p.Events[1] }},
	} {
		c := client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey()),
			client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: tc.rewrite}}))
		_, err := c.Sync(fw.ctx, "us:muscat")
		if !errors.Is(err, client.ErrRecord) || !strings.Contains(err.Error(), "out of order") {
			t.Errorf("%s: Sync = %v, want ErrRecord saying the events are out of order", tc.name, err)
		}
	}
}

// A look-alike server relays everything to the real host, the login challenge included. A
// client that dials the look-alike must not sign a login to the real host there, which would
// hand the look-alike a token for the principal on the real host.
func TestALoginRelayedByALookAlikeIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	target, err := url.Parse(fw.url)
	if err != nil {
		t.Fatal(err)
	}
	var tokens atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	lookAlike := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/token" {
			tokens.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer lookAlike.Close()

	victim := client.New(lookAlike.URL, fw.irFM.Identity())
	err = victim.Login(fw.ctx)
	var mismatch *client.HostMismatchError
	if !errors.As(err, &mismatch) || mismatch.Asked != fw.host {
		t.Fatalf("Login through a look-alike = %v, want a HostMismatchError naming %s", err, fw.host)
	}
	if n := tokens.Load(); n != 0 {
		t.Fatalf("the client asked the look-alike for %d token(s)", n)
	}
	// Told the real host's name, on purpose, it logs in (a host behind a proxy of its own).
	if err := client.New(lookAlike.URL, fw.irFM.Identity(), client.WithHost(fw.host)).Login(fw.ctx); err != nil {
		t.Fatalf("Login naming the host: %v", err)
	}
}

// A host that dates the events it serves as it likes cannot change when a message says it was
// written: the view shows the author's signed time, and the host's only as when it received it.
func TestAMessageShowsItsAuthorsTimeNotTheHosts(t *testing.T) {
	fw := newFaultWorld(t)
	lie := 365 * 24 * time.Hour
	c := client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey()),
		client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: func(p *api.EventPage) {
			for i := range p.Events {
				p.Events[i].Time = p.Events[i].Time.Add(-lie)
			}
		}}}))
	b := mustSync(t, fw.ctx, c)
	if len(b.Messages) == 0 {
		t.Fatal("no messages")
	}
	for _, m := range b.Messages {
		v := client.ViewOf(b, m)
		if !v.Verified {
			t.Fatalf("message %d did not verify: %s", m.Index, v.Flag)
		}
		if signed := m.Opened.Context.CreatedAt; !v.Time.Equal(signed) || v.Received.Equal(signed) {
			t.Fatalf("message %d shows %v (received %v), signed at %v", m.Index, v.Time, v.Received, signed)
		}
	}
}

// recipientsRewriter is a host that edits the list of a room's readers it gives a sender.
type recipientsRewriter struct {
	base    http.RoundTripper
	rewrite func(rs *api.Recipients)
}

func (r recipientsRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/recipients") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	var rs api.Recipients
	err = json.NewDecoder(resp.Body).Decode(&rs)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.rewrite(&rs)
	b, _ := json.Marshal(rs)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// A host that leaves the mediator out of the readers it lists for a caucus cannot keep a
// message from the mediator: the sender seals to every member its own replay seats in the room.
func TestAHostCannotLeaveAReaderOutOfARoom(t *testing.T) {
	fw := newFaultWorld(t)
	envoy := client.New(fw.url, fw.envoy.Identity(), client.WithLogKey(fw.envoy.PinnedLogKey()),
		client.WithHTTPClient(&http.Client{Transport: recipientsRewriter{base: http.DefaultTransport, rewrite: func(rs *api.Recipients) {
			kept := rs.Credentials[:0]
			for _, c := range rs.Credentials {
				if c.Org != "om" {
					kept = append(kept, c)
				}
			}
			rs.Credentials = kept
		}}}))
	if _, _, err := envoy.Send(fw.ctx, "us:muscat", client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
		Topics: []string{"nuclear-programme"}, Body: []byte("for the mediator too")}); err != nil {
		t.Fatal(err)
	}
	got := bodies(mustSync(t, fw.ctx, fw.omFM))
	if !slices.Contains(got, "for the mediator too") {
		t.Fatalf("the mediator's book holds %q, without the message the host kept from it", got)
	}
}

// A member whose credential its root revoked cannot be sealed to; the room's other readers
// still can, and a message to the room is sent to them rather than refused.
func TestARevokedReaderDoesNotBlockItsRoom(t *testing.T) {
	fw := newFaultWorld(t)
	aide := fw.person("us", "aide", "Aide", 2)
	fw.ok(fw.envoy.AddMember(fw.ctx, "us:muscat", aide.Credential()))
	mustSync(t, fw.ctx, fw.envoy)
	v, err := fw.roots["us"].Revoke(aide.Credential(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(fw.url, nil).Revoke(fw.ctx, v); err != nil {
		t.Fatal(err)
	}
	fw.send(fw.envoy, talks.RoomCaucus("us"), "after the aide's revocation")
	if got := bodies(mustSync(t, fw.ctx, fw.omFM)); !slices.Contains(got, "after the aide's revocation") {
		t.Fatalf("the mediator's book holds %q", got)
	}
}

// A sender who seals a message to its room but leaves a reader out (the mediator, from its
// own party's caucus) is refused by the host. A host that appends it to its log all the same,
// bypassing its own checks, is found out by that reader: the envelope the record files under
// its room shows as flagged, not addressed to it. A member who joins later is not told of what
// was sent before it sat in the room.
func TestAReaderLeftOutOfItsRoomIsTold(t *testing.T) {
	fw := newFaultWorld(t)
	b := mustSync(t, fw.ctx, fw.envoy)
	env, err := fw.envoy.Identity().Seal(rand.Reader, seal.Context{Talks: "us:muscat", Room: talks.RoomCaucus("us"),
		Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Round: uint32(b.State.InSession()),
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: uint64(time.Now().UnixNano())},
		[]byte("not for the mediator"), []*seal.Credential{fw.envoy.Credential()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fw.envoy.SubmitEnvelope(fw.ctx, "us:muscat", env)
	if !api.IsProblem(err, api.ProblemRecipientMissing.Name) || !strings.Contains(err.Error(), "om:foreign-minister reads room caucus:us") {
		t.Fatalf("an envelope that leaves the mediator out: %v, want recipient-missing naming it", err)
	}
	// The host appends it all the same, straight to its log.
	if _, _, err := fw.faults.Append(fw.ctx, "us:muscat", func(tx store.AppendTx) error {
		tx.Append(backchannel.Event{Type: backchannel.EventEnvelope, Room: env.Room, Data: env.Marshal()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := mustSync(t, fw.ctx, fw.omFM).Message(env.Hash())
	if m == nil || m.Opened != nil || !errors.Is(m.Err, seal.ErrNotAddressed) {
		t.Fatalf("the mediator's view of the message sealed without it: %+v", m)
	}

	aide := fw.person("us", "aide", "Aide", 2)
	fw.ok(fw.envoy.AddMember(fw.ctx, "us:muscat", aide.Credential()))
	for _, m := range mustSync(t, fw.ctx, aide).Messages {
		if m.Err != nil {
			t.Fatalf("the aide, who joined after, is told of message %d: %v", m.Index, m.Err)
		}
	}
}

// A host that files an event under another room than its contents put it in (to serve it to
// readers it is not for, or to keep it from those it is) is refused by the client, which files
// every event by the same rule as the host.
func TestAnEventFiledUnderAnotherRoomIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	refile := func(typ, room string) func(p *api.EventPage) {
		return func(p *api.EventPage) {
			for i := range p.Events {
				if p.Events[i].Type == typ {
					p.Events[i].Room = room
					return
				}
			}
			t.Fatalf("the page holds no %s event", typ)
		}
	}
	for _, tc := range []struct {
		name    string
		rewrite func(p *api.EventPage)
	}{
		{"an envelope under the joint room", refile(backchannel.EventEnvelope, "joint")},
		{"an envelope under no room", refile(backchannel.EventEnvelope, "")},
		{"an act under a caucus", refile(backchannel.EventAct, "caucus:ir")},
		{"the charter under a caucus", refile(backchannel.EventCharter, "caucus:us")},
	} {
		c := client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey()),
			client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: tc.rewrite}}))
		_, err := c.Sync(fw.ctx, "us:muscat")
		if !errors.Is(err, client.ErrRecord) || !errors.Is(err, replay.ErrMisfiled) {
			t.Errorf("%s: Sync = %v, want ErrRecord for a misfiled event", tc.name, err)
		}
	}
}

// bytesRewriter is a host that rewrites the bytes of the pages of events it serves.
type bytesRewriter struct {
	base    http.RoundTripper
	rewrite func(b []byte) []byte
	// match, if set, chooses the answers to rewrite; by default, the events pages.
	match func(req *http.Request, resp *http.Response) bool
}

func (r bytesRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	match := r.match
	if match == nil {
		match = func(req *http.Request, resp *http.Response) bool {
			return strings.HasSuffix(req.URL.Path, "/events") && resp.StatusCode == http.StatusOK
		}
	}
	if err != nil || !match(req, resp) {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	b = r.rewrite(b)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// A host whose answer says a field twice, or under a key that binds only case-insensitively,
// could have the client read one value and another program the other: refused.
func TestAnAnswerThatTwoReadersCouldReadApartIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"a room twice", `"room":`, `"room":"joint","room":`, `"room" appears twice`},
		{"a case-folded key", `"room":`, `"Room":`, `"Room" is not lower-case`},
	} {
		c := client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey()),
			client.WithHTTPClient(&http.Client{Transport: bytesRewriter{base: http.DefaultTransport, rewrite: func(b []byte) []byte {
				return bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)
			}}}))
		_, err := c.Sync(fw.ctx, "us:muscat")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Sync = %v, want a refusal saying %s", tc.name, err, tc.want)
		}
	}
}

// The host accepts, or writes into its record, messages its rules forbid: a note on a topic
// the parties never put on the agenda, a summary in a party's words as if a mediator's. Each
// reader's client applies the rules itself and flags such a message, never showing it as
// genuine.
func TestAMessageThatBreaksTheRulesIsFlagged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seal  func(fw *faultWorld, to []*seal.Credential, at time.Time) *seal.Envelope
		wants string
	}{
		{"a topic off the agenda", func(fw *faultWorld, to []*seal.Credential, at time.Time) *seal.Envelope {
			env, err := fw.envoy.Identity().Seal(rand.Reader, seal.Context{Talks: muscat, Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
				Topics: []string{"missiles"}, CreatedAt: at, Sequence: uint64(at.UnixMicro())}, []byte("On missiles."), to)
			if err != nil {
				t.Fatal(err)
			}
			return env
		}, "not on the agreed agenda"},
		{"a summary by a party", func(fw *faultWorld, to []*seal.Credential, at time.Time) *seal.Envelope {
			of := fw.envoy.Book(muscat).Messages[0].Hash
			env, err := fw.envoy.Identity().Summarize(rand.Reader, seal.Context{Talks: muscat, Room: talks.RoomCaucus("us"),
				Topics: []string{"nuclear-programme"}, CreatedAt: at, Sequence: uint64(at.UnixMicro())}, []byte("Iran says yes."), []seal.Hash{of}, to)
			if err != nil {
				t.Fatal(err)
			}
			return env
		}, "not a mediator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := newFaultWorld(t)
			mustSync(t, fw.ctx, fw.envoy)
			env := tc.seal(fw, []*seal.Credential{fw.envoy.Credential(), fw.omFM.Credential()}, time.Now().UTC().Truncate(time.Millisecond))
			fw.restart(editDB(t, fw.host, func(h *hostDB) {
				h.appendEvent(backchannel.EventEnvelope, talks.RoomCaucus("us"), env.Marshal())
				h.resign()
			}))
			for _, c := range []*client.Client{fw.envoy, fw.omFM} {
				fresh := client.New(fw.url, c.Identity(), client.WithLogKey(c.PinnedLogKey()))
				m := mustSync(t, fw.ctx, fresh).Message(env.Hash())
				if m == nil || m.Opened != nil || !errors.Is(m.Err, client.ErrBreaksRules) || !strings.Contains(m.Err.Error(), tc.wants) {
					t.Errorf("%s: the message shows as %+v, want it flagged as breaking the rules (%s)", c.Credential().Handle(), m, tc.wants)
				}
			}
		})
	}
}

// The host keeps from Iran the US message Oman passed on to Iran's room: the US is told its
// words were passed on, Oman sees its relay, Iran is served everything else. The next envelope of
// Iran's room follows the one kept from it, and Iran's client raises the alarm, naming it.
func TestAMessageKeptFromOneReaderIsMissed(t *testing.T) {
	fw := newFaultWorld(t)
	usNote := mustSync(t, fw.ctx, fw.omFM).Messages[0]
	_, relay, err := fw.omFM.RelayVerbatim(fw.ctx, muscat, usNote, talks.RoomCaucus("ir"))
	if err != nil {
		t.Fatal(err)
	}
	withhold := func(p *api.EventPage) {
		p.Events = slices.DeleteFunc(p.Events, func(e api.Event) bool {
			return e.Type == backchannel.EventEnvelope && seal.Hash(sha256.Sum256(e.Data)) == relay.Hash()
		})
	}
	ir := client.New(fw.url, fw.irFM.Identity(), client.WithLogKey(fw.irFM.PinnedLogKey()),
		client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: withhold}}))
	// The relay's leaf carries the tag of Iran's room: missed at once
	// (TestTheLastEventOfAQuietRoomKeptFromItsReaderIsMissed); and once a later envelope of the
	// room follows it, the room's chain names it too.
	if _, err := ir.Sync(fw.ctx, muscat); !errors.Is(err, client.ErrWithheld) {
		t.Fatalf("Sync = %v, want ErrWithheld", err)
	}
	fw.send(fw.omFM, talks.RoomCaucus("ir"), "Oman's next note to Iran")
	_, err = ir.Sync(fw.ctx, muscat)
	if !errors.Is(err, client.ErrRecord) || !errors.Is(err, client.ErrWithheld) || !strings.Contains(err.Error(), relay.Hash().String()[:12]) {
		t.Fatalf("Sync = %v, want ErrRecord naming the withheld relay %.12s", err, relay.Hash())
	}
	// Served everything, Iran reads both and raises nothing.
	honest := client.New(fw.url, fw.irFM.Identity(), client.WithLogKey(fw.irFM.PinnedLogKey()))
	if b := mustSync(t, fw.ctx, honest); b.Message(relay.Hash()) == nil || b.Message(relay.Hash()).Opened == nil {
		t.Fatal("the relay does not open for Iran")
	}
}

// The host acknowledges the US message, then drops it: it rolls its record back to before the
// message and signs the shorter log again, before the envoy's client has read past it. The
// author keeps the checkpoint the host answered with, in this run or the next, and refuses the
// record that no longer holds what was acknowledged.
func TestAMessageTheHostDroppedIsMissedByItsAuthor(t *testing.T) {
	for _, nextRun := range []bool{false, true} {
		t.Run(fmt.Sprintf("next run %v", nextRun), func(t *testing.T) {
			fw := newFaultWorld(t)
			keeper := &memKeeper{}
			envoy := client.New(fw.url, fw.envoy.Identity(), client.WithLogKey(fw.envoy.PinnedLogKey()), client.WithStateKeeper(keeper))
			acc, _, err := envoy.Send(fw.ctx, muscat, client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
				Topics: []string{"nuclear-programme"}, Body: []byte("The message the host will drop.")})
			if err != nil {
				t.Fatal(err)
			}
			if ps := envoy.Promises(muscat); len(ps) != 1 || ps[0].Index != acc.Index {
				t.Fatalf("the client holds promises %+v after the acknowledgment of event %d", ps, acc.Index)
			}
			fw.restart(editDB(t, fw.host, func(h *hostDB) {
				h.truncate(acc.Index)
				h.resign()
			}))
			if nextRun {
				envoy = client.New(fw.url, fw.envoy.Identity(), client.WithLogKey(fw.envoy.PinnedLogKey()), client.WithStateKeeper(keeper))
			}
			_, err = envoy.Sync(fw.ctx, muscat)
			if !errors.Is(err, client.ErrRecord) || !errors.Is(err, record.ErrRollback) || !strings.Contains(err.Error(), "dropped what it acknowledged") {
				t.Fatalf("Sync = %v, want ErrRecord: the host dropped what it acknowledged", err)
			}
		})
	}
}

// The notice that tells a room its message was passed on ("relayed verbatim to caucus:ir by
// om") is the mediator's own signed word: a host that writes one, unsigned or signed by someone
// else, to make a party believe its words went where they did not, is refused by every reader
// of the room.
func TestARelayNoticeTheHostWritesIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notice func(fw *faultWorld, n backchannel.RelayNotice) []byte
	}{
		{"unsigned", func(_ *faultWorld, n backchannel.RelayNotice) []byte { return n.Payload() }},
		{"signed by a party in the mediator's name", func(fw *faultWorld, n backchannel.RelayNotice) []byte {
			act, err := fw.irFM.Identity().Act("us:muscat", backchannel.EventRelayed, n.Payload(), n.At)
			if err != nil {
				t.Fatal(err)
			}
			return act.Marshal()
		}},
		{"signed by a party in its own name", func(fw *faultWorld, n backchannel.RelayNotice) []byte {
			n.By = "ir:foreign-minister"
			act, err := fw.irFM.Identity().Act("us:muscat", backchannel.EventRelayed, n.Payload(), n.At)
			if err != nil {
				t.Fatal(err)
			}
			return act.Marshal()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := newFaultWorld(t)
			b := mustSync(t, fw.ctx, fw.envoy)
			orig := b.Messages[len(b.Messages)-1]
			n := backchannel.RelayNotice{Original: orig.Hash.String(), Relay: strings.Repeat("ab", 32), Mode: "verbatim",
				To: talks.RoomCaucus("ir"), By: "om:foreign-minister", At: time.Now().UTC().Truncate(time.Millisecond)}
			if _, _, err := fw.faults.Append(fw.ctx, "us:muscat", func(tx store.AppendTx) error {
				tx.Append(backchannel.Event{Type: backchannel.EventRelayed, Room: talks.RoomCaucus("us"), Data: tc.notice(fw, n)})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := fw.envoy.Sync(fw.ctx, "us:muscat"); !errors.Is(err, client.ErrRecord) {
				t.Fatalf("a relay notice the host wrote, %s: Sync = %v, want ErrRecord", tc.name, err)
			}
		})
	}
}

// A node that has not yet heard of a commit another node made (its notice is late) still
// serves a reader every event up to the checkpoint the reader verified: the reader names it,
// and the node reads past its cache. Before, the page stopped where the node's cache did,
// and the reader went on past an envelope of its own room without having read it.
func TestAPageReadsAsFarAsTheVerifiedCheckpoint(t *testing.T) {
	fw := newFaultWorld(t)
	b := mustSync(t, fw.ctx, fw.envoy)
	room := talks.RoomCaucus("us")
	env, err := fw.envoy.Identity().Seal(rand.Reader, seal.Context{Talks: "us:muscat", Room: room,
		Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Round: uint32(b.State.InSession()),
		Prev: b.Last(room), CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: 1 << 40},
		[]byte("committed by another node"), []*seal.Credential{fw.envoy.Credential(), fw.omFM.Credential()})
	if err != nil {
		t.Fatal(err)
	}
	fw.faults.HoldNotices()
	defer fw.faults.ReleaseNotices()
	if _, _, err := fw.faults.Append(fw.ctx, "us:muscat", func(tx store.AppendTx) error {
		tx.Append(backchannel.Event{Type: backchannel.EventEnvelope, Room: room, Data: env.Marshal()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := bodies(mustSync(t, fw.ctx, fw.omFM)); !slices.Contains(got, "committed by another node") {
		t.Fatalf("the mediator read %q: not the envelope the node had not heard of", got)
	}
}
