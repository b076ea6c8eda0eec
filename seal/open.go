package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/backchannel/backchannel"
)

// Expect is what the caller knows an envelope must be: which talks, room and round it is filed
// under, and the rank its words need. Checking it against the signed header and message is
// what makes an envelope replayed into other talks, another room or another round fail.
type Expect struct {
	Talks    string           // required
	Room     string           // checked if not empty
	Round    uint32           // checked unless AnyRound
	AnyRound bool             // accept any round (e.g. a reader paging through history)
	MinRank  backchannel.Rank // the rank the words' author needs; 0 for none
}

func (x *Expect) check(c *Context) error {
	if c.Talks != x.Talks {
		return fmt.Errorf("%w: for talks %s, expected %s", ErrWrongTalks, c.Talks, x.Talks)
	}
	if x.Room != "" && c.Room != x.Room {
		return fmt.Errorf("%w: for room %s, expected %s", ErrWrongRoom, c.Room, x.Room)
	}
	if !x.AnyRound && c.Round != x.Round {
		return fmt.Errorf("%w: for round %d, expected %d", ErrWrongRound, c.Round, x.Round)
	}
	return nil
}

func (x *Expect) checkRank(who *Credential) error {
	if who.Rank < x.MinRank {
		return fmt.Errorf("%w: %s has rank %d, %d required", ErrRankTooLow, who, who.Rank, x.MinRank)
	}
	return nil
}

// Seal signs body as the identity's message in context ctx, encrypts it, and seals it to the
// given recipients' credentials (duplicates are dropped; include the sender's own credential to
// read one's own messages later). rand supplies the content key.
func (id *Identity) Seal(rand io.Reader, ctx Context, body []byte, to []*Credential) (*Envelope, error) {
	if id.cred == nil {
		return nil, errors.New("seal: identity has no credential")
	}
	c, err := ctx.normalize()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if len(body) > MaxBodyLen {
		return nil, fmt.Errorf("seal: body of %d bytes exceeds %d", len(body), MaxBodyLen)
	}
	msg := id.signMessage(&c, body)
	return id.sealEnvelope(rand, Header{Context: inClear(c)}, msg, to)
}

// Relay is the new placement of a verbatim relay: where, when and in which sequence the
// relaying mediator sends it. Talks, kind and topics stay the original's.
type Relay struct {
	Room      string
	Prev      Hash // the latest envelope of Room the mediator had read
	Round     uint32
	CreatedAt time.Time
	Sequence  uint64
}

// RelayVerbatim re-seals an opened message, unchanged, to new recipients in another room. The
// final reader verifies the original author's signature and context, and sees the identity
// (the mediator) as relayer. The new envelope links to the relayed one by hash.
func (id *Identity) RelayVerbatim(rand io.Reader, o *Opened, r Relay, to []*Credential) (*Envelope, error) {
	if id.cred == nil {
		return nil, errors.New("seal: relay: identity has no credential")
	}
	c, err := Context{
		Talks: o.Context.Talks, Room: r.Room, Kind: o.Context.Kind, Topics: o.Context.Topics,
		Round: r.Round, CreatedAt: r.CreatedAt, Sequence: r.Sequence, Prev: r.Prev,
	}.normalize()
	if err != nil {
		return nil, fmt.Errorf("seal: relay: %w", err)
	}
	h := Header{Context: c, Relay: RelayVerbatim, RelayOf: []Hash{o.Envelope.Hash()}}
	return id.sealEnvelope(rand, h, o.message, to)
}

// Summarize seals the identity's own message of kind summary about the envelopes it links to,
// marked as a summary relay, so readers know the words are the mediator's. ctx.Kind must be
// empty or backchannel.KindSummary.
func (id *Identity) Summarize(rand io.Reader, ctx Context, body []byte, of []Hash, to []*Credential) (*Envelope, error) {
	if id.cred == nil {
		return nil, errors.New("seal: summarize: identity has no credential")
	}
	if ctx.Kind == "" {
		ctx.Kind = backchannel.KindSummary
	}
	if ctx.Kind != backchannel.KindSummary {
		return nil, fmt.Errorf("seal: summarize: kind %s, want %s", ctx.Kind, backchannel.KindSummary)
	}
	c, err := ctx.normalize()
	if err != nil {
		return nil, fmt.Errorf("seal: summarize: %w", err)
	}
	links := slices.Clone(of)
	slices.SortFunc(links, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	links = slices.Compact(links)
	msg := id.signMessage(&c, body)
	return id.sealEnvelope(rand, Header{Context: inClear(c), Relay: RelaySummary, RelayOf: links}, msg, to)
}

// inClear returns the part of a message's context its envelope's header shows the host: all of
// it but the reply-to link, which the host needs for none of its rules and which would show it
// who answers whom. The header carries it as zero.
func inClear(c Context) Context {
	c.ReplyTo = Hash{}
	return c
}

// sealEnvelope encrypts the signed message msg under a fresh content key, wraps the key for
// each recipient and signs the envelope. h.Context must be normalized.
func (id *Identity) sealEnvelope(rand io.Reader, h Header, msg []byte, to []*Credential) (*Envelope, error) {
	if err := checkLinks(h.Relay, h.RelayOf); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	h.Sender = id.cred.id
	recips := slices.Clone(to)
	slices.SortFunc(recips, func(a, b *Credential) int { return bytes.Compare(a.id[:], b.id[:]) })
	recips = slices.CompactFunc(recips, func(a, b *Credential) bool { return a.id == b.id })
	if len(recips) == 0 || len(recips) > MaxRecipients {
		return nil, fmt.Errorf("seal: %d recipients, want 1 to %d", len(recips), MaxRecipients)
	}
	h.Recipients = make([]CredentialID, len(recips))
	pks := make([]hpke.PublicKey, len(recips))
	for i, c := range recips {
		pk, err := c.hpkeKey()
		if err != nil {
			return nil, fmt.Errorf("seal: recipient %s: %w", c, err)
		}
		h.Recipients[i], pks[i] = c.id, pk
	}

	var key [32]byte
	if _, err := io.ReadFull(rand, key[:]); err != nil {
		return nil, fmt.Errorf("seal: content key: %w", err)
	}
	aead, err := newGCM(key[:])
	if err != nil {
		return nil, err
	}

	size := len(domainEnvelope) + 512 + 32*len(recips) + 32*len(h.RelayOf) +
		wrapLen*len(recips) + commitLen + paddedLen(len(msg)+1) + aead.Overhead() + sigLen + 16
	buf := make([]byte, 0, size)
	buf = append(buf, domainEnvelope...)
	b := cryptobyte.NewBuilder(buf)
	addHeader(b, &h)
	head := b.BytesOrPanic()
	headerHash := sha(head[len(domainEnvelope):])
	info := wrapInfo(&headerHash)

	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, pk := range pks {
			w, err := wrapKey(pk, info, key[:])
			if err != nil {
				b.SetError(err)
				return
			}
			b.AddBytes(w)
		}
	})
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) {
		commit := keyCommitment(key[:], &headerHash)
		b.AddBytes(commit[:])
		b.AddBytes(aead.Seal(nil, zeroNonce[:], pad(msg), headerHash[:]))
	})
	signed, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	signed = append(signed, id.sign(signed)...)
	e, err := ParseEnvelope(signed[len(domainEnvelope):])
	if err != nil {
		// Seal validated everything it encoded; reaching here is a bug, not bad input.
		return nil, fmt.Errorf("seal: internal error: sealed envelope does not parse: %w", err)
	}
	return e, nil
}

// VerifyEnvelope is the server's check of an envelope it cannot read: the sender's credential is
// known, chains to a pinned root, is neither revoked nor outside its validity at the envelope's
// created-at; the sender's signature covers the header, wrapped keys and ciphertext; the header
// is for the expected talks, room and round; and, unless the envelope is a verbatim relay (whose
// author's rank was checked when the original was accepted), the sender has the rank required.
// It returns the sender's credential.
func (t *Trust) VerifyEnvelope(e *Envelope, x Expect) (*Credential, error) {
	sender, err := t.verifyOuter(e, x)
	if err != nil {
		return nil, err
	}
	if e.Relay != RelayVerbatim {
		if err := x.checkRank(sender); err != nil {
			return nil, fmt.Errorf("seal: envelope: %w", err)
		}
	}
	return sender, nil
}

func (t *Trust) verifyOuter(e *Envelope, x Expect) (*Credential, error) {
	sender, err := t.use(e.Sender, e.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("seal: envelope sender: %w", err)
	}
	if !e.verifySignature(sender.IdentityKey) {
		return nil, fmt.Errorf("seal: envelope from %s: %w: sender signature does not verify", sender, ErrTampered)
	}
	if err := x.check(&e.Context); err != nil {
		return nil, fmt.Errorf("seal: envelope from %s: %w", sender, err)
	}
	return sender, nil
}

// Opened is a verified, decrypted envelope.
type Opened struct {
	Envelope *Envelope   // the envelope as received
	Mode     RelayMode   // whose words: the sender's own, a verbatim relay, or a summary
	Author   *Credential // who wrote and signed the words (the original author for verbatim)
	Relayer  *Credential // the mediator who relayed a verbatim message; nil otherwise
	Context  Context     // the author's signed context (for verbatim, the original room and round)
	Body     []byte      // the plaintext

	message []byte // the author's signed message bytes, carried on by RelayVerbatim
	key     []byte // the envelope's content key
}

// ContentKey returns the key the envelope's message is encrypted under. It opens this one
// envelope and nothing else: a party discloses it, with the record, to show an arbitrator the
// words (Trust.OpenDisclosed).
func (o *Opened) ContentKey() []byte { return slices.Clone(o.key) }

// Message returns the author's signed message bytes: context, author and words, with the
// author's signature, as the envelope carries them.
func (o *Opened) Message() []byte { return slices.Clone(o.message) }

// Open verifies and decrypts an envelope addressed to this identity. In order: the sender's
// credential and outer signature (as VerifyEnvelope), the expected talks, room and round; the
// wrapped key for this identity's credential; the ciphertext; the author's credential and
// signature over the message and its context; the agreement of that context with the header;
// and the author's rank. Each refusal wraps a distinct error (see the Err variables).
func (id *Identity) Open(e *Envelope, t *Trust, x Expect) (*Opened, error) {
	if id.cred == nil {
		return nil, errors.New("seal: open: identity has no credential")
	}
	sender, err := t.verifyOuter(e, x)
	if err != nil {
		return nil, err
	}
	i, ok := e.recipientIndex(id.cred.id)
	if !ok {
		return nil, fmt.Errorf("seal: open envelope from %s: %w: %s", sender, ErrNotAddressed, id.cred)
	}
	headerHash := e.headerHash()
	key, err := unwrapKey(id.kem, wrapInfo(&headerHash), e.wraps[i*wrapLen:(i+1)*wrapLen])
	if err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w: wrapped key does not open", sender, ErrTampered)
	}
	return t.openWithKey(e, x, sender, key)
}

// OpenDisclosed verifies and decrypts an envelope with its content key, as a recipient
// disclosed it (Opened.ContentKey): an arbitrator who holds no key of the talks checks this
// way that the words a party shows are the ones the envelope on the record carries, signed
// by their author in their context. It checks everything Open does but the recipient's wrap,
// and that the key is the one the sender committed to.
func (t *Trust) OpenDisclosed(e *Envelope, key []byte, x Expect) (*Opened, error) {
	sender, err := t.verifyOuter(e, x)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: open disclosed envelope from %s: %w: a content key of %d bytes", sender, ErrTampered, len(key))
	}
	return t.openWithKey(e, x, sender, key)
}

// openWithKey is Open from the content key on: the sender's commitment to it, the ciphertext,
// the padding, the author's message, signature and context, and the author's rank.
func (t *Trust) openWithKey(e *Envelope, x Expect, sender *Credential, key []byte) (*Opened, error) {
	headerHash := e.headerHash()
	if commit := keyCommitment(key, &headerHash); !bytes.Equal(commit[:], e.ciphertext[:commitLen]) {
		return nil, fmt.Errorf("seal: open envelope from %s: %w: the content key is not the one its sender committed to", sender, ErrTampered)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	// Decrypt behind the message signature's domain string, so verifying needs no copy.
	ct := e.ciphertext[commitLen:]
	buf := make([]byte, 0, len(domainMessage)+len(ct))
	buf, err = aead.Open(append(buf, domainMessage...), zeroNonce[:], ct, headerHash[:])
	if err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w: ciphertext does not decrypt", sender, ErrTampered)
	}
	plain, err := unpad(buf[len(domainMessage):])
	if err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w", sender, err)
	}
	buf = buf[:len(domainMessage)+len(plain)]
	m, err := parseMessage(plain)
	if err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w", sender, err)
	}

	o := &Opened{Envelope: e, Mode: e.Relay, Context: m.Context, Body: m.Body, message: m.raw, key: slices.Clone(key)}
	if e.Relay == RelayVerbatim {
		o.Relayer = sender
		if o.Author, err = t.use(m.Author, m.CreatedAt); err != nil {
			return nil, fmt.Errorf("seal: open verbatim relay by %s: author: %w", sender, err)
		}
	} else {
		if m.Author != e.Sender {
			return nil, fmt.Errorf("seal: open envelope from %s: %w: message signed by another credential", sender, ErrContextMismatch)
		}
		o.Author = sender
	}
	if !ed25519.Verify(o.Author.IdentityKey, buf[:len(buf)-sigLen], m.signature()) {
		if e.Relay == RelayVerbatim {
			return nil, fmt.Errorf("seal: open verbatim relay by %s: %w: signature of %s does not verify", sender, ErrRelayAltered, o.Author)
		}
		return nil, fmt.Errorf("seal: open envelope from %s: %w: message signature does not verify", sender, ErrTampered)
	}
	if err := matchContext(e, &m.Context); err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w", sender, err)
	}
	if err := x.checkRank(o.Author); err != nil {
		return nil, fmt.Errorf("seal: open envelope from %s: %w", sender, err)
	}
	return o, nil
}

// matchContext checks the author's signed context against the header. A message sealed in place
// (or a summary) must agree in every field but the reply-to link, which only the message holds; a verbatim relay keeps the original's talks, kind
// and topics but moves to the mediator's room, round, time and sequence.
func matchContext(e *Envelope, m *Context) error {
	h := &e.Context
	if m.Talks != h.Talks {
		return fmt.Errorf("%w: message for talks %s in an envelope for %s", ErrWrongTalks, m.Talks, h.Talks)
	}
	if m.Kind != h.Kind || !slices.Equal(m.Topics, h.Topics) {
		return fmt.Errorf("%w: kind or topics differ", ErrContextMismatch)
	}
	if e.Relay == RelayVerbatim {
		return nil
	}
	if m.Room != h.Room {
		return fmt.Errorf("%w: message for room %s in an envelope for %s", ErrWrongRoom, m.Room, h.Room)
	}
	if m.Round != h.Round {
		return fmt.Errorf("%w: message for round %d in an envelope for %d", ErrWrongRound, m.Round, h.Round)
	}
	if !m.CreatedAt.Equal(h.CreatedAt) || m.Sequence != h.Sequence || m.Prev != h.Prev {
		return fmt.Errorf("%w: time, sequence or the envelope it follows differ", ErrContextMismatch)
	}
	return nil
}
