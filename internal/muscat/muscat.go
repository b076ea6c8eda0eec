// Package muscat plays the Muscat scenario (shared/scenarios/muscat.md) against a real
// backchannel host: the organisations and their principals, with their titles and ranks, act
// through real clients over HTTP, step by step, and every step is narrated as a Step that a
// person can read and JSON can carry. The end-to-end test and the demo command both use it.
//
// Play needs a host on which the scenario's organisations (us, ir, om, ae, qa) and talks
// (presidents-letter, muscat, doha) do not exist yet: it registers the organisations' roots
// itself, so a fresh host (an in-process server on an empty store) is the usual target.
//
// Ranks are authority levels from 1 to 5, 5 highest. The cast gives the heads of state rank
// 5, and also the two officials who speak at that level on this file: the US Vice President
// (who calls for higher-level talks and stands in for the President) and the Secretary of
// Iran's Supreme National Security Council (who outranks the Foreign Minister on this file).
// Raising the talks' level "to the SNSC Secretary's rank" therefore sets it to 5. Türkiye
// appears only as a venue name (Istanbul): it never acts, so it gets no root.
//
// Message bodies say only what the public reporting says; where the reporting does not give a
// message's content, the body says so instead of inventing it.
package muscat

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Options configures Play. The zero value works.
type Options struct {
	// Clock dates everything the principals sign. The host refuses signed times more than a
	// few minutes from its own clock, so this must be real time. Default time.Now.
	Clock func() time.Time
	// Rand is the randomness of root and identity keys, red-line salts and content keys.
	// Default crypto/rand.
	Rand io.Reader
	// HTTP is the HTTP client every principal uses. Default: the client package's.
	HTTP *http.Client
	// LogKey pins the host's checkpoint-signing key, as GET /v1/log-key gives it. Empty: each
	// client pins what the host first presents.
	LogKey string
}

// The outcomes of a step.
const (
	// OutcomeAccepted: the host accepted the step and it is on the record.
	OutcomeAccepted = "accepted"
	// OutcomeRefused: the host refused the step (Problem names why), or a party's refusal
	// defeated the motion the step proposed or voted on.
	OutcomeRefused = "refused"
	// OutcomeVerified: a member's own client checked what it read: signatures against the
	// pinned roots, the record against the host's signed checkpoints.
	OutcomeVerified = "verified"
	// OutcomeFlagged: a member's client refused to show something as genuine.
	OutcomeFlagged = "flagged"
)

// Actor is who acts in a step: a principal, by title and organisation, never by name.
type Actor struct {
	Org       string `json:"org,omitempty"`
	OrgName   string `json:"org_name,omitempty"`
	Principal string `json:"principal,omitempty"` // the handle, "us:special-envoy"
	Title     string `json:"title"`
	Rank      int    `json:"rank,omitempty"`
}

// String returns "Special Envoy (United States)".
func (a Actor) String() string {
	if a.OrgName == "" {
		return a.Title
	}
	return a.Title + " (" + a.OrgName + ")"
}

// Step is one narrated step of the scenario.
type Step struct {
	// Number is the scenario's step (1 to 11); 0 is setting up the cast and 12 the checks
	// every member makes of the record afterwards.
	Number int    `json:"number"`
	Title  string `json:"title"`
	Actor  Actor  `json:"actor"`
	// Action is a short name of what the actor does: "propose", "vote", "send",
	// "relay-verbatim", "summarize", "read", "sync", ...
	Action string `json:"action"`
	// Detail says it in words.
	Detail string `json:"detail"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Problem names the host's refusal ("not-on-agenda") or the client's flag
	// ("untrusted-root").
	Problem string `json:"problem,omitempty"`
	// Reason is the host's or the client's own words for a refusal or a flag.
	Reason string `json:"reason,omitempty"`
	Talks  string `json:"talks,omitempty"`
	Motion string `json:"motion,omitempty"`
	// Index is the record index of the event the step put on the record, if OnRecord.
	Index    int64 `json:"index"`
	OnRecord bool  `json:"on_record"`
	// Via is the mediator a message came through.
	Via string `json:"via,omitempty"`
	// Verified says what the reader's client checked, and against what.
	Verified string    `json:"verified,omitempty"`
	At       time.Time `json:"at"`
}

// String renders the step for a terminal: its number and what happened on one line, then the
// mediator, what was verified and why a refusal or flag was made on lines of their own.
func (s Step) String() string { return fmt.Sprintf("%2d. %s", s.Number, s.entry()) }

// entry is String without the step's number.
func (s Step) entry() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", s.Actor, s.Detail, s.Outcome)
	if s.Problem != "" {
		fmt.Fprintf(&b, " (%s)", s.Problem)
	}
	if s.OnRecord {
		fmt.Fprintf(&b, " [%s #%d]", s.Talks, s.Index)
	}
	if s.Via != "" {
		fmt.Fprintf(&b, "\n      via %s", s.Via)
	}
	if s.Verified != "" {
		fmt.Fprintf(&b, "\n      verified: %s", s.Verified)
	}
	if s.Reason != "" && s.Outcome != OutcomeAccepted {
		fmt.Fprintf(&b, "\n      why: %s", s.Reason)
	}
	return b.String()
}

// Narrator returns a narrate function for Play that writes a transcript to w: the number and
// title of each step of the scenario as it begins, then one entry for each Step.
func Narrator(w io.Writer) func(Step) {
	last := -1
	return func(s Step) {
		if s.Number != last {
			if last >= 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%d. %s\n", s.Number, s.Title)
			last = s.Number
		}
		fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(s.entry(), "\n", "\n    "))
	}
}

// The sources of a refusal.
const (
	// SourceRecord: a party's ballot on the record refused a motion (or its standing red
	// lines did, on its behalf).
	SourceRecord = "record"
	// SourceHost: the host refused a submission under the talks' rules or seal's checks;
	// nothing was recorded.
	SourceHost = "host"
	// SourceClient: a member's own client refused to take something as genuine.
	SourceClient = "client"
)

// Refusal is one refusal of the scenario: who refused what, and when.
type Refusal struct {
	Talks string `json:"talks"`
	// What was refused, in words: "the UAE as mediator", "missiles on the agenda".
	What   string `json:"what"`
	Motion string `json:"motion,omitempty"`
	// From is who proposed or attempted it.
	From Actor `json:"from"`
	// By is who refused it: a party's principal, or a member's client; the zero Actor for
	// the host.
	By Actor `json:"by"`
	// Standing is set when the party's standing red lines refused on its behalf; Commitment
	// is then the salted commitment to the instruction, all the record shows of it.
	Standing   bool      `json:"standing,omitempty"`
	Commitment string    `json:"commitment,omitempty"`
	Problem    string    `json:"problem,omitempty"`
	Source     string    `json:"source"`
	At         time.Time `json:"at"`
}

// Organisation is one organisation of the cast.
type Organisation struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Fingerprint is its root's safety number, to compare out of band.
	Fingerprint string  `json:"fingerprint"`
	Principals  []Actor `json:"principals"`
}

// TalksReport is one talks as its members left it, each from its own copy of the record.
type TalksReport struct {
	ID string `json:"id"`
	// Log is the URL of the record's tlog-tiles, for any standard tlog client.
	Log       string   `json:"log"`
	Status    string   `json:"status"`
	Format    string   `json:"format"`
	Venue     string   `json:"venue,omitempty"`
	Level     int      `json:"level"`
	Agenda    []string `json:"agenda"`
	Parties   []string `json:"parties"`
	Mediators []string `json:"mediators"`
	// Size is the record's size at the final checkpoint.
	Size int64 `json:"size"`
	// Checkpoint is the final checkpoint: a C2SP signed note with the host's signature and
	// the members' cosignatures.
	Checkpoint string `json:"checkpoint"`
	// Cosigners are the members whose cosignatures of the final checkpoint verify
	// ("us/special-envoy"), in the note's order.
	Cosigners []string       `json:"cosigners"`
	Members   []MemberReport `json:"members"`
}

// MemberReport is what one member's client holds of talks.
type MemberReport struct {
	Actor Actor `json:"actor"`
	// Received counts the envelopes the member's client opened: those the record addressed
	// to it and any handed to it outside the channel; Verified those that opened and
	// verified; Flagged those that did not.
	Received int `json:"received"`
	Verified int `json:"verified"`
	Flagged  int `json:"flagged"`
	// Synced is true when the member's last Sync verified every checkpoint, tile and event.
	Synced bool `json:"synced"`
	// Cosigned is the size of the checkpoint the member cosigned.
	Cosigned int64 `json:"cosigned"`
}

// Result is what Play leaves: the cast, the talks with their final checkpoints, every
// refusal, and the narrated steps.
type Result struct {
	// Host is the base URL played against; LogKey the checkpoint key the clients pinned.
	Host          string         `json:"host"`
	LogKey        string         `json:"log_key"`
	Organisations []Organisation `json:"organisations"`
	Talks         []TalksReport  `json:"talks"`
	Refusals      []Refusal      `json:"refusals"`
	Steps         []Step         `json:"steps"`
}

// TalksByID returns the report of talks id, or nil.
func (r *Result) TalksByID(id string) *TalksReport {
	for i := range r.Talks {
		if r.Talks[i].ID == id {
			return &r.Talks[i]
		}
	}
	return nil
}
