// Package talks holds the rules of one negotiation as a pure state machine.
//
// A Talks value is the state of a negotiation: its parties and mediators with their
// delegations and the roots pinned for them, venue, format, level, agenda, status, visibility,
// motions, rounds and statements. It changes only by applying an Event, and every Event fully
// determines the next state, so Replay of the events on the record rebuilds the talks exactly.
// Nothing here reads a clock, a disk, the network or a random source: the caller passes times
// and identifiers in.
//
// Rooms are derived from the state, never stored: in indirect format each party has a caucus
// with the mediators and the mediators have a room of their own; direct format, or a direct
// session opened by consent, adds a plenary room. CheckMessage says whether a message header
// may be posted, and Recipients lists exactly the principals an envelope is wrapped to.
//
// Every refusal is a *Refusal that unwraps to one of the Err* rules, so callers can use
// errors.Is and map each rule to one problem-details type. The rules are laid out as tables
// in docs/talks.md.
package talks
