package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Accepting a submission follows one pattern: parse the bytes and fetch from the directory what
// they name (outside the store's transaction, so the group commit is not kept waiting on
// reads); then, inside the transaction that holds the talks' log, bring the book up to the
// log, check everything against it without changing it, and only then append the events and
// bring the book along. A refusal therefore leaves the book as the record is.

// submission is what an accepted request appended.
type submission struct {
	events     []backchannel.Event
	checkpoint backchannel.Checkpoint
	duplicate  *backchannel.Event // set when the bytes were already on the record
}

// appender collects the events of one accepted submission inside the transaction.
type appender struct {
	b     *book
	tx    store.AppendTx
	dirty bool
	// err is the first event that could not be filed; the transaction fails with it.
	err error
}

// add appends e and advances the book's size. The caller has already brought the book's other
// state along (or does so right after): the book must end the transaction exactly as a replay
// of the record would leave it.
func (a *appender) add(e backchannel.Event) backchannel.Event {
	// Filed by the one rule every client checks the filing against.
	room, err := a.b.Room(e.Type, e.Data)
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("filing a %s event: %w", e.Type, err)
	}
	e.Room = room
	a.dirty = true
	e = a.tx.Append(e)
	a.b.size++
	return e
}

// publishCredential puts c on the record if it is not there yet. It must already have been
// added to the book's trust.
func (a *appender) publishCredential(c *seal.Credential) {
	if a.b.published(c.ID()) {
		return
	}
	a.add(backchannel.Event{Type: backchannel.EventCredential, Data: c.Marshal()})
	a.b.markPublished(c.ID())
}

// withBook runs fn inside the transaction of the talks' log, with the book brought up to date.
func (s *Server) withBook(ctx context.Context, id string, fn func(a *appender) error) (submission, error) {
	b, err := s.book(ctx, id)
	if err != nil {
		return submission{}, err
	}
	var dup *backchannel.Event
	var dirty bool
	evs, cp, err := s.store.Append(ctx, id, func(tx store.AppendTx) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := s.catchUp(b, tx); err != nil {
			return err
		}
		a := &appender{b: b, tx: tx}
		now := s.cfg.Now()
		orgs := b.orgs(now)
		err := fn(a)
		if err == nil {
			err = a.err
		}
		if after := b.orgs(now); err == nil && !slices.Equal(orgs, after) {
			// The talks are listed for whoever takes part now, or is invited to.
			tx.SetMembers(after)
		}
		dirty = a.dirty
		var d duplicateError
		if errors.As(err, &d) {
			dup = &d.event
			return nil
		}
		return err
	})
	if err != nil {
		if dirty || !isRefusal(err) {
			// The book may hold what the store did not commit: rebuild it on next use.
			s.dropBook(id)
		}
		return submission{}, err
	}
	s.recent.committed(id, evs)
	return submission{events: evs, checkpoint: cp, duplicate: dup}, nil
}

// duplicateError stops a submission whose bytes are already on the record; withBook turns it
// into an idempotent success.
type duplicateError struct{ event backchannel.Event }

func (d duplicateError) Error() string { return "duplicate" }

// checkDuplicate returns a duplicateError if the log already holds data.
func checkDuplicate(tx store.AppendTx, data []byte) error {
	e, ok, err := tx.Lookup(backchannel.EventHash(hashArray(data)))
	if err != nil {
		return err
	}
	if ok {
		return duplicateError{e}
	}
	return nil
}

func hashArray(b []byte) [32]byte {
	var h [32]byte
	copy(h[:], hashOf(b))
	return h
}

// admit runs the checks every submission begins with inside the transaction: its bytes are not
// on the record already (else the submission is an idempotent success), it is dated near the
// server's clock, and its signer's credential chains to a root the talks pinned.
func (s *Server) admit(a *appender, data []byte, what string, at, now time.Time, signer *seal.Credential) error {
	if err := checkDuplicate(a.tx, data); err != nil {
		return err
	}
	if err := s.checkTime(what, at, now); err != nil {
		return err
	}
	return a.b.trustCredential(signer)
}

// admitSealed admits an envelope submitted as what (a message, red lines, a room key), sealed in
// room: as admit, then its sender's signature and its credential's validity now.
func (s *Server) admitSealed(a *appender, data []byte, what string, env *seal.Envelope, room string, now time.Time, sender *seal.Credential) error {
	if err := s.admit(a, data, what, env.CreatedAt, now, sender); err != nil {
		return err
	}
	if _, err := a.b.Trust.VerifyEnvelope(env, seal.Expect{Talks: a.b.ID, Room: room, AnyRound: true}); err != nil {
		return err
	}
	return a.b.Trust.VerifyCredential(sender, now)
}

// checkTime refuses a signed time too far from the server's clock: a signer cannot backdate
// what it signs into a credential's validity or before a motion's deadline, nor post-date it.
func (s *Server) checkTime(what string, at, now time.Time) error {
	skew := s.cfg.ClockSkew
	if at.Before(now.Add(-skew)) || at.After(now.Add(skew)) {
		return problemf(api.ProblemClockSkew, "%s is dated %s, more than %s from the server's time %s: check the clock",
			what, at.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// trustCredential makes sure the book's trust knows c, verifying it against the pinned root of
// its organisation. It does not put c on the record: publishCredential does, once the
// submission is accepted.
func (b *book) trustCredential(c *seal.Credential) error {
	if _, err := b.Trust.Credential(c.ID()); err == nil {
		return nil
	}
	if !b.pinned[c.Org] {
		return problemf(api.ProblemUntrustedRoot, "credential %s is issued by %q, whose root is not pinned in talks %s", c.ID(), c.Org, b.ID)
	}
	if err := b.Trust.AddCredential(c); err != nil {
		return err
	}
	return nil
}

// directoryCredential fetches a credential from the directory and parses it.
// A credential's bytes never change under its id (the hash of those bytes), so it comes
// through the cache of credentials that tokens use: a submission names three or more, and
// reading and parsing each from the store was a tenth of the server's time under load.
func (s *Server) directoryCredential(ctx context.Context, id seal.CredentialID) (*seal.Credential, error) {
	c, _, err := s.credential(ctx, id.String(), s.cfg.Now())
	if errors.Is(err, backchannel.ErrNotFound) {
		return nil, problemf(api.ProblemUnknownCredential, "credential %s is not published: publish it with POST /v1/credentials first", id)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// recipientCredentials fetches the credentials an envelope is sealed to from the directory.
func (s *Server) recipientCredentials(ctx context.Context, env *seal.Envelope) ([]*seal.Credential, error) {
	recipients := make([]*seal.Credential, len(env.Recipients))
	for i, id := range env.Recipients {
		var err error
		if recipients[i], err = s.directoryCredential(ctx, id); err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	return recipients, nil
}

// checkSealedTo refuses an envelope of room not sealed to exactly its readers: every recipient
// is a reader, at a credential valid now, and every reader is a recipient, unless no one can
// seal to it (its latest credential on the record is revoked or expired).
func (b *book) checkSealedTo(room string, readers []string, recipients []*seal.Credential, now time.Time) error {
	allowed := make(map[string]bool, len(readers))
	for _, p := range readers {
		allowed[p] = true
	}
	sealed := make(map[string]bool, len(recipients))
	for _, rc := range recipients {
		if !allowed[rc.Handle()] {
			return problemf(api.ProblemRecipientOutsideRoom, "recipient %s (%s) does not sit in room %s: the envelope would let it read the room", rc.Handle(), rc.ID(), room)
		}
		if err := b.trustCredential(rc); err != nil {
			return err
		}
		if err := b.Trust.VerifyCredential(rc, now); err != nil {
			return fmt.Errorf("recipient %s: %w", rc.Principal, err)
		}
		sealed[rc.Handle()] = true
	}
	for _, p := range readers {
		if sealed[p] {
			continue
		}
		org, principal, _ := seal.SplitHandle(p)
		if cr := b.Trust.Latest(org, principal); cr != nil && b.Trust.VerifyCredential(cr, now) == nil {
			return problemf(api.ProblemRecipientMissing, "%s reads room %s, but the envelope is not sealed to it: seal to every reader of the room (GET .../rooms/%s/recipients)", p, room, room)
		}
	}
	return nil
}

// checkTag refuses a room tag of the wrong size. The host holds no room key, so it cannot
// check a tag further: the submitter, who keeps the leaf it was promised, and the room's
// readers, who recognise the tag, do.
func checkTag(what string, tag []byte) error {
	if err := backchannel.CheckTag(tag); err != nil {
		return problemf(api.ProblemMalformed, "%s: %v (HMAC-SHA256 under a key of its room, docs/record.md)", what, err)
	}
	return nil
}

// acceptEnvelope checks and appends a sealed message or relay, with a relay's notices, and the
// room tags of each.
func (s *Server) acceptEnvelope(ctx context.Context, talksID string, in api.SubmitEnvelope, now time.Time) (submission, error) {
	data, notices := in.Envelope, in.Notices
	env, err := seal.ParseEnvelope(data)
	if err != nil {
		return submission{}, err
	}
	if len(notices) != len(env.RelayOf) {
		return submission{}, problemf(api.ProblemRelayNotice, "the envelope passes on %d envelope(s) and comes with %d relay notice(s): one each, signed by the mediator", len(env.RelayOf), len(notices))
	}
	if err := checkTag("the envelope's tag", in.Tag); err != nil {
		return submission{}, err
	}
	if len(in.NoticeTags) != 0 && len(in.NoticeTags) != len(notices) {
		return submission{}, problemf(api.ProblemMalformed, "%d relay notice(s) and %d notice tag(s): one tag each, or none", len(notices), len(in.NoticeTags))
	}
	noticeTags := make([][]byte, len(notices))
	for i, t := range in.NoticeTags {
		if err := checkTag(fmt.Sprintf("relay notice %d's tag", i), t); err != nil {
			return submission{}, err
		}
		noticeTags[i] = t
	}
	acts := make([]*seal.Act, len(notices))
	for i, raw := range notices {
		if acts[i], err = seal.ParseAct(raw); err != nil {
			return submission{}, fmt.Errorf("relay notice %d: %w", i, err)
		}
	}
	if env.Talks != talksID {
		return submission{}, problemf(api.ProblemWrongTalks, "the envelope is for talks %q, not %q", env.Talks, talksID)
	}
	sender, err := s.directoryCredential(ctx, env.Sender)
	if err != nil {
		return submission{}, err
	}
	// Check the signature here, in parallel with other requests, rather than inside the
	// transaction, where the store applies one request after another: the check there then
	// finds it done. A bad signature is refused there, as before.
	env.VerifySignature(sender.IdentityKey)
	recipients, err := s.recipientCredentials(ctx, env)
	if err != nil {
		return submission{}, err
	}
	return s.withBook(ctx, talksID, func(a *appender) error {
		b := a.b
		if err := s.admitSealed(a, data, "the envelope", env, env.Room, now, sender); err != nil {
			return err
		}
		h := talks.Header{
			Author: actor(sender),
			Room:   env.Room,
			Kind:   env.Kind,
			Topics: env.Topics,
			Round:  int(env.Round),
		}
		if env.Relay != seal.RelayNone {
			from, ok := b.Rooms[env.RelayOf[0]]
			if !ok {
				return problemf(api.ProblemUnknownEnvelope, "the relayed envelope %s is not on the record of talks %s", env.RelayOf[0], talksID)
			}
			for _, link := range env.RelayOf[1:] {
				r, ok := b.Rooms[link]
				if !ok {
					return problemf(api.ProblemUnknownEnvelope, "the summarised envelope %s is not on the record of talks %s", link, talksID)
				}
				if !b.State.CanRead(sender.Handle(), r, now) {
					return problemf(api.ProblemNotInRoom, "%s summarises envelope %s from room %s, where it does not sit", sender.Handle(), link, r)
				}
			}
			mode := talks.RelayVerbatim
			if env.Relay == seal.RelaySummary {
				mode = talks.RelaySummary
			}
			h.Relay = &talks.Relay{From: from, Mode: mode}
		}
		if err := b.State.CheckMessage(h, now); err != nil {
			return err
		}
		// The envelope it follows must be one of its room's, on the record: readers follow
		// each room's chain, and a link to nothing would read as an envelope kept from them.
		if !env.Prev.IsZero() {
			room, ok := b.Rooms[env.Prev]
			if !ok {
				return problemf(api.ProblemUnknownEnvelope, "the envelope it follows, %s, is not on the record of talks %s", env.Prev, talksID)
			}
			if room != env.Room {
				return problemf(api.ProblemWrongRoom, "the envelope it follows, %s, is of room %s, not %s", env.Prev, room, env.Room)
			}
		}
		if err := b.checkSealedTo(env.Room, b.State.Recipients(env.Room, now), recipients, now); err != nil {
			return err
		}
		if env.Relay == seal.RelayVerbatim {
			if prior, ok := b.relayed[relayKey{env.RelayOf[0].String(), env.Room}]; ok {
				return problemf(api.ProblemAlreadyRelayed, "message %s was relayed verbatim to %s already, by relay %s: its readers have it", env.RelayOf[0], env.Room, prior)
			}
		}
		if err := b.seqs.Check(talksID, sender, env.Sequence); err != nil {
			return err
		}
		// Everything checks: append, and bring the book along.
		a.publishCredential(sender)
		for _, rc := range recipients {
			a.publishCredential(rc)
		}
		a.add(backchannel.Event{Type: backchannel.EventEnvelope, Data: data, Tag: in.Tag})
		b.Rooms[env.Hash()] = env.Room
		if err := b.seqs.Observe(talksID, sender, env.Sequence); err != nil {
			return err
		}
		for i, link := range env.RelayOf {
			// The room the original came from is told by the mediator, in its own signed
			// words, never by the host: each notice must say exactly what this relay did.
			want := backchannel.RelayNotice{
				Original: link.String(), Relay: env.Hash().String(), Mode: env.Relay.String(),
				To: env.Room, By: sender.Handle(), At: env.CreatedAt.UTC(),
			}
			act := acts[i]
			if act.Type != backchannel.EventRelayed || act.Author != env.Sender || !act.CreatedAt.Equal(env.CreatedAt) ||
				!bytes.Equal(act.Payload, want.Payload()) {
				return problemf(api.ProblemRelayNotice, "relay notice %d does not say what the relay did: want an act of type %s by the relay's sender at its time, of %s", i, backchannel.EventRelayed, want.Payload())
			}
			if err := b.CheckRelayNotice(act, want); err != nil {
				return problemf(api.ProblemRelayNotice, "relay notice %d: %v", i, err)
			}
			a.add(backchannel.Event{Type: backchannel.EventRelayed, Data: notices[i], Tag: noticeTags[i]})
			b.noteRelay(want)
		}
		return nil
	})
}

// acceptReceipt checks and appends a receipt.
func (s *Server) acceptReceipt(ctx context.Context, talksID string, data, tag []byte, now time.Time) (submission, error) {
	rc, err := seal.ParseReceipt(data)
	if err != nil {
		return submission{}, err
	}
	if err := checkTag("the receipt's tag", tag); err != nil {
		return submission{}, err
	}
	signer, err := s.directoryCredential(ctx, rc.Signer)
	if err != nil {
		return submission{}, err
	}
	return s.withBook(ctx, talksID, func(a *appender) error {
		b := a.b
		if err := s.admit(a, data, "the receipt", rc.CreatedAt, now, signer); err != nil {
			return err
		}
		if _, err := b.Trust.VerifyReceipt(rc, talksID); err != nil {
			return err
		}
		room, ok := b.Rooms[rc.Envelope]
		if !ok {
			return problemf(api.ProblemUnknownEnvelope, "envelope %s is not on the record of talks %s", rc.Envelope, talksID)
		}
		if !b.canRead(signer.Handle(), room, now) {
			return problemf(api.ProblemNotInRoom, "%s does not sit in room %s and cannot have received envelope %s", signer.Handle(), room, rc.Envelope)
		}
		a.publishCredential(signer)
		a.add(backchannel.Event{Type: backchannel.EventReceipt, Data: data, Tag: tag})
		return nil
	})
}

// parsedAct is an act and the talks event it carries.
type parsedAct struct {
	act    *seal.Act
	event  talks.Event
	author *seal.Credential
	// member is the credential of a principal an add-member act brings in.
	member *seal.Credential
	// root is the root key an invite-mediator motion pins.
	root *seal.RootKey
}

// parseAct parses an act and fetches what it names from the directory.
func (s *Server) parseAct(ctx context.Context, talksID string, data []byte) (*parsedAct, error) {
	act, ev, err := actEvent(data)
	if err != nil {
		return nil, err
	}
	if act.Talks != talksID {
		return nil, problemf(api.ProblemWrongTalks, "the act is for talks %q, not %q", act.Talks, talksID)
	}
	p := &parsedAct{act: act, event: ev}
	if p.author, err = s.directoryCredential(ctx, act.Author); err != nil {
		return nil, err
	}
	switch e := ev.(type) {
	case talks.AddMember:
		if p.member, err = s.latestCredential(ctx, e.Member.Principal); err != nil {
			return nil, err
		}
	case talks.Propose:
		if e.Change.Invites() {
			k, err := s.pinnedRoot(ctx, e.Change.Org, e.Change.Root)
			if err != nil {
				return nil, err
			}
			p.root = &k
		}
	}
	return p, nil
}

// latestCredential returns the unrevoked credential with the highest serial of the principal
// with the given handle.
func (s *Server) latestCredential(ctx context.Context, handle string) (*seal.Credential, error) {
	org, principal, ok := seal.SplitHandle(handle)
	if !ok {
		return nil, problemf(api.ProblemMalformed, "%q is not a principal's handle, <org>:<principal>", handle)
	}
	all, err := s.store.CredentialsOf(ctx, principal)
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Revocation == nil && all[i].Org == org {
			return seal.ParseCredential(all[i].Data)
		}
	}
	return nil, problemf(api.ProblemUnknownCredential, "principal %s has no published, unrevoked credential", handle)
}

// pinnedRoot fetches an organisation's root from the directory and checks it against the
// fingerprint the signer pinned.
func (s *Server) pinnedRoot(ctx context.Context, org, fingerprint string) (seal.RootKey, error) {
	o, err := s.store.Organisation(ctx, org)
	if errors.Is(err, backchannel.ErrNotFound) {
		return seal.RootKey{}, problemf(api.ProblemUnknownOrganisation, "organisation %q is not registered: register its root with POST /v1/organisations", org)
	}
	if err != nil {
		return seal.RootKey{}, err
	}
	k, err := seal.ParseRootKey(o.RootKey)
	if err != nil {
		return seal.RootKey{}, err
	}
	fp := k.Fingerprint()
	if hex.EncodeToString(fp[:]) != fingerprint {
		return seal.RootKey{}, problemf(api.ProblemFingerprintMismatch, "the root registered for %q has fingerprint %s, not the one pinned: compare it with the organisation out of band", org, fp.Short())
	}
	return k, nil
}

// acceptAct checks and appends a signed act carrying a talks event.
func (s *Server) acceptAct(ctx context.Context, talksID string, data []byte, now time.Time) (submission, error) {
	p, err := s.parseAct(ctx, talksID, data)
	if err != nil {
		return submission{}, err
	}
	if _, ok := p.event.(talks.Charter); ok {
		return submission{}, problemf(api.ProblemMalformed, "a charter founds new talks: POST it to /v1/talks")
	}
	return s.withBook(ctx, talksID, func(a *appender) error {
		return s.appendAct(a, talksID, p, data, now)
	})
}

// appendAct checks a parsed act inside the transaction and appends it, with what it brings:
// credentials and a pinned root.
func (s *Server) appendAct(a *appender, talksID string, p *parsedAct, data []byte, now time.Time) error {
	b := a.b
	if err := checkDuplicate(a.tx, data); err != nil {
		return err
	}
	if err := s.checkTime("the act", p.act.CreatedAt, now); err != nil {
		return err
	}
	if !p.event.When().Equal(p.act.CreatedAt) {
		return problemf(api.ProblemMalformed, "the act is dated %s but its %s event %s", p.act.CreatedAt, p.event.Type(), p.event.When())
	}
	if err := b.trustCredential(p.author); err != nil {
		return err
	}
	if _, err := b.Trust.VerifyAct(p.act, talksID, 0); err != nil {
		return err
	}
	if err := b.Trust.VerifyCredential(p.author, now); err != nil {
		return err
	}
	if got, want := talks.ActorOf(p.event), actor(p.author); got != want {
		return problemf(api.ProblemActorMismatch, "the %s event names %s (%s, rank %d) but is signed by %s (%s, rank %d)",
			p.event.Type(), got.Principal, got.Org, got.Rank, want.Principal, want.Org, want.Rank)
	}
	if p.member != nil {
		m := p.event.(talks.AddMember).Member
		if m.Org != p.member.Org || m.Rank != p.member.Rank || m.Principal != p.member.Handle() {
			return problemf(api.ProblemActorMismatch, "member %s is added as %s rank %d, but its credential says %s rank %d",
				m.Principal, m.Org, m.Rank, p.member.Org, p.member.Rank)
		}
		if err := b.trustCredential(p.member); err != nil {
			return err
		}
	}
	seated := b.seats(p.event.When())
	if err := b.State.Apply(p.event); err != nil {
		return err
	}
	// Accepted by the rules: from here on only appends.
	a.publishCredential(p.author)
	if p.member != nil {
		a.publishCredential(p.member)
	}
	a.add(backchannel.Event{Type: backchannel.EventAct, Data: data})
	b.noteDepartures(seated, b.size)
	if p.root != nil && !b.pinned[p.root.Org] {
		if err := b.Trust.Pin(*p.root); err != nil {
			return err
		}
		b.pinned[p.root.Org] = true
		a.add(backchannel.Event{Type: backchannel.EventRoot, Data: p.root.Marshal()})
	}
	return nil
}

// acceptRedLines stores a party's red lines, sealed to its own delegation: the host checks who
// sealed them and to whom, and never reads them.
func (s *Server) acceptRedLines(ctx context.Context, talksID string, data, tag []byte, now time.Time) (submission, error) {
	if err := checkTag("the red lines' tag", tag); err != nil {
		return submission{}, err
	}
	env, sender, recipients, err := s.parseSealed(ctx, talksID, data, "the red lines")
	if err != nil {
		return submission{}, err
	}
	return s.withBook(ctx, talksID, func(a *appender) error {
		b := a.b
		if err := s.admitSealed(a, data, "the red lines", env, backchannel.RoomPrivate(sender.Org), now, sender); err != nil {
			return err
		}
		if err := b.CheckRedLinesHeader(env); err != nil {
			return problemf(api.ProblemForbidden, "%v", err)
		}
		var readers []string
		for _, m := range b.State.Members(sender.Org) {
			readers = append(readers, m.Principal)
		}
		if err := b.checkSealedTo(env.Room, readers, recipients, now); err != nil {
			return err
		}
		if err := b.seqs.Check(talksID, sender, env.Sequence); err != nil {
			return err
		}
		a.publishCredential(sender)
		for _, rc := range recipients {
			a.publishCredential(rc)
		}
		a.add(backchannel.Event{Type: backchannel.EventRedLines, Data: data, Tag: tag})
		return b.seqs.Observe(talksID, sender, env.Sequence)
	})
}

// parseSealed parses an envelope submitted to talksID as what (red lines, a room key) and
// fetches its sender's and recipients' credentials from the directory.
func (s *Server) parseSealed(ctx context.Context, talksID string, data []byte, what string) (*seal.Envelope, *seal.Credential, []*seal.Credential, error) {
	env, err := seal.ParseEnvelope(data)
	if err != nil {
		return nil, nil, nil, err
	}
	if env.Talks != talksID {
		return nil, nil, nil, problemf(api.ProblemWrongTalks, "%s is for talks %q, not %q", what, env.Talks, talksID)
	}
	sender, err := s.directoryCredential(ctx, env.Sender)
	if err != nil {
		return nil, nil, nil, err
	}
	recipients, err := s.recipientCredentials(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	return env, sender, recipients, nil
}

// acceptRoomKey stores a room's new key, sealed to the room's readers: the host checks who
// sealed it and to whom, and never holds the key. Every member is served it.
func (s *Server) acceptRoomKey(ctx context.Context, talksID string, data []byte, now time.Time) (submission, error) {
	env, sender, recipients, err := s.parseSealed(ctx, talksID, data, "the room key")
	if err != nil {
		return submission{}, err
	}
	if env.Relay != seal.RelayNone || !env.Prev.IsZero() {
		return submission{}, problemf(api.ProblemMalformed, "a room key is sealed as no relay and linked to no other envelope: it is no message of the room")
	}
	return s.withBook(ctx, talksID, func(a *appender) error {
		b := a.b
		if err := s.admitSealed(a, data, "the room key", env, env.Room, now, sender); err != nil {
			return err
		}
		if err := b.CheckRoomKeyHeader(env); err != nil {
			return problemf(api.ProblemNotInRoom, "%v", err)
		}
		if err := b.checkSealedTo(env.Room, b.Readers(env.Room, now), recipients, now); err != nil {
			return err
		}
		if err := b.seqs.Check(talksID, sender, env.Sequence); err != nil {
			return err
		}
		a.publishCredential(sender)
		for _, rc := range recipients {
			a.publishCredential(rc)
		}
		a.add(backchannel.Event{Type: backchannel.EventRoomKey, Data: data})
		return b.seqs.Observe(talksID, sender, env.Sequence)
	})
}

// acceptStatement checks a sign act and stores the statement's text beside it.
func (s *Server) acceptStatement(ctx context.Context, talksID string, data []byte, text string, now time.Time) (submission, error) {
	p, err := s.parseAct(ctx, talksID, data)
	if err != nil {
		return submission{}, err
	}
	sign, ok := p.event.(talks.Sign)
	if !ok {
		return submission{}, problemf(api.ProblemMalformed, "a statement is published with a sign act, not a %s", p.event.Type())
	}
	if backchannel.StatementDigest(text) != sign.Digest {
		return submission{}, problemf(api.ProblemMalformed, "the text's digest is %s but the sign act signs %s", backchannel.StatementDigest(text), sign.Digest)
	}
	st, _ := json.Marshal(backchannel.StatementText{Round: sign.Round, Digest: sign.Digest, Text: text})
	// The signature and the text reach the record in one transaction: a statement is never on
	// the record without its text, whatever fails between two requests.
	return s.withBook(ctx, talksID, func(a *appender) error {
		if err := s.appendAct(a, talksID, p, data, now); err != nil {
			return err
		}
		if _, known := a.b.Statements[sign.Digest]; !known {
			a.add(backchannel.Event{Type: backchannel.EventStatement, Data: st})
			a.b.Statements[sign.Digest] = text
		}
		return nil
	})
}

// createTalks founds talks from a charter act.
func (s *Server) createTalks(ctx context.Context, data []byte, now time.Time) (string, submission, error) {
	act, ev, err := actEvent(data)
	if err != nil {
		return "", submission{}, err
	}
	c, ok := ev.(talks.Charter)
	if !ok {
		return "", submission{}, problemf(api.ProblemMalformed, "talks are founded by a charter act, not a %s", ev.Type())
	}
	if act.Talks != c.ID {
		return "", submission{}, problemf(api.ProblemMalformed, "the act is for talks %q but the charter founds %q", act.Talks, c.ID)
	}
	// Ids are scoped to their founder, so that whether an id is taken is never news to anyone
	// but the organisation that took it: a charter can only collide with its founder's own.
	if org, ok := talks.IDScope(c.ID); !ok || org != c.Proposer.Org {
		name := c.ID
		if _, n, ok := strings.Cut(c.ID, ":"); ok {
			name = n
		}
		return "", submission{}, problemf(api.ProblemUnscopedID, "talks id %q is not in the scope of its founder %s: found it as %q", c.ID, c.Proposer.Org, talks.ScopedID(c.Proposer.Org, name))
	}
	// The same charter again is an idempotent success, as any submission whose bytes are on the
	// record already is: a founder whose answer was lost sends it again, later.
	if evs, err := s.store.Events(ctx, c.ID, 0, 1); err == nil && len(evs) == 1 && evs[0].Type == backchannel.EventCharter && bytes.Equal(evs[0].Data, data) {
		return c.ID, submission{duplicate: &evs[0]}, nil
	}
	if err := s.checkTime("the charter", act.CreatedAt, now); err != nil {
		return "", submission{}, err
	}
	for _, w := range c.Witnesses {
		if _, err := record.NewCosignatureVerifier(w.Key); err != nil {
			return "", submission{}, problemf(api.ProblemMalformed, "witness %s: %v", w.Name(), err)
		}
	}
	author, err := s.directoryCredential(ctx, act.Author)
	if err != nil {
		return "", submission{}, err
	}
	orgs := append(append([]string{}, c.Parties...), c.Mediators...)
	roots := make([]seal.RootKey, 0, len(orgs))
	for _, org := range orgs {
		fp := ""
		for _, pin := range c.Roots {
			if pin.Org == org {
				fp = pin.Fingerprint
			}
		}
		if fp == "" {
			return "", submission{}, problemf(api.ProblemMalformed, "the charter names %q but pins no root for it", org)
		}
		k, err := s.pinnedRoot(ctx, org, fp)
		if err != nil {
			return "", submission{}, err
		}
		roots = append(roots, k)
	}
	// found applies the charter and what it pins to b, and checks the charter's signature and
	// proposer, calling add for each event the record gets.
	found := func(b *book, add func(backchannel.Event)) error {
		// The charter is applied as a replay applies it, and appended as it stands.
		charter := backchannel.Event{Type: backchannel.EventCharter, Data: data}
		if err := b.Apply(charter, b.hooks()); err != nil {
			return err
		}
		add(charter)
		for _, k := range roots {
			if err := b.Trust.Pin(k); err != nil {
				return err
			}
			b.pinned[k.Org] = true
			add(backchannel.Event{Type: backchannel.EventRoot, Data: k.Marshal()})
		}
		if err := b.trustCredential(author); err != nil {
			return err
		}
		if _, err := b.Trust.VerifyAct(act, c.ID, 0); err != nil {
			return err
		}
		if talks.ActorOf(c) != actor(author) {
			return problemf(api.ProblemActorMismatch, "the charter names %s as proposer but is signed by %s", c.Proposer.Principal, author.Handle())
		}
		return nil
	}
	// Everything is checked before the id is looked up: a charter that does not verify is
	// refused the same whether its id is taken or free, so forged charters cannot probe for
	// the ids of secret talks.
	if err := found(newBook(c.ID), func(backchannel.Event) {}); err != nil {
		return "", submission{}, err
	}
	b := newBook(c.ID)
	_, cp, err := s.store.CreateTalks(ctx, c.ID, orgs, func(tx store.AppendTx) error {
		a := &appender{b: b, tx: tx}
		if err := found(b, func(e backchannel.Event) { a.add(e) }); err != nil {
			return err
		}
		a.publishCredential(author)
		return a.err
	})
	if err != nil {
		return "", submission{}, err
	}
	evs, err := s.store.Events(ctx, c.ID, 0, int(cp.Size))
	if err != nil {
		return "", submission{}, err
	}
	return c.ID, submission{events: evs, checkpoint: cp}, nil
}
