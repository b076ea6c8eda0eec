// Package session is the web client's side of a principal's session: what the page asks for,
// done by the same client library as the command line. The page speaks to it in JSON, by
// method name (Call), so that everything it shows (who wrote a message, whether it verified,
// what the record's checkpoint is) comes from the client's own replay and checks, compiled to
// WebAssembly, never from the page's reading of the API.
//
// A Session unlocks one identity file (the age-encrypted file of the command line's keystore),
// logs in, pins the host's log key in the browser's storage at the first login and refuses
// another later, keeps each talks' verified state there, and follows the talks the page shows.
package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Storage is where a session keeps what is public but must not be forgotten between visits:
// the pinned log key, the roots compared out of band, each talks' verified state. In a browser
// it is the origin's localStorage; the private key is never written to it.
type Storage interface {
	Get(key string) (string, bool)
	Set(key, value string) error
}

// MapStorage is a Storage in memory, for tests and for a browser that refuses storage.
type MapStorage struct {
	mu sync.Mutex
	m  map[string]string
}

// Get returns the value kept under key.
func (s *MapStorage) Get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// Set keeps value under key.
func (s *MapStorage) Set(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
	return nil
}

// Session is one principal's session with one server, as a page holds it.
type Session struct {
	server string
	store  Storage
	id     *seal.Identity
	c      *client.Client
	now    func() time.Time

	mu      sync.Mutex
	follows map[string]*following
	// changed is told when a followed talks has new events (or its stream dropped and where
	// it resumes), so the page re-reads it.
	changed func(talksID string, note string)
}

// Options configures Open.
type Options struct {
	// HTTP is the HTTP client; default the client library's.
	HTTP *http.Client
	// Clock dates what the principal signs; default time.Now.
	Clock func() time.Time
	// Changed is told when a followed talks changed.
	Changed func(talksID, note string)
}

// Open unlocks an identity file with its passphrase and returns a session for it on server (the
// page's own origin, in a browser). Nothing is sent until Login.
func Open(server string, identityFile []byte, passphrase string, store Storage, o Options) (*Session, error) {
	id, err := keystore.OpenIdentityFile(identityFile, passphrase)
	if err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Session{server: strings.TrimRight(server, "/"), store: store, id: id, now: o.Clock, follows: map[string]*following{}, changed: o.Changed}
	opts := []client.Option{client.WithClock(o.Clock), client.WithStateKeeper(stateKeeper{s}), client.WithExpectedRoots(s.known())}
	if o.HTTP != nil {
		opts = append(opts, client.WithHTTPClient(o.HTTP))
	}
	if lk, ok := store.Get(s.key("log-key")); ok {
		opts = append(opts, client.WithLogKey(lk))
	}
	s.c = client.New(s.server, id, opts...)
	return s, nil
}

// Client returns the session's client.
func (s *Session) Client() *client.Client { return s.c }

// key names what the session keeps, per server and principal.
func (s *Session) key(parts ...string) string {
	return "backchannel/" + s.server + "/" + s.id.Credential().Handle() + "/" + strings.Join(parts, "/")
}

// knownKey names the roots compared out of band, which a principal keeps whatever the server.
func (s *Session) knownKey() string { return "backchannel/known/" + s.id.Credential().Handle() }

// known returns the roots this principal compared out of band, by organisation (hex).
func (s *Session) known() map[string]string {
	m := map[string]string{}
	if v, ok := s.store.Get(s.knownKey()); ok {
		_ = json.Unmarshal([]byte(v), &m)
	}
	return m
}

func (s *Session) remember(org string, fp seal.Fingerprint) error {
	m := s.known()
	m[org] = fmt.Sprintf("%x", fp[:])
	// Expected at once in talks read later in this session, not only after the next sign-in.
	if s.c != nil {
		s.c.ExpectEverywhere(org, m[org])
	}
	b, _ := json.Marshal(m)
	return s.store.Set(s.knownKey(), string(b))
}

// stateKeeper keeps each talks' verified state in the session's storage.
type stateKeeper struct{ s *Session }

func (k stateKeeper) LoadVerified(talksID string) (client.VerifiedState, bool, error) {
	var st client.VerifiedState
	v, ok := k.s.store.Get(k.s.key("talks", talksID))
	if !ok {
		return st, false, nil
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, false, fmt.Errorf("the verified state kept for %s does not read: %w", talksID, err)
	}
	return st, true, nil
}

func (k stateKeeper) SaveVerified(talksID string, st client.VerifiedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return k.s.store.Set(k.s.key("talks", talksID), string(b))
}

// Me is who the session speaks for, and the host it reached.
type Me struct {
	As      string `json:"as"`
	Org     string `json:"org"`
	Title   string `json:"title"`
	Rank    int    `json:"rank"`
	Host    string `json:"host"`
	LogKey  string `json:"log_key"`
	LogSafe string `json:"log_key_safety_number"`
	// PinnedNow is true at the first login from this browser: the log key was pinned now, and
	// should be compared with the host's operator.
	PinnedNow bool `json:"pinned_now"`
	// OrgSafe is the safety number of the principal's own organisation, to read out to the
	// other parties.
	OrgSafe string `json:"org_safety_number"`
}

// Error is an error as the page shows it: the problem's name, what went wrong, and what to do.
type Error struct {
	Problem string `json:"problem,omitempty"`
	Message string `json:"message"`
	Todo    string `json:"todo,omitempty"`
	// Rule is the words of the talks' rule that refused the request, if one did.
	Rule string `json:"rule,omitempty"`
	// RefusedBy says who applied the rule: "client" when the principal's own client refused
	// before anything was sent (its verified copy forbids it), "host" when the host refused
	// what the client sent. A host refusing what the principal's copy allows is the host's
	// word against it: the page says which it was.
	RefusedBy string `json:"refused_by,omitempty"`
	// Alarm is true when the host may be lying: the page shows it loudly.
	Alarm bool `json:"alarm,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// ErrLogKeyChanged is the host presenting another log key than the one pinned at the first login.
var ErrLogKeyChanged = errors.New("the host presents another log key than the one pinned at the first login from this browser")

// Login logs in, pinning the host's log key at the first login from this browser.
func (s *Session) Login(ctx context.Context) (Me, error) {
	lk, err := s.c.LogKey(ctx)
	if err != nil {
		return Me{}, err
	}
	pinned, known := s.store.Get(s.key("log-key"))
	if known && pinned != lk.Verifier {
		return Me{}, fmt.Errorf("%w (pinned %s, presented %s)", ErrLogKeyChanged, client.LogKeySafetyNumber(pinned), client.LogKeySafetyNumber(lk.Verifier))
	}
	if err := s.c.Login(ctx); err != nil {
		return Me{}, err
	}
	if !known {
		if err := s.store.Set(s.key("log-key"), lk.Verifier); err != nil {
			return Me{}, err
		}
		// The session's client was made before anything was pinned: it verifies with the
		// key just pinned, not one it would ask the host for again.
		if err := s.c.PinLogKey(lk.Verifier); err != nil {
			return Me{}, err
		}
	}
	cr := s.id.Credential()
	own, err := s.ownRoot(ctx)
	if err != nil {
		return Me{}, err
	}
	return Me{As: cr.Handle(), Org: cr.Org, Title: cr.Title, Rank: int(cr.Rank), Host: s.c.Host(), LogKey: lk.Verifier,
		LogSafe: client.LogKeySafetyNumber(lk.Verifier), PinnedNow: !known, OrgSafe: own.Fingerprint().String()}, nil
}

// ownRoot takes the root the server presents for the principal's own organisation only if the
// principal's own credential chains to it, which no look-alike root can make true, and
// remembers it as compared.
func (s *Session) ownRoot(ctx context.Context) (seal.RootKey, error) {
	cr := s.id.Credential()
	o, err := s.c.Organisation(ctx, cr.Org)
	if err != nil {
		return seal.RootKey{}, err
	}
	key, err := seal.ParseRootKey(o.RootKey)
	if err == nil && key.Org == cr.Org {
		var t *seal.Trust
		if t, err = seal.NewTrust(key); err == nil {
			err = t.VerifyCredential(cr, s.now())
		}
	}
	if err != nil {
		return seal.RootKey{}, &Error{Problem: "root-changed", Alarm: true,
			Message: fmt.Sprintf("the server presents a root for %s, your own organisation, that did not issue your credential: %v", cr.Org, err),
			Todo:    "someone may be standing in for your organisation on this host: tell your organisation, out of band, before anything else"}
	}
	return key, s.remember(cr.Org, key.Fingerprint())
}

// Close stops every follow.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, f := range s.follows {
		f.stop()
		delete(s.follows, id)
	}
}

// Follow follows talks' event stream until Close or Unfollow, telling Changed of each event. A
// dropped stream resumes where it stopped (the client library's FollowNotify), so nothing is
// lost or shown twice: the page re-reads the talks from the client's own verified copy.
func (s *Session) Follow(talksID string) {
	s.mu.Lock()
	if _, ok := s.follows[talksID]; ok {
		s.mu.Unlock()
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	f := &following{stop: stop}
	s.follows[talksID] = f
	s.mu.Unlock()
	go func() {
		defer func() {
			// Only its own entry: the talks may have been left and followed again meanwhile.
			s.mu.Lock()
			if s.follows[talksID] == f {
				delete(s.follows, talksID)
			}
			s.mu.Unlock()
		}()
		from := s.c.Book(talksID).Size
		err := s.c.FollowNotify(ctx, talksID, from, func(e api.Event) error {
			s.tell(talksID, "")
			return nil
		}, func(err error, next int64) {
			s.tell(talksID, fmt.Sprintf("the connection dropped (%v); resuming at event %d", err, next))
		})
		if err != nil && ctx.Err() == nil {
			s.tell(talksID, "stopped following: "+err.Error())
		}
	}()
}

// following is one talks' stream being followed.
type following struct{ stop context.CancelFunc }

// Unfollow stops following talks, as the page does when the person leaves them: a stream is
// held only for the talks on screen.
func (s *Session) Unfollow(talksID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.follows[talksID]; ok {
		f.stop()
		delete(s.follows, talksID)
	}
}

func (s *Session) tell(talksID, note string) {
	if s.changed != nil {
		s.changed(talksID, note)
	}
}

// Page is talks as the page shows them, from the principal's own verified copy.
type Page struct {
	Talks client.TalksView `json:"talks"`
	As    string           `json:"as"`
	Org   string           `json:"org"`
	Role  string           `json:"role"`
	// MustAccept is true while the principal's organisation has not accepted the charter.
	MustAccept bool       `json:"must_accept"`
	Rooms      []RoomPage `json:"rooms"`
	// Delegation is the principal's own organisation's delegation in the talks, head first.
	Delegation []MemberPage `json:"delegation"`
	// MayManage is true when the principal may change its delegation: its head, or a member
	// of at least the head's rank.
	MayManage bool `json:"may_manage"`
	// DirectSession is the direct session open now in indirect talks, if one is.
	DirectSession *DirectSessionPage `json:"direct_session,omitempty"`
	Motions       []MotionPage       `json:"motions"`
	Statements    []StatementPage    `json:"statements"`
	Timeline      []TimelineEntry    `json:"timeline"`
	Record        RecordPage         `json:"record"`
	Kinds         []string           `json:"kinds"`
	// Proposable are the kinds of motion the principal's role may propose.
	Proposable []string `json:"proposable"`
}

// RoomPage is a room the principal sits in, with its messages, or one it read that is closed
// now (a direct session's plenary after it, a caucus of a party removed): what it read there
// stays its to read.
type RoomPage struct {
	ID       string               `json:"id"`
	Name     string               `json:"name"`
	Members  []string             `json:"members"`
	Messages []client.MessageView `json:"messages"`
	// Closed is true for a room no longer in the talks' shape: no one writes there any more.
	Closed bool `json:"closed,omitempty"`
}

// DirectSessionPage is a direct session open in indirect talks: a plenary opened by consent.
type DirectSessionPage struct {
	Motion string    `json:"motion"`
	Opened time.Time `json:"opened"`
	Until  time.Time `json:"until"`
}

// MotionPage is a motion with who must still vote and whether the principal may vote for its
// organisation.
type MotionPage struct {
	client.MotionView
	Waiting []string `json:"waiting"`
	MayVote bool     `json:"may_vote"`
	// NoVote says why the principal's organisation is waited for but the principal may not
	// vote for it (its rank is below its head of delegation's).
	NoVote string `json:"no_vote,omitempty"`
}

// MemberPage is a member of a delegation.
type MemberPage struct {
	Handle string `json:"handle"`
	Title  string `json:"title"`
	Rank   int    `json:"rank"`
	Head   bool   `json:"head,omitempty"`
}

// StatementPage is a public statement as the record carries it.
type StatementPage struct {
	Round    int      `json:"round"`
	Text     string   `json:"text"`
	Joint    bool     `json:"joint"`
	Signers  []string `json:"signers"`
	Complete bool     `json:"complete"`
}

// TimelineEntry is one dated thing that happened in the talks.
type TimelineEntry struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// RecordPage is the principal's view of the record: what it verified, against which
// checkpoint, and who cosigned it.
type RecordPage struct {
	Size       int64            `json:"size"`
	Checkpoint int64            `json:"checkpoint"`
	RootHash   string           `json:"root_hash"`
	Verified   bool             `json:"verified"`
	Confirmed  int64            `json:"confirmed"`
	Quorum     int              `json:"quorum"`
	Cosigners  map[string]int64 `json:"cosigners"`
	Witnesses  map[string]int64 `json:"witnesses"`
	LogKey     string           `json:"log_key"`
	LogSafe    string           `json:"log_key_safety_number"`
	LeftAt     int64            `json:"left_at,omitempty"`
}

// RoomName says in words whose room a room is.
func RoomName(id string) string {
	if org, ok := talks.CaucusOf(id); ok {
		return org + "'s room"
	}
	switch id {
	case talks.RoomPlenary:
		return "both delegations (plenary)"
	case talks.RoomMediators:
		return "the mediators' room"
	}
	return id
}

// Talks syncs talks and returns its page.
func (s *Session) Talks(ctx context.Context, talksID string) (*Page, error) {
	if _, err := s.c.Sync(ctx, talksID); err != nil {
		return nil, err
	}
	return s.page(talksID), nil
}

func (s *Session) page(talksID string) *Page {
	b := s.c.Book(talksID)
	at := s.now().UTC()
	cr := s.id.Credential()
	t := b.State
	p := &Page{Talks: client.TalksViewOf(b, cr.Handle(), at), As: cr.Handle(), Org: cr.Org, Role: string(t.Role(cr.Org)),
		MustAccept: !slices.Contains(t.Accepted(), cr.Org) && t.Status() == talks.StatusProposed && (slices.Contains(t.Parties(), cr.Org) || slices.Contains(t.Mediators(), cr.Org)),
		Rooms:      []RoomPage{}, Motions: []MotionPage{}, Statements: []StatementPage{}, Timeline: []TimelineEntry{}}
	// The page reads lists as lists: none is null.
	for _, l := range []*[]string{&p.Talks.Agenda, &p.Talks.Parties, &p.Talks.Mediators, &p.Talks.Accepted, &p.Proposable} {
		if *l == nil {
			*l = []string{}
		}
	}
	for _, k := range backchannel.Kinds {
		p.Kinds = append(p.Kinds, string(k))
	}
	for _, k := range talks.MotionKinds {
		if talks.MayPropose(t.Role(cr.Org), k) {
			p.Proposable = append(p.Proposable, string(k))
		}
	}
	if p.Proposable == nil {
		p.Proposable = []string{}
	}
	byRoom := map[string][]client.MessageView{}
	for _, m := range b.Messages {
		v := client.ViewOf(b, m)
		byRoom[m.Room] = append(byRoom[m.Room], v)
		what := "a message in " + RoomName(m.Room)
		if v.Verified {
			what = fmt.Sprintf("%s (%s) wrote %s in %s", v.Title, v.Author, v.Kind, RoomName(m.Room))
		}
		p.Timeline = append(p.Timeline, TimelineEntry{At: v.Time, What: what})
	}
	for _, r := range t.Rooms(at) {
		if !t.CanRead(cr.Handle(), r.ID, at) {
			continue
		}
		rp := RoomPage{ID: r.ID, Name: RoomName(r.ID), Members: r.Members, Messages: byRoom[r.ID]}
		if rp.Messages == nil {
			rp.Messages = []client.MessageView{}
		}
		p.Rooms = append(p.Rooms, rp)
	}
	// Rooms closed since, in the order their first message came: the copy holds only what
	// the principal was served as a reader, so each of these it read.
	var closed []RoomPage
	for id, ms := range byRoom {
		if !slices.ContainsFunc(p.Rooms, func(r RoomPage) bool { return r.ID == id }) {
			closed = append(closed, RoomPage{ID: id, Name: RoomName(id), Members: []string{}, Messages: ms, Closed: true})
		}
	}
	slices.SortFunc(closed, func(a, b RoomPage) int { return cmp.Compare(a.Messages[0].Index, b.Messages[0].Index) })
	p.Rooms = append(p.Rooms, closed...)
	if ss := t.Sessions(); len(ss) > 0 && ss[len(ss)-1].OpenAt(at) {
		last := ss[len(ss)-1]
		p.DirectSession = &DirectSessionPage{Motion: last.Motion, Opened: last.Opened, Until: last.Until}
	}
	p.Delegation = []MemberPage{}
	for _, m := range t.Members(cr.Org) {
		mp := MemberPage{Handle: m.Principal, Title: m.Title, Rank: int(m.Rank), Head: m.Head}
		if m.Head {
			p.Delegation = append([]MemberPage{mp}, p.Delegation...)
		} else {
			p.Delegation = append(p.Delegation, mp)
		}
		if m.Principal == cr.Handle() {
			head, ok := t.Head(cr.Org)
			p.MayManage = m.Head || !ok || int(cr.Rank) >= int(head.Rank)
		}
	}
	for _, m := range t.Motions() {
		mp := MotionPage{MotionView: client.MotionViewOf(m, at), Waiting: client.Waiting(t, m)}
		if slices.Contains(mp.Waiting, cr.Org) && m.OutcomeAt(at) == talks.OutcomePending {
			// The talks' rule for every act of a delegation: its head votes, or a member of
			// at least the head's rank. An invitee answering its own invitation has no
			// delegation yet.
			mp.MayVote = true
			if !(m.Change.Invites() && m.Change.Org == cr.Org) {
				if head, ok := t.Head(cr.Org); ok && head.Principal != cr.Handle() && int(cr.Rank) < int(head.Rank) {
					mp.MayVote = false
					mp.NoVote = fmt.Sprintf("%s votes for %s: your rank (%d) is below the head of delegation's, %s (rank %d)", head.Principal, cr.Org, cr.Rank, head.Title, head.Rank)
				}
			}
		}
		p.Motions = append(p.Motions, mp)
		p.Timeline = append(p.Timeline, TimelineEntry{At: m.Proposed, What: fmt.Sprintf("%s proposed %s (motion %s)", m.By.Principal, client.DescribeChange(m.Change), m.ID)})
		if !m.Decided.IsZero() {
			p.Timeline = append(p.Timeline, TimelineEntry{At: m.Decided, What: fmt.Sprintf("motion %s %s", m.ID, m.Outcome)})
		}
	}
	for _, r := range t.Rounds() {
		if !r.Opened.IsZero() {
			p.Timeline = append(p.Timeline, TimelineEntry{At: r.Opened, What: fmt.Sprintf("round %d opened", r.Number)})
		}
		if !r.Closed.IsZero() {
			p.Timeline = append(p.Timeline, TimelineEntry{At: r.Closed, What: fmt.Sprintf("round %d closed", r.Number)})
		}
	}
	for _, st := range t.Statements() {
		sp := StatementPage{Round: st.Round, Joint: st.Joint, Complete: st.Complete, Signers: []string{}}
		sp.Text, _ = b.Statement(st.Digest)
		for _, sg := range st.Signers {
			sp.Signers = append(sp.Signers, sg.By.Principal)
			p.Timeline = append(p.Timeline, TimelineEntry{At: sg.At, What: fmt.Sprintf("%s signed a statement on round %d", sg.By.Principal, st.Round)})
		}
		p.Statements = append(p.Statements, sp)
	}
	sort.SliceStable(p.Timeline, func(i, j int) bool { return p.Timeline[i].At.Before(p.Timeline[j].At) })
	rp := RecordPage{Size: b.Size, Verified: true, Confirmed: b.Confirmed(), Quorum: t.Quorum(), Cosigners: map[string]int64{}, Witnesses: map[string]int64{},
		LogKey: s.c.PinnedLogKey(), LogSafe: client.LogKeySafetyNumber(s.c.PinnedLogKey()), LeftAt: b.LeftAt}
	if b.Verifier != nil {
		if cp, note := b.Verifier.Latest(); note != nil {
			rp.Checkpoint, rp.RootHash = cp.Size, fmt.Sprintf("%x", cp.Hash[:])
		}
	}
	for org, c := range b.CosignedBy() {
		rp.Cosigners[org] = c.Size
	}
	ws, _ := t.Witnesses()
	for _, w := range ws {
		rp.Witnesses[w.Name()] = b.WitnessedBy(w.Name())
	}
	p.Record = rp
	return p
}
