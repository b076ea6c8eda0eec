package client

import (
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/seal"
)

// MessageView is a message as a party reads it: what the envelope says of itself, and, when it
// opened and verified, who wrote it and what. It is how the CLI prints and exports a message.
type MessageView struct {
	Index int64  `json:"index"`
	Hash  string `json:"hash"`
	Room  string `json:"room"`
	// Time is when the author signed the message; for a message that did not verify, when
	// the host says it received it. Received is always the host's word.
	Time     time.Time                 `json:"time"`
	Received time.Time                 `json:"received"`
	Kind     string                    `json:"kind"`
	Topics   []string                  `json:"topics"`
	Round    int                       `json:"round"`
	Mode     string                    `json:"mode"`
	Author   string                    `json:"author,omitempty"`
	Title    string                    `json:"title,omitempty"`
	Rank     int                       `json:"rank,omitempty"`
	Relayer  string                    `json:"relayer,omitempty"`
	Sender   string                    `json:"sender,omitempty"`
	ReplyTo  string                    `json:"reply_to,omitempty"`
	Of       []string                  `json:"summary_of,omitempty"`
	Verified bool                      `json:"verified"`
	Flag     string                    `json:"flag,omitempty"`
	Body     string                    `json:"body,omitempty"`
	Relays   []backchannel.RelayNotice `json:"relays"`
	Receipts []ReceiptView             `json:"receipts"`
}

// ReceiptView is a receipt as a party reads it.
type ReceiptView struct {
	By   string    `json:"by"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// HandleOf names a credential the book knows, and returns it; a credential it does not know
// is named by the start of its id.
func HandleOf(b *Book, id seal.CredentialID) (string, *seal.Credential) {
	if b.Trust != nil {
		if c, err := b.Trust.Credential(id); err == nil {
			return c.Handle(), c
		}
	}
	return "credential " + id.String()[:12], nil
}

// ViewOf returns the view of message m of book b.
func ViewOf(b *Book, m *Message) MessageView {
	h := m.Envelope.Header
	v := MessageView{
		Index: m.Index, Hash: m.Hash.String(), Room: m.Room, Time: m.Time, Received: m.Time, Kind: string(h.Kind), Topics: h.Topics,
		Round: int(h.Round), Mode: h.Relay.String(), Relays: m.Relays, Receipts: []ReceiptView{},
	}
	if v.Topics == nil {
		v.Topics = []string{}
	}
	if v.Relays == nil {
		v.Relays = []backchannel.RelayNotice{}
	}
	v.Sender, _ = HandleOf(b, h.Sender)
	for _, o := range h.RelayOf {
		v.Of = append(v.Of, o.String())
	}
	if m.Opened != nil {
		o := m.Opened
		v.Verified = true
		// The host's time is not signed: a host could date a message as it liked.
		v.Time = o.Context.CreatedAt
		v.Kind, v.Topics, v.Round = string(o.Context.Kind), o.Context.Topics, int(o.Context.Round)
		v.Author, v.Title, v.Rank = o.Author.Handle(), o.Author.Title, int(o.Author.Rank)
		if o.Relayer != nil {
			v.Relayer = o.Relayer.Handle()
		}
		if !o.Context.ReplyTo.IsZero() {
			v.ReplyTo = o.Context.ReplyTo.String()
		}
		v.Body = string(o.Body)
	} else {
		v.Flag = "did not verify: " + m.Err.Error()
	}
	for _, rc := range m.Receipts {
		by, _ := HandleOf(b, rc.Signer)
		v.Receipts = append(v.Receipts, ReceiptView{By: by, Kind: rc.Kind.String(), At: rc.CreatedAt})
	}
	return v
}
