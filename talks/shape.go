package talks

import (
	"strings"
	"time"
	"unicode/utf8"

	bc "github.com/backchannel/backchannel"
)

// Status is where the talks stand. It moves only along the edges in docs/talks.md:
// proposed → active ⇄ suspended, active → concluded, and proposed, active or suspended →
// collapsed.
type Status string

// The statuses of talks.
const (
	StatusProposed  Status = "proposed"
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusConcluded Status = "concluded"
	StatusCollapsed Status = "collapsed"
)

// edges are the allowed status transitions. Concluded and collapsed are terminal.
var edges = map[Status][]Status{
	StatusProposed:  {StatusActive, StatusCollapsed},
	StatusActive:    {StatusSuspended, StatusConcluded, StatusCollapsed},
	StatusSuspended: {StatusActive, StatusCollapsed},
}

// CanMove reports whether the talks may move from status a to status b. Staying put is not a
// move.
func CanMove(a, b Status) bool {
	for _, s := range edges[a] {
		if s == b {
			return true
		}
	}
	return false
}

// Format is how the delegations meet.
type Format string

// The formats. Indirect is the default shape of a back channel: each delegation in its own
// room, only the mediators pass between them. Direct adds a plenary room of everyone.
const (
	FormatIndirect Format = "indirect"
	FormatDirect   Format = "direct"
)

func (f Format) valid() bool { return f == FormatIndirect || f == FormatDirect }

// Visibility is how much of the talks the outside world may learn.
type Visibility string

// The visibilities. Secret talks' existence is not public, so they make no public statements;
// confidential talks are known to exist but their content is not; public talks are known.
const (
	VisibilitySecret       Visibility = "secret"
	VisibilityConfidential Visibility = "confidential"
	VisibilityPublic       Visibility = "public"
)

func (v Visibility) valid() bool {
	return v == VisibilitySecret || v == VisibilityConfidential || v == VisibilityPublic
}

// Actor is who does something, as the server established it from a verified credential: the
// principal, the organisation whose root signed the credential, its rank, and its title for
// display. The talks never see keys; they trust the server for this mapping.
type Actor struct {
	Principal string  `json:"principal"`
	Org       string  `json:"org"`
	Rank      bc.Rank `json:"rank"`
	Title     string  `json:"title,omitempty"`
}

// Member is a principal sitting in its organisation's delegation. Exactly one member of each
// delegation is its head.
type Member struct {
	Actor
	Head bool `json:"head,omitempty"`
}

// Limits that keep the state, and the work per event, bounded whatever the input.
const (
	MaxParties       = 16
	MaxMediators     = 8
	MaxWitnesses     = 8
	MaxDelegation    = 64
	MaxAgenda        = 64
	MaxTopics        = 16 // topics on one message
	MaxTextLen       = 128
	MaxMotions       = 4096
	MaxRounds        = 1024
	MaxStatements    = 4096
	DefaultMotionTTL = 7 * 24 * time.Hour
)

// checkText validates a display string (title, venue): valid UTF-8, no control characters, at
// most MaxTextLen bytes. Display strings are signed bytes too, so nothing invisible.
func checkText(what, s string, required bool) error {
	if s == "" {
		if required {
			return refuse(ErrMalformed, "%s is empty", what)
		}
		return nil
	}
	if len(s) > MaxTextLen || !utf8.ValidString(s) {
		return refuse(ErrMalformed, "%s is not valid UTF-8 of at most %d bytes", what, MaxTextLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return refuse(ErrMalformed, "%s has control character %U", what, r)
		}
	}
	return nil
}

func checkID(what, s string) error {
	if err := bc.CheckID(what, s); err != nil {
		return &Refusal{Rule: ErrMalformed, Detail: err.Error()}
	}
	return nil
}

// checkOrg validates an organisation id, which must also make a valid caucus room id.
func checkOrg(org string) error {
	if err := checkID("organisation", org); err != nil {
		return err
	}
	return checkID("caucus room", RoomCaucus(org))
}

func (a Actor) check() error {
	if err := checkID("principal", a.Principal); err != nil {
		return err
	}
	if err := checkOrg(a.Org); err != nil {
		return err
	}
	if !a.Rank.Valid() {
		return refuse(ErrMalformed, "rank %d of %s is outside %d..%d", a.Rank, a.Principal, bc.RankMin, bc.RankMax)
	}
	return checkText("title", a.Title, false)
}

// checkTime requires a set time in UTC: a time has exactly one encoding on the record only if
// its zone is fixed.
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return refuse(ErrMalformed, "%s is not set", what)
	}
	if t.Location() != time.UTC {
		return refuse(ErrMalformed, "%s %s is not in UTC", what, t)
	}
	if y := t.Year(); y < 1970 || y > 9999 {
		return refuse(ErrMalformed, "%s %s is out of range", what, t.Format(time.RFC3339))
	}
	return nil
}

// ScopedID returns the id of talks named name in organisation org's scope: "org:name". A host
// takes a charter only under its founder's scope (IDScope), so founding talks tells one
// organisation nothing of the ids another has taken: two organisations' ids never collide.
func ScopedID(org, name string) string { return org + ":" + name }

// IDScope returns the organisation whose scope talks id is in (the part before its first
// ':'), if it names one.
func IDScope(id string) (org string, ok bool) {
	org, name, ok := strings.Cut(id, ":")
	return org, ok && org != "" && name != ""
}
