package backchannel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// The types of event on a talks' record, as Event.Type. Each names how Data decodes; the host
// appends them and every client replays them, both through these names.
const (
	// EventCharter is the seal Act that founded the talks; its payload is a talks.Charter.
	EventCharter = "charter"
	// EventRoot is a pinned organisation root (seal.RootKey encoding), on the record right after
	// the charter or the motion that pinned it, so that the record alone rebuilds the trust.
	EventRoot = "root"
	// EventCredential is a principal's credential, put on the record before its first use.
	EventCredential = "credential"
	// EventRevocation is a root's revocation of a credential.
	EventRevocation = "revocation"
	// EventAct is a signed seal Act whose payload is a talks event.
	EventAct = "act"
	// EventRedLines is a party's red lines: a seal Envelope in the party's private room
	// (RoomPrivate), sealed by its head of delegation to every delegate, whose signed message
	// is a talks.RedLines. The host stores ciphertext only; the refusals they make are acts
	// the delegation's clients sign.
	EventRedLines = "red-lines"
	// EventEnvelope is a sealed message or relay.
	EventEnvelope = "envelope"
	// EventRelayed tells the room a message came from that a mediator passed it on, and how:
	// its Data is a RelayNotice.
	EventRelayed = "relayed"
	// EventReceipt is a signed receipt.
	EventReceipt = "receipt"
	// EventStatement is the text of a public statement whose digest a sign act carries: its
	// Data is a StatementText.
	EventStatement = "statement"
	// EventRoomKey hands a room's members the key its room tags are made with: a seal Envelope
	// in that room, sealed by one of its members to every member, whose signed message is the
	// 32-byte key. Every member of the talks is served it, so none can be kept from the
	// members it is for; only they can open it.
	EventRoomKey = "room-key"
)

// EventTypes lists every type of event, in a fixed order.
var EventTypes = []string{
	EventCharter, EventRoot, EventCredential, EventRevocation, EventAct,
	EventRedLines, EventEnvelope, EventRelayed, EventReceipt, EventStatement, EventRoomKey,
}

// SharedEvent reports whether every member of the talks may read events of type t: a client
// that is not served one the log commits to knows the host withheld it.
func SharedEvent(t string) bool {
	switch t {
	case EventCharter, EventRoot, EventCredential, EventRevocation, EventAct, EventStatement, EventRoomKey:
		return true
	}
	return false
}

// RoomEvent reports whether events of type t are filed under a room, and so carry a room tag
// on the record.
func RoomEvent(t string) bool {
	switch t {
	case EventEnvelope, EventRelayed, EventReceipt, EventRedLines:
		return true
	}
	return false
}

// RoomKeySize is the size of a room key.
const RoomKeySize = 32

// domainRoomTag separates room tags from every other use of a room key.
const domainRoomTag = "backchannel room tag v1\x00"

// RoomTag returns the tag that an event of type typ whose Data hashes to h carries on the
// record when it is filed under a room whose key is key: HMAC-SHA256, keyed by the room key, of
// a domain string, the type's length and bytes, and the hash. The host, which never holds a
// room key, cannot tell from tags which events share a room, nor make one a member would
// recognise; a member can recognise the events of its rooms among all the log's leaves, and so
// knows of every one, including any the host does not serve it.
func RoomTag(key []byte, typ string, h EventHash) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domainRoomTag))
	m.Write([]byte{byte(len(typ))})
	m.Write([]byte(typ))
	m.Write(h[:])
	return m.Sum(nil)
}

// RoomPrivate is the pseudo-room of events only an organisation's own delegation may read
// (its red lines).
func RoomPrivate(org string) string { return "private:" + org }

// RelayNotice is what an EventRelayed event tells the room of a message that a mediator passed
// it on to another room. The event's Data is a seal Act of type EventRelayed, signed by that
// mediator, whose payload is the notice's JSON (RelayNotice.Payload): the host, which logs it,
// cannot write one.
type RelayNotice struct {
	Original string    `json:"original"` // hex hash of the relayed envelope
	Relay    string    `json:"relay"`    // hex hash of the relay envelope
	Mode     string    `json:"mode"`     // verbatim or summary
	To       string    `json:"to"`       // the room it went to
	By       string    `json:"by"`       // the mediator principal
	At       time.Time `json:"at"`
}

// Payload returns the notice as an act carries it: its JSON, the one encoding a host and every
// reader accept.
func (n RelayNotice) Payload() []byte {
	n.At = n.At.UTC()
	b, _ := json.Marshal(n)
	return b
}

// StatementText is the Data of an EventStatement event.
type StatementText struct {
	Round  int    `json:"round"`
	Digest string `json:"digest"`
	Text   string `json:"text"`
}

// StatementDigest is the digest under which a statement's text is signed (talks.Sign.Digest):
// hex SHA-256 of its bytes.
func StatementDigest(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}
