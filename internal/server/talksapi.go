package server

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

type TalksPath struct {
	AuthHeader
	Talks string `path:"talksID" maxLength:"64" doc:"Talks id."`
}

// access returns the book of a talks the caller's organisation takes part in (or is invited
// to). For anyone else the talks do not exist: secret talks must not be discoverable by probing.
func (s *Server) access(ctx context.Context, in AuthHeader, id string) (*caller, *book, error) {
	c, err := s.authenticate(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.book(ctx, id)
	if err != nil {
		if isProblem(err, api.ProblemUnknownTalks) {
			return nil, nil, err
		}
		return nil, nil, err
	}
	b.mu.Lock()
	now := s.cfg.Now()
	ok := b.knows(c.org(), now)
	_, member := b.State.Member(c.principal())
	member = member || b.invited(c.org(), now)
	b.mu.Unlock()
	if !ok {
		return nil, nil, problemf(api.ProblemUnknownTalks, "no talks %q on this host", id)
	}
	if !member {
		// Its organisation takes part, so the talks are no secret to it; but only the
		// delegation reads them, and it is not (or no longer) in it.
		return nil, nil, &talks.Refusal{Rule: talks.ErrNotMember, Detail: fmt.Sprintf(
			"%s is not in %s's delegation in talks %s: the head of the delegation adds it first", c.principal(), c.org(), id)}
	}
	return c, b, nil
}

// recordAccess is access for the routes that serve the record (events, proofs, cosignatures,
// tiles): an organisation that left the talks still reads the part of the record it was
// entitled to, up to its leaving, to export and verify it (book.mayRead).
func (s *Server) recordAccess(ctx context.Context, in AuthHeader, id string) (*caller, *book, error) {
	c, b, err := s.access(ctx, in, id)
	if err == nil || !isProblem(err, api.ProblemUnknownTalks) || c != nil {
		return c, b, err
	}
	c, err = s.authenticate(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	if b, err = s.book(ctx, id); err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	d, left := b.left[c.org()]
	b.mu.Unlock()
	if !left || !slices.Contains(d.members, c.principal()) {
		return nil, nil, problemf(api.ProblemUnknownTalks, "no talks %q on this host", id)
	}
	return c, b, nil
}

func isProblem(err error, k api.ProblemKind) bool {
	p, ok := err.(*api.Problem)
	return ok && p.Type == api.ProblemTypePrefix+k.Name
}

// knows reports whether org takes part in the talks or is invited to them (named in the
// charter of talks not yet accepted, or by a pending invitation to mediate or to join): to
// anyone else, including an organisation that left or was removed or whose invitation was
// refused, the talks are unknown.
func (b *book) knows(org string, now time.Time) bool {
	return b.State.Role(org) != "" || b.invited(org, now)
}

// accepted turns a submission into its API answer.
func (s *Server) accepted(talksID string, sub submission, err error) (*body[api.Accepted], error) {
	if err != nil {
		return nil, err
	}
	var e backchannel.Event
	switch {
	case sub.duplicate != nil:
		e = *sub.duplicate
	case len(sub.events) > 0:
		// The submission's own event is the last one of its type that it appended; the ones
		// before are credentials and roots it brought along.
		e = sub.events[len(sub.events)-1]
		for _, x := range sub.events {
			if x.Type == backchannel.EventEnvelope || x.Type == backchannel.EventAct || x.Type == backchannel.EventReceipt || x.Type == backchannel.EventRedLines || x.Type == backchannel.EventRoomKey || x.Type == backchannel.EventCharter {
				e = x
			}
		}
	}
	for _, x := range sub.events {
		s.metrics.accepted.WithLabelValues(x.Type).Inc()
	}
	h := e.Hash()
	out := api.Accepted{Talks: talksID, Index: int64(e.Index), Type: e.Type, Hash: hex.EncodeToString(h[:]), Duplicate: sub.duplicate != nil}
	cp := sub.checkpoint
	if sub.duplicate != nil || cp.Size == 0 {
		var err error
		if cp, err = s.store.Checkpoint(context.Background(), talksID, 0); err != nil {
			return nil, err
		}
	}
	out.Checkpoint = api.Checkpoint{Size: cp.Size, Root: cp.Root.String(), Note: string(cp.Note)}
	return &body[api.Accepted]{Body: out}, nil
}

type ActBody struct {
	TalksPath
	Body api.SubmitAct
}

// talksRoutes are the talks, their acts, messages, receipts and statements.
func (s *Server) talksRoutes() {
	register(s, op{id: "create-talks", method: http.MethodPost, path: "/v1/talks", summary: "Found talks with a signed charter", tag: "talks", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			AuthHeader
			Body api.CreateTalks
		}) (*body[api.Accepted], error) {
			c, err := s.authenticate(ctx, in.AuthHeader)
			if err != nil {
				return nil, err
			}
			act, err := seal.ParseAct(in.Body.Charter)
			if err != nil {
				return nil, err
			}
			if act.Author.String() != c.cred.ID().String() {
				return nil, problemf(api.ProblemActorMismatch, "the charter is signed by credential %s, not by the caller's %s", act.Author, c.cred.ID())
			}
			id, sub, err := s.createTalks(ctx, in.Body.Charter, s.cfg.Now())
			return s.accepted(id, sub, err)
		})

	register(s, op{id: "list-talks", method: http.MethodGet, path: "/v1/talks", summary: "The talks the caller's organisation takes part in", tag: "talks", authed: true},
		func(ctx context.Context, in *AuthHeader) (*body[api.TalksList], error) {
			c, err := s.authenticate(ctx, *in)
			if err != nil {
				return nil, err
			}
			all, err := s.store.TalksOf(ctx, c.org())
			if err != nil {
				return nil, err
			}
			out := api.TalksList{Talks: []api.TalksSummary{}}
			for _, t := range all {
				out.Talks = append(out.Talks, api.TalksSummary{ID: t.ID, Size: t.Size, Created: t.Created, Members: nonNil(t.Members)})
			}
			return reply(out, nil)
		})

	register(s, op{id: "get-talks", method: http.MethodGet, path: "/v1/talks/{talksID}", summary: "The state of talks, as the host computes it from the record", tag: "talks", authed: true},
		func(ctx context.Context, in *TalksPath) (*body[api.Talks], error) {
			_, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			return reply(s.view(b), nil)
		})

	actOp := func(id, path, summary string, types ...string) {
		register(s, op{id: id, method: http.MethodPost, path: path, summary: summary, tag: "talks", authed: true, status: http.StatusCreated},
			func(ctx context.Context, in *ActBody) (*body[api.Accepted], error) {
				c, _, err := s.access(ctx, in.AuthHeader, in.Talks)
				if err != nil {
					return nil, err
				}
				act, err := signedByCaller(c, in.Body.Act)
				if err != nil {
					return nil, err
				}
				if len(types) > 0 {
					ok := false
					for _, t := range types {
						ok = ok || act.Type == t
					}
					if !ok {
						return nil, problemf(api.ProblemMalformed, "this operation takes an act of type %v, not %q; POST other acts to /v1/talks/%s/acts", types, act.Type, in.Talks)
					}
				}
				sub, err := s.acceptAct(ctx, in.Talks, in.Body.Act, s.cfg.Now())
				return s.accepted(in.Talks, sub, err)
			})
	}
	actOp("submit-act", "/v1/talks/{talksID}/acts", "Submit any signed act carrying a talks event")
	actOp("accept-charter", "/v1/talks/{talksID}/acceptances", "Accept the charter on behalf of an organisation", talks.TypeAcceptCharter)
	actOp("change-delegation", "/v1/talks/{talksID}/delegations", "Add or remove a member of a delegation, or change its head", talks.TypeAddMember, talks.TypeRemoveMember, talks.TypeSetHead)
	actOp("propose-motion", "/v1/talks/{talksID}/motions", "Propose a change of the talks' shape", talks.TypePropose)
	actOp("vote", "/v1/talks/{talksID}/votes", "Accept or refuse a motion", talks.TypeVote)
	actOp("change-round", "/v1/talks/{talksID}/rounds", "Open or close a round, or close a direct session", talks.TypeOpenRound, talks.TypeCloseRound, talks.TypeCloseSession)

	register(s, op{id: "list-motions", method: http.MethodGet, path: "/v1/talks/{talksID}/motions", summary: "The motions of talks and their votes", tag: "talks", authed: true},
		func(ctx context.Context, in *TalksPath) (*body[[]api.Motion], error) {
			_, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			return reply(s.view(b).Motions, nil)
		})

	register(s, op{id: "list-rounds", method: http.MethodGet, path: "/v1/talks/{talksID}/rounds", summary: "The rounds of talks", tag: "talks", authed: true},
		func(ctx context.Context, in *TalksPath) (*body[[]api.Round], error) {
			_, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			return reply(s.view(b).Rounds, nil)
		})

	register(s, op{id: "set-red-lines", method: http.MethodPost, path: "/v1/talks/{talksID}/red-lines", summary: "Set the caller's party's standing red lines, readable by its own delegation only", tag: "talks", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TalksPath
			Body api.SubmitRedLines
		}) (*body[api.Accepted], error) {
			if _, err := s.sealedByCaller(ctx, in.AuthHeader, in.Talks, in.Body.Envelope, "the red lines"); err != nil {
				return nil, err
			}
			sub, err := s.acceptRedLines(ctx, in.Talks, in.Body.Envelope, in.Body.Tag, s.cfg.Now())
			return s.accepted(in.Talks, sub, err)
		})

	register(s, op{id: "publish-room-key", method: http.MethodPost, path: "/v1/talks/{talksID}/room-keys", summary: "Hand a room's readers a new key for the room's tags, sealed to them", tag: "messages", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TalksPath
			Body api.SubmitRoomKey
		}) (*body[api.Accepted], error) {
			if _, err := s.sealedByCaller(ctx, in.AuthHeader, in.Talks, in.Body.Envelope, "the room key"); err != nil {
				return nil, err
			}
			sub, err := s.acceptRoomKey(ctx, in.Talks, in.Body.Envelope, s.cfg.Now())
			return s.accepted(in.Talks, sub, err)
		})

	register(s, op{id: "get-recipients", method: http.MethodGet, path: "/v1/talks/{talksID}/rooms/{room}/recipients", summary: "The current credentials of everyone in a room, to seal to", tag: "messages", authed: true},
		func(ctx context.Context, in *struct {
			TalksPath
			Room string `path:"room" maxLength:"64"`
		}) (*body[api.Recipients], error) {
			c, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			now := s.cfg.Now()
			b.mu.Lock()
			if !b.State.CanPost(c.principal(), in.Room, now) && !b.State.CanRead(c.principal(), in.Room, now) {
				b.mu.Unlock()
				return nil, problemf(api.ProblemNotInRoom, "%s does not sit in room %s of talks %s", c.principal(), in.Room, in.Talks)
			}
			principals := b.State.Recipients(in.Room, now)
			b.mu.Unlock()
			out := api.Recipients{Room: in.Room, Credentials: []api.Credential{}}
			for _, p := range principals {
				cred, err := s.latestCredential(ctx, p)
				if api.IsProblem(err, api.ProblemUnknownCredential.Name) {
					// Revoked, with no newer credential: nobody holds a key to seal to,
					// and the room's other readers must still be reachable.
					continue
				}
				if err != nil {
					return nil, err
				}
				sc, err := s.store.Credential(ctx, cred.ID().String())
				if err != nil {
					return nil, err
				}
				ac, err := credentialOf(sc)
				if err != nil {
					return nil, err
				}
				out.Credentials = append(out.Credentials, ac)
			}
			return reply(out, nil)
		})

	envelopeOp := func(id, path, summary string, relay bool) {
		register(s, op{id: id, method: http.MethodPost, path: path, summary: summary, tag: "messages", authed: true, status: http.StatusCreated},
			func(ctx context.Context, in *struct {
				TalksPath
				Body api.SubmitEnvelope
			}) (*body[api.Accepted], error) {
				env, err := s.sealedByCaller(ctx, in.AuthHeader, in.Talks, in.Body.Envelope, "the envelope")
				if err != nil {
					return nil, err
				}
				if relay != (env.Relay != seal.RelayNone) {
					if relay {
						return nil, problemf(api.ProblemMalformed, "this envelope is not a relay: POST it to /v1/talks/%s/envelopes", in.Talks)
					}
					return nil, problemf(api.ProblemMalformed, "this envelope is a relay: POST it to /v1/talks/%s/relays", in.Talks)
				}
				sub, err := s.acceptEnvelope(ctx, in.Talks, in.Body, s.cfg.Now())
				return s.accepted(in.Talks, sub, err)
			})
	}
	envelopeOp("send-envelope", "/v1/talks/{talksID}/envelopes", "Send a sealed message to a room", false)
	envelopeOp("relay-envelope", "/v1/talks/{talksID}/relays", "Relay a message to another room, verbatim or as a summary (mediators)", true)

	register(s, op{id: "get-envelope", method: http.MethodGet, path: "/v1/talks/{talksID}/envelopes/{hash}", summary: "One envelope, by hash", tag: "messages", authed: true},
		func(ctx context.Context, in *struct {
			TalksPath
			Hash string `path:"hash" minLength:"64" maxLength:"64" pattern:"^[0-9a-f]{64}$"`
		}) (*body[api.Event], error) {
			c, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			raw, _ := hex.DecodeString(in.Hash)
			var h backchannel.EventHash
			copy(h[:], raw)
			e, err := s.store.EventByHash(ctx, in.Talks, h)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			ok := b.mayRead(c.principal(), &e, s.cfg.Now())
			b.mu.Unlock()
			if !ok || e.Type != backchannel.EventEnvelope {
				// Not "forbidden": whether another room holds an envelope is itself not the caller's to know.
				return nil, problemf(api.ProblemNotFound, "no envelope %s that %s may read in talks %s", in.Hash, c.principal(), in.Talks)
			}
			return reply(eventOf(e), nil)
		})

	register(s, op{id: "send-receipt", method: http.MethodPost, path: "/v1/talks/{talksID}/receipts", summary: "Acknowledge an envelope: delivered, read or acknowledged", tag: "messages", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TalksPath
			Body api.SubmitReceipt
		}) (*body[api.Accepted], error) {
			c, _, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			rc, err := seal.ParseReceipt(in.Body.Receipt)
			if err != nil {
				return nil, err
			}
			if rc.Signer.String() != c.cred.ID().String() {
				return nil, problemf(api.ProblemActorMismatch, "the receipt is signed by credential %s, not by the caller's %s", rc.Signer, c.cred.ID())
			}
			sub, err := s.acceptReceipt(ctx, in.Talks, in.Body.Receipt, in.Body.Tag, s.cfg.Now())
			return s.accepted(in.Talks, sub, err)
		})

	register(s, op{id: "publish-statement", method: http.MethodPost, path: "/v1/talks/{talksID}/statements", summary: "Sign (and publish the text of) a statement after a round", tag: "statements", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TalksPath
			Body struct {
				Act  []byte `json:"act" doc:"A seal Act of type sign whose payload is a talks.Sign."`
				Text string `json:"text" maxLength:"65536" doc:"The statement's text; its SHA-256 (hex) is the sign act's digest."`
			}
		}) (*body[api.Accepted], error) {
			c, _, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			if _, err := signedByCaller(c, in.Body.Act); err != nil {
				return nil, err
			}
			sub, err := s.acceptStatement(ctx, in.Talks, in.Body.Act, in.Body.Text, s.cfg.Now())
			return s.accepted(in.Talks, sub, err)
		})

	register(s, op{id: "list-statements", method: http.MethodGet, path: "/v1/talks/{talksID}/statements", summary: "The statements of talks", tag: "statements", authed: true},
		func(ctx context.Context, in *TalksPath) (*body[[]api.Statement], error) {
			_, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			return reply(s.view(b).Statements, nil)
		})

	register(s, op{id: "public-statements", method: http.MethodGet, path: "/v1/statements", summary: "Public feed: completed statements of talks whose visibility allows it", tag: "statements"},
		func(ctx context.Context, _ *struct{}) (*body[api.PublicStatements], error) {
			if err := s.limitAnonymous(ctx); err != nil {
				return nil, err
			}
			return reply(s.publicStatements(ctx))
		})
}

// publicStatements gathers the completed statements of public and confidential talks (never
// of secret talks, whose very existence is not public).
func (s *Server) publicStatements(ctx context.Context) (api.PublicStatements, error) {
	out := api.PublicStatements{Statements: []api.PublicStatement{}}
	ids, err := s.store.ListTalks(ctx)
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		b, err := s.book(ctx, id)
		if err != nil {
			continue
		}
		b.mu.Lock()
		if b.State.Visibility() != talks.VisibilitySecret {
			for _, st := range b.State.Statements() {
				text, ok := b.Statements[st.Digest]
				if !st.Complete || !ok {
					continue
				}
				ps := api.PublicStatement{Talks: id, Round: st.Round, Joint: st.Joint, Text: text, Digest: st.Digest, Signers: []string{}}
				for _, sg := range st.Signers {
					ps.Signers = append(ps.Signers, sg.Org)
					if sg.At.After(ps.Published) {
						ps.Published = sg.At.UTC()
					}
				}
				out.Statements = append(out.Statements, ps)
			}
		}
		b.mu.Unlock()
	}
	sort.SliceStable(out.Statements, func(i, j int) bool { return out.Statements[i].Published.Before(out.Statements[j].Published) })
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// view renders a book for a member. Red lines never appear: a standing refusal shows only that
// it was one.
func (s *Server) view(b *book) api.Talks {
	st := b.State
	now := s.cfg.Now()
	host, _ := s.originPath(b.ID)
	v := api.Talks{
		ID: b.ID, Status: string(st.Status()), Visibility: string(st.Visibility()), Format: string(st.Format()),
		Level: int(st.Level()), Venue: st.Venue(), Agenda: nonNil(st.Agenda()), Parties: nonNil(st.Parties()),
		Mediators: nonNil(st.Mediators()), Accepted: nonNil(st.Accepted()), Size: b.size, Log: host,
		Members: []api.Member{}, Rooms: []api.Room{}, Motions: []api.Motion{}, Rounds: []api.Round{}, Statements: []api.Statement{},
	}
	for _, m := range st.Members("") {
		am := api.Member{Principal: m.Principal, Org: m.Org, Rank: int(m.Rank), Title: m.Title, Head: m.Head}
		_, principal, _ := seal.SplitHandle(m.Principal)
		if c := b.Trust.Latest(m.Org, principal); c != nil {
			am.Credential = c.ID().String()
		}
		v.Members = append(v.Members, am)
	}
	for _, r := range st.Rooms(now) {
		v.Rooms = append(v.Rooms, api.Room{ID: r.ID, Orgs: nonNil(r.Orgs), Members: nonNil(r.Members)})
	}
	for _, m := range st.Motions() {
		am := api.Motion{ID: m.ID, Kind: string(m.Change.Kind), Change: m.Change, By: m.By.Principal,
			Proposed: m.Proposed.UTC(), Deadline: m.Deadline.UTC(), Outcome: string(m.OutcomeAt(now)), Reason: m.Reason, Ballots: []api.Ballot{}}
		for _, bl := range m.Ballots {
			am.Ballots = append(am.Ballots, api.Ballot{Org: bl.Org, By: bl.By.Principal, Accept: bl.Accept, Standing: bl.Standing != "", At: bl.At.UTC()})
		}
		v.Motions = append(v.Motions, am)
	}
	for _, r := range st.Rounds() {
		v.Rounds = append(v.Rounds, api.Round{Number: r.Number, Venue: r.Venue, Start: r.Start.UTC(), State: string(r.State)})
	}
	for _, stm := range st.Statements() {
		as := api.Statement{Round: stm.Round, Digest: stm.Digest, Joint: stm.Joint, Complete: stm.Complete, Text: b.Statements[stm.Digest], Signers: []string{}}
		for _, sg := range stm.Signers {
			as.Signers = append(as.Signers, sg.Org)
		}
		v.Statements = append(v.Statements, as)
	}
	return v
}

// originPath returns the URL path of a talks' tiles.
func (s *Server) originPath(id string) (string, error) {
	return "/v1/talks/" + id + "/log/", nil
}

func eventOf(e backchannel.Event) api.Event {
	h := e.Hash()
	return api.Event{Index: int64(e.Index), Type: e.Type, Room: e.Room, Time: e.Time.UTC(), Hash: hex.EncodeToString(h[:]), Data: e.Data, Tag: e.Tag}
}

// sealedByCaller authorises the caller in talks and parses an envelope it submits as what,
// refusing it unless the caller sealed it: a principal submits only what it sealed itself.
func (s *Server) sealedByCaller(ctx context.Context, auth AuthHeader, talksID string, data []byte, what string) (*seal.Envelope, error) {
	c, _, err := s.access(ctx, auth, talksID)
	if err != nil {
		return nil, err
	}
	env, err := seal.ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if env.Sender.String() != c.cred.ID().String() {
		return nil, problemf(api.ProblemActorMismatch, "%s is sealed by credential %s, not by the caller's %s", what, env.Sender, c.cred.ID())
	}
	return env, nil
}

// signedByCaller parses an act and refuses it unless the caller signed it: a principal submits
// its own acts, as it submits its own envelopes and receipts, so that no one can replay
// another's signed act under their own name, or act through a host that does.
func signedByCaller(c *caller, data []byte) (*seal.Act, error) {
	act, err := seal.ParseAct(data)
	if err != nil {
		return nil, err
	}
	if act.Author.String() != c.cred.ID().String() {
		return nil, problemf(api.ProblemActorMismatch, "the act is signed by credential %s, not by the caller's %s", act.Author, c.cred.ID())
	}
	return act, nil
}
