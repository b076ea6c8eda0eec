package client

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Book is a principal's own copy of one talks' record: what it could read, replayed and checked
// by itself. State and Trust are rebuilt from signed events only; every event is checked
// against the log's tiles, which are checked against the host's signed checkpoints, each
// consistent with the last one seen.
//
// A Book is a snapshot: Sync replays into a copy and swaps it in only when everything verified,
// and never changes a Book it has handed out, so a Book may be read from any goroutine while
// another syncs. Callers must not change it either.
type Book struct {
	// Book is the talks as the record builds it (ID, State, Trust, the rooms of envelopes and
	// the texts of statements), by the replay the host shares.
	*replay.Book
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
	// RedLines are the standing red lines of the principal's party as last set on the record,
	// opened by this principal: the client refuses on the party's behalf every motion they
	// refuse. Nil if none were set, or the latest could not be opened or checked (RedLinesErr
	// says why).
	RedLines    *talks.RedLines
	RedLinesErr error
	// LeftAt is, once the principal's organisation no longer takes part in the talks (it
	// withdrew, or was removed), the size of the record it was entitled to read: the event that
	// took it out is the last. The host serves it nothing after, and that is no fault of the
	// host's. Zero while it takes part.
	LeftAt int64

	byHash     map[seal.Hash]*Message
	charterAct *seal.Act
	// last is the latest envelope of each room this principal read: what its next envelope in
	// the room follows (seal.Context.Prev).
	last map[string]seal.Hash
	// cosigned is each member's latest cosigned checkpoint this client checked, by cosigner.
	cosigned map[string]Cosigned
	// mine are the messages this copy made or revised, which it may change in place; any other
	// is shared with earlier snapshots and is copied before a change.
	mine map[*Message]bool
	// roomKeys are the keys of each room's tags this principal opened, in record order.
	roomKeys map[string][]roomKey
}

// clone returns a copy of the book for a sync to replay into, sharing nothing a replay changes.
func (b *Book) clone() *Book {
	nb := *b
	nb.Book = b.Book.Clone()
	if b.Verifier != nil {
		nb.Verifier = b.Verifier.Clone()
	}
	nb.Messages = slices.Clone(b.Messages)
	nb.Expected = maps.Clone(b.Expected)
	nb.byHash = maps.Clone(b.byHash)
	nb.last = maps.Clone(b.last)
	nb.cosigned = maps.Clone(b.cosigned)
	nb.roomKeys = maps.Clone(b.roomKeys)
	nb.mine = make(map[*Message]bool)
	return &nb
}

// revise returns message m for this copy to change: m itself if this copy made it, else a copy
// put in m's place, so that earlier snapshots keep theirs unchanged.
func (b *Book) revise(m *Message) *Message {
	if b.mine[m] {
		return m
	}
	nm := *m
	nm.Relays = slices.Clip(m.Relays)
	nm.Receipts = slices.Clip(m.Receipts)
	if i, ok := slices.BinarySearchFunc(b.Messages, m.Index, func(x *Message, index int64) int { return cmp.Compare(x.Index, index) }); ok {
		b.Messages[i] = &nm
	}
	b.byHash[m.Hash] = &nm
	b.mine[&nm] = true
	return &nm
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
	Relays []backchannel.RelayNotice
	// Receipts are the receipts others signed for this message.
	Receipts []*seal.Receipt
}

// ErrWithheld reports an envelope of one of the principal's rooms that the host kept from it:
// a later envelope of the room follows it. It comes wrapped in ErrRecord.
var ErrWithheld = errors.New("withheld")

// apply applies e with h, and notes when org stops taking part in the talks, or takes part
// again.
func (b *Book) apply(e backchannel.Event, h replay.Hooks, org string) error {
	had := b.State != nil && b.State.Role(org) != ""
	if err := b.Apply(e, h); err != nil {
		return err
	}
	switch role := b.State.Role(org); {
	case had && role == "":
		b.LeftAt = int64(e.Index) + 1
	case role != "":
		b.LeftAt = 0
	}
	return nil
}

// stillReads reports whether principal reads room at now, so that an event of the room it was
// not served was kept from it. The plenary has readers only while a session is open, but every
// member of the talks reads its events ever after: it holds the plenary's key only if it sat in
// one.
func (b *Book) stillReads(principal, room string, now time.Time) bool {
	if room == talks.RoomPlenary {
		_, member := b.State.Member(principal)
		return member
	}
	return slices.Contains(b.Readers(room, now), principal)
}

// Last returns the latest envelope of room the principal read, which its next envelope in the
// room follows; zero if none.
func (b *Book) Last(room string) seal.Hash { return b.last[room] }

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
	c.change(talksID, func(b *Book) {
		if b.Expected == nil {
			b.Expected = make(map[string]string)
		}
		b.Expected[org] = fingerprint
	})
}

// change applies fn to a copy of the book of talks and swaps the copy in, one sync or change
// of a talks at a time.
func (c *Client) change(talksID string, fn func(b *Book)) {
	unlock := c.lockTalks(talksID)
	defer unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.books[talksID]
	if b == nil {
		b = c.newBook(talksID)
	}
	nb := b.clone()
	fn(nb)
	c.books[talksID] = nb
}

// lockTalks holds the talks' sync lock until the returned function is called: two syncs of one
// talks would otherwise replay the same events into two copies, and the later swap would drop
// the earlier one's cosignature.
func (c *Client) lockTalks(talksID string) (unlock func()) {
	c.mu.Lock()
	l := c.syncing[talksID]
	if l == nil {
		l = new(sync.Mutex)
		c.syncing[talksID] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// RestoreVerifier gives the client the verifier of talks saved from an earlier run (the
// record.Verifier state), before its first Sync of them: the client then accepts only
// checkpoints consistent with the ones it verified and cosigned then, so a host that rewrites
// history between two runs of a command-line client is caught as it would be within one.
func (c *Client) RestoreVerifier(talksID string, v *record.Verifier) {
	c.change(talksID, func(b *Book) { b.Verifier = v.Clone() })
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
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return t.c.sendAuthorized(r, base.RoundTrip)
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
// Any failed check returns an error wrapping ErrRecord; any error at all leaves the book as it
// was, so a sync that fails half way (a page lost, a connection cut) can simply be retried.
func (c *Client) Sync(ctx context.Context, talksID string) ([]*Message, error) {
	fresh, err := c.syncRecord(ctx, talksID)
	if err != nil {
		return nil, err
	}
	if err := c.healRoomKeys(ctx, talksID); err != nil {
		return fresh, err
	}
	cast, err := c.standRedLines(ctx, talksID)
	if err != nil {
		return fresh, err
	}
	if cast {
		// Read the refusals just cast, so that the book shows the motions as they now stand.
		more, err := c.syncRecord(ctx, talksID)
		return append(fresh, more...), err
	}
	return fresh, nil
}

// syncRecord reads and verifies the record of talks up to the host's latest checkpoint.
func (c *Client) syncRecord(ctx context.Context, talksID string) ([]*Message, error) {
	vkey, err := c.pinnedLogKey(ctx)
	if err != nil {
		return nil, err
	}
	unlock := c.lockTalks(talksID)
	defer unlock()
	b, err := c.workingCopy(talksID)
	if err != nil {
		return nil, err
	}
	if b.LeftAt > 0 {
		// Its organisation left: it was served nothing after, and a copy that went on from
		// there would lack what came between if it were let back in. Read it all again; the
		// verifier keeps what was verified.
		fresh := c.newBook(talksID)
		fresh.Verifier, fresh.Expected, fresh.mine = b.Verifier, b.Expected, make(map[*Message]bool)
		b = fresh
	}
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
	// Only what the host acknowledged before the checkpoint is read can be held to it: a
	// submission acknowledged while this sync is under way (a page acting while it re-reads)
	// waits for the next sync.
	held := c.Promises(talksID)
	cp, err := tc.Sync(ctx, b.Verifier)
	if err != nil {
		return nil, recordError(talksID, err)
	}
	if err := c.keepPromises(ctx, b, tc, cp, held); err != nil {
		return nil, recordError(talksID, err)
	}
	if cp.Size <= b.Size {
		// Nothing new to read, but the verifier now holds the checkpoint as served, with the
		// cosignatures gathered since, and the other parties may have cosigned more of it.
		if b.State != nil {
			if err := c.checkCosigned(ctx, b, tc, cp); err != nil {
				return nil, recordError(talksID, err)
			}
		}
		if err := c.saveState(b); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.books[talksID] = b
		c.mu.Unlock()
		return nil, nil
	}
	entries, err := tc.Entries(ctx, cp, b.Size, cp.Size-b.Size)
	if err != nil {
		return nil, recordError(talksID, err)
	}
	var fresh []*Message
	seen := make(map[int64]bool)
	for from := b.Size; from < cp.Size; {
		var page api.EventPage
		q := fmt.Sprintf("/v1/talks/%s/events?from=%d&limit=1000&to=%d", url.PathEscape(talksID), from, cp.Size)
		if err := c.do(ctx, http.MethodGet, q, true, nil, &page); err != nil {
			return nil, err
		}
		for i, ae := range page.Events {
			// A page holds events from its start, each after the one before it; anything else
			// is the host's doing (and would index outside the verified entries).
			if ae.Index < from || (i > 0 && ae.Index <= page.Events[i-1].Index) {
				return nil, fmt.Errorf("%w: talks %s: the host served event %d out of order in the page from %d", ErrRecord, talksID, ae.Index, from)
			}
			if ae.Index >= cp.Size {
				break
			}
			e := backchannel.Event{Talks: talksID, Index: uint64(ae.Index), Type: ae.Type, Room: ae.Room, Data: ae.Data, Time: ae.Time, Tag: ae.Tag}
			if string(e.Entry()) != string(entries[ae.Index-b.Size]) {
				return nil, fmt.Errorf("%w: talks %s: event %d is not the one the log committed to (altered by the host)", ErrRecord, talksID, ae.Index)
			}
			seen[ae.Index] = true
			m, err := c.replay(b, e)
			if err != nil {
				return nil, fmt.Errorf("%w: talks %s: event %d (%s): %w", ErrRecord, talksID, ae.Index, ae.Type, err)
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
	// Events of this principal's rooms must all have been served too: it recognises their
	// tags, made with keys only the readers of their rooms hold, in rooms it still reads.
	for i, entry := range entries {
		index := b.Size + int64(i)
		typ, h, tag, ok := backchannel.ParseEntry(entry)
		if !ok || seen[index] {
			continue
		}
		if b.LeftAt > 0 && index >= b.LeftAt {
			continue // after this party left: not its to read
		}
		if backchannel.SharedEvent(typ) {
			return nil, fmt.Errorf("%w: talks %s: the host withheld event %d, a %s every member may read", ErrRecord, talksID, index, typ)
		}
		if tag == nil || b.State == nil {
			continue
		}
		if room, ok := b.recognise(typ, h, tag); ok && b.stillReads(c.Credential().Handle(), room, c.now()) {
			return nil, fmt.Errorf("%w: talks %s: %w: the host did not serve event %d (%s) of room %s, which this principal reads: its leaf carries the room's tag", ErrRecord, talksID, ErrWithheld, index, typ, room)
		}
	}
	// The host publishes the founder's credential in the commit that founds the talks, so the
	// first checkpoint that holds a charter verifies it; a charter still unchecked here is one
	// the host could have made up in a party's name.
	if b.charterAct != nil {
		return nil, fmt.Errorf("%w: talks %s: the charter's author's credential is not on the record, so nothing verifies that its proposer signed it", ErrRecord, talksID)
	}
	b.Size = cp.Size
	// The cosignature is part of the sync: if it cannot be sent, the copy is dropped with it and
	// the next Sync verifies and cosigns again (the server keeps one cosignature per cosigner
	// and size, so a cosignature sent twice is stored once).
	note, err := c.cosignature(b)
	if err != nil {
		return nil, err
	}
	if note != nil {
		if err := c.do(ctx, http.MethodPost, "/v1/talks/"+url.PathEscape(b.ID)+"/cosignatures", true, *note, nil); err != nil {
			return nil, err
		}
	}
	if b.State != nil {
		if err := c.checkCosigned(ctx, b, tc, cp); err != nil {
			return nil, recordError(talksID, err)
		}
	}
	if err := c.saveState(b); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.books[talksID] = b
	c.mu.Unlock()
	return fresh, nil
}

// recordFaults are the record's refusals that only a host serving a false record can cause;
// any other error reading the record (a connection lost, a body cut short, a 503) is the
// network's, and a retry may succeed.
var recordFaults = []error{
	record.ErrMalformed, record.ErrBadSignature, record.ErrWrongOrigin, record.ErrRollback,
	record.ErrInconsistent, record.ErrForked, record.ErrNotIncluded, record.ErrLeafMismatch,
	record.ErrMissingEntry, record.ErrReordered, record.ErrEntryTooLarge,
}

// recordError wraps err, met reading the record of talks, in ErrRecord if it is one of the
// record's refusals, and returns it as it is otherwise: an alarm about the host must not be
// raised for a dropped connection.
func recordError(talksID string, err error) error {
	for _, f := range recordFaults {
		if errors.Is(err, f) {
			return fmt.Errorf("%w: talks %s: %w", ErrRecord, talksID, err)
		}
	}
	return err
}

// cosignature cosigns the latest verified checkpoint in b's verifier if this party has not yet,
// and returns the cosignature to send (nil: nothing to send).
func (c *Client) cosignature(b *Book) (*api.Cosign, error) {
	latest, _ := b.Verifier.Latest()
	cosigned, _ := b.Verifier.Cosigned()
	if latest.Size == 0 || latest.Size == cosigned.Size || b.State == nil {
		return nil, nil
	}
	if _, member := b.State.Member(c.Credential().Handle()); !member {
		return nil, nil
	}
	cs, err := record.NewCosigner(seal.CosignerName(c.Credential()), c.id.CosignatureSigner())
	if err != nil {
		return nil, err
	}
	n, err := b.Verifier.Cosign(cs, c.now())
	if err != nil {
		return nil, err
	}
	// The cosignature note is the checkpoint body, a blank line and one signature line.
	_, sig, ok := strings.Cut(string(n), "\n\n")
	if !ok {
		return nil, errf("cosignature note without signature")
	}
	return &api.Cosign{Size: latest.Size, Signature: sig}, nil
}

// newBook returns the empty book of talks id, expecting the roots the client expects everywhere.
func (c *Client) newBook(id string) *Book {
	c.expectMu.Lock()
	defer c.expectMu.Unlock()
	return &Book{Book: replay.New(id), Expected: maps.Clone(c.expectAll)}
}

// replay applies one verified event to the book and returns the message it carried for this
// principal, if any.
func (c *Client) replay(b *Book, e backchannel.Event) (*Message, error) {
	var opened *Message
	h := b.checks()
	h.RedLines = func(_ backchannel.Event, env *seal.Envelope) error { return c.redLines(b, env) }
	h.RoomKey = func(e backchannel.Event, env *seal.Envelope) error { return c.roomKeyHook(b, e, env) }
	h.Envelope = func(e backchannel.Event, env *seal.Envelope) error {
		if err := b.follow(env); err != nil {
			return err
		}
		m := &Message{Index: int64(e.Index), Hash: env.Hash(), Room: env.Room, Time: e.Time, Envelope: env}
		opener := c.id
		if !env.Addressed(c.Credential().ID()) {
			// Sealed to another credential of this principal (before a rotation): opened
			// with that credential's key if the client holds it, and flagged if not.
			if cr := c.ownRecipient(b, env); cr != nil {
				if opener, m.Err = c.keyFor(cr); m.Err != nil {
					opener = nil
				}
			} else {
				opener = nil
			}
		}
		if opener != nil {
			m.Opened, m.Err = opener.Open(env, b.Trust, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
			if m.Err != nil {
				m.Opened = nil
			}
		} else if m.Err == nil {
			// The state replayed so far is the talks when the envelope was sent: a room's
			// reader then, left out by the sender (by every one of its credentials), is told
			// so, rather than never learning that a message passed it by.
			if !b.State.CanRead(c.Credential().Handle(), env.Room, env.CreatedAt) {
				return nil
			}
			m.Err = fmt.Errorf("%w: sealed to room %s, where this principal sat, but not to it", seal.ErrNotAddressed, env.Room)
		}
		if m.Err == nil {
			if err := checkRules(b, env, m.Opened, e.Time); err != nil {
				m.Opened, m.Err = nil, err
			}
		}
		b.Messages = append(b.Messages, m)
		b.byHash[m.Hash] = m
		if b.mine != nil {
			b.mine[m] = true
		}
		opened = m
		return nil
	}
	return opened, b.apply(e, h, c.Credential().Org)
}

// checks returns the hooks of every check of a party's copy of the record that needs no key of
// its own: the host's filing of each event, the charter's signature by its author, the roots
// pinned against the charter and what the party compared out of band, every act's signature
// and whom it speaks for, every relay notice's and receipt's signature; relay notices and
// receipts are attached to the messages they name. A client adds to them what it opens;
// VerifyPartyExport replays an export with them alone.
func (b *Book) checks() replay.Hooks {
	return replay.Hooks{
		Filed: replay.CheckFiled,
		Charter: func(act *seal.Act, _ talks.Charter) error {
			// The charter's signer's credential comes later on the record: checked then.
			b.charterAct = act
			b.byHash = make(map[seal.Hash]*Message)
			return nil
		},
		Root: func(k seal.RootKey) error {
			fp := k.Fingerprint()
			got := hex.EncodeToString(fp[:])
			if !b.pinnedAs(k.Org, got) {
				return fmt.Errorf("the record pins a root for %q (%s) that neither the charter nor an invitation named", k.Org, fp.Short())
			}
			if want, ok := b.Expected[k.Org]; ok && want != got {
				return fmt.Errorf("the root pinned for %q (%s) is not the one this party compared out of band", k.Org, fp.Short())
			}
			return nil
		},
		Credential: func(cr *seal.Credential) error {
			if b.charterAct != nil && cr.ID() == b.charterAct.Author {
				if err := b.checkAct(b.charterAct, b.State.Charter()); err != nil {
					return fmt.Errorf("charter: %w", err)
				}
				b.charterAct = nil
			}
			return nil
		},
		Act: b.checkAct,
		RoomKey: func(_ backchannel.Event, env *seal.Envelope) error {
			_, err := b.Trust.VerifyEnvelope(env, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
			return err
		},
		Relayed: func(act *seal.Act, n backchannel.RelayNotice) error {
			// A notice that a message was passed on is the mediator's word, signed: a host
			// that told a room its words went where they did not is refused.
			if err := b.CheckRelayNotice(act, n); err != nil {
				return err
			}
			for h, m := range b.byHash {
				if h.String() == n.Original {
					m = b.revise(m)
					m.Relays = append(m.Relays, n)
				}
			}
			return nil
		},
		Receipt: func(rc *seal.Receipt) error {
			if _, err := b.Trust.VerifyReceipt(rc, b.ID); err != nil {
				return err
			}
			if m := b.byHash[rc.Envelope]; m != nil {
				m = b.revise(m)
				m.Receipts = append(m.Receipts, rc)
			}
			return nil
		},
	}
}

// follow checks that env follows, in its room's chain, an envelope of the room this copy was
// served (or none), and makes it the room's latest: one that follows an envelope never served
// shows the host kept that one from this party.
func (b *Book) follow(env *seal.Envelope) error {
	if !env.Prev.IsZero() {
		if room, ok := b.Rooms[env.Prev]; !ok || room != env.Room {
			return fmt.Errorf("%w: the host withheld envelope %.12s of room %s, which envelope %.12s follows", ErrWithheld, env.Prev, env.Room, env.Hash())
		}
	}
	if b.last == nil {
		b.last = make(map[string]seal.Hash)
	}
	b.last[env.Room] = env.Hash()
	return nil
}

// redLines verifies red lines on the record and, if they are the client's own party's and
// sealed to it, opens them: they replace any earlier. Red lines it cannot open or that do not
// check leave the party without any this client applies, and say why in RedLinesErr.
func (c *Client) redLines(b *Book, env *seal.Envelope) error {
	sender, err := b.Trust.VerifyEnvelope(env, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
	if err != nil {
		return err
	}
	me := c.Credential()
	if sender.Org != me.Org {
		return nil
	}
	b.RedLines, b.RedLinesErr = nil, nil
	opener := c.id
	if !env.Addressed(me.ID()) {
		cr := c.ownRecipient(b, env)
		if cr == nil {
			b.RedLinesErr = fmt.Errorf("%w: the red lines %s set are not sealed to this principal", seal.ErrNotAddressed, sender.Handle())
			return nil
		}
		var err error
		if opener, err = c.keyFor(cr); err != nil {
			b.RedLinesErr = fmt.Errorf("the red lines %s set: %w", sender.Handle(), err)
			return nil
		}
	}
	opened, err := opener.Open(env, b.Trust, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
	if err != nil {
		b.RedLinesErr = fmt.Errorf("the red lines %s set do not open: %w", sender.Handle(), err)
		return nil
	}
	r, err := talks.ParseRedLines(opened.Body)
	if err == nil && (r.By != (talks.Actor{Principal: sender.Handle(), Org: sender.Org, Rank: sender.Rank, Title: sender.Title}) || !r.At.Equal(env.CreatedAt)) {
		err = fmt.Errorf("they name %s at %s, but %s sealed them at %s", r.By.Principal, r.At, sender.Handle(), env.CreatedAt)
	}
	if err == nil {
		err = b.State.CheckRedLines(r)
	}
	if err != nil {
		b.RedLinesErr = fmt.Errorf("the red lines %s set do not check: %w", sender.Handle(), err)
		return nil
	}
	b.RedLines = &r
	return nil
}

// ErrBreaksRules flags a message on the record that the talks' rules forbade when it was
// posted (a room its sender did not sit in, a topic off the agenda, a rank below the level, a
// relay by someone other than a mediator, another round): the host should have refused it.
var ErrBreaksRules = errors.New("the message breaks the talks' rules")

// checkRules applies the talks' message rules to an envelope, as the host should have when it
// accepted it: against the talks as the record stood just before it, at the time the record
// gives it. A verbatim relay's original room is the one the reader saw it in, or the one its
// author signed; a summary's, if the reader never saw the originals, is the host's to check.
func checkRules(b *Book, env *seal.Envelope, o *seal.Opened, at time.Time) error {
	sender, err := b.Trust.Credential(env.Sender)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBreaksRules, err)
	}
	h := talks.Header{
		Author: talks.Actor{Principal: sender.Handle(), Org: sender.Org, Rank: sender.Rank, Title: sender.Title},
		Room:   env.Room, Kind: env.Kind, Topics: env.Topics, Round: int(env.Round),
	}
	if env.Relay != seal.RelayNone {
		r := &talks.Relay{Mode: talks.RelaySummary}
		if env.Relay == seal.RelayVerbatim {
			r.Mode = talks.RelayVerbatim
		}
		if room, ok := b.Rooms[env.RelayOf[0]]; ok {
			r.From = room
		} else if o != nil && env.Relay == seal.RelayVerbatim {
			r.From = o.Context.Room
		}
		h.Relay = r
	}
	if err := b.State.CheckMessage(h, at); err != nil {
		return fmt.Errorf("%w: %v", ErrBreaksRules, err)
	}
	return nil
}

// pinnedAs reports whether the charter, or an invitation, pins org's root with fingerprint fp.
func (b *Book) pinnedAs(org, fp string) bool {
	for _, p := range b.State.Charter().Roots {
		if p.Org == org && p.Fingerprint == fp {
			return true
		}
	}
	for _, m := range b.State.Motions() {
		if m.Change.Invites() && m.Change.Org == org && m.Change.Root == fp {
			return true
		}
	}
	return false
}

// checkAct verifies an act's signature and that it speaks for whom its event names.
func (b *Book) checkAct(act *seal.Act, ev talks.Event) error {
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
	t, ok := b.Statements[digest]
	return t, ok
}

// Room returns the room an envelope on the record was posted in.
func (b *Book) Room(h seal.Hash) (string, bool) {
	r, ok := b.Rooms[h]
	return r, ok
}

// Message returns the message with the given envelope hash.
func (b *Book) Message(h seal.Hash) *Message { return b.byHash[h] }
