package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
)

// Draft is a message to send.
type Draft struct {
	Room   string
	Kind   backchannel.Kind
	Topics []string
	Body   []byte
	// ReplyTo is the envelope answered, if any.
	ReplyTo seal.Hash
	// Round is the round the message is sent in; if zero, the client's book says which round is
	// in session.
	Round int
}

// recipients returns the credentials to seal to in a room. Who reads the room comes from the
// client's own replay of the record, never from the host: the host's list is only a hint of
// each reader's newest credential, taken when it chains to the reader's pinned root and is
// newer than any the record holds. So a host can neither add a reader nor leave one out (a
// mediator, say), nor make the sender seal to a key its reader has rotated away from. A reader
// whose newest credential is revoked or expired cannot be sealed to, and is left out rather
// than blocking every message to the room.
func (c *Client) recipients(ctx context.Context, b *Book, room string) ([]*seal.Credential, error) {
	var rs api.Recipients
	if err := c.do(ctx, http.MethodGet, "/v1/talks/"+url.PathEscape(b.ID)+"/rooms/"+url.PathEscape(room)+"/recipients", true, nil, &rs); err != nil {
		return nil, err
	}
	now := c.now()
	members := b.State.Recipients(room, now)
	listed := make(map[string]*seal.Credential)
	for _, ac := range rs.Credentials {
		cr, err := seal.ParseCredential(ac.Data)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(members, cr.Handle()) {
			return nil, fmt.Errorf("%w: the host lists %s/%s as a reader of room %s, where the record does not seat it", ErrRecord, cr.Org, cr.Principal, room)
		}
		if err := b.Trust.VerifyCredential(cr, now); err == nil {
			if prev := listed[cr.Handle()]; prev == nil || cr.Serial > prev.Serial {
				listed[cr.Handle()] = cr
			}
		}
	}
	out := make([]*seal.Credential, 0, len(members))
	for _, p := range members {
		org, principal, _ := seal.SplitHandle(p)
		cr := b.Trust.Latest(org, principal)
		if hc := listed[p]; hc != nil && (cr == nil || hc.Serial > cr.Serial) {
			cr = hc
		}
		if cr == nil {
			return nil, fmt.Errorf("%w: room %s seats %s, for whom neither the record nor the host gives a credential", ErrRecord, room, p)
		}
		if err := b.Trust.VerifyCredential(cr, now); err != nil {
			continue // revoked or expired: nobody holds a key to seal to
		}
		out = append(out, cr)
	}
	return out, nil
}

// ready returns the client's book of talks, syncing it if it has never been.
func (c *Client) ready(ctx context.Context, talksID string) (*Book, error) {
	b := c.Book(talksID)
	if b == nil || b.State == nil {
		if _, err := c.Sync(ctx, talksID); err != nil {
			return nil, err
		}
		b = c.Book(talksID)
	}
	if b == nil || b.State == nil {
		return nil, errf("talks %s: nothing readable on the record", talksID)
	}
	return b, nil
}

// Send seals a message for every member of its room and submits it.
func (c *Client) Send(ctx context.Context, talksID string, d Draft) (api.Accepted, *seal.Envelope, error) {
	if _, err := c.Sync(ctx, talksID); err != nil {
		return api.Accepted{}, nil, err
	}
	key, err := c.roomKey(ctx, talksID, d.Room, nil)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	return c.submitEnvelope(ctx, talksID, seal.RelayNone, key, intent(backchannel.EventEnvelope, talksID, d), func() (*seal.Envelope, error) {
		round := d.Round
		if round == 0 {
			round = b.State.InSession()
		}
		to, err := c.recipients(ctx, b, d.Room)
		if err != nil {
			return nil, err
		}
		sctx := seal.Context{
			Talks: talksID, Room: d.Room, Kind: d.Kind, Topics: d.Topics, Round: uint32(round),
			ReplyTo: d.ReplyTo, CreatedAt: c.stamp(), Sequence: c.nextSequence(), Prev: b.Last(d.Room),
		}
		return c.id.Seal(c.rand, sctx, d.Body, to)
	})
}

// submitEnvelope submits the envelope sealEnv seals, tagged with key, a key of its room, or, if
// one of the same intent is pending, that one again.
func (c *Client) submitEnvelope(ctx context.Context, talksID string, relay seal.RelayMode, key []byte, intent string, sealEnv func() (*seal.Envelope, error)) (api.Accepted, *seal.Envelope, error) {
	var out api.Accepted
	signed, err := c.submit(ctx, intent, envelopePath(talksID, relay), func() (any, any, error) {
		env, err := sealEnv()
		if err != nil {
			return nil, nil, err
		}
		notices, err := c.relayNotices(env)
		if err != nil {
			return nil, nil, err
		}
		in := api.SubmitEnvelope{Envelope: env.Marshal(), Notices: notices,
			Tag: roomTag(key, backchannel.EventEnvelope, backchannel.EventHash(env.Hash()))}
		// Each notice is filed under the room of the envelope it names, and tagged with its key.
		b := c.Book(talksID)
		for i, link := range env.RelayOf {
			room, ok := b.Room(link)
			if !ok {
				return nil, nil, errf("the envelope %s passed on is not in this principal's copy of talks %s", link, talksID)
			}
			k, err := c.roomKey(ctx, talksID, room, nil)
			if err != nil {
				return nil, nil, err
			}
			h := sha256.Sum256(notices[i])
			in.NoticeTags = append(in.NoticeTags, roomTag(k, backchannel.EventRelayed, h))
		}
		return in, env, nil
	}, &out)
	env, _ := signed.(*seal.Envelope)
	return out, env, err
}

// relayNotices signs, for a relay or summary, the notice each room it passes a message on from
// is told: the host logs them, and cannot write one itself.
func (c *Client) relayNotices(env *seal.Envelope) ([][]byte, error) {
	var out [][]byte
	for _, link := range env.RelayOf {
		n := backchannel.RelayNotice{Original: link.String(), Relay: env.Hash().String(), Mode: env.Relay.String(),
			To: env.Room, By: c.Credential().Handle(), At: env.CreatedAt.UTC()}
		act, err := c.id.Act(env.Talks, backchannel.EventRelayed, n.Payload(), env.CreatedAt)
		if err != nil {
			return nil, err
		}
		out = append(out, act.Marshal())
	}
	return out, nil
}

// envelopePath is the operation that takes an envelope: the sender's own words, or a
// mediator's relay or summary.
func envelopePath(talksID string, relay seal.RelayMode) string {
	if relay != seal.RelayNone {
		return "/v1/talks/" + url.PathEscape(talksID) + "/relays"
	}
	return "/v1/talks/" + url.PathEscape(talksID) + "/envelopes"
}

// SubmitEnvelope submits an envelope already sealed (or relayed), with the relay notices it
// needs if this client sealed it. The same envelope submitted twice is on the record once.
func (c *Client) SubmitEnvelope(ctx context.Context, talksID string, env *seal.Envelope) (api.Accepted, error) {
	var out api.Accepted
	in := api.SubmitEnvelope{Envelope: env.Marshal()}
	if env.Sender == c.Credential().ID() {
		var err error
		if in.Notices, err = c.relayNotices(env); err != nil {
			return out, err
		}
	}
	err := c.do(ctx, http.MethodPost, envelopePath(talksID, env.Relay), true, in, &out)
	return out, err
}

// RelayVerbatim passes a message the mediator received on to another room, word for word: the
// final reader verifies the original author's signature.
func (c *Client) RelayVerbatim(ctx context.Context, talksID string, m *Message, room string) (api.Accepted, *seal.Envelope, error) {
	if m.Opened == nil {
		return api.Accepted{}, nil, errf("cannot relay a message that did not verify: %v", m.Err)
	}
	key, err := c.roomKey(ctx, talksID, room, nil)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	to, err := c.recipients(ctx, b, room)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	return c.submitEnvelope(ctx, talksID, seal.RelayVerbatim, key, intent("relay", talksID, m.Hash, room), func() (*seal.Envelope, error) {
		r := seal.Relay{Room: room, Round: uint32(b.State.InSession()), CreatedAt: c.stamp(), Sequence: c.nextSequence(), Prev: b.Last(room)}
		return c.id.RelayVerbatim(c.rand, m.Opened, r, to)
	})
}

// Summarize passes on, in the mediator's own words, what one or more messages said.
func (c *Client) Summarize(ctx context.Context, talksID string, of []seal.Hash, d Draft) (api.Accepted, *seal.Envelope, error) {
	key, err := c.roomKey(ctx, talksID, d.Room, nil)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return api.Accepted{}, nil, err
	}
	return c.submitEnvelope(ctx, talksID, seal.RelaySummary, key, intent("summary", talksID, of, d), func() (*seal.Envelope, error) {
		to, err := c.recipients(ctx, b, d.Room)
		if err != nil {
			return nil, err
		}
		round := d.Round
		if round == 0 {
			round = b.State.InSession()
		}
		kind := d.Kind
		if kind == "" {
			kind = backchannel.KindSummary
		}
		sctx := seal.Context{
			Talks: talksID, Room: d.Room, Kind: kind, Topics: d.Topics, Round: uint32(round),
			ReplyTo: d.ReplyTo, CreatedAt: c.stamp(), Sequence: c.nextSequence(), Prev: b.Last(d.Room),
		}
		return c.id.Summarize(c.rand, sctx, d.Body, of, to)
	})
}

// Receipt signs and submits a receipt for an envelope: it says the envelope was delivered,
// read or formally acknowledged, and nothing of what it says.
func (c *Client) Receipt(ctx context.Context, talksID string, env seal.Hash, kind seal.ReceiptKind) (api.Accepted, error) {
	var out api.Accepted
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return out, err
	}
	room, ok := b.Room(env)
	if !ok {
		if _, err := c.Sync(ctx, talksID); err != nil {
			return out, err
		}
		if room, ok = c.Book(talksID).Room(env); !ok {
			return out, errf("envelope %s is not on the record of talks %s as this principal reads it", env, talksID)
		}
	}
	key, err := c.roomKey(ctx, talksID, room, nil)
	if err != nil {
		return out, err
	}
	_, err = c.submit(ctx, intent(backchannel.EventReceipt, talksID, env, kind), "/v1/talks/"+url.PathEscape(talksID)+"/receipts", func() (any, any, error) {
		rc, err := c.id.Receipt(talksID, env, kind, c.stamp())
		if err != nil {
			return nil, nil, err
		}
		h := sha256.Sum256(rc.Marshal())
		return api.SubmitReceipt{Receipt: rc.Marshal(), Tag: roomTag(key, backchannel.EventReceipt, h)}, rc, nil
	}, &out)
	return out, err
}

// Events returns a page of the events of talks the client may read.
func (c *Client) Events(ctx context.Context, talksID string, from int64, limit int) (api.EventPage, error) {
	var p api.EventPage
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/talks/%s/events?from=%d&limit=%d", url.PathEscape(talksID), from, limit), true, nil, &p)
	return p, err
}

// Follow reads the live events of talks from index from, calling fn for each in order, until
// ctx is done or fn returns an error. It reconnects after a dropped connection with
// Last-Event-ID, so fn sees every event exactly once.
func (c *Client) Follow(ctx context.Context, talksID string, from int64, fn func(api.Event) error) error {
	return c.FollowNotify(ctx, talksID, from, fn, nil)
}

// FollowNotify is Follow, and tells dropped, if set, each time the stream breaks (the connection
// dropped or refused, the server unavailable) and is about to be resumed from event next.
func (c *Client) FollowNotify(ctx context.Context, talksID string, from int64, fn func(api.Event) error, dropped func(err error, next int64)) error {
	next := from
	backoff := 100 * time.Millisecond
	for {
		n, err := c.followOnce(ctx, talksID, next, fn)
		if n > next {
			next, backoff = n, 100*time.Millisecond
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, stop := err.(fnError); stop {
			return err.(fnError).err
		}
		if p, ok := err.(*api.Problem); ok && p.Status < 500 && p.Status != http.StatusTooManyRequests {
			return err
		}
		if dropped != nil {
			dropped(err, next)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// fnError carries an error of Follow's callback out of the stream.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// followOnce reads one connection of the event stream and returns the next index to ask for.
func (c *Client) followOnce(ctx context.Context, talksID string, next int64, fn func(api.Event) error) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/talks/"+url.PathEscape(talksID)+"/events/stream", nil)
	if err != nil {
		return next, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if next > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(next-1, 10))
	}
	// The stream lives as long as ctx: no overall timeout.
	h := *c.http
	h.Timeout = 0
	resp, err := c.sendAuthorized(req, h.Do)
	if err != nil {
		return next, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return next, api.ReadProblem(resp.StatusCode, body)
	}
	// The stream ends when ctx does, even while it waits for the next event: a browser's fetch
	// is aborted by the context only until its response begins, so the body is closed here,
	// which ends the read and the connection.
	defer context.AfterFunc(ctx, func() { resp.Body.Close() })()
	// Server-Sent Events: fields "id", "event" and "data" up to a blank line; comments start
	// with ':'. Our server sends one data line per event.
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var e api.Event
			if err := strictjson.Unmarshal([]byte(data.String()), &e); err != nil {
				return next, fmt.Errorf("event stream: %w", err)
			}
			data.Reset()
			if e.Index < next {
				continue // already seen: a reconnect never delivers twice
			}
			if err := fn(e); err != nil {
				return next, fnError{err}
			}
			next = e.Index + 1
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return next, err
	}
	return next, fmt.Errorf("event stream closed")
}
