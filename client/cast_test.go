package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// castWorld is talks whose cast changes: the United States and Iran, with Oman mediating at
// first; Switzerland invited to mediate too and refused; Qatar invited and taking over from
// Oman; the European Union joining as a third party after round 1; and the US adding its
// general counsel when the level is raised above its envoy's rank.
type castWorld struct {
	*world
	envoy, counsel, irFM, omFM, qaFM, chSS, euHR *client.Client
}

const castTalks = "us:muscat"

func newCastWorld(t *testing.T) *castWorld {
	w := newWorld(t)
	for org, name := range map[string]string{"us": "United States", "ir": "Islamic Republic of Iran", "om": "Sultanate of Oman",
		"qa": "State of Qatar", "ch": "Swiss Confederation", "eu": "European Union"} {
		w.org(org, name)
	}
	cw := &castWorld{world: w,
		envoy:   w.person("us", "special-envoy", "Special Envoy", 3),
		counsel: w.person("us", "general-counsel", "General Counsel", 4),
		irFM:    w.person("ir", "foreign-minister", "Foreign Minister", 4),
		omFM:    w.person("om", "foreign-minister", "Foreign Minister", 4),
		qaFM:    w.person("qa", "foreign-minister", "Foreign Minister", 4),
		chSS:    w.person("ch", "state-secretary", "State Secretary", 4),
		euHR:    w.person("eu", "high-representative", "High Representative", 4),
	}
	w.ok(cw.envoy.CreateTalks(w.ctx, talks.Charter{
		ID: castTalks, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{cw.pin("us"), cw.pin("ir"), cw.pin("om")},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 3, Agenda: []string{"nuclear-programme"},
	}))
	w.ok(cw.irFM.Accept(w.ctx, castTalks, w.pins()))
	w.ok(cw.omFM.Accept(w.ctx, castTalks, w.pins()))
	return cw
}

func (cw *castWorld) pin(org string) talks.Pin { return client.Pin(cw.roots[org].Public()) }

// pass proposes a motion as proposer and has every voter accept it, in order.
func (cw *castWorld) pass(proposer *client.Client, id string, c talks.Change, voters ...*client.Client) {
	cw.t.Helper()
	cw.ok(proposer.Propose(cw.ctx, castTalks, id, c, time.Time{}))
	for _, v := range voters {
		cw.ok(v.Vote(cw.ctx, castTalks, id, true))
	}
	m, ok := mustSync(cw.t.(*testing.T), cw.ctx, proposer).State.Motion(id)
	if !ok || m.Outcome != talks.OutcomePassed {
		cw.t.Fatalf("motion %s: %+v", id, m)
	}
}

// round schedules round n by every party's consent and opens it, as mediator.
func (cw *castWorld) round(n int, mediator *client.Client, parties ...*client.Client) {
	cw.t.Helper()
	id := "round-" + string(rune('0'+n))
	cw.pass(parties[0], id, talks.ScheduleRound("Muscat", time.Now().UTC().Truncate(time.Second)), parties[1:]...)
	cw.ok(mediator.OpenRound(cw.ctx, castTalks, n))
}

func (cw *castWorld) send(c *client.Client, room string, kind backchannel.Kind, body string) (*api.Accepted, error) {
	a, _, err := c.Send(cw.ctx, castTalks, client.Draft{Room: room, Kind: kind, Topics: []string{"nuclear-programme"}, Body: []byte(body)})
	return &a, err
}

// wantProblem fails the test unless err is the API's refusal named name.
func wantProblem(t *testing.T, what string, err error, name string) {
	t.Helper()
	if !api.IsProblem(err, name) {
		t.Fatalf("%s: %v, want the refusal %q", what, err, name)
	}
}

// listed reports whether c's organisation is listed in the talks.
func listed(t *testing.T, ctx context.Context, c *client.Client) bool {
	t.Helper()
	all, err := c.ListTalks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(all, func(s api.TalksSummary) bool { return s.ID == castTalks })
}

// The scenario of talks whose cast changes, played over HTTP through the client: every change
// is a consented, recorded step, every refusal is named, and what each organisation can read
// follows the cast exactly, with no false alarm about the host.
func TestTheCastChangesAndAccessFollowsIt(t *testing.T) {
	cw := newCastWorld(t)
	ctx := cw.ctx

	// Round 1, between the two parties, through Oman.
	cw.round(1, cw.omFM, cw.envoy, cw.irFM)
	cw.ok(cw.send(cw.envoy, talks.RoomCaucus("us"), backchannel.KindProposal, "Round 1: the United States is willing to talk."))
	usNote := mustSync(t, ctx, cw.omFM).Messages[0]
	cw.ok3(cw.omFM.RelayVerbatim(ctx, castTalks, usNote, talks.RoomCaucus("ir")))
	cw.ok(cw.omFM.CloseRound(ctx, castTalks, 1))

	cw.refusedInvitee()

	// Oman cannot leave indirect talks without a mediator; Qatar is invited, accepts, and Oman
	// withdraws.
	_, err := cw.omFM.Withdraw(ctx, castTalks)
	wantProblem(t, "the only mediator withdraws", err, talks.ErrLastMediator.Name)
	cw.pass(cw.envoy, "invite-qa", talks.InviteMediator("qa", cw.pin("qa").Fingerprint), cw.irFM, cw.qaFM)
	cw.ok(cw.omFM.Withdraw(ctx, castTalks))
	_, err = cw.omFM.Talks(ctx, castTalks)
	wantProblem(t, "the mediator that withdrew reads the talks", err, api.ProblemUnknownTalks.Name)
	if listed(t, ctx, cw.omFM) {
		t.Error("the mediator that withdrew still finds the talks listed")
	}

	// The European Union joins as a third party, by every party's consent and its own.
	cw.pass(cw.irFM, "add-eu", talks.AddParty("eu", cw.pin("eu").Fingerprint), cw.envoy, cw.euHR)
	eu := mustSync(t, ctx, cw.euHR)
	if eu.State.Role("eu") != talks.RoleParty || len(eu.Messages) != 0 || !eu.State.HasRoom(talks.RoomCaucus("eu"), time.Now()) {
		t.Fatalf("the newcomer: role %q, %d messages sealed before it joined, its caucus %v",
			eu.State.Role("eu"), len(eu.Messages), eu.State.HasRoom(talks.RoomCaucus("eu"), time.Now()))
	}

	// The parties raise the level above the US envoy's rank: his proposals are refused, and
	// the US adds its general counsel, who can make them.
	cw.pass(cw.envoy, "level-4", talks.SetLevel(4), cw.irFM, cw.euHR)
	cw.round(2, cw.qaFM, cw.envoy, cw.irFM, cw.euHR)
	_, err = cw.send(cw.envoy, talks.RoomCaucus("us"), backchannel.KindProposal, "A proposal below the level.")
	wantProblem(t, "a proposal below the level", err, talks.ErrRankBelowLevel.Name)
	cw.ok(cw.envoy.AddMember(ctx, castTalks, cw.counsel.Credential()))
	cw.ok(cw.send(cw.counsel, talks.RoomCaucus("us"), backchannel.KindProposal, "Round 2: the United States proposes a framework."))

	// Qatar passes it on to both other parties, each in its own caucus.
	var proposal *client.Message
	for _, m := range mustSync(t, ctx, cw.qaFM).Messages {
		if m.Opened != nil && string(m.Opened.Body) == "Round 2: the United States proposes a framework." {
			proposal = m
		}
	}
	if proposal == nil {
		t.Fatal("Qatar did not read the counsel's proposal")
	}
	for _, room := range []string{talks.RoomCaucus("ir"), talks.RoomCaucus("eu")} {
		cw.ok3(cw.qaFM.RelayVerbatim(ctx, castTalks, proposal, room))
	}
	for _, c := range []*client.Client{cw.irFM, cw.euHR} {
		var got bool
		for _, m := range mustSync(t, ctx, c).Messages {
			got = got || (m.Opened != nil && string(m.Opened.Body) == "Round 2: the United States proposes a framework." && m.Opened.Author.Handle() == "us:general-counsel")
		}
		if !got {
			t.Errorf("%s did not read the counsel's proposal, verified", c.Credential().Handle())
		}
	}
	// The newcomer cannot reach another party's room.
	_, err = cw.send(cw.euHR, talks.RoomCaucus("ir"), backchannel.KindNote, "Hello Iran.")
	wantProblem(t, "the newcomer posts in Iran's caucus", err, api.ProblemNotInRoom.Name)

	// Every party, the newcomer included, verifies the record and raises no alarm; so does
	// Oman, which left: it is told it left, reads the record up to then, and can export and
	// verify the part it was entitled to.
	for _, c := range []*client.Client{cw.envoy, cw.counsel, cw.irFM, cw.qaFM, cw.euHR} {
		mustSync(t, ctx, client.New(cw.url, c.Identity(), client.WithLogKey(c.PinnedLogKey())))
	}
	om := client.New(cw.url, cw.omFM.Identity(), client.WithLogKey(cw.omFM.PinnedLogKey()))
	ob := mustSync(t, ctx, om)
	if ob.LeftAt == 0 || ob.LeftAt >= ob.Size || ob.State.Role("om") != "" {
		t.Fatalf("Oman's copy: left at %d of %d, role %q", ob.LeftAt, ob.Size, ob.State.Role("om"))
	}
	px, err := om.Export(ctx, castTalks, client.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(px)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyPartyExport(data, client.VerifyOptions{LogKey: om.PinnedLogKey()})
	if err != nil {
		t.Fatalf("Oman's export after it left: %v", err)
	}
	if rep.LeftAt != ob.LeftAt || len(rep.Messages) == 0 {
		t.Errorf("Oman's export: left at %d (want %d), %d messages", rep.LeftAt, ob.LeftAt, len(rep.Messages))
	}

	// Oman is asked back: invited, it reads the talks again, what came while it was away
	// included, and once it accepts it mediates again, from a whole copy of the record.
	cw.ok(cw.envoy.Propose(ctx, castTalks, "om-back", talks.InviteMediator("om", cw.pin("om").Fingerprint), time.Time{}))
	cw.ok(cw.irFM.Vote(ctx, castTalks, "om-back", true))
	cw.ok(cw.euHR.Vote(ctx, castTalks, "om-back", true))
	cw.ok(om.Vote(ctx, castTalks, "om-back", true))
	if ob := mustSync(t, ctx, om); ob.LeftAt != 0 || ob.State.Role("om") != talks.RoleMediator {
		t.Fatalf("Oman back: left at %d, role %q", ob.LeftAt, ob.State.Role("om"))
	}
	cw.ok(cw.send(cw.irFM, talks.RoomCaucus("ir"), backchannel.KindNote, "Welcome back, Oman."))
	var welcomed bool
	for _, m := range mustSync(t, ctx, om).Messages {
		welcomed = welcomed || (m.Opened != nil && string(m.Opened.Body) == "Welcome back, Oman.")
	}
	if !welcomed {
		t.Error("Oman, back, does not read Iran's caucus")
	}
}

// refusedInvitee has Switzerland invited to mediate beside Oman: while invited, it reads the
// talks and finds them listed; Iran refuses, and from then on the talks are unknown to it.
func (cw *castWorld) refusedInvitee() {
	t, ctx := cw.t.(*testing.T), cw.ctx
	t.Helper()
	cw.ok(cw.envoy.Propose(ctx, castTalks, "invite-ch", talks.InviteMediator("ch", cw.pin("ch").Fingerprint), time.Time{}))
	if _, err := cw.chSS.Talks(ctx, castTalks); err != nil || !listed(t, ctx, cw.chSS) {
		t.Fatalf("the invited mediator cannot read the talks (%v) or does not find them listed", err)
	}
	mustSync(t, ctx, cw.chSS)
	cw.ok(cw.irFM.Vote(ctx, castTalks, "invite-ch", false))
	_, err := cw.chSS.Talks(ctx, castTalks)
	wantProblem(t, "the refused mediator reads the talks", err, api.ProblemUnknownTalks.Name)
	_, err = cw.chSS.Vote(ctx, castTalks, "invite-ch", true)
	wantProblem(t, "the refused mediator votes", err, api.ProblemUnknownTalks.Name)
	_, err = cw.chSS.Events(ctx, castTalks, 0, 10)
	wantProblem(t, "the refused mediator reads the events", err, api.ProblemUnknownTalks.Name)
	_, err = client.New(cw.url, cw.chSS.Identity(), client.WithLogKey(cw.chSS.PinnedLogKey())).Sync(ctx, castTalks)
	if errors.Is(err, client.ErrRecord) || !api.IsProblem(err, api.ProblemUnknownTalks.Name) {
		t.Fatalf("the refused mediator syncs: %v, want unknown-talks and no alarm about the host", err)
	}
	if listed(t, ctx, cw.chSS) {
		t.Error("the refused mediator still finds the talks listed")
	}

}

// An organisation invited to mediate reads the talks while it is invited, and not once the
// invitation is refused: not the talks, their motions, events or record, nor in its list.
func TestARefusedInviteeNoLongerSeesTheTalks(t *testing.T) {
	newCastWorld(t).refusedInvitee()
}

// A principal of an organisation in the talks that its delegation has not taken in is told so,
// and raises no alarm about the host; once added, it reads the talks.
func TestADelegateNotYetAddedIsToldSo(t *testing.T) {
	cw := newCastWorld(t)
	counsel := client.New(cw.url, cw.counsel.Identity(), client.WithLogKey(cw.counsel.PinnedLogKey()))
	_, err := counsel.Sync(cw.ctx, castTalks)
	if errors.Is(err, client.ErrRecord) || !api.IsProblem(err, talks.ErrNotMember.Name) {
		t.Fatalf("Sync before the delegation took it in: %v, want not-member and no alarm about the host", err)
	}
	cw.ok(cw.envoy.AddMember(cw.ctx, castTalks, cw.counsel.Credential()))
	if b := mustSync(t, cw.ctx, counsel); b.State.Role("us") != talks.RoleParty {
		t.Fatalf("after it was added: %+v", b.State.Members("us"))
	}
}
