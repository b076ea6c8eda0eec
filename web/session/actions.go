package session

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/strictjson"
	"github.com/backchannel/backchannel/talks"
)

// Call runs the page's request named method with its JSON arguments and returns what the page
// shows. Every method but "login" and "list" names talks.
func (s *Session) Call(ctx context.Context, method string, args []byte) (any, error) {
	h, ok := methods[method]
	if !ok {
		return nil, fmt.Errorf("no such request %q", method)
	}
	var a Args
	if len(args) > 0 {
		d := json.NewDecoder(bytes.NewReader(args))
		d.DisallowUnknownFields()
		err := strictjson.Check(args)
		if err == nil {
			err = d.Decode(&a)
		}
		if err != nil {
			return nil, fmt.Errorf("the request %s does not read: %w", method, err)
		}
	}
	if h.talks && a.Talks == "" {
		return nil, fmt.Errorf("the request %s names no talks", method)
	}
	return h.do(s, ctx, a)
}

// Args are the arguments of every request; each uses the fields it needs.
type Args struct {
	Talks string `json:"talks,omitempty"`
	// Compared are safety numbers compared out of band, by organisation.
	Compared map[string]string `json:"compared,omitempty"`
	// Charter of talks to found.
	Parties    []string `json:"parties,omitempty"`
	Mediators  []string `json:"mediators,omitempty"`
	Format     string   `json:"format,omitempty"`
	Visibility string   `json:"visibility,omitempty"`
	Level      int      `json:"level,omitempty"`
	// A message.
	Room    string   `json:"room,omitempty"`
	Kind    string   `json:"kind,omitempty"`
	Topics  []string `json:"topics,omitempty"`
	Body    string   `json:"body,omitempty"`
	ReplyTo string   `json:"reply_to,omitempty"`
	// Hash is the message relayed; Of the messages summed up.
	Hash string   `json:"hash,omitempty"`
	Of   []string `json:"of,omitempty"`
	// A motion and a vote.
	Motion  string `json:"motion,omitempty"`
	Change  Change `json:"change,omitzero"`
	Minutes int    `json:"minutes,omitempty"`
	Accept  bool   `json:"accept,omitempty"`
	// A round and a statement.
	Round int    `json:"round,omitempty"`
	Text  string `json:"text,omitempty"`
	Joint bool   `json:"joint,omitempty"`
	// Member is a principal of the principal's own organisation (its handle, or its name).
	Member string `json:"member,omitempty"`
}

// Change is a motion's change as the page's form gives it.
type Change struct {
	Kind string `json:"kind"`
	// Value is the form's one field: an organisation, a venue, a format, a level, a topic, or a
	// local date and time (RFC 3339) for a round or the end of a direct session.
	Value string `json:"value,omitempty"`
	// Safety is the safety number of an invited organisation's root, compared out of band.
	Safety string `json:"safety,omitempty"`
}

type method struct {
	talks bool
	do    func(s *Session, ctx context.Context, a Args) (any, error)
}

var methods = map[string]method{
	"login": {false, func(s *Session, ctx context.Context, a Args) (any, error) { return s.Login(ctx) }},
	"list": {false, func(s *Session, ctx context.Context, a Args) (any, error) {
		l, err := s.c.ListTalks(ctx)
		if l == nil {
			l = []api.TalksSummary{}
		}
		return l, err
	}},
	"talks": {true, func(s *Session, ctx context.Context, a Args) (any, error) { return s.Talks(ctx, a.Talks) }},
	"follow": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		s.Follow(a.Talks)
		return map[string]bool{"following": true}, nil
	}},
	"unfollow": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		s.Unfollow(a.Talks)
		return map[string]bool{"following": false}, nil
	}},
	"root": {false, func(s *Session, ctx context.Context, a Args) (any, error) {
		o, err := s.c.Organisation(ctx, a.Room)
		if err != nil {
			return nil, err
		}
		return map[string]string{"org": o.ID, "name": o.Name}, nil
	}},
	"create": {true, (*Session).create},
	"accept": {true, (*Session).accept},
	"send": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		d, err := a.draft()
		if err != nil {
			return nil, err
		}
		if a.ReplyTo != "" {
			m, err := s.message(ctx, a.Talks, a.ReplyTo)
			if err != nil {
				return nil, err
			}
			d.ReplyTo = m.Hash
		}
		_, env, err := s.c.Send(ctx, a.Talks, d)
		if err != nil {
			return nil, err
		}
		return s.after(ctx, a.Talks, env.Hash())
	}},
	"relay": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		m, err := s.message(ctx, a.Talks, a.Hash)
		if err != nil {
			return nil, err
		}
		_, env, err := s.c.RelayVerbatim(ctx, a.Talks, m, a.Room)
		if err != nil {
			return nil, err
		}
		return s.after(ctx, a.Talks, env.Hash())
	}},
	"summarize": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		var of []seal.Hash
		for _, h := range a.Of {
			m, err := s.message(ctx, a.Talks, h)
			if err != nil {
				return nil, err
			}
			of = append(of, m.Hash)
		}
		a.Kind = string(backchannel.KindSummary) // a mediator's own words are a summary, always
		d, err := a.draft()
		if err != nil {
			return nil, err
		}
		_, env, err := s.c.Summarize(ctx, a.Talks, of, d)
		if err != nil {
			return nil, err
		}
		return s.after(ctx, a.Talks, env.Hash())
	}},
	"receipt": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		m, err := s.message(ctx, a.Talks, a.Hash)
		if err != nil {
			return nil, err
		}
		kinds := map[string]seal.ReceiptKind{"delivered": seal.Delivered, "read": seal.Read, "acknowledged": seal.Acknowledged}
		k, ok := kinds[a.Kind]
		if !ok {
			return nil, fmt.Errorf("%q is not a kind of receipt: delivered, read or acknowledged", a.Kind)
		}
		if _, err := s.c.Receipt(ctx, a.Talks, m.Hash, k); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"propose": {true, (*Session).propose},
	"vote": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		if a.Accept {
			if err := s.compareInvitation(ctx, a.Talks, a.Motion, a.Compared); err != nil {
				return nil, err
			}
		}
		if _, err := s.c.Vote(ctx, a.Talks, a.Motion, a.Accept); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"open-round": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		if _, err := s.c.OpenRound(ctx, a.Talks, a.Round); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"close-round": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		if _, err := s.c.CloseRound(ctx, a.Talks, a.Round); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"add-member": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		h, err := s.ownMember(a.Member)
		if err != nil {
			return nil, err
		}
		cr, err := s.c.MemberCredential(ctx, a.Talks, h)
		if err != nil {
			return nil, err
		}
		if _, err := s.c.AddMember(ctx, a.Talks, cr); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"remove-member": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		h, err := s.ownMember(a.Member)
		if err != nil {
			return nil, err
		}
		if _, err := s.c.RemoveMember(ctx, a.Talks, h); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"close-session": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		if _, err := s.c.CloseSession(ctx, a.Talks); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"statement": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		if _, err := s.c.Statement(ctx, a.Talks, a.Round, a.Text, a.Joint); err != nil {
			return nil, err
		}
		return s.Talks(ctx, a.Talks)
	}},
	"export": {true, func(s *Session, ctx context.Context, a Args) (any, error) {
		x, err := s.c.Export(ctx, a.Talks, client.ExportOptions{})
		if err != nil {
			return nil, err
		}
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return nil, err
		}
		return map[string]string{"name": strings.ReplaceAll(a.Talks, ":", "_") + ".export.json", "data": string(b)}, nil
	}},
}

// after returns the page once a message was accepted, with the message's hash.
func (s *Session) after(ctx context.Context, talksID string, h seal.Hash) (any, error) {
	p, err := s.Talks(ctx, talksID)
	if err != nil {
		return nil, err
	}
	return struct {
		*Page
		Sent string `json:"sent"`
	}{p, h.String()}, nil
}

// ownMember returns the handle of a principal of the session's own organisation, given as a
// handle or a name: a delegation changes only its own members.
func (s *Session) ownMember(m string) (string, error) {
	org := s.id.Credential().Org
	m = strings.TrimSpace(m)
	if !strings.Contains(m, ":") {
		m = org + ":" + m
	}
	o, name, ok := seal.SplitHandle(m)
	if !ok || name == "" {
		return "", fmt.Errorf("%q is not a principal of %s: give its name, or org:name", m, org)
	}
	if o != org {
		return "", fmt.Errorf("%s is not of %s: a delegation changes only its own members", m, org)
	}
	return m, nil
}

// message finds a message of talks the principal read, by its hash (hex).
// A message not in the copy yet is looked for again after a sync.
func (s *Session) message(ctx context.Context, talksID, hash string) (*client.Message, error) {
	for range 2 {
		for _, m := range s.c.Book(talksID).Messages {
			if m.Hash.String() == hash {
				return m, nil
			}
		}
		if _, err := s.c.Sync(ctx, talksID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no message %s among those read in %s", short(hash), talksID)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (a Args) draft() (client.Draft, error) {
	d := client.Draft{Room: a.Room, Kind: backchannel.Kind(a.Kind), Body: []byte(a.Body), Round: a.Round}
	if !d.Kind.Valid() {
		return d, fmt.Errorf("%q is not a kind of message", a.Kind)
	}
	if strings.TrimSpace(a.Body) == "" {
		return d, errors.New("the message is empty: write something to send")
	}
	for _, t := range a.Topics {
		if t = strings.TrimSpace(t); t != "" {
			d.Topics = append(d.Topics, t)
		}
	}
	return d, nil
}

// compare checks the root the server presents for org against the safety number compared out of
// band, or the one this principal compared before, and remembers it.
func (s *Session) compare(ctx context.Context, org, given string) (seal.RootKey, error) {
	if org == s.id.Credential().Org && given == "" {
		return s.ownRoot(ctx)
	}
	o, err := s.c.Organisation(ctx, org)
	if err != nil {
		return seal.RootKey{}, err
	}
	key, err := seal.ParseRootKey(o.RootKey)
	if err != nil || key.Org != org {
		return seal.RootKey{}, fmt.Errorf("the server presents a root for %s that does not parse", org)
	}
	fp := key.Fingerprint()
	if given == "" {
		if known, ok := s.known()[org]; ok {
			if known == hex.EncodeToString(fp[:]) {
				return key, nil
			}
			return key, &Error{Problem: "root-changed", Alarm: true,
				Message: fmt.Sprintf("the server presents another root for %s than the one you compared before", org),
				Todo:    "someone may be impersonating " + org + ": compare its safety number again, out of band, before anything else"}
		}
		return key, &Error{Problem: "uncompared", Message: fmt.Sprintf("compare the safety number of %s (%s) out of band first", org, o.Name),
			Todo: "ask " + org + " for its safety number over a channel you trust, and type it in"}
	}
	match, err := client.MatchFingerprint(given, fp)
	if err != nil {
		return key, fmt.Errorf("the safety number given for %s: %w", org, err)
	}
	if !match {
		return key, &Error{Problem: "fingerprint-mismatch", Alarm: true,
			Message: fmt.Sprintf("the server presents a root for %s that is not the one whose safety number you were given", org),
			Todo:    "someone may be impersonating " + org + ": compare again out of band; do not go on"}
	}
	return key, s.remember(org, fp)
}

func (s *Session) create(ctx context.Context, a Args) (any, error) {
	ch := talks.Charter{ID: a.Talks, Parties: a.Parties, Mediators: a.Mediators, Format: talks.Format(a.Format),
		Visibility: talks.Visibility(a.Visibility), Level: backchannel.Rank(a.Level)}
	if ch.Format == "" {
		ch.Format = talks.FormatIndirect
	}
	if ch.Level == 0 {
		ch.Level = 1 // as the command line: every rank may send formal messages
	}
	if ch.Visibility == "" {
		ch.Visibility = talks.VisibilitySecret
	}
	for _, org := range append(append([]string{}, a.Parties...), a.Mediators...) {
		key, err := s.compare(ctx, org, a.Compared[org])
		if err != nil {
			return nil, err
		}
		ch.Roots = append(ch.Roots, client.Pin(key))
	}
	if _, err := s.c.CreateTalks(ctx, ch); err != nil {
		return nil, err
	}
	return s.Talks(ctx, a.Talks)
}

func (s *Session) accept(ctx context.Context, a Args) (any, error) {
	known := map[string]seal.Fingerprint{}
	for org, fp := range s.known() {
		if b, err := hex.DecodeString(fp); err == nil && len(b) == len(seal.Fingerprint{}) {
			known[org] = seal.Fingerprint(b)
		}
	}
	if _, err := s.c.Accept(ctx, a.Talks, client.PinPolicy{Known: known, Given: a.Compared}); err != nil {
		return nil, err
	}
	for _, p := range s.c.Book(a.Talks).State.Roots() {
		if b, err := hex.DecodeString(p.Fingerprint); err == nil && len(b) == len(seal.Fingerprint{}) {
			if err := s.remember(p.Org, seal.Fingerprint(b)); err != nil {
				return nil, err
			}
		}
	}
	return s.Talks(ctx, a.Talks)
}

func (s *Session) propose(ctx context.Context, a Args) (any, error) {
	c, err := s.change(ctx, a.Change)
	if err != nil {
		return nil, err
	}
	minutes := a.Minutes
	if minutes <= 0 {
		minutes = 24 * 60
	}
	if a.Motion == "" {
		return nil, errors.New("name the motion: a short id such as m-venue-muscat")
	}
	if _, err := s.c.Propose(ctx, a.Talks, a.Motion, c, s.now().UTC().Add(time.Duration(minutes)*time.Minute).Truncate(time.Second)); err != nil {
		return nil, err
	}
	return s.Talks(ctx, a.Talks)
}

func (s *Session) change(ctx context.Context, c Change) (talks.Change, error) {
	v := strings.TrimSpace(c.Value)
	when := func() (time.Time, error) {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, fmt.Errorf("%q is not a date and time", v)
		}
		return t.UTC().Truncate(time.Minute), nil
	}
	switch k := talks.MotionKind(c.Kind); k {
	case talks.MotionInviteMediator, talks.MotionAddParty:
		key, err := s.compare(ctx, v, c.Safety)
		if err != nil {
			return talks.Change{}, err
		}
		fp := client.Pin(key).Fingerprint
		if k == talks.MotionAddParty {
			return talks.AddParty(v, fp), nil
		}
		return talks.InviteMediator(v, fp), nil
	case talks.MotionRemoveMediator:
		return talks.RemoveMediator(v), nil
	case talks.MotionRemoveParty:
		return talks.RemoveParty(v), nil
	case talks.MotionSetVenue:
		return talks.SetVenue(v), nil
	case talks.MotionSetFormat:
		return talks.SetFormat(talks.Format(v)), nil
	case talks.MotionSetLevel:
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil {
			return talks.Change{}, fmt.Errorf("a level is a rank from 1 to 5, not %q", v)
		}
		return talks.SetLevel(backchannel.Rank(n)), nil
	case talks.MotionAddTopic:
		return talks.AddTopic(v), nil
	case talks.MotionRemoveTopic:
		return talks.RemoveTopic(v), nil
	case talks.MotionScheduleRound:
		t, err := when()
		return talks.ScheduleRound("", t), err
	case talks.MotionOpenSession:
		t, err := when()
		return talks.OpenSession(t), err
	case talks.MotionSuspend:
		return talks.Suspend(), nil
	case talks.MotionResume:
		return talks.Resume(), nil
	case talks.MotionConclude:
		return talks.Conclude(), nil
	}
	return talks.Change{}, fmt.Errorf("%q is not a kind of motion", c.Kind)
}

// compareInvitation holds a yes to an invitation to the comparisons a charter's acceptance
// needs. A voter says yes only to the root of the invitee it compared: the motion pins it, and
// every signature of the invitee will be checked against it. The invitee says yes only once it
// compared the roots of those it joins: a host could otherwise invite it into talks between
// look-alikes. Each root compared is then expected in the talks, as an accepted charter's are.
func (s *Session) compareInvitation(ctx context.Context, talksID, motion string, given map[string]string) error {
	// Read the motion from the record as it is now: one not yet in this copy would otherwise
	// go unchecked.
	if _, err := s.c.Sync(ctx, talksID); err != nil {
		return err
	}
	b := s.c.Book(talksID)
	if b == nil || b.State == nil {
		return fmt.Errorf("no talks %s to vote in", talksID)
	}
	m, ok := b.State.Motion(motion)
	if !ok || !m.Change.Invites() {
		return nil
	}
	own := s.id.Credential().Org
	check := map[string]string{} // org -> pinned fingerprint (hex)
	if m.Change.Org == own {
		for _, p := range b.State.Roots() {
			if p.Org != own {
				check[p.Org] = p.Fingerprint
			}
		}
	} else {
		check[m.Change.Org] = m.Change.Root
	}
	known := s.known()
	for org, pinned := range check {
		if g := strings.TrimSpace(given[org]); g != "" {
			fp, ok := fingerprintHex(pinned)
			if !ok {
				return fmt.Errorf("the motion pins a root for %s that is not a fingerprint", org)
			}
			match, err := client.MatchFingerprint(g, fp)
			if err != nil {
				return fmt.Errorf("the safety number given for %s: %w", org, err)
			}
			if !match {
				return &Error{Problem: "fingerprint-mismatch", Alarm: true,
					Message: fmt.Sprintf("the root pinned for %s is not the one whose safety number you were given", org),
					Todo:    "someone may be impersonating " + org + ": compare again out of band, and do not accept"}
			}
			if err := s.remember(org, fp); err != nil {
				return err
			}
		} else if known[org] != pinned {
			return &Error{Problem: "uncompared", Message: fmt.Sprintf("compare the safety number of %s out of band before you accept", org),
				Todo: "ask " + org + " for its safety number over a channel you trust, and type it in beside the motion"}
		}
		s.c.Expect(talksID, org, pinned)
	}
	return nil
}

func fingerprintHex(s string) (seal.Fingerprint, bool) {
	var fp seal.Fingerprint
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(fp) {
		return fp, false
	}
	copy(fp[:], b)
	return fp, true
}
