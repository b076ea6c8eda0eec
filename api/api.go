// Package api holds the JSON bodies of backchannel's HTTP API under /v1. The server and the Go
// client both use these types, and api/openapi.yaml, the OpenAPI 3.1 description of the API,
// is generated from them (a test keeps the file true).
//
// Everything signed travels as the exact bytes that were signed (base64 in JSON): credentials,
// revocations, acts, envelopes and receipts, in the formats of package seal
// (docs/protocol.md). The JSON around them is a convenience for reading; a client verifies the
// signed bytes, never the JSON.
package api

import "time"

// Organisation is an organisation registered with the host, identified by its root key.
type Organisation struct {
	ID          string `json:"id" doc:"Organisation id, as bound into its root key."`
	Name        string `json:"name" doc:"Display name."`
	RootKey     []byte `json:"root_key" doc:"The public root key, in the seal RootKey encoding."`
	Fingerprint string `json:"fingerprint" doc:"The root's fingerprint as a safety number, to compare out of band before pinning."`
}

// RegisterOrganisation registers an organisation's root key.
type RegisterOrganisation struct {
	RootKey []byte `json:"root_key" doc:"The public root key, in the seal RootKey encoding."`
	Name    string `json:"name" maxLength:"256" doc:"Display name."`
}

// Credential is a principal's credential as published: the signed bytes and, for reading, what
// they say.
type Credential struct {
	ID         string    `json:"id" doc:"Credential id (hex SHA-256 of its encoding)."`
	Org        string    `json:"org"`
	Principal  string    `json:"principal"`
	Name       string    `json:"name"`
	Title      string    `json:"title"`
	Rank       int       `json:"rank" minimum:"1" maximum:"5"`
	Serial     uint64    `json:"serial"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	Revoked    bool      `json:"revoked"`
	Data       []byte    `json:"data" doc:"The credential, signed by its organisation's root."`
	Revocation []byte    `json:"revocation,omitempty" doc:"The root's signed revocation, if revoked."`
}

// PublishCredential publishes a credential (a first one, or a rotation).
type PublishCredential struct {
	Credential []byte `json:"credential" doc:"The credential, signed by its organisation's root."`
}

// RevokeCredential publishes a root's revocation of a credential.
type RevokeCredential struct {
	Revocation []byte `json:"revocation" doc:"The revocation, signed by the organisation's root."`
}

// ChallengeRequest asks for a login challenge for a credential.
type ChallengeRequest struct {
	Credential string `json:"credential" doc:"The id of the credential that will sign the challenge."`
}

// Challenge is a login challenge: the principal signs it with its identity key.
type Challenge struct {
	Challenge string    `json:"challenge"`
	Host      string    `json:"host" doc:"The host name signed into the login, so a signature for one host is worthless at another."`
	Expires   time.Time `json:"expires"`
}

// TokenRequest exchanges a signed challenge for a bearer token.
type TokenRequest struct {
	Credential string `json:"credential"`
	Challenge  string `json:"challenge"`
	Signature  []byte `json:"signature" doc:"The identity key's signature of the login (docs/protocol.md)."`
}

// Token is a short-lived bearer token for the Authorization header.
type Token struct {
	Token      string    `json:"token"`
	Expires    time.Time `json:"expires"`
	Credential string    `json:"credential"`
	Principal  string    `json:"principal"`
	Org        string    `json:"org"`
}

// CreateTalks creates talks from a charter.
type CreateTalks struct {
	Charter []byte `json:"charter" doc:"A seal Act of type \"charter\" whose payload is a talks.Charter, signed by the proposer."`
}

// SubmitAct submits a signed act to a talks: a motion, vote, round change, delegation change,
// statement signature or the acceptance of the charter.
type SubmitAct struct {
	Act []byte `json:"act" doc:"A seal Act whose payload is a talks event."`
}

// SubmitEnvelope submits a sealed message, or a mediator's relay.
type SubmitEnvelope struct {
	Envelope []byte `json:"envelope" doc:"A seal Envelope."`
	// Notices are a relay's notices, one per envelope it passes on, in the order of its links:
	// each a seal Act of type "relayed", signed by the relaying mediator, whose payload is the
	// JSON of the backchannel.RelayNotice the room of the original is told.
	Notices [][]byte `json:"notices,omitempty" doc:"For a relay or summary: one signed relay notice (a seal Act of type relayed) per envelope it passes on, in the order of its links."`
	// Tag is the envelope's room tag (backchannel.RoomTag), made with a key of its room; the
	// record's leaf carries it, so that every reader of the room can recognise the envelope on
	// the record even if the host does not serve it.
	Tag []byte `json:"tag,omitempty" doc:"The envelope's room tag: HMAC-SHA256 under a key of its room (docs/record.md)."`
	// NoticeTags are the relay notices' room tags, each made with a key of the room the notice
	// is filed under (the room of the envelope it names), in the order of Notices.
	NoticeTags [][]byte `json:"notice_tags,omitempty" doc:"The relay notices' room tags, in the order of notices."`
}

// SubmitRoomKey hands a room's readers a new key for the room's tags.
type SubmitRoomKey struct {
	Envelope []byte `json:"envelope" doc:"A seal Envelope in the room, sealed by one of its readers to every reader, relaying and following nothing, whose message is the 32-byte key."`
}

// SubmitReceipt submits a signed receipt.
type SubmitReceipt struct {
	Receipt []byte `json:"receipt" doc:"A seal Receipt."`
	Tag     []byte `json:"tag,omitempty" doc:"The receipt's room tag, under a key of the room of the envelope it acknowledges (docs/record.md)."`
}

// SubmitRedLines stores a party's standing red lines, sealed to its own delegation: the host
// stores ciphertext only.
type SubmitRedLines struct {
	Envelope []byte `json:"envelope" doc:"A seal Envelope sealed by the party's head of delegation in its private room (private:<org>) to every delegate, whose message is a talks.RedLines."`
	Tag      []byte `json:"tag,omitempty" doc:"The red lines' room tag, under a key of the private room (docs/record.md)."`
}

// Cosign submits a party's cosignature of a checkpoint it verified.
type Cosign struct {
	Size      int64  `json:"size" minimum:"1" doc:"The size of the checkpoint cosigned."`
	Signature string `json:"signature" doc:"The C2SP tlog-cosignature signature line, as it would appear in the note."`
}

// Cosigned is the latest checkpoint one cosigner cosigned: the log's signed note of that size
// with the cosigner's signature line.
type Cosigned struct {
	Cosigner string `json:"cosigner" doc:"The cosigner's key name, <org>/<principal>."`
	Size     int64  `json:"size"`
	Note     string `json:"note" doc:"The checkpoint of that size as the log signed it, and the cosigner's signature line."`
}

// CosignedList is every cosigner's latest cosigned checkpoint of a talks.
type CosignedList struct {
	Cosigned []Cosigned `json:"cosigned"`
}

// Checkpoint is a signed checkpoint of a talks' record.
type Checkpoint struct {
	Size int64  `json:"size"`
	Root string `json:"root" doc:"The tree hash, base64."`
	Note string `json:"note" doc:"The C2SP signed note, with every cosignature collected."`
}

// Accepted is the answer to an accepted submission: where the event stands on the record.
type Accepted struct {
	Talks      string     `json:"talks"`
	Index      int64      `json:"index" doc:"The event's leaf index in the talks' log."`
	Type       string     `json:"type"`
	Hash       string     `json:"hash" doc:"Hex SHA-256 of the event's bytes."`
	Duplicate  bool       `json:"duplicate" doc:"True when the same bytes had already been accepted; nothing new was stored."`
	Checkpoint Checkpoint `json:"checkpoint" doc:"A signed checkpoint that covers the event."`
}

// Event is one event of a talks' record, as a member may see it.
type Event struct {
	Index int64     `json:"index"`
	Type  string    `json:"type" doc:"charter, root, credential, revocation, act, red-lines, envelope, relayed, receipt or statement."`
	Room  string    `json:"room,omitempty" doc:"The room whose members may read the event; empty for every member."`
	Time  time.Time `json:"time" doc:"When the host accepted it."`
	Hash  string    `json:"hash"`
	Data  []byte    `json:"data" doc:"The signed bytes."`
	Tag   []byte    `json:"tag,omitempty" doc:"The room tag the event's leaf carries, for an event filed under a room (docs/record.md)."`
}

// EventPage is a page of a talks' events that the caller may read.
type EventPage struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next" doc:"The index to ask for next."`
	Size   int64   `json:"size" doc:"The log's size when the page was read."`
}

// Proof is what a client needs to check that an event is in the record: its inclusion proof in
// a checkpoint, and a consistency proof from an older checkpoint the client has seen.
type Proof struct {
	Index       int64      `json:"index"`
	Leaf        []byte     `json:"leaf" doc:"The leaf's entry bytes (docs/record.md)."`
	Inclusion   []string   `json:"inclusion" doc:"The RFC 6962 inclusion proof, base64 hashes."`
	Checkpoint  Checkpoint `json:"checkpoint"`
	From        int64      `json:"from,omitempty" doc:"The older size the consistency proof starts from."`
	Consistency []string   `json:"consistency,omitempty" doc:"The RFC 6962 consistency proof from size from, base64 hashes."`
}

// Talks is the state of a talks as the host computed it; clients replay the record to check it.
type Talks struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	Visibility string      `json:"visibility"`
	Format     string      `json:"format"`
	Level      int         `json:"level"`
	Venue      string      `json:"venue,omitempty"`
	Agenda     []string    `json:"agenda"`
	Parties    []string    `json:"parties"`
	Mediators  []string    `json:"mediators"`
	Accepted   []string    `json:"accepted" doc:"Organisations that accepted the charter."`
	Members    []Member    `json:"members"`
	Rooms      []Room      `json:"rooms"`
	Motions    []Motion    `json:"motions"`
	Rounds     []Round     `json:"rounds"`
	Statements []Statement `json:"statements"`
	Size       int64       `json:"size" doc:"The size of the talks' record."`
	Log        string      `json:"log" doc:"The URL path of the record's tlog-tiles, ending in /."`
}

// Member is a principal of a delegation.
type Member struct {
	Principal  string `json:"principal"`
	Org        string `json:"org"`
	Rank       int    `json:"rank"`
	Title      string `json:"title,omitempty"`
	Head       bool   `json:"head"`
	Credential string `json:"credential,omitempty" doc:"The id of the principal's current credential, to seal to."`
}

// Room is a room of a talks and who sits in it.
type Room struct {
	ID      string   `json:"id"`
	Orgs    []string `json:"orgs"`
	Members []string `json:"members"`
}

// Motion is a proposed change of the talks' shape and the votes on it.
type Motion struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Change   any       `json:"change" doc:"The talks.Change proposed."`
	By       string    `json:"by"`
	Proposed time.Time `json:"proposed"`
	Deadline time.Time `json:"deadline"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Ballots  []Ballot  `json:"ballots"`
}

// Ballot is one organisation's vote on a motion.
type Ballot struct {
	Org      string    `json:"org"`
	By       string    `json:"by"`
	Accept   bool      `json:"accept"`
	Standing bool      `json:"standing" doc:"Cast on the party's behalf by its standing red lines."`
	At       time.Time `json:"at"`
}

// Round is a scheduled sitting.
type Round struct {
	Number int       `json:"number"`
	Venue  string    `json:"venue"`
	Start  time.Time `json:"start"`
	State  string    `json:"state"`
}

// Statement is a public statement after a round, held as the digest of its text.
type Statement struct {
	Round    int      `json:"round"`
	Digest   string   `json:"digest"`
	Joint    bool     `json:"joint"`
	Signers  []string `json:"signers" doc:"Organisations that signed."`
	Complete bool     `json:"complete"`
	Text     string   `json:"text,omitempty" doc:"The text, when it was published with the signature."`
}

// TalksList lists talks the caller's organisation takes part in.
type TalksList struct {
	Talks []TalksSummary `json:"talks"`
}

// TalksSummary names a talks.
type TalksSummary struct {
	ID      string    `json:"id"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
	Members []string  `json:"members"`
}

// Recipients lists the current credentials of every principal of a room, to seal to.
type Recipients struct {
	Room        string       `json:"room"`
	Credentials []Credential `json:"credentials"`
}

// PublicStatements is the public feed of statements of talks whose visibility allows it.
type PublicStatements struct {
	Statements []PublicStatement `json:"statements"`
}

// PublicStatement is a published statement.
type PublicStatement struct {
	Talks     string    `json:"talks"`
	Round     int       `json:"round"`
	Joint     bool      `json:"joint"`
	Signers   []string  `json:"signers"`
	Text      string    `json:"text"`
	Digest    string    `json:"digest"`
	Published time.Time `json:"published"`
}

// LogKey is the host's checkpoint-signing key, to pin.
type LogKey struct {
	Host     string `json:"host"`
	Verifier string `json:"verifier" doc:"The signed-note verifier key (golang.org/x/mod/sumdb/note vkey)."`
}
