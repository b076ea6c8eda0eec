package backchannel

import (
	"fmt"
	"strings"
)

// Kind is the kind of a written message. It travels in an envelope's cleartext header because
// the talks' rules depend on it (formal kinds need rank), never because the host may read it as
// content.
type Kind string

// The kinds of message the channel carries.
const (
	KindNote            Kind = "note"
	KindProposal        Kind = "proposal"
	KindCounterProposal Kind = "counter-proposal"
	KindResponse        Kind = "response"
	KindQuestion        Kind = "question"
	KindLetter          Kind = "letter"
	KindNonPaper        Kind = "non-paper"
	KindSummary         Kind = "summary"
)

// Kinds lists every valid Kind, in a fixed order.
var Kinds = []Kind{
	KindNote, KindProposal, KindCounterProposal, KindResponse,
	KindQuestion, KindLetter, KindNonPaper, KindSummary,
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Formal reports whether messages of kind k commit their author's organisation, and so must come
// from a principal whose rank is at least the talks' level.
func (k Kind) Formal() bool {
	switch k {
	case KindProposal, KindCounterProposal, KindResponse, KindLetter:
		return true
	}
	return false
}

// Rank is a principal's authority level within its organisation, from RankMin to RankMax
// (head of state or equivalent). The talks' level is a Rank too: formal messages need a rank at
// least the level.
type Rank uint8

// The bounds of Rank.
const (
	RankMin Rank = 1
	RankMax Rank = 5
)

// Valid reports whether r is within RankMin..RankMax.
func (r Rank) Valid() bool { return r >= RankMin && r <= RankMax }

// MaxIDLen bounds every identifier (organisation, principal, talks, room, topic) in bytes.
const MaxIDLen = 64

// CheckID reports whether s is a well-formed identifier: 1 to MaxIDLen bytes of lower-case
// ASCII letters, digits and the separators '-', '.', '_' and ':', starting with a letter or
// digit. Identifiers appear in URLs, file names and signed bytes, so they admit exactly one
// spelling: no upper case, no spaces, nothing that needs escaping.
func CheckID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%s %.16q... is %d bytes, longer than %d", what, s, len(s), MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && strings.IndexByte("-._:", c) >= 0:
		default:
			return fmt.Errorf("%s %q has %q at byte %d: identifiers are lower-case letters, digits and - . _ : (not first)", what, s, c, i)
		}
	}
	return nil
}
