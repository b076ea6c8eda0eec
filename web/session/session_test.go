package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
	"github.com/backchannel/backchannel/web/internal/webtest"
	"github.com/backchannel/backchannel/web/session"
)

// party is one principal's page session, as the browser's engine holds it.
type party struct {
	t     *testing.T
	s     *session.Session
	store *session.MapStorage
}

func open(t *testing.T, base string, p *webtest.Person, store *session.MapStorage) *party {
	t.Helper()
	s, err := session.Open(base, p.File, webtest.Passphrase, store, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &party{t: t, s: s, store: store}
}

// call makes a request as the page does, in JSON, and decodes the answer into out.
func (p *party) call(method string, args map[string]any, out any) error {
	p.t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		p.t.Fatal(err)
	}
	res, err := p.s.Call(context.Background(), method, b)
	if err != nil {
		return err
	}
	if out != nil {
		j, err := json.Marshal(res)
		if err != nil {
			p.t.Fatal(err)
		}
		if err := json.Unmarshal(j, out); err != nil {
			p.t.Fatal(err)
		}
	}
	return nil
}

func (p *party) must(method string, args map[string]any) *session.Page {
	p.t.Helper()
	var pg session.Page
	if err := p.call(method, args, &pg); err != nil {
		p.t.Fatalf("%s %v: %v", method, args, err)
	}
	return &pg
}

func (p *party) sent(method string, args map[string]any) string {
	p.t.Helper()
	var out struct {
		Sent string `json:"sent"`
	}
	if err := p.call(method, args, &out); err != nil {
		p.t.Fatalf("%s %v: %v", method, args, err)
	}
	return out.Sent
}

func (p *party) refused(method string, args map[string]any, problem string) *session.Error {
	p.t.Helper()
	err := p.call(method, args, nil)
	if err == nil {
		p.t.Fatalf("%s %v: accepted, want refused with %s", method, args, problem)
	}
	e := session.Explain(err)
	if e.Problem != problem {
		p.t.Fatalf("%s %v: refused with %q (%v), want %s", method, args, e.Problem, err, problem)
	}
	if e.Todo == "" {
		p.t.Errorf("%s: refusal %s says nothing to do", method, problem)
	}
	return e
}

// signedInPair starts a host with the US and Iran of the Muscat cast, each signed in to its own
// page session.
func signedInPair(t *testing.T) (*webtest.Cast, *party, *party) {
	t.Helper()
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, webtest.Muscat[:2])
	us := open(t, base, cast.People["us:special-envoy"], &session.MapStorage{})
	ir := open(t, base, cast.People["ir:foreign-minister"], &session.MapStorage{})
	for _, p := range []*party{us, ir} {
		if _, err := p.s.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return cast, us, ir
}

func motion(pg *session.Page, id string) session.MotionPage {
	for _, m := range pg.Motions {
		if m.ID == id {
			return m
		}
	}
	return session.MotionPage{}
}

func room(pg *session.Page, id string) *session.RoomPage {
	for i := range pg.Rooms {
		if pg.Rooms[i].ID == id {
			return &pg.Rooms[i]
		}
	}
	return nil
}

// TestRound1ThroughThePageSessions plays Muscat round 1 through the requests the page makes,
// with what each party's page shows checked: the same path as the browser, without one.
func TestRound1ThroughThePageSessions(t *testing.T) {
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, webtest.Muscat)
	us := open(t, base, cast.People["us:special-envoy"], &session.MapStorage{})
	ir := open(t, base, cast.People["ir:foreign-minister"], &session.MapStorage{})
	om := open(t, base, cast.People["om:foreign-minister"], &session.MapStorage{})
	for _, p := range []*party{us, ir, om} {
		me, err := p.s.Login(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !me.PinnedNow || me.LogSafe == "" || me.OrgSafe == "" {
			t.Fatalf("first login: %+v, want the log key pinned now and both safety numbers", me)
		}
	}
	const id = "us:muscat"

	// A safety number that is not the root's is refused loudly, and nothing is founded.
	e := us.refused("create", map[string]any{"talks": id, "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("om")}}, "fingerprint-mismatch")
	if !e.Alarm {
		t.Error("a root that is not the one compared is not an alarm")
	}
	us.refused("create", map[string]any{"talks": id, "parties": []string{"us", "ir"}}, "uncompared")

	pg := us.must("create", map[string]any{"talks": id, "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("ir")}})
	if pg.Talks.Status != string(talks.StatusProposed) || pg.MustAccept {
		t.Fatalf("founded talks: status %s", pg.Talks.Status)
	}
	ir.refused("accept", map[string]any{"talks": id, "compared": map[string]string{"us": cast.Safety("om")}}, "pin")
	if pg = ir.must("accept", map[string]any{"talks": id, "compared": map[string]string{"us": cast.Safety("us")}}); pg.Talks.Status != string(talks.StatusActive) {
		t.Fatalf("after both accepted: %s", pg.Talks.Status)
	}

	ir.must("propose", map[string]any{"talks": id, "motion": "m-oman", "change": map[string]string{"kind": "invite-mediator", "value": "om", "safety": cast.Safety("om")}})
	if m := motion(us.must("talks", map[string]any{"talks": id}), "m-oman"); !m.MayVote || m.Outcome != "pending" {
		t.Fatalf("the US page shows m-oman as %+v, want pending with the US to vote", m)
	}
	// A yes to an invitation pins a root: each side compares before it says yes.
	us.refused("vote", map[string]any{"talks": id, "motion": "m-oman", "accept": true}, "uncompared")
	e = us.refused("vote", map[string]any{"talks": id, "motion": "m-oman", "accept": true, "compared": map[string]string{"om": cast.Safety("ir")}}, "fingerprint-mismatch")
	if !e.Alarm {
		t.Error("an invitee's root that is not the one compared is not an alarm")
	}
	us.must("vote", map[string]any{"talks": id, "motion": "m-oman", "accept": true, "compared": map[string]string{"om": cast.Safety("om")}})
	om.refused("vote", map[string]any{"talks": id, "motion": "m-oman", "accept": true, "compared": map[string]string{"us": cast.Safety("us")}}, "uncompared")
	if pg = om.must("vote", map[string]any{"talks": id, "motion": "m-oman", "accept": true, "compared": map[string]string{"us": cast.Safety("us"), "ir": cast.Safety("ir")}}); motion(pg, "m-oman").Outcome != "passed" || pg.Role != "mediator" {
		t.Fatalf("m-oman %+v, Oman's role %s", motion(pg, "m-oman"), pg.Role)
	}

	us.must("propose", map[string]any{"talks": id, "motion": "m-direct", "change": map[string]string{"kind": "set-format", "value": "direct"}})
	pg = ir.must("vote", map[string]any{"talks": id, "motion": "m-direct", "accept": false})
	if m := motion(pg, "m-direct"); m.Outcome != "refused" || len(m.Ballots) != 2 || m.Ballots[1].Org != "ir" || m.Ballots[1].Accept {
		t.Fatalf("m-direct: %+v", m)
	}

	ir.must("propose", map[string]any{"talks": id, "motion": "m-nuclear", "change": map[string]string{"kind": "add-topic", "value": "nuclear-programme"}})
	us.must("vote", map[string]any{"talks": id, "motion": "m-nuclear", "accept": true})
	om.must("propose", map[string]any{"talks": id, "motion": "m-muscat", "change": map[string]string{"kind": "set-venue", "value": "Muscat"}})
	us.must("vote", map[string]any{"talks": id, "motion": "m-muscat", "accept": true})
	ir.must("vote", map[string]any{"talks": id, "motion": "m-muscat", "accept": true})
	om.must("propose", map[string]any{"talks": id, "motion": "m-round-1", "change": map[string]string{"kind": "schedule-round", "value": time.Now().UTC().Format(time.RFC3339)}})
	us.must("vote", map[string]any{"talks": id, "motion": "m-round-1", "accept": true})
	ir.must("vote", map[string]any{"talks": id, "motion": "m-round-1", "accept": true})
	if pg = om.must("open-round", map[string]any{"talks": id, "round": 1}); pg.Talks.InSession != 1 {
		t.Fatalf("round in session: %d", pg.Talks.InSession)
	}

	note := us.sent("send", map[string]any{"talks": id, "room": "caucus:us", "kind": "note", "topics": []string{"nuclear-programme"}, "body": "Written message of the United States delegation, round 1 in Muscat."})
	relayed := om.sent("relay", map[string]any{"talks": id, "hash": note, "room": "caucus:ir"})
	pg = ir.must("talks", map[string]any{"talks": id})
	r := room(pg, "caucus:ir")
	if r == nil || len(r.Messages) != 1 {
		t.Fatalf("Iran's room: %+v", r)
	}
	if m := r.Messages[0]; m.Mode != "verbatim" || !m.Verified || m.Author != "us:special-envoy" || m.Relayer != "om:foreign-minister" || !strings.Contains(m.Body, "United States") {
		t.Fatalf("the relayed US message, as Iran's page shows it: %+v", m)
	}
	if room(pg, "caucus:us") != nil {
		t.Fatal("Iran's page shows the US room")
	}
	pg = ir.must("receipt", map[string]any{"talks": id, "hash": relayed, "kind": "acknowledged"})
	if rc := room(pg, "caucus:ir").Messages[0].Receipts; len(rc) != 1 || rc[0].By != "ir:foreign-minister" || rc[0].Kind != "acknowledged" {
		t.Fatalf("Iran's receipt, as its page shows it: %+v", rc)
	}
	if err := ir.call("receipt", map[string]any{"talks": id, "hash": relayed, "kind": "seen"}, nil); err == nil || !strings.Contains(err.Error(), "not a kind of receipt") {
		t.Fatalf("a receipt of no kind: %v", err)
	}

	answer := ir.sent("send", map[string]any{"talks": id, "room": "caucus:ir", "kind": "response", "topics": []string{"nuclear-programme"}, "body": "پاسخ کتبی هیئت ایران، دور نخست در مسقط."})
	om.sent("summarize", map[string]any{"talks": id, "of": []string{answer}, "room": "caucus:us", "topics": []string{"nuclear-programme"}, "body": "In the words of Oman's Foreign Minister: Iran's delegation has answered."})
	pg = us.must("talks", map[string]any{"talks": id})
	msgs := room(pg, "caucus:us").Messages
	if m := msgs[len(msgs)-1]; m.Mode != "summary" || !m.Verified || m.Author != "om:foreign-minister" || len(m.Of) != 1 {
		t.Fatalf("Oman's summary, as the US page shows it: %+v", m)
	}

	// The courtesy exchange: a direct session opened by both parties' consent, a word in the
	// plenary, and the session closed by Iran. The plenary's words stay on every page that read
	// them, marked closed, and no one writes there any more.
	until := time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)
	us.must("propose", map[string]any{"talks": id, "motion": "m-courtesy", "change": map[string]any{"kind": "open-session", "value": until}, "minutes": 60})
	if pg = ir.must("vote", map[string]any{"talks": id, "motion": "m-courtesy", "accept": true}); pg.DirectSession == nil || pg.DirectSession.Motion != "m-courtesy" {
		t.Fatalf("Iran's page after the session was agreed: %+v", pg.DirectSession)
	}
	courtesy := us.sent("send", map[string]any{"talks": id, "room": talks.RoomPlenary, "kind": "note", "body": "A short face-to-face courtesy exchange between the heads of delegation."})
	if pg = ir.must("close-session", map[string]any{"talks": id}); pg.DirectSession != nil {
		t.Fatalf("the session is still shown open after Iran closed it: %+v", pg.DirectSession)
	}
	for _, p := range []*party{us, ir, om} {
		pg := p.must("talks", map[string]any{"talks": id})
		r := room(pg, talks.RoomPlenary)
		if r == nil || !r.Closed || len(r.Messages) != 1 || r.Messages[0].Hash != courtesy || !r.Messages[0].Verified {
			t.Fatalf("%s: the closed plenary, as its page shows it: %+v", pg.As, r)
		}
		for _, r := range pg.Rooms {
			if r.Closed && r.ID != talks.RoomPlenary {
				t.Errorf("%s: the open room %s is shown closed", pg.As, r.ID)
			}
		}
	}
	us.refused("send", map[string]any{"talks": id, "room": talks.RoomPlenary, "kind": "note", "body": "After the session."}, talks.ErrNotInRoom.Name)

	e = us.refused("send", map[string]any{"talks": id, "room": "caucus:us", "kind": "note", "topics": []string{"missiles"}, "body": "Missiles on the table."}, talks.ErrNotOnAgenda.Name)
	if e.Rule != talks.ErrNotOnAgenda.Text || e.RefusedBy != "host" || !strings.Contains(e.Message, "missiles") {
		t.Errorf("the refusal does not give the rule's words and what broke it: %+v", e)
	}
	ir.refused("send", map[string]any{"talks": id, "room": "caucus:us", "kind": "note", "topics": []string{"nuclear-programme"}, "body": "To the US room."}, talks.ErrNotInRoom.Name)

	var x struct{ Name, Data string }
	if err := ir.call("export", map[string]any{"talks": id}, &x); err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyPartyExport([]byte(x.Data), client.VerifyOptions{})
	if err != nil {
		t.Fatalf("the page's export does not verify: %v", err)
	}
	if len(rep.Messages) == 0 {
		t.Errorf("the export discloses no message: %+v", rep)
	}
}

// TestAChangedLogKeyOrRootIsAnAlarm: the page's session refuses a host that presents another
// log key than the one this browser pinned, and a root other than one compared, loudly.
func TestAChangedLogKeyOrRootIsAnAlarm(t *testing.T) {
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, webtest.Muscat)
	store := &session.MapStorage{}
	us := open(t, base, cast.People["us:special-envoy"], store)
	if _, err := us.s.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, key, value, problem string }{
		{"log key", "backchannel/" + base + "/us:special-envoy/log-key", "example.org+12345678+AZD5CFeb5zi6hrEXqlYNN5ttlPv7LeH8eVcKjMAeP1Mj", "log-key-changed"},
		{"own root", "backchannel/known/us:special-envoy", `{"us":"00"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &session.MapStorage{}
			st.Set(tc.key, tc.value)
			p := open(t, base, cast.People["us:special-envoy"], st)
			_, err := p.s.Login(context.Background())
			if tc.problem == "" {
				// The own root is checked against the principal's own credential, not against
				// what was kept: a damaged entry is replaced, not trusted.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := session.Explain(err)
			if err == nil || e.Problem != tc.problem || !e.Alarm || !errors.Is(err, session.ErrLogKeyChanged) {
				t.Fatalf("login: %v (%+v), want the alarm %s", err, e, tc.problem)
			}
		})
	}
	// A root compared earlier that the server now presents otherwise is an alarm.
	store.Set("backchannel/known/us:special-envoy", `{"ir":"`+strings.Repeat("ab", 32)+`"}`)
	e := us.refused("create", map[string]any{"talks": "us:t", "parties": []string{"us", "ir"}}, "root-changed")
	if !e.Alarm {
		t.Error("a changed root is not an alarm")
	}
}

// TestTheFirstSignInVerifiesWithTheKeyItPinned: at a browser's first sign-in the session pins
// the host's log key, and its client verifies the record with that key from then on, rather
// than asking the host again at its first sync and trusting a second answer no one compared.
func TestTheFirstSignInVerifiesWithTheKeyItPinned(t *testing.T) {
	host := webtest.StartHost(t)
	cast := webtest.NewCast(t, host.URL, webtest.Muscat[:2])
	asked := host.LogKeyRequests()
	us := open(t, host.URL, cast.People["us:special-envoy"], &session.MapStorage{})
	me, err := us.s.Login(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !me.PinnedNow {
		t.Fatal("the first sign-in did not pin the log key")
	}
	if got := us.s.Client().PinnedLogKey(); got != me.LogKey {
		t.Fatalf("after the first sign-in the client verifies with %q, want the key just pinned, %q", got, me.LogKey)
	}
	us.must("create", map[string]any{"talks": "us:t", "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("ir")}})
	if n := host.LogKeyRequests() - asked; n != 1 {
		t.Errorf("the host was asked for its log key %d times by a first sign-in and a sync, want once", n)
	}
}

// TestEveryProblemSaysWhatToDo holds the page's advice to the API's problems and the talks'
// rules: a refusal the page cannot explain would be shown as a bare code.
func TestEveryProblemSaysWhatToDo(t *testing.T) {
	for _, k := range api.ProblemKinds() {
		if e := session.Explain(&api.Problem{Type: api.ProblemTypePrefix + k.Name, Title: k.Title}); e.Todo == "" {
			t.Errorf("problem %s: nothing to do", k.Name)
		}
	}
	for _, r := range talks.Rules() {
		if e := session.Explain(r); e.Todo == "" {
			t.Errorf("rule %s: nothing to do", r.Name)
		}
	}
}

// TestADelegationChangesFromThePage: the head of the US delegation adds its presidential adviser
// from the page (the credential its pinned root issued, found by name), the adviser reads the
// US room and is shown why it may not vote for the US (its rank is below the head's), and the
// head takes it out again. A delegation changes only its own members, and only its head (or a
// member of the head's rank) changes it.
func TestADelegationChangesFromThePage(t *testing.T) {
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, append(slices.Clone(webtest.Muscat[:2]), webtest.Member{Org: "us", Principal: "presidential-adviser", Title: "Presidential adviser", Rank: 2}))
	us := open(t, base, cast.People["us:special-envoy"], &session.MapStorage{})
	ir := open(t, base, cast.People["ir:foreign-minister"], &session.MapStorage{})
	adviser := open(t, base, cast.People["us:presidential-adviser"], &session.MapStorage{})
	for _, p := range []*party{us, ir, adviser} {
		if _, err := p.s.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const id = "us:muscat"
	us.must("create", map[string]any{"talks": id, "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("ir")}})
	ir.must("accept", map[string]any{"talks": id, "compared": map[string]string{"us": cast.Safety("us")}})

	pg := us.must("add-member", map[string]any{"talks": id, "member": "presidential-adviser"})
	if want := []session.MemberPage{{Handle: "us:special-envoy", Title: "Special Envoy", Rank: 3, Head: true}, {Handle: "us:presidential-adviser", Title: "Presidential adviser", Rank: 2}}; !reflect.DeepEqual(pg.Delegation, want) || !pg.MayManage {
		t.Fatalf("the US delegation after the adviser was added: %+v (may manage %v), want %+v", pg.Delegation, pg.MayManage, want)
	}
	pg = ir.must("propose", map[string]any{"talks": id, "motion": "m-nuclear", "change": map[string]any{"kind": "add-topic", "value": "nuclear-programme"}})
	if m := motion(pg, "m-nuclear"); !slices.Contains(m.Waiting, "us") {
		t.Fatalf("the motion waits for %v, want the US", m.Waiting)
	}
	pg = adviser.must("talks", map[string]any{"talks": id})
	if room(pg, "caucus:us") == nil || pg.MayManage {
		t.Fatalf("the adviser's page: rooms %v, may manage %v; want the US room, and no changing the delegation", pg.Rooms, pg.MayManage)
	}
	if m := motion(pg, "m-nuclear"); m.MayVote || !strings.Contains(m.NoVote, "us:special-envoy votes for us") {
		t.Fatalf("the adviser's page offers a vote it may not cast: may vote %v, %q", m.MayVote, m.NoVote)
	}
	adviser.refused("vote", map[string]any{"talks": id, "motion": "m-nuclear", "accept": true}, talks.ErrNoAuthority.Name)
	adviser.refused("remove-member", map[string]any{"talks": id, "member": "us:special-envoy"}, talks.ErrNoAuthority.Name)
	if m := motion(us.must("talks", map[string]any{"talks": id}), "m-nuclear"); !m.MayVote || m.NoVote != "" {
		t.Fatalf("the head's page: may vote %v, %q", m.MayVote, m.NoVote)
	}
	for _, tc := range []struct{ who, want string }{{"ir:foreign-minister", "a delegation changes only its own members"}, {"ghost", "us:ghost"}, {"us:", "is not a principal"}} {
		if err := us.call("add-member", map[string]any{"talks": id, "member": tc.who}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("adding %q: %v, want refused with %q", tc.who, err, tc.want)
		}
	}
	if pg = us.must("remove-member", map[string]any{"talks": id, "member": "presidential-adviser"}); len(pg.Delegation) != 1 {
		t.Fatalf("the US delegation after the adviser was taken out: %+v", pg.Delegation)
	}
	adviser.refused("talks", map[string]any{"talks": id}, talks.ErrNotMember.Name)
}

// TestAJointStatementStandsOnceEveryPartySigned: after a closed round, the US publishes a joint
// statement from its page; Iran's page shows it waiting for Iran, and Iran signs the same words;
// both pages then show it signed by every party. A unilateral statement stands at once.
func TestAJointStatementStandsOnceEveryPartySigned(t *testing.T) {
	cast, us, ir := signedInPair(t)
	const id = "us:doha"
	us.must("create", map[string]any{"talks": id, "parties": []string{"us", "ir"}, "format": "direct", "visibility": "public", "compared": map[string]string{"ir": cast.Safety("ir")}})
	ir.must("accept", map[string]any{"talks": id, "compared": map[string]string{"us": cast.Safety("us")}})
	us.must("propose", map[string]any{"talks": id, "motion": "m-venue", "change": map[string]any{"kind": "set-venue", "value": "Doha"}})
	ir.must("vote", map[string]any{"talks": id, "motion": "m-venue", "accept": true})
	us.must("propose", map[string]any{"talks": id, "motion": "m-round", "change": map[string]any{"kind": "schedule-round", "value": time.Now().UTC().Format(time.RFC3339)}})
	ir.must("vote", map[string]any{"talks": id, "motion": "m-round", "accept": true})
	ir.must("open-round", map[string]any{"talks": id, "round": 1})
	us.must("close-round", map[string]any{"talks": id, "round": 1})

	const words = "Both delegations call the talks constructive."
	pg := us.must("statement", map[string]any{"talks": id, "round": 1, "text": words, "joint": true})
	if st := pg.Statements; len(st) != 1 || !st[0].Joint || st[0].Complete || st[0].Text != words {
		t.Fatalf("the US page after its joint statement: %+v", st)
	}
	if st := ir.must("talks", map[string]any{"talks": id}).Statements; len(st) != 1 || st[0].Complete || st[0].Text != words {
		t.Fatalf("Iran's page before it signed: %+v", st)
	}
	ir.must("statement", map[string]any{"talks": id, "round": 1, "text": words, "joint": true})
	for _, p := range []*party{us, ir} {
		st := p.must("talks", map[string]any{"talks": id}).Statements
		if len(st) != 1 || !st[0].Complete || !reflect.DeepEqual(st[0].Signers, []string{"us:special-envoy", "ir:foreign-minister"}) {
			t.Errorf("%s: the joint statement once both signed: %+v", p.s.Client().Credential().Handle(), st)
		}
	}
	if st := ir.must("statement", map[string]any{"talks": id, "round": 1, "text": "Iran's own words on round 1.", "joint": false}).Statements; len(st) != 2 || !st[1].Complete || st[1].Joint {
		t.Errorf("a unilateral statement: %+v", st)
	}
}

// TestARootComparedDuringASessionIsExpectedInLaterTalks: a root compared out of band (Iran's,
// typed when the US founds talks) and the principal's own are expected at once in talks the
// session reads for the first time later, not only after the next sign-in.
func TestARootComparedDuringASessionIsExpectedInLaterTalks(t *testing.T) {
	cast, us, ir := signedInPair(t)
	us.must("create", map[string]any{"talks": "us:muscat", "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("ir")}})
	ir.must("create", map[string]any{"talks": "ir:doha", "parties": []string{"ir", "us"}, "compared": map[string]string{"us": cast.Safety("us")}})
	us.must("talks", map[string]any{"talks": "ir:doha"})
	got := us.s.Client().Book("ir:doha").Expected
	for _, org := range []string{"us", "ir"} {
		fp := cast.Roots[org].Public().Fingerprint()
		if want := fmt.Sprintf("%x", fp[:]); got[org] != want {
			t.Errorf("talks first read after %s's root was compared expect %q for it, want %q", org, got[org], want)
		}
	}
}

// TestARefusalSaysWhoAppliedTheRule: a rule the principal's own client applied before sending is
// told apart from the same rule cited by the host against what the client sent, which the
// principal's copy allowed; an API problem that is no talks rule names none.
func TestARefusalSaysWhoAppliedTheRule(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		rule, by string
		problem  string
	}{
		{"by the client", fmt.Errorf("propose: %w", &talks.Refusal{Rule: talks.ErrNoVenue, Detail: "no venue is agreed"}), talks.ErrNoVenue.Text, "client", "no-venue"},
		{"by the host", fmt.Errorf("propose: %w", &api.Problem{Type: api.ProblemTypePrefix + talks.ErrNoVenue.Name, Status: 422, Detail: "no venue is agreed"}), talks.ErrNoVenue.Text, "host", "no-venue"},
		{"no rule", &api.Problem{Type: api.ProblemTypePrefix + api.ProblemUnknownCredential.Name, Status: 422}, "", "", api.ProblemUnknownCredential.Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := session.Explain(tc.err)
			if e.Rule != tc.rule || e.RefusedBy != tc.by || e.Problem != tc.problem {
				t.Errorf("Explain: rule %q by %q (%s), want %q by %q (%s)", e.Rule, e.RefusedBy, e.Problem, tc.rule, tc.by, tc.problem)
			}
		})
	}
}

// TestABadRequestChangesNothing: requests the page cannot have meant are refused by name.
func TestABadRequestChangesNothing(t *testing.T) {
	base := webtest.Host(t)
	cast := webtest.NewCast(t, base, webtest.Muscat[:1])
	us := open(t, base, cast.People["us:special-envoy"], &session.MapStorage{})
	for _, tc := range []struct {
		method, args, want string
	}{
		{"nope", `{}`, `no such request "nope"`},
		{"talks", `{}`, "names no talks"},
		{"talks", `{"talks": 1}`, "does not read"},
		{"send", `{"talks": "us:x", "kind": "gossip", "body": "x"}`, `"gossip" is not a kind of message`},
		{"send", `{"talks": "us:x", "kind": "note", "body": "  "}`, "the message is empty"},
		{"propose", `{"talks": "us:x", "motion": "m", "change": {"kind": "set-level", "value": "high"}}`, "a level is a rank"},
		{"propose", `{"talks": "us:x", "motion": "m", "change": {"kind": "schedule-round", "value": "tomorrow"}}`, "not a date and time"},
		{"propose", `{"talks": "us:x", "motion": "m", "change": {"kind": "abolish"}}`, `"abolish" is not a kind of motion`},
		{"talks", `{"talks": "us:x", "extra": true}`, "does not read"},
	} {
		_, err := us.s.Call(context.Background(), tc.method, []byte(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want an error saying %q", tc.method, tc.args, err, tc.want)
		}
	}
	if _, err := session.Open(base, cast.People["us:special-envoy"].File, "not the passphrase", &session.MapStorage{}, session.Options{}); session.Explain(err).Problem != "wrong-passphrase" {
		t.Errorf("a wrong passphrase: %v", err)
	}
}

// TestAFollowedTalksTellsOfEachChange: the page re-reads talks when the engine says they
// changed; a session following talks says so for another party's act.
func TestAFollowedTalksTellsOfEachChange(t *testing.T) {
	host := webtest.StartHost(t)
	base := host.URL
	cast := webtest.NewCast(t, base, webtest.Muscat[:2])
	changed := make(chan string, 100)
	s, err := session.Open(base, cast.People["us:special-envoy"].File, webtest.Passphrase, &session.MapStorage{}, session.Options{
		Changed: func(talksID, note string) { changed <- talksID + " " + note },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	us := &party{t: t, s: s}
	ir := open(t, base, cast.People["ir:foreign-minister"], &session.MapStorage{})
	for _, p := range []*party{us, ir} {
		if _, err := p.s.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	us.must("create", map[string]any{"talks": "us:t", "parties": []string{"us", "ir"}, "compared": map[string]string{"ir": cast.Safety("ir")}})
	if err := us.call("follow", map[string]any{"talks": "us:t"}, nil); err != nil {
		t.Fatal(err)
	}
	ir.must("accept", map[string]any{"talks": "us:t", "compared": map[string]string{"us": cast.Safety("us")}})
	select {
	case c := <-changed:
		if c != "us:t " {
			t.Fatalf("told %q", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the follow told nothing of Iran's acceptance")
	}
	// A cut stream is told of, and resumed: the next event is told once.
	if n := host.DropStreams(); n != 1 {
		t.Fatalf("cut %d streams, want 1", n)
	}
	// The events of the acceptance told before the cut may still be queued.
	for c := <-changed; !strings.Contains(c, "resuming at event"); c = <-changed {
		if c != "us:t " {
			t.Fatalf("told %q, want the drop and where it resumes", c)
		}
	}
	ir.must("propose", map[string]any{"talks": "us:t", "motion": "m-venue", "change": map[string]string{"kind": "set-venue", "value": "Muscat"}})
	if c := <-changed; c != "us:t " {
		t.Fatalf("after the resumption, told %q", c)
	}
	select {
	case c := <-changed:
		t.Fatalf("told again: %q", c)
	case <-time.After(200 * time.Millisecond):
	}

	// Left, the talks hold no stream; followed again, they are told of the next event once.
	us.do("unfollow")
	waitFor(t, "the stream closed at the host", func() bool { return host.Streams() == 0 })
	us.do("follow")
	waitFor(t, "a stream open again", func() bool { return host.Streams() == 1 })
	ir.must("propose", map[string]any{"talks": "us:t", "motion": "m-topic", "change": map[string]string{"kind": "add-topic", "value": "nuclear-programme"}})
	if c := <-changed; c != "us:t " {
		t.Fatalf("followed again, told %q", c)
	}
	us.do("unfollow")
	us.do("follow")
	us.do("follow")
	waitFor(t, "one stream after leaving and following twice", func() bool { return host.Streams() == 1 })
}

// do makes a request of talks us:t that answers no page.
func (p *party) do(method string) {
	p.t.Helper()
	if err := p.call(method, map[string]any{"talks": "us:t"}, nil); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
}

// waitFor waits until cond holds, checking it as often as it takes: it fails only if cond never
// comes true in a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: never came", what)
		}
	}
}
