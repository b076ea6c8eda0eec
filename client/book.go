package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Book is a principal's own copy of one talks' record: what it could read, replayed and checked
// by itself. State and Trust are rebuilt from signed events only; every event is checked
// against the log's tiles, which are checked against the host's signed checkpoints, each
// consistent with the last one seen.
type Book struct {
	ID    string
	State *talks.Talks
	Trust *seal.Trust
	// Size is the size of the record this book has read up to.
	Size int64
	// Messages are the envelopes addressed to this principal, opened (or flagged), in record
	// order.
	Messages []*Message
	// Verifier holds the latest checkpoint verified and the one cosigned.
	Verifier *record.Verifier
	// Expected is the root fingerprint this party compared out of band for an organisation
	// (hex); a record pinning another root for it is refused.
	Expected map[string]string

	byHash     map[seal.Hash]*Message
	rooms      map[seal.Hash]string
	charterAct *seal.Act
	statements map[string]string
}

// Message is an envelope addressed to the principal, as it opened it.
type Message struct {
	Index int64
	Hash  seal.Hash
	Room  string
	Time  time.Time
	// Envelope is the envelope as received.
	Envelope *seal.Envelope
	// Opened is the verified content, or nil if Err is set.
	Opened *seal.Opened
	// Err says why the envelope failed to open or verify: a forgery is flagged here, never
	// shown as genuine.
	Err error
	// Relays are the mediators' notices that this message was passed on, and how.
	Relays []RelayNotice
	// Receipts are the receipts others signed for this message.
	Receipts []*seal.Receipt
}

// RelayNotice says a message was passed on to another room.
type RelayNotice struct {
	Original string    `json:"original"`
	Relay    string    `json:"relay"`
	Mode     string    `json:"mode"`
	To       string    `json:"to"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// ErrRecord reports a record that fails the client's checks: the host or someone else altered,
// dropped, reordered or forked it. The client stops reading that talks.
var ErrRecord = errors.New("the record does not verify")

// Book returns the client's book of talks, as last synced (nil if never).
func (c *Client) Book(talksID string) *Book {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.books[talksID]
}

// Expect records the root fingerprint (hex, as seal.Fingerprint bytes) that this party compared
// out of band for org, before the first Sync of talks.
func (c *Client) Expect(talksID, org, fingerprint string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.books[talksID]
	if b == nil {
		b = &Book{ID: talksID}
		c.books[talksID] = b
	}
	if b.Expected == nil {
		b.Expected = make(map[string]string)
	}
	b.Expected[org] = fingerprint
}

// RestoreVerifier gives the client the verifier of talks saved from an earlier run (the
// record.Verifier state), before its first Sync of them: the client then accepts only
// checkpoints consistent with the ones it verified and cosigned then, so a host that rewrites
// history between two runs of a command-line client is caught as it would be within one.
func (c *Client) RestoreVerifier(talksID string, v *record.Verifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.books[talksID]
	if b == nil {
		b = &Book{ID: talksID}
		c.books[talksID] = b
	}
	b.Verifier = v
}

// LogTiles returns a reader of the talks' log served as tlog-tiles, authenticated as the
// client's principal: what an export needs to prove entries against a checkpoint.
func (c *Client) LogTiles(talksID string) *record.TileClient { return c.tiles(talksID) }

// authTransport adds the bearer token to the tile client's requests.
type authTransport struct {
	c    *Client
	base http.RoundTripper
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.c.bearer(r.Context())
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

func (c *Client) tiles(talksID string) *record.TileClient {
	h := *c.http
	h.Transport = authTransport{c: c, base: c.http.Transport}
	return &record.TileClient{HTTP: &h, BaseURL: c.base + "/v1/talks/" + url.PathEscape(talksID) + "/log/",
		Refusal: func(status int, body []byte) error { return api.ReadProblem(status, body) }}
}

// Sync brings the client's book of talks up to the server's latest checkpoint: it verifies the
// checkpoint against the pinned log key and as consistent with every earlier one, reads the new
// events it may see, checks each against the verified tiles, replays them, opens the envelopes
// addressed to it, and cosigns the checkpoint. It returns the messages new since the last Sync.
// Any failed check returns an error wrapping ErrRecord and leaves the book as it was.
func (c *Client) Sync(ctx context.Context, talksID string) ([]*Message, error) {
	vkey, err := c.pinnedLogKey(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	b := c.books[talksID]
	if b == nil {
		b = &Book{ID: talksID}
		c.books[talksID] = b
	}
	c.mu.Unlock()
	if b.Verifier == nil {
		host := c.Host()
		if host == "" {
			if err := c.Login(ctx); err != nil {
				return nil, err
			}
			host = c.Host()
		}
		origin, err := record.Origin(host, talksID)
		if err != nil {
			return nil, err
		}
		vk, err := record.OriginVerifierKey(vkey, origin)
		if err != nil {
			return nil, err
		}
		if b.Verifier, err = record.NewVerifier(origin, vk); err != nil {
			return nil, err
		}
	}
	tc := c.tiles(talksID)
	cp, err := tc.Sync(ctx, b.Verifier)
	if err != nil {
		if errors.Is(err, record.ErrBadSignature) || errors.Is(err, record.ErrInconsistent) || errors.Is(err, record.ErrForked) ||
			errors.Is(err, record.ErrRollback) || errors.Is(err, record.ErrWrongOrigin) {
			return nil, fmt.Errorf("%w: talks %s: %w", ErrRecord, talksID, err)
		}
		return nil, err
	}
	if cp.Size <= b.Size {
		return nil, nil
	}
	entries, err := tc.Entries(ctx, cp, b.Size, cp.Size-b.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: talks %s: %w", ErrRecord, talksID, err)
	}
	var fresh []*Message
	seen := make(map[int64]bool)
	for from := b.Size; from < cp.Size; {
		var page api.EventPage
		q := fmt.Sprintf("/v1/talks/%s/events?from=%d&limit=1000", url.PathEscape(talksID), from)
		if err := c.do(ctx, http.MethodGet, q, true, nil, &page); err != nil {
			return nil, err
		}
		for _, ae := range page.Events {
			if ae.Index >= cp.Size {
				break
			}
			e := backchannel.Event{Talks: talksID, Index: uint64(ae.Index), Type: ae.Type, Room: ae.Room, Data: ae.Data, Time: ae.Time}
			if string(e.Entry()) != string(entries[ae.Index-b.Size]) {
				return nil, fmt.Errorf("%w: talks %s: event %d is not the one the log committed to (altered by the host)", ErrRecord, talksID, ae.Index)
			}
			seen[ae.Index] = true
			m, err := c.replay(b, e)
			if err != nil {
				return nil, fmt.Errorf("%w: talks %s: event %d (%s): %v", ErrRecord, talksID, ae.Index, ae.Type, err)
			}
			if m != nil {
				fresh = append(fresh, m)
			}
		}
		if page.Next <= from || page.Next >= cp.Size || len(page.Events) == 0 {
			break
		}
		from = page.Next
	}
	// Events of every member (acts, roots, credentials, statements...) must all have been
	// served: the verified entries name each event's type, so a host that withholds one is
	// caught even though it cannot be made to show rooms the principal does not sit in.
	for i, entry := range entries {
		index := b.Size + int64(i)
		if typ, _, ok := backchannel.ParseEntry(entry); ok && sharedTypes[typ] && !seen[index] {
			return nil, fmt.Errorf("%w: talks %s: the host withheld event %d, a %s every member may read", ErrRecord, talksID, index, typ)
		}
	}
	b.Size = cp.Size
	if err := c.cosign(ctx, b); err != nil {
		return fresh, err
	}
	return fresh, nil
}

// cosign cosigns the latest verified checkpoint if this party has not yet.
func (c *Client) cosign(ctx context.Context, b *Book) error {
	latest, _ := b.Verifier.Latest()
	cosigned, _ := b.Verifier.Cosigned()
	if latest.Size == 0 || latest.Size == cosigned.Size || b.State == nil {
		return nil
	}
	if _, member := b.State.Member(c.Credential().Handle()); !member {
		return nil
	}
	cs, err := record.NewCosigner(seal.CosignerName(c.Credential()), c.id.CosignatureSigner())
	if err != nil {
		return err
	}
	n, err := b.Verifier.Cosign(cs, c.now())
	if err != nil {
		return err
	}
	// The cosignature note is the checkpoint body, a blank line and one signature line.
	_, sig, ok := strings.Cut(string(n), "\n\n")
	if !ok {
		return errf("cosignature note without signature")
	}
	return c.do(ctx, http.MethodPost, "/v1/talks/"+url.PathEscape(b.ID)+"/cosignatures", true, api.Cosign{Size: latest.Size, Signature: sig}, nil)
}

// sharedTypes are the event types every member of the talks may read.
var sharedTypes = map[string]bool{
	"charter": true, "root": true, "credential": true, "revocation": true,
	"act": true, "standing": true, "statement": true,
}

// replay applies one verified event to the book and returns the message it carried for this
// principal, if any.
func (c *Client) replay(b *Book, e backchannel.Event) (*Message, error) {
	if e.Type == "charter" {
		act, ev, err := actEvent(e.Data)
		if err != nil {
			return nil, err
		}
		ch, ok := ev.(talks.Charter)
		if !ok || ch.ID != b.ID {
			return nil, errors.New("the first event is not this talks' charter")
		}
		if b.State, err = talks.New(ch); err != nil {
			return nil, err
		}
		if b.Trust, err = seal.NewTrust(); err != nil {
			return nil, err
		}
		b.charterAct = act
		b.byHash = make(map[seal.Hash]*Message)
		b.rooms = make(map[seal.Hash]string)
		b.statements = make(map[string]string)
		return nil, nil
	}
	if b.State == nil {
		return nil, errors.New("an event before the charter")
	}
	switch e.Type {
	case "root":
		k, err := seal.ParseRootKey(e.Data)
		if err != nil {
			return nil, err
		}
		fp := k.Fingerprint()
		got := hex.EncodeToString(fp[:])
		if !b.pinnedAs(k.Org, got) {
			return nil, fmt.Errorf("the record pins a root for %q (%s) that neither the charter nor an invitation named", k.Org, fp.Short())
		}
		if want, ok := b.Expected[k.Org]; ok && want != got {
			return nil, fmt.Errorf("the root pinned for %q (%s) is not the one this party compared out of band", k.Org, fp.Short())
		}
		return nil, b.Trust.Pin(k)
	case "credential":
		cr, err := seal.ParseCredential(e.Data)
		if err != nil {
			return nil, err
		}
		if err := b.Trust.AddCredential(cr); err != nil {
			return nil, err
		}
		if b.charterAct != nil && cr.ID() == b.charterAct.Author {
			if err := c.checkAct(b, b.charterAct, b.State.Charter()); err != nil {
				return nil, fmt.Errorf("charter: %w", err)
			}
			b.charterAct = nil
		}
		return nil, nil
	case "revocation":
		v, err := seal.ParseRevocation(e.Data)
		if err != nil {
			return nil, err
		}
		return nil, b.Trust.AddRevocation(v)
	case "act":
		act, ev, err := actEvent(e.Data)
		if err != nil {
			return nil, err
		}
		if err := c.checkAct(b, act, ev); err != nil {
			return nil, err
		}
		return nil, b.State.Apply(ev)
	case "standing":
		ev, err := talks.Parse(e.Data)
		if err != nil {
			return nil, err
		}
		if v, ok := ev.(talks.Vote); !ok || v.Standing == "" {
			return nil, errors.New("a host-cast vote that is not a standing refusal")
		}
		return nil, b.State.Apply(ev)
	case "red-lines":
		act, err := seal.ParseAct(e.Data)
		if err != nil {
			return nil, err
		}
		_, err = b.Trust.VerifyAct(act, b.ID, 0)
		return nil, err
	case "statement":
		var st struct {
			Digest string `json:"digest"`
			Text   string `json:"text"`
		}
		if err := json.Unmarshal(e.Data, &st); err != nil {
			return nil, err
		}
		if StatementDigest(st.Text) != st.Digest {
			return nil, errors.New("a statement whose text does not match its digest")
		}
		b.statements[st.Digest] = st.Text
		return nil, nil
	case "relayed":
		var n RelayNotice
		if err := json.Unmarshal(e.Data, &n); err != nil {
			return nil, err
		}
		for h, m := range b.byHash {
			if h.String() == n.Original {
				m.Relays = append(m.Relays, n)
			}
		}
		return nil, nil
	case "receipt":
		rc, err := seal.ParseReceipt(e.Data)
		if err != nil {
			return nil, err
		}
		if _, err := b.Trust.VerifyReceipt(rc, b.ID); err != nil {
			return nil, err
		}
		if m := b.byHash[rc.Envelope]; m != nil {
			m.Receipts = append(m.Receipts, rc)
		}
		return nil, nil
	case "envelope":
		env, err := seal.ParseEnvelope(e.Data)
		if err != nil {
			return nil, err
		}
		b.rooms[env.Hash()] = env.Room
		if !env.Addressed(c.Credential().ID()) {
			return nil, nil
		}
		m := &Message{Index: int64(e.Index), Hash: env.Hash(), Room: env.Room, Time: e.Time, Envelope: env}
		m.Opened, m.Err = c.id.Open(env, b.Trust, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
		if m.Err != nil {
			m.Opened = nil
		}
		b.Messages = append(b.Messages, m)
		b.byHash[m.Hash] = m
		return m, nil
	}
	return nil, fmt.Errorf("unknown event type %q", e.Type)
}

// pinnedAs reports whether the charter, or an invitation, pins org's root with fingerprint fp.
func (b *Book) pinnedAs(org, fp string) bool {
	for _, p := range b.State.Charter().Roots {
		if p.Org == org && p.Fingerprint == fp {
			return true
		}
	}
	for _, m := range b.State.Motions() {
		if m.Change.Kind == talks.MotionInviteMediator && m.Change.Org == org && m.Change.Root == fp {
			return true
		}
	}
	return false
}

// actEvent parses an act and the talks event it carries, which must be of the act's type.
func actEvent(data []byte) (*seal.Act, talks.Event, error) {
	act, err := seal.ParseAct(data)
	if err != nil {
		return nil, nil, err
	}
	ev, err := talks.Parse(act.Payload)
	if err != nil {
		return nil, nil, err
	}
	if act.Type != ev.Type() {
		return nil, nil, fmt.Errorf("an act of type %q carries a %s", act.Type, ev.Type())
	}
	return act, ev, nil
}

// checkAct verifies an act's signature and that it speaks for whom its event names.
func (c *Client) checkAct(b *Book, act *seal.Act, ev talks.Event) error {
	cr, err := b.Trust.VerifyAct(act, b.ID, 0)
	if err != nil {
		return err
	}
	want := talks.Actor{Principal: cr.Handle(), Org: cr.Org, Rank: cr.Rank, Title: cr.Title}
	if got := talks.ActorOf(ev); got != want {
		return fmt.Errorf("a %s naming %s/%s signed by %s/%s", ev.Type(), got.Org, got.Principal, cr.Org, cr.Principal)
	}
	return nil
}

// Statement returns the text of a statement by its digest, if the record carries it.
func (b *Book) Statement(digest string) (string, bool) {
	t, ok := b.statements[digest]
	return t, ok
}

// Room returns the room an envelope on the record was posted in.
func (b *Book) Room(h seal.Hash) (string, bool) {
	r, ok := b.rooms[h]
	return r, ok
}

// Message returns the message with the given envelope hash.
func (b *Book) Message(h seal.Hash) *Message { return b.byHash[h] }
