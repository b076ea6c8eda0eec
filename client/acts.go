package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Actor is who the client's credential says it is, for the talks' rules.
func (c *Client) Actor() talks.Actor {
	cr := c.id.Credential()
	return talks.Actor{Principal: cr.Handle(), Org: cr.Org, Rank: cr.Rank, Title: cr.Title}
}

// stamp is the time the client signs: to the millisecond, as every format carries it.
func (c *Client) stamp() time.Time { return c.now().UTC().Truncate(time.Millisecond) }

// actTime is the time to date an act of talks with: the client's clock, or just after the last
// event its book has seen if that is later. The talks apply events in time order, and another
// principal's clock may run a little ahead of this one's.
func (c *Client) actTime(talksID string) time.Time {
	at := c.stamp()
	if b := c.Book(talksID); b != nil && b.State != nil {
		if next := b.State.LastEvent().Add(time.Millisecond).Truncate(time.Millisecond); next.After(at) {
			at = next
		}
	}
	return at
}

// act builds a talks event dated by actTime, signs and submits it. If the host refuses it as
// earlier than the record's last event (another clock is ahead), the client reads the record
// and tries once more, dated just after it; the host still refuses a time far from its own. An
// act whose answer was lost is sent again as it was, not signed again with a new time.
func (c *Client) act(ctx context.Context, talksID string, build func(at time.Time) talks.Event) (api.Accepted, error) {
	what := build(time.Time{})
	in := intent("act", talksID, what.Type(), what)
	dated := func() talks.Event { return build(c.actTime(talksID)) }
	out, err := c.submitAct(ctx, talksID, in, dated)
	if api.IsProblem(err, talks.ErrTimeWentBack.Name) {
		if _, serr := c.Sync(ctx, talksID); serr != nil {
			return out, err
		}
		out, err = c.submitAct(ctx, talksID, in, dated)
	}
	return out, err
}

// Pin returns the pin of a root for a charter or an invitation.
func Pin(k seal.RootKey) talks.Pin {
	fp := k.Fingerprint()
	return talks.Pin{Org: k.Org, Fingerprint: hex.EncodeToString(fp[:])}
}

// CreateTalks founds talks. The charter's ID, Proposer and At are filled in if empty.
func (c *Client) CreateTalks(ctx context.Context, ch talks.Charter) (api.Accepted, error) {
	given := ch
	if ch.At.IsZero() {
		ch.At = c.stamp()
	}
	if ch.Proposer == (talks.Actor{}) {
		ch.Proposer = c.Actor()
	}
	payload, err := talks.Marshal(ch)
	if err != nil {
		return api.Accepted{}, err
	}
	var out api.Accepted
	_, err = c.submit(ctx, intent(backchannel.EventCharter, ch.ID, given), "/v1/talks", func() (any, any, error) {
		act, err := c.id.Act(ch.ID, talks.TypeCharter, payload, ch.At)
		if err != nil {
			return nil, nil, err
		}
		return api.CreateTalks{Charter: act.Marshal()}, act, nil
	}, &out)
	return out, err
}

// endpoints maps a talks event type to the operation that takes it.
var endpoints = map[string]string{
	talks.TypeAcceptCharter: "acceptances",
	talks.TypeAddMember:     "delegations",
	talks.TypeRemoveMember:  "delegations",
	talks.TypeSetHead:       "delegations",
	talks.TypePropose:       "motions",
	talks.TypeVote:          "votes",
	talks.TypeOpenRound:     "rounds",
	talks.TypeCloseRound:    "rounds",
	talks.TypeCloseSession:  "rounds",
}

// Act signs a talks event as an act and submits it.
func (c *Client) Act(ctx context.Context, talksID string, e talks.Event) (api.Accepted, error) {
	return c.submitAct(ctx, talksID, intent("act", talksID, e.Type(), e), func() talks.Event { return e })
}

// submitAct signs the event build makes as an act and submits it, once per intent.
func (c *Client) submitAct(ctx context.Context, talksID, intent string, build func() talks.Event) (api.Accepted, error) {
	var out api.Accepted
	e := build()
	ep, ok := endpoints[e.Type()]
	if !ok {
		ep = "acts"
	}
	_, err := c.submit(ctx, intent, "/v1/talks/"+url.PathEscape(talksID)+"/"+ep, func() (any, any, error) {
		payload, err := talks.Marshal(e)
		if err != nil {
			return nil, nil, err
		}
		act, err := c.id.Act(talksID, e.Type(), payload, e.When())
		if err != nil {
			return nil, nil, err
		}
		return api.SubmitAct{Act: act.Marshal()}, act, nil
	}, &out)
	return out, err
}

// Propose proposes a motion with the given id; a zero deadline means the default.
func (c *Client) Propose(ctx context.Context, talksID, motion string, change talks.Change, deadline time.Time) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event {
		return talks.Propose{At: at, By: c.Actor(), Motion: motion, Change: change, Deadline: deadline.UTC()}
	})
}

// Vote accepts or refuses a motion.
func (c *Client) Vote(ctx context.Context, talksID, motion string, accept bool) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event {
		return talks.Vote{At: at, By: c.Actor(), Motion: motion, Accept: accept}
	})
}

// AddMember adds a principal, as its credential describes it, to the client's delegation.
func (c *Client) AddMember(ctx context.Context, talksID string, m *seal.Credential) (api.Accepted, error) {
	member := talks.Member{Actor: talks.Actor{Principal: m.Handle(), Org: m.Org, Rank: m.Rank, Title: m.Title}}
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.AddMember{At: at, By: c.Actor(), Member: member} })
}

// MemberCredential returns the credential to add handle (org:principal) to a delegation with:
// the newest the directory holds that the organisation's root pinned in the talks issued and
// that is valid now, so that the member's title and rank are what that root says. The
// directory's word is checked, not taken: a credential no pinned root issued is never chosen.
func (c *Client) MemberCredential(ctx context.Context, talksID, handle string) (*seal.Credential, error) {
	org, name, ok := seal.SplitHandle(handle)
	if !ok {
		return nil, errf("%q is not a principal's handle (org:principal)", handle)
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return nil, err
	}
	all, err := c.PrincipalCredentials(ctx, org, name)
	if err != nil {
		return nil, err
	}
	for _, cr := range slices.Backward(all) {
		if b.Trust.VerifyCredential(cr, c.now()) == nil {
			return cr, nil
		}
	}
	return nil, errf("%s has no valid credential issued by the root of %s pinned in talks %s: its organisation issues one and publishes it", handle, org, talksID)
}

// RemoveMember takes principal (a handle, org/principal) out of the client's delegation: it stops
// reading every room at once. The head cannot be removed; make another head first.
func (c *Client) RemoveMember(ctx context.Context, talksID, principal string) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event {
		return talks.RemoveMember{At: at, By: c.Actor(), Principal: principal}
	})
}

// SetHead makes principal, already a member of the client's delegation, its head.
func (c *Client) SetHead(ctx context.Context, talksID, principal string) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.SetHead{At: at, By: c.Actor(), Principal: principal} })
}

// Withdraw takes the client's organisation out of the talks. A party of two-party talks ends
// them; a party of more leaves them to the others; the only mediator of indirect talks cannot
// withdraw (talks.ErrLastMediator).
func (c *Client) Withdraw(ctx context.Context, talksID string) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.Withdraw{At: at, By: c.Actor()} })
}

// OpenRound opens a scheduled round.
func (c *Client) OpenRound(ctx context.Context, talksID string, round int) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.OpenRound{At: at, By: c.Actor(), Round: round} })
}

// CloseRound closes the round in session.
func (c *Client) CloseRound(ctx context.Context, talksID string, round int) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.CloseRound{At: at, By: c.Actor(), Round: round} })
}

// CloseSession closes an open direct session before its time.
func (c *Client) CloseSession(ctx context.Context, talksID string) (api.Accepted, error) {
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.CloseSession{At: at, By: c.Actor()} })
}

// SetRedLines sets the client's party's standing red lines: agenda topics refused on its behalf,
// which the other side never learns. Only the head of delegation sets them. They are sealed to
// every delegate, in the party's private room, so the host stores ciphertext; each delegate's
// client that reads them refuses a matching motion as soon as it reads the motion (Sync).
func (c *Client) SetRedLines(ctx context.Context, talksID string, topics []string) (api.Accepted, error) {
	if _, err := c.Sync(ctx, talksID); err != nil {
		return api.Accepted{}, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return api.Accepted{}, err
	}
	topics = slices.Sorted(slices.Values(topics))
	key, err := c.roomKey(ctx, talksID, backchannel.RoomPrivate(c.Credential().Org), c.delegation(b))
	if err != nil {
		return api.Accepted{}, err
	}
	if b, err = c.ready(ctx, talksID); err != nil {
		return api.Accepted{}, err
	}
	var out api.Accepted
	_, err = c.submit(ctx, intent(backchannel.EventRedLines, talksID, topics), "/v1/talks/"+url.PathEscape(talksID)+"/red-lines", func() (any, any, error) {
		salt := make([]byte, 32)
		if _, err := io.ReadFull(c.rand, salt); err != nil {
			return nil, nil, err
		}
		r := talks.RedLines{Talks: talksID, At: c.stamp(), By: c.Actor(), Topics: topics, Salt: hex.EncodeToString(salt)}
		if err := b.State.CheckRedLines(r); err != nil {
			return nil, nil, err
		}
		body, err := talks.MarshalRedLines(r)
		if err != nil {
			return nil, nil, err
		}
		sctx := seal.Context{Talks: talksID, Room: backchannel.RoomPrivate(r.By.Org), Kind: backchannel.KindNote, CreatedAt: r.At, Sequence: c.nextSequence()}
		env, err := c.id.Seal(c.rand, sctx, body, c.delegation(b))
		if err != nil {
			return nil, nil, err
		}
		return api.SubmitRedLines{Envelope: env.Marshal(), Tag: roomTag(key, backchannel.EventRedLines, backchannel.EventHash(env.Hash()))}, env, nil
	}, &out)
	return out, err
}

// delegation returns the credentials to seal to for the client's own delegation: its own, and
// each other delegate's latest on the record that is still valid.
func (c *Client) delegation(b *Book) []*seal.Credential {
	me := c.Credential()
	to := []*seal.Credential{me}
	now := c.now()
	for _, m := range b.State.Members(me.Org) {
		org, principal, _ := seal.SplitHandle(m.Principal)
		if m.Principal == me.Handle() {
			continue
		}
		if cr := b.Trust.Latest(org, principal); cr != nil && b.Trust.VerifyCredential(cr, now) == nil {
			to = append(to, cr)
		}
	}
	return to
}

// standRedLines refuses, on the party's behalf, every pending motion its red lines refuse and it
// has not voted on, and reports whether it cast any. Another delegate's client may have cast
// the same refusal first; that is no error.
func (c *Client) standRedLines(ctx context.Context, talksID string) (bool, error) {
	b := c.Book(talksID)
	if b == nil || b.State == nil || b.RedLines == nil {
		return false, nil
	}
	cast := false
	for _, m := range b.State.Motions() {
		v, ok := b.State.StandingVote(*b.RedLines, c.Actor(), m.ID, c.actTime(talksID))
		if !ok {
			continue
		}
		_, err := c.submitAct(ctx, talksID, intent("standing", talksID, m.ID), func() talks.Event { return v })
		switch {
		case err == nil:
			cast = true
		case api.IsProblem(err, talks.ErrAlreadyVoted.Name), api.IsProblem(err, talks.ErrMotionClosed.Name),
			api.IsProblem(err, talks.ErrMotionRefused.Name), api.IsProblem(err, talks.ErrMotionExpired.Name):
			// Decided since this client read it.
		default:
			return cast, fmt.Errorf("standing refusal of motion %s: %w", m.ID, err)
		}
	}
	return cast, nil
}

// Statement signs a statement about a closed round and publishes its text: unilateral, or one
// signature of a joint statement that every party signs with the same text.
func (c *Client) Statement(ctx context.Context, talksID string, round int, text string, joint bool) (api.Accepted, error) {
	out, err := c.statement(ctx, talksID, round, text, joint, c.actTime(talksID))
	if api.IsProblem(err, talks.ErrTimeWentBack.Name) {
		if _, serr := c.Sync(ctx, talksID); serr == nil {
			out, err = c.statement(ctx, talksID, round, text, joint, c.actTime(talksID))
		}
	}
	return out, err
}

func (c *Client) statement(ctx context.Context, talksID string, round int, text string, joint bool, at time.Time) (api.Accepted, error) {
	var out api.Accepted
	what := intent("statement", talksID, round, backchannel.StatementDigest(text), joint)
	_, err := c.submit(ctx, what, "/v1/talks/"+url.PathEscape(talksID)+"/statements", func() (any, any, error) {
		e := talks.Sign{At: at, By: c.Actor(), Round: round, Digest: backchannel.StatementDigest(text), Joint: joint}
		payload, err := talks.Marshal(e)
		if err != nil {
			return nil, nil, err
		}
		act, err := c.id.Act(talksID, e.Type(), payload, e.At)
		if err != nil {
			return nil, nil, err
		}
		in := struct {
			Act  []byte `json:"act"`
			Text string `json:"text"`
		}{act.Marshal(), text}
		return in, act, nil
	}, &out)
	return out, err
}

// Talks returns the state of talks as the server computes it. Book gives the client's own.
func (c *Client) Talks(ctx context.Context, talksID string) (api.Talks, error) {
	var t api.Talks
	err := c.do(ctx, http.MethodGet, "/v1/talks/"+url.PathEscape(talksID), true, nil, &t)
	return t, err
}

// ListTalks lists the talks of the client's organisation.
func (c *Client) ListTalks(ctx context.Context) ([]api.TalksSummary, error) {
	var l api.TalksList
	err := c.do(ctx, http.MethodGet, "/v1/talks", true, nil, &l)
	return l.Talks, err
}

// PublicStatements reads the host's public feed of statements.
func (c *Client) PublicStatements(ctx context.Context) ([]api.PublicStatement, error) {
	var l api.PublicStatements
	err := c.do(ctx, http.MethodGet, "/v1/statements", false, nil, &l)
	return l.Statements, err
}

// errf is fmt.Errorf with the package's prefix.
func errf(format string, args ...any) error { return fmt.Errorf("client: "+format, args...) }
