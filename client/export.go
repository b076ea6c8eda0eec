package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/replay"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
	"github.com/backchannel/backchannel/talks"
)

// PartyExportFormat names and versions a party's export of its own copy of a talks' record
// (docs/record.md, "Exports"). Its "record" member is a record export (record.ExportFormat)
// of every leaf, which any tlog tool can check; around it are the signed events behind the
// leaves the party may read, and the content keys of the messages it discloses, which open
// those messages' envelopes and nothing else.
const PartyExportFormat = "backchannel-party-export/v2"

// PartyExport is what a party can prove about talks without the host. Nothing in it is taken
// on its word: VerifyPartyExport derives every name, word, time and cosigner from signed bytes.
type PartyExport struct {
	Format     string          `json:"format"`
	Talks      string          `json:"talks"`
	Server     string          `json:"server"`
	ExportedBy string          `json:"exported_by"`
	ExportedAt time.Time       `json:"exported_at"`
	Record     json.RawMessage `json:"record"`
	// Events are the events the party may read, with their signed bytes, in record order.
	Events []ExportEvent `json:"events"`
	// Disclosed are the content keys of the messages whose words the export shows.
	Disclosed []Disclosure `json:"disclosed"`

	// Size is the size of the checkpoint the export proves its events in, and Cosigners the
	// number of cosignatures of members its checkpoints carry; both are in Record, and here for
	// a report of what Export wrote.
	Size      int64 `json:"-"`
	Cosigners int   `json:"-"`
}

// ExportEvent is one event of the record, as the host served it.
type ExportEvent struct {
	Index int64     `json:"index"`
	Type  string    `json:"type"`
	Room  string    `json:"room,omitempty"`
	Time  time.Time `json:"time"`
	Data  []byte    `json:"data"`
	// Tag is the room tag the event's leaf carries, for an event filed under a room.
	Tag []byte `json:"tag,omitempty"`
}

// Disclosure opens one envelope of the export: its content key (seal.Opened.ContentKey).
type Disclosure struct {
	Index int64  `json:"index"`
	Key   []byte `json:"key"`
}

// ExportOptions say what an export holds besides the record.
type ExportOptions struct {
	// Progress, if set, is told how many of the events have been read.
	Progress func(done, total int64)
	// Disclose chooses the messages whose words the export shows; nil shows every message the
	// party opened. The others stay sealed: their envelopes are in the export, their words not.
	Disclose func(m *Message) bool
}

// Export syncs talks and returns the party's export of it: every leaf of the record up to the
// latest verified checkpoint with its inclusion proof, that checkpoint (as served now, with the
// cosignatures gathered since) and the latest one each member cosigned, with the consistency
// proofs between them, every event the party may read, and the content keys of the messages it
// discloses.
func (c *Client) Export(ctx context.Context, talksID string, opts ExportOptions) (*PartyExport, error) {
	if _, err := c.Sync(ctx, talksID); err != nil {
		return nil, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return nil, err
	}
	v := b.Verifier
	cp, latest := v.Latest()
	tc := c.LogTiles(talksID)
	if msg, err := tc.Checkpoint(ctx); err == nil {
		if served, _, err := record.OpenCheckpoint(msg, v.Origin(), v.LogVerifier()); err == nil && served == cp {
			latest = msg
		}
	}
	notes := append(cosignedNotes(b, cp), latest)
	var events []ExportEvent
	for from := int64(0); from < cp.Size; {
		var page api.EventPage
		q := fmt.Sprintf("/v1/talks/%s/events?from=%d&limit=1000&to=%d", url.PathEscape(talksID), from, cp.Size)
		err := c.do(ctx, http.MethodGet, q, true, nil, &page)
		if err != nil {
			return nil, err
		}
		for _, ae := range page.Events {
			if ae.Index >= cp.Size {
				break
			}
			events = append(events, ExportEvent{Index: ae.Index, Type: ae.Type, Room: ae.Room, Time: ae.Time, Data: ae.Data, Tag: ae.Tag})
		}
		if opts.Progress != nil {
			opts.Progress(min(page.Next, cp.Size), cp.Size)
		}
		if page.Next <= from || len(page.Events) == 0 {
			break
		}
		from = page.Next
	}
	// Every leaf, not only those of the events: a verifier then knows the whole record, and
	// that no event every member reads was left out.
	leaves, err := tc.Entries(ctx, cp, 0, cp.Size)
	if err != nil {
		return nil, recordError(talksID, err)
	}
	entries := make(map[int64][]byte, len(leaves))
	for i, l := range leaves {
		entries[int64(i)] = l
	}
	logKey, err := record.OriginVerifierKey(c.PinnedLogKey(), v.Origin())
	if err != nil {
		return nil, err
	}
	// The export lists no cosigner key: a verifier takes them from the credentials on the
	// record, never from the file.
	rec, err := record.NewExport(v.Origin(), logKey, nil, notes, entries, tc.HashReader(ctx, cp))
	if err != nil {
		return nil, recordError(talksID, err)
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	px := &PartyExport{Format: PartyExportFormat, Talks: talksID, Server: c.base, ExportedBy: c.Credential().Handle(),
		ExportedAt: c.now().UTC().Truncate(time.Second), Record: recJSON, Events: events, Disclosed: []Disclosure{},
		Size: cp.Size, Cosigners: len(b.cosigned)}
	for _, m := range b.Messages {
		if m.Index < cp.Size && m.Opened != nil && (opts.Disclose == nil || opts.Disclose(m)) {
			px.Disclosed = append(px.Disclosed, Disclosure{Index: m.Index, Key: m.Opened.ContentKey()})
		}
	}
	return px, nil
}

// cosignedNotes returns the latest checkpoint each member and witness cosigned that this
// client checked against the record it verified, no larger than cp, in order of size: the
// notes as checked, whatever the host has gathered since.
func cosignedNotes(b *Book, cp record.Checkpoint) [][]byte {
	var cs []Cosigned
	for _, c := range b.cosigned {
		if c.Size <= cp.Size && c.note != nil {
			cs = append(cs, c)
		}
	}
	slices.SortStableFunc(cs, func(x, y Cosigned) int { return cmp.Compare(x.Size, y.Size) })
	var notes [][]byte
	for _, c := range cs {
		notes = append(notes, c.note)
	}
	return notes
}

// ErrExport reports an export that does not verify: the file was altered, or the host's
// record was.
var ErrExport = errors.New("the export does not verify")

// VerifyOptions are what a verifier trusts, from outside the export.
type VerifyOptions struct {
	// LogKey is the host's log key (or host key) the checkpoints must be signed with; empty
	// takes the export's own, which proves consistency but not that the host signed it.
	LogKey string
	// Roots are the organisations' root fingerprints the verifier compared out of band, as
	// people pass them (safety numbers, or hex; MatchFingerprint): a record that pins another
	// root for one of them is refused.
	Roots map[string]string
}

// PartyExportReport is what VerifyPartyExport verified.
type PartyExportReport struct {
	// Talks and ExportedBy are empty for a bare record export.
	Talks      string               `json:"talks,omitempty"`
	ExportedBy string               `json:"exported_by,omitempty"`
	Record     *record.ExportReport `json:"record"`
	// Events is the number of events checked against their leaves and replayed; Acts the
	// number of acts among them whose signatures were verified.
	Events int `json:"events"`
	Acts   int `json:"acts"`
	// Roots are the safety numbers of the roots the record pins, by organisation, and
	// RootsCompared the organisations whose roots were checked against VerifyOptions.Roots.
	Roots         map[string]string `json:"roots,omitempty"`
	RootsCompared []string          `json:"roots_compared,omitempty"`
	// Confirmed is the size of the record the charter's quorum of parties (every party by
	// default) has cosigned, by the checkpoints in the export and the keys of the parties'
	// credentials on the record.
	Confirmed int64 `json:"confirmed"`
	// LeftAt, if not zero, is the size of the record the exporter's organisation was entitled
	// to read: it took part no more after it, and the export holds nothing later.
	LeftAt int64 `json:"left_at,omitempty"`
	// Messages are the disclosed messages, verified against their authors' signatures.
	Messages []DisclosedMessage `json:"messages"`
}

// DisclosedMessage is a message the export discloses, as the verifier opened it.
type DisclosedMessage struct {
	MessageView
	// AuthorRevokedAt, if not zero, is the index of the event that later revoked the author's
	// credential: the message was signed before it, and stands.
	AuthorRevokedAt int64 `json:"author_revoked_at,omitempty"`
}

// VerifyPartyExport verifies an export offline, holding no key of the talks: the record (every
// checkpoint's log signature against opts.LogKey, the consistency proofs between them, every
// leaf's inclusion), that the export holds every leaf and each event is the one its leaf
// commits to, that no event every member reads is missing, a replay of the events with every
// check a party's client makes that needs no key (the charter signed by its author, the roots
// the charter pins and opts.Roots, every credential chained to its root, every act and receipt
// signed by whom it names), which parties cosigned each checkpoint by the keys of their
// credentials on the record, and each disclosed message: its envelope opened with its key,
// the words signed by their author in their context. A bare record export verifies too (its
// record only). Any failure wraps ErrExport.
func VerifyPartyExport(data []byte, opts VerifyOptions) (*PartyExportReport, error) {
	if err := strictjson.Check(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	var px PartyExport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&px); err != nil || px.Format != PartyExportFormat {
		rep, rerr := record.VerifyExport(data, opts.LogKey)
		if rerr != nil {
			if err == nil {
				err = fmt.Errorf("format %q", px.Format)
			}
			return nil, fmt.Errorf("%w: neither a party export (%v) nor a record export (%w)", ErrExport, err, rerr)
		}
		return &PartyExportReport{Record: rep}, nil
	}
	rep, err := verifyPartyExport(&px, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return rep, nil
}

func verifyPartyExport(px *PartyExport, opts VerifyOptions) (*PartyExportReport, error) {
	rep := &PartyExportReport{Talks: px.Talks, ExportedBy: px.ExportedBy, Messages: []DisclosedMessage{}}
	exp, err := record.ParseExport(px.Record)
	if err != nil {
		return nil, err
	}
	if len(exp.CosignerKeys) != 0 {
		return nil, errors.New("the record lists cosigner keys of its own: a party export takes them from the credentials on the record")
	}
	if rep.Record, err = record.VerifyExport(px.Record, opts.LogKey); err != nil {
		return nil, err
	}
	lastSize := rep.Record.Checkpoints[len(rep.Record.Checkpoints)-1].Size
	// The record's leaves, all of them, in order.
	leaves := make([][]byte, 0, len(exp.Entries))
	for i, en := range exp.Entries {
		if en.Index != int64(i) {
			return nil, fmt.Errorf("the record export lacks leaf %d: a party export holds every leaf", i)
		}
		b, err := base64.StdEncoding.DecodeString(en.Data)
		if err != nil {
			return nil, fmt.Errorf("leaf %d: %w", en.Index, err)
		}
		leaves = append(leaves, b)
	}
	if int64(len(leaves)) != lastSize {
		return nil, fmt.Errorf("the record export holds %d leaves of the %d its last checkpoint commits to", len(leaves), lastSize)
	}
	// The events, each the one its leaf commits to, replayed as the party's client did.
	b := &Book{Book: replay.New(px.Talks), mine: make(map[*Message]bool)}
	keys := make(map[int64][]byte, len(px.Disclosed))
	for _, d := range px.Disclosed {
		if _, dup := keys[d.Index]; dup {
			return nil, fmt.Errorf("event %d is disclosed twice", d.Index)
		}
		keys[d.Index] = d.Key
	}
	revokedAt := make(map[seal.CredentialID]int64)
	h := b.checks()
	pinned := make(map[string]seal.Fingerprint)
	checkRoot := h.Root
	h.Root = func(k seal.RootKey) error {
		if err := checkRoot(k); err != nil {
			return err
		}
		fp := k.Fingerprint()
		if given, ok := opts.Roots[k.Org]; ok {
			if match, err := MatchFingerprint(given, fp); err != nil || !match {
				return fmt.Errorf("the root pinned for %q (%s) is not the one compared out of band (%v)", k.Org, fp.Short(), err)
			}
			rep.RootsCompared = append(rep.RootsCompared, k.Org)
		}
		pinned[k.Org] = fp
		return nil
	}
	check := h.Act
	h.Act = func(act *seal.Act, ev talks.Event) error {
		rep.Acts++
		return check(act, ev)
	}
	var at backchannel.Event
	exporterOrg, _, _ := seal.SplitHandle(px.ExportedBy)
	h.RedLines = func(_ backchannel.Event, env *seal.Envelope) error {
		_, err := b.Trust.VerifyEnvelope(env, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
		return err
	}
	h.Envelope = func(e backchannel.Event, env *seal.Envelope) error {
		if err := b.follow(env); err != nil {
			return err
		}
		key, ok := keys[int64(e.Index)]
		if !ok {
			_, err := b.Trust.VerifyEnvelope(env, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
			return err
		}
		delete(keys, int64(e.Index))
		o, err := b.Trust.OpenDisclosed(env, key, seal.Expect{Talks: b.ID, Room: env.Room, AnyRound: true})
		if err != nil {
			return fmt.Errorf("the disclosed message does not open: %w", err)
		}
		m := &Message{Index: int64(e.Index), Hash: env.Hash(), Room: env.Room, Time: e.Time, Envelope: env, Opened: o}
		if err := checkRules(b, env, o, e.Time); err != nil {
			m.Err = err
		}
		b.Messages = append(b.Messages, m)
		b.byHash[m.Hash] = m
		b.mine[m] = true
		return nil
	}
	next := 0
	for i, ev := range px.Events {
		if i > 0 && ev.Index <= px.Events[i-1].Index {
			return nil, fmt.Errorf("event %d comes after event %d: events must be in record order", ev.Index, px.Events[i-1].Index)
		}
		if ev.Index < 0 || ev.Index >= lastSize {
			return nil, fmt.Errorf("event %d is outside the record of %d leaves", ev.Index, lastSize)
		}
		for ; int64(next) < ev.Index; next++ {
			if err := b.notShared(next, leaves[next]); err != nil {
				return nil, err
			}
		}
		next++
		at = backchannel.Event{Talks: px.Talks, Index: uint64(ev.Index), Type: ev.Type, Room: ev.Room, Data: ev.Data, Time: ev.Time, Tag: ev.Tag}
		if !bytes.Equal(leaves[ev.Index], at.Entry()) {
			return nil, fmt.Errorf("event %d (%s) is not the one its leaf commits to", ev.Index, ev.Type)
		}
		if err := b.apply(at, h, exporterOrg); err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", ev.Index, ev.Type, err)
		}
		if ev.Type == backchannel.EventRevocation {
			if v, err := seal.ParseRevocation(ev.Data); err == nil {
				revokedAt[v.Credential] = ev.Index
			}
		}
		rep.Events++
	}
	for ; int64(next) < lastSize; next++ {
		if err := b.notShared(next, leaves[next]); err != nil {
			return nil, err
		}
	}
	if b.State == nil {
		return nil, errors.New("the export holds no charter")
	}
	if b.charterAct != nil {
		return nil, errors.New("the charter's author's credential is not on the record, so nothing verifies that its proposer signed it")
	}
	for index := range keys {
		return nil, fmt.Errorf("event %d is disclosed, but is not an envelope of the export", index)
	}
	rep.Roots = make(map[string]string, len(pinned))
	for org, fp := range pinned {
		rep.Roots[org] = fp.String()
	}
	slices.Sort(rep.RootsCompared)
	// Cosigners by the keys of their credentials on the record, never by keys the file lists.
	if err := cosignersOf(rep.Record, exp, b); err != nil {
		return nil, err
	}
	rep.Confirmed = confirmedBy(b, rep.Record)
	rep.LeftAt = b.LeftAt
	for _, m := range b.Messages {
		dm := DisclosedMessage{MessageView: ViewOf(b, m)}
		if m.Err != nil {
			dm.Flag = m.Err.Error()
		}
		dm.AuthorRevokedAt = revokedAt[m.Opened.Author.ID()]
		rep.Messages = append(rep.Messages, dm)
	}
	return rep, nil
}

// notShared refuses a leaf the export has no event for if every member may read its event:
// the exporter read it, and left it out; unless it comes after the exporter's organisation left
// the talks, when it was no longer the exporter's to read.
func (b *Book) notShared(index int, leaf []byte) error {
	typ, _, _, ok := backchannel.ParseEntry(leaf)
	if !ok {
		return fmt.Errorf("leaf %d is not an event's entry", index)
	}
	if backchannel.SharedEvent(typ) && (b.LeftAt == 0 || int64(index) < b.LeftAt) {
		return fmt.Errorf("the export leaves out event %d (%s), which every member reads", index, typ)
	}
	return nil
}

// cosignersOf names, for each checkpoint of the verified record r, the cosigners whose keys
// the credentials of the members on the record and the witnesses the charter names give,
// never keys the file lists; a cosignature under one of those keys that does not verify is a
// forgery, and refused.
func cosignersOf(r *record.ExportReport, exp *record.Export, b *Book) error {
	var keys []string
	for _, m := range b.State.Members("") {
		org, principal, _ := seal.SplitHandle(m.Principal)
		for _, cr := range b.Trust.Credentials(org, principal) {
			if k, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey); err == nil {
				keys = append(keys, k)
			}
		}
	}
	ws, _ := b.State.Witnesses()
	for _, w := range ws {
		keys = append(keys, w.Key)
	}
	var vs []note.Verifier
	for _, k := range keys {
		if v, err := record.NewCosignatureVerifier(k); err == nil {
			vs = append(vs, v)
		}
	}
	for i, msg := range exp.Checkpoints {
		names := []string{}
		n, err := note.Open([]byte(msg), note.VerifierList(vs...))
		var none *note.UnverifiedNoteError
		switch {
		case errors.As(err, &none):
		case err != nil:
			return fmt.Errorf("checkpoint %d: a cosignature does not verify: %v", i, err)
		default:
			for _, s := range n.Sigs {
				names = append(names, s.Name)
			}
		}
		r.Checkpoints[i].Cosigners = names
	}
	return nil
}

// confirmedBy returns the size the charter's quorums of parties and of witnesses have cosigned,
// by the export's checkpoints.
func confirmedBy(b *Book, r *record.ExportReport) int64 {
	by := make(map[string]int64)
	for _, org := range b.State.Parties() {
		by[org] = 0
	}
	for _, c := range r.Checkpoints {
		for _, name := range c.Cosigners {
			org, _, _ := strings.Cut(name, "/")
			if _, party := by[org]; party {
				by[org] = max(by[org], c.Size)
			}
		}
	}
	confirmed := QuorumSize(by, b.State.Quorum())
	if ws, q := b.State.Witnesses(); len(ws) > 0 {
		witnessed := make(map[string]int64, len(ws))
		for _, w := range ws {
			witnessed[w.Name()] = 0
		}
		for _, c := range r.Checkpoints {
			for _, name := range c.Cosigners {
				if _, ok := witnessed[name]; ok {
					witnessed[name] = max(witnessed[name], c.Size)
				}
			}
		}
		confirmed = min(confirmed, QuorumSize(witnessed, q))
	}
	return confirmed
}
