package muscat

import (
	"errors"
	"fmt"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The motions of the scenario, by id.
const (
	motionUAE               = "m-mediator-ae"
	motionOman              = "m-mediator-om"
	motionDirect            = "m-format-direct"
	motionNuclear           = "m-topic-nuclear-programme"
	motionSanctions         = "m-topic-sanctions-relief"
	motionMissiles          = "m-topic-missiles"
	motionIstanbul          = "m-venue-istanbul"
	motionMuscat            = "m-venue-muscat"
	motionRound1            = "m-round-1"
	motionCourtesy          = "m-courtesy-session"
	motionRound2            = "m-round-2"
	motionLevel             = "m-level-5"
	motionSuspend           = "m-suspend"
	motionResume            = "m-resume"
	motionRound3Istanbul    = "m-round-3-istanbul"
	motionRound3            = "m-round-3-muscat"
	motionMissilesAgain     = "m-topic-missiles-again"
	motionRegionalInfluence = "m-topic-regional-influence"
)

// pins returns the pins of the given organisations' roots, for a charter.
func (p *player) pins(orgs ...string) []talks.Pin {
	out := make([]talks.Pin, len(orgs))
	for i, o := range orgs {
		out[i] = client.Pin(p.roots[o].Public())
	}
	return out
}

// found has who found talks with a charter.
func (p *player) found(who *person, c talks.Charter, detail string) error {
	_, err := p.do(who, c.ID, "charter", detail, accepted, func() (api.Accepted, error) { return who.c.CreateTalks(p.ctx, c) })
	return err
}

// accept has who accept the charter of talks for its organisation.
func (p *player) accept(who *person, talksID, detail string) error {
	_, err := p.do(who, talksID, "accept-charter", detail, accepted, func() (api.Accepted, error) { return who.c.Accept(p.ctx, talksID, p.compared()) })
	return err
}

// compared is the pin policy of every member of the cast: each organisation compared every
// other's safety number out of band before the talks (step 0).
func (p *player) compared() client.PinPolicy {
	var roots []seal.RootKey
	for _, r := range p.roots {
		roots = append(roots, r.Public())
	}
	return client.PinPolicy{Known: client.KnownRoots(roots...)}
}

// add has the head of a delegation add a member.
func (p *player) add(head, m *person, talksID, detail string) error {
	cr := m.c.Credential()
	_, err := p.do(head, talksID, "add-member", detail, accepted, func() (api.Accepted, error) { return head.c.AddMember(p.ctx, talksID, cr) })
	return err
}

// 1. A letter before the talks: the President writes to the Supreme Leader; a UAE diplomat
// carries it. The channel is talks of their own, with the UAE as the carrier, so that the
// letter travels sealed and the recipient checks the President's signature.
func (p *player) letter() error {
	p.begin(1, "A letter before the talks")
	president, leader, diplomat := p.who("us", "president"), p.who("ir", "supreme-leader"), p.who("ae", "diplomat")
	if err := p.found(president, talks.Charter{
		ID: TalksLetter, Parties: []string{"us", "ir"}, Mediators: []string{"ae"}, Roots: p.pins("us", "ir", "ae"),
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 3, Agenda: []string{topicNuclear},
	}, "opens a channel to Iran for one letter, carried by the UAE, pinning the roots of the US, Iran and the UAE"); err != nil {
		return err
	}
	if err := p.accept(leader, TalksLetter, "accepts the channel for the letter"); err != nil {
		return err
	}
	if err := p.accept(diplomat, TalksLetter, "accepts to carry the letter"); err != nil {
		return err
	}
	env, err := p.send(president, TalksLetter, draft(talks.RoomCaucus("us"), backchannel.KindLetter,
		"Letter from the President of the United States to the Supreme Leader of Iran: the President is willing to negotiate on the nuclear issue alone.",
		topicNuclear), "signs and seals a letter to Iran's Supreme Leader: willing to negotiate on the nuclear issue alone", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(diplomat, TalksLetter, env.Hash(), talks.RoomCaucus("ir"), "carries the letter to Iran, word for word")
	if err != nil {
		return err
	}
	_, err = p.read(leader, TalksLetter, relayed.Hash(), seal.RelayVerbatim, president, diplomat,
		"reads the letter and checks that it really comes from the President")
	return err
}

// 2. Choosing the mediator: the UAE is refused, Oman accepted.
func (p *player) mediator() error {
	p.begin(2, "Choosing the mediator")
	envoy, irFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister")
	omFM, diplomat := p.who("om", "foreign-minister"), p.who("ae", "diplomat")
	if err := p.found(envoy, talks.Charter{
		ID: TalksMuscat, Parties: []string{"us", "ir"}, Roots: p.pins("us", "ir"),
		Visibility: talks.VisibilityPublic, Format: talks.FormatIndirect, Level: 3,
	}, "proposes talks between the US and Iran, indirect, pinning both roots; the US heads its delegation"); err != nil {
		return err
	}
	if err := p.accept(irFM, TalksMuscat, "accepts the charter; Iran's Foreign Minister heads its delegation"); err != nil {
		return err
	}
	if err := p.decide(envoy, TalksMuscat, motionUAE, talks.InviteMediator("ae", client.Pin(p.roots["ae"].Public()).Fingerprint), talks.OutcomeRefused,
		yes(diplomat), no(irFM)); err != nil {
		return err
	}
	return p.decide(irFM, TalksMuscat, motionOman, talks.InviteMediator("om", client.Pin(p.roots["om"].Public()).Fingerprint), talks.OutcomePassed,
		yes(envoy), yes(omFM))
}

// 3. Choosing the format: direct talks are refused; each delegation keeps its own room.
func (p *player) format() error {
	p.begin(3, "Choosing the format")
	envoy, irFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister")
	if err := p.decide(envoy, TalksMuscat, motionDirect, talks.SetFormat(talks.FormatDirect), talks.OutcomeRefused, no(irFM)); err != nil {
		return err
	}
	_, err := p.send(envoy, TalksMuscat, draft(talks.RoomPlenary, backchannel.KindNote, "A message to both delegations."),
		"tries to write to a room of both delegations",
		refused("not-in-room", "a room of both delegations: in indirect talks there is none"))
	return err
}

// 4. Choosing the agenda: nuclear programme and sanctions relief; missiles refused by Iran's
// standing red lines, and a message about missiles refused by the channel.
func (p *player) agenda() error {
	p.begin(4, "Choosing the agenda")
	envoy, irFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister")
	if _, err := p.do(irFM, TalksMuscat, "red-lines", "sets Iran's standing red lines, missiles and regional security, where only Iran's delegation can read them", accepted,
		func() (api.Accepted, error) {
			return irFM.c.SetRedLines(p.ctx, TalksMuscat, []string{"missiles", "regional-security"})
		}); err != nil {
		return err
	}
	if err := p.decide(irFM, TalksMuscat, motionNuclear, talks.AddTopic(topicNuclear), talks.OutcomePassed, yes(envoy)); err != nil {
		return err
	}
	if err := p.decide(irFM, TalksMuscat, motionSanctions, talks.AddTopic(topicSanctions), talks.OutcomePassed, yes(envoy)); err != nil {
		return err
	}
	if err := p.propose(envoy, TalksMuscat, motionMissiles, talks.AddTopic("missiles"), talks.OutcomeRefused); err != nil {
		return err
	}
	_, err := p.send(envoy, TalksMuscat, draft(talks.RoomCaucus("us"), backchannel.KindNote,
		"The United States wants missiles, drones and regional influence on the table.", "missiles"),
		"writes about missiles", refused("not-on-agenda", "a message about missiles, not on the agreed agenda"))
	return err
}

// 5. Choosing the venue: Istanbul refused, Muscat accepted; round 1 scheduled there.
func (p *player) venue() error {
	p.begin(5, "Choosing the venue")
	envoy, irFM, omFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister"), p.who("om", "foreign-minister")
	if err := p.decide(envoy, TalksMuscat, motionIstanbul, talks.SetVenue("Istanbul"), talks.OutcomeRefused, no(irFM)); err != nil {
		return err
	}
	if err := p.decide(omFM, TalksMuscat, motionMuscat, talks.SetVenue("Muscat"), talks.OutcomePassed, yes(irFM), yes(envoy)); err != nil {
		return err
	}
	start := p.now().UTC().Truncate(time.Minute)
	return p.decide(omFM, TalksMuscat, motionRound1, talks.ScheduleRound("", start), talks.OutcomePassed, yes(envoy), yes(irFM))
}

// 6. Round 1 in Muscat: separate rooms, Oman's Foreign Minister carrying the written
// messages word for word or summed up in his own words, and a short direct session.
func (p *player) round1() error {
	p.begin(6, "Round 1, Muscat")
	envoy, irFM, omFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister"), p.who("om", "foreign-minister")
	if _, err := p.do(omFM, TalksMuscat, "open-round", "opens round 1 in Muscat; the delegations sit in separate rooms", accepted,
		func() (api.Accepted, error) { return omFM.c.OpenRound(p.ctx, TalksMuscat, 1) }); err != nil {
		return err
	}
	note, err := p.send(envoy, TalksMuscat, draft(talks.RoomCaucus("us"), backchannel.KindNote,
		"Written message of the United States delegation, round 1 in Muscat. (Its content was not made public.)", topicNuclear),
		"writes to Oman in the US room", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(omFM, TalksMuscat, note.Hash(), talks.RoomCaucus("ir"), "carries the US message to Iran's room, word for word")
	if err != nil {
		return err
	}
	if _, err := p.read(irFM, TalksMuscat, relayed.Hash(), seal.RelayVerbatim, envoy, omFM, "reads the US message"); err != nil {
		return err
	}
	if _, err := p.do(irFM, TalksMuscat, "fetch-envelope", "asks the host for the US message as posted in the US room",
		refused("not-found", "the US room's copy of a US message, to Iran"),
		func() (api.Accepted, error) { return api.Accepted{}, p.fetchEnvelope(irFM, TalksMuscat, note.Hash()) }); err != nil {
		return err
	}
	response, err := p.send(irFM, TalksMuscat, draft(talks.RoomCaucus("ir"), backchannel.KindResponse,
		"Written response of Iran's delegation, round 1 in Muscat. (Its content was not made public.)", topicNuclear, topicSanctions),
		"answers in Iran's room", accepted)
	if err != nil {
		return err
	}
	summary, err := p.summarize(omFM, TalksMuscat, []seal.Hash{response.Hash()}, draft(talks.RoomCaucus("us"), backchannel.KindSummary,
		"In the words of Oman's Foreign Minister: Iran's delegation has answered on the nuclear programme and sanctions relief. (The content was not made public.)",
		topicNuclear, topicSanctions), "sums up Iran's answer for the US in his own words")
	if err != nil {
		return err
	}
	if _, err := p.read(envoy, TalksMuscat, summary.Hash(), seal.RelaySummary, omFM, omFM, "reads Oman's summary of Iran's answer"); err != nil {
		return err
	}
	until := p.now().UTC().Add(15 * time.Minute).Truncate(time.Minute)
	if err := p.decide(envoy, TalksMuscat, motionCourtesy, talks.OpenSession(until), talks.OutcomePassed, yes(irFM)); err != nil {
		return err
	}
	courtesy, err := p.send(envoy, TalksMuscat, draft(talks.RoomPlenary, backchannel.KindNote,
		"A short face-to-face courtesy exchange between the heads of delegation."), "greets Iran's head of delegation in the direct session", accepted)
	if err != nil {
		return err
	}
	if _, err := p.read(irFM, TalksMuscat, courtesy.Hash(), seal.RelayNone, envoy, nil, "reads the US greeting in the direct session"); err != nil {
		return err
	}
	if _, err := p.do(omFM, TalksMuscat, "close-session", "closes the direct session minutes later", accepted,
		func() (api.Accepted, error) { return omFM.c.CloseSession(p.ctx, TalksMuscat) }); err != nil {
		return err
	}
	if _, err := p.send(envoy, TalksMuscat, draft(talks.RoomPlenary, backchannel.KindNote, "A further word to both delegations."),
		"tries to write to both delegations after the session",
		refused("not-in-room", "a message to both delegations once the direct session closed")); err != nil {
		return err
	}
	_, err = p.do(omFM, TalksMuscat, "close-round", "closes round 1", accepted,
		func() (api.Accepted, error) { return omFM.c.CloseRound(p.ctx, TalksMuscat, 1) })
	return err
}

// 7. After round 1: each side's own public statement, a second round a week later.
func (p *player) afterRound1() error {
	p.begin(7, "After round 1")
	envoy, irFM, omFM := p.who("us", "special-envoy"), p.who("ir", "foreign-minister"), p.who("om", "foreign-minister")
	usText := "Round 1 of the talks in Muscat was positive and constructive."
	irText := "Round 1 of the talks in Muscat was constructive and positive. Round 1 agreed on substance; round 2 will settle the format."
	if err := p.statement(envoy, TalksMuscat, 1, usText, "publishes the US statement: positive and constructive"); err != nil {
		return err
	}
	if err := p.statement(irFM, TalksMuscat, 1, irText, "publishes Iran's statement: constructive and positive; round 1 agreed on substance, round 2 will settle the format"); err != nil {
		return err
	}
	if err := p.publicFeed(usText, irText); err != nil {
		return err
	}
	start := p.now().UTC().Add(7 * 24 * time.Hour).Truncate(time.Minute)
	return p.decide(omFM, TalksMuscat, motionRound2, talks.ScheduleRound("", start), talks.OutcomePassed, yes(irFM), yes(envoy))
}

// statement has a party sign and publish a unilateral statement on a closed round.
func (p *player) statement(who *person, talksID string, round int, text, detail string) error {
	_, err := p.do(who, talksID, "statement", detail, accepted, func() (api.Accepted, error) {
		return who.c.Statement(p.ctx, talksID, round, text, false)
	})
	return err
}

// publicFeed checks that the host's public feed carries each text, as anyone reads it.
func (p *player) publicFeed(texts ...string) error {
	feed, err := client.New(p.base, nil, p.clientOptions()...).PublicStatements(p.ctx)
	if err != nil {
		return fmt.Errorf("muscat: step %d: reading the public feed: %w", p.number, err)
	}
	for _, t := range texts {
		found := false
		for _, st := range feed {
			found = found || (st.Text == t && st.Digest == backchannel.StatementDigest(t))
		}
		if !found {
			return fmt.Errorf("muscat: step %d: the public feed does not carry %q", p.number, t)
		}
	}
	p.emit(Step{Actor: Actor{Title: "Anyone"}, Action: "public-feed", Outcome: OutcomeVerified,
		Detail:   fmt.Sprintf("reads the host's public feed: %d statement(s) of this step, each text matching the digest its party signed", len(texts)),
		Verified: "each text's SHA-256 is the digest signed on the record"})
	return nil
}

// 8. Raising the level: both parties consent to level 5, a formal message below it is
// refused, and Iran's SNSC Secretary hands over Iran's response through Oman.
func (p *player) level() error {
	p.begin(8, "Raising the level")
	envoy, vp := p.who("us", "special-envoy"), p.who("us", "vice-president")
	irFM, snsc, omFM := p.who("ir", "foreign-minister"), p.who("ir", "snsc-secretary"), p.who("om", "foreign-minister")
	if err := p.add(envoy, vp, TalksMuscat, "adds the Vice President, who calls for higher-level talks, to the US delegation"); err != nil {
		return err
	}
	if err := p.add(irFM, snsc, TalksMuscat, "adds the Secretary of the Supreme National Security Council, who outranks him on this file, to Iran's delegation"); err != nil {
		return err
	}
	if err := p.decide(vp, TalksMuscat, motionLevel, talks.SetLevel(5), talks.OutcomePassed, yes(snsc)); err != nil {
		return err
	}
	if _, err := p.do(omFM, TalksMuscat, "open-round", "opens round 2 in Muscat (scheduled a week after round 1; the rules record the date, they do not wait for it)", accepted,
		func() (api.Accepted, error) { return omFM.c.OpenRound(p.ctx, TalksMuscat, 2) }); err != nil {
		return err
	}
	if _, err := p.send(irFM, TalksMuscat, draft(talks.RoomCaucus("ir"), backchannel.KindResponse,
		"Iran's response. (Its content was not made public.)", topicNuclear),
		"tries to hand over Iran's response himself, at rank 4",
		refused("rank-below-level", "a formal response below the talks' level")); err != nil {
		return err
	}
	response, err := p.send(snsc, TalksMuscat, draft(talks.RoomCaucus("ir"), backchannel.KindResponse,
		"Iran's response, handed over through Oman by the Secretary of the Supreme National Security Council. (Its content was not made public.)", topicNuclear),
		"hands over Iran's response in Iran's room; he meets no American", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(omFM, TalksMuscat, response.Hash(), talks.RoomCaucus("us"), "carries Iran's response to the US room, word for word")
	if err != nil {
		return err
	}
	if _, err := p.read(vp, TalksMuscat, relayed.Hash(), seal.RelayVerbatim, snsc, omFM, "reads Iran's response"); err != nil {
		return err
	}
	_, err = p.do(omFM, TalksMuscat, "close-round", "closes round 2", accepted,
		func() (api.Accepted, error) { return omFM.c.CloseRound(p.ctx, TalksMuscat, 2) })
	return err
}

// 9. A second channel: the same official goes on to Qatar, mediator of talks of their own.
func (p *player) secondChannel() error {
	p.begin(9, "A second channel")
	envoy, snsc, qa := p.who("us", "special-envoy"), p.who("ir", "snsc-secretary"), p.who("qa", "foreign-ministry")
	if err := p.found(snsc, talks.Charter{
		ID: TalksDoha, Parties: []string{"ir", "us"}, Mediators: []string{"qa"}, Roots: p.pins("ir", "us", "qa"),
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 3, Venue: "Doha", Agenda: []string{topicNuclear},
	}, "opens a second channel with the US, mediated by Qatar; Muscat stays one channel among several"); err != nil {
		return err
	}
	if err := p.accept(envoy, TalksDoha, "accepts the second channel for the US"); err != nil {
		return err
	}
	if err := p.accept(qa, TalksDoha, "accepts to mediate, as Qatar has for years"); err != nil {
		return err
	}
	msg, err := p.send(snsc, TalksDoha, draft(talks.RoomCaucus("ir"), backchannel.KindResponse,
		"Iran's message through Qatar. (Its content was not made public.)", topicNuclear), "writes to Qatar in Iran's room", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(qa, TalksDoha, msg.Hash(), talks.RoomCaucus("us"), "carries Iran's message to the US room, word for word")
	if err != nil {
		return err
	}
	_, err = p.read(envoy, TalksDoha, relayed.Hash(), seal.RelayVerbatim, snsc, qa, "reads Iran's message in the second channel")
	return err
}

// 10. Hiatus and a disputed message: the talks are suspended and resumed by consent; the
// President's genuine message verifies, a forged one fails and is flagged; Iran acknowledges
// receipt without revealing anything, and its statement neither confirms nor denies.
func (p *player) hiatus() error {
	p.begin(10, "Hiatus and a disputed message")
	envoy, president := p.who("us", "special-envoy"), p.who("us", "president")
	irFM, omFM := p.who("ir", "foreign-minister"), p.who("om", "foreign-minister")
	if err := p.decide(omFM, TalksMuscat, motionSuspend, talks.Suspend(), talks.OutcomePassed, yes(envoy), yes(irFM)); err != nil {
		return err
	}
	if _, err := p.send(envoy, TalksMuscat, draft(talks.RoomCaucus("us"), backchannel.KindNote,
		"A message about resuming negotiations.", topicNuclear), "tries to send a message while the talks are suspended",
		refused("suspended", "a message while the talks are suspended")); err != nil {
		return err
	}
	if err := p.decide(omFM, TalksMuscat, motionResume, talks.Resume(), talks.OutcomePassed, yes(envoy), yes(irFM)); err != nil {
		return err
	}
	if err := p.add(envoy, president, TalksMuscat, "adds the President to the US delegation"); err != nil {
		return err
	}
	letter, err := p.send(president, TalksMuscat, draft(talks.RoomCaucus("us"), backchannel.KindLetter,
		"Message signed by the President of the United States about resuming negotiations. (Its content was not made public.)", topicNuclear),
		"signs a message to Iran about resuming negotiations", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(omFM, TalksMuscat, letter.Hash(), talks.RoomCaucus("ir"), "carries the President's message to Iran's room, word for word")
	if err != nil {
		return err
	}
	if _, err := p.read(irFM, TalksMuscat, relayed.Hash(), seal.RelayVerbatim, president, omFM, "reads the President's message and checks its signature"); err != nil {
		return err
	}
	if err := p.forgery(irFM); err != nil {
		return err
	}
	if _, err := p.do(irFM, TalksMuscat, "receipt", "acknowledges receipt of the President's message: a signed receipt naming the envelope by its hash, revealing nothing of its content", accepted,
		func() (api.Accepted, error) {
			return irFM.c.Receipt(p.ctx, TalksMuscat, relayed.Hash(), seal.Acknowledged)
		}); err != nil {
		return err
	}
	m, err := p.received(omFM, TalksMuscat, relayed.Hash())
	if err != nil {
		return err
	}
	acked := false
	for _, rc := range m.Receipts {
		acked = acked || (rc.Kind == seal.Acknowledged && rc.Signer == irFM.c.Credential().ID())
	}
	if !acked {
		return fmt.Errorf("muscat: step 10: Oman's record shows no acknowledgment by Iran of the President's message")
	}
	summary, err := p.summarize(omFM, TalksMuscat, []seal.Hash{relayed.Hash()}, draft(talks.RoomCaucus("us"), backchannel.KindSummary,
		"In the words of Oman's Foreign Minister: Iran acknowledges receipt of the President's message.", topicNuclear),
		"tells the US, in his own words, that Iran acknowledged receipt")
	if err != nil {
		return err
	}
	if _, err := p.read(president, TalksMuscat, summary.Hash(), seal.RelaySummary, omFM, omFM, "learns that Iran acknowledged receipt"); err != nil {
		return err
	}
	text := `Iran's government spokesperson: the Foreign Ministry "has received messages about resuming negotiations".`
	if err := p.statement(irFM, TalksMuscat, 2, text, "publishes Iran's statement, which neither confirms nor denies a message from the President"); err != nil {
		return err
	}
	return p.publicFeed(text)
}

// forgery plays the forged "letter from the President": a credential claiming the President,
// issued by a look-alike root that no charter pinned. The host refuses to carry it; handed to
// Iran outside the channel, Iran's client flags it.
func (p *player) forgery(reader *person) error {
	forger := Actor{Title: "Someone claiming to be the President of the United States"}
	now := p.now().UTC().Truncate(time.Millisecond)
	fakeRoot, err := seal.NewRoot(p.rand, "us")
	if err != nil {
		return err
	}
	id, err := seal.NewIdentity(p.rand)
	if err != nil {
		return err
	}
	cred, err := fakeRoot.Issue(seal.Credential{
		Principal: "president", Name: "Office of the President", Title: "President", Rank: 5,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
	})
	if err != nil {
		return err
	}
	if err := id.SetCredential(cred); err != nil {
		return err
	}
	what := "a letter claiming to come from the US President, under a look-alike root"
	s, _, err := p.call(Step{Actor: forger, Action: "publish-credential", Talks: TalksMuscat,
		Detail: fmt.Sprintf("offers the host a credential for the US President issued by a look-alike root (safety number %s…), not the registered US root", fakeRoot.Public().Fingerprint().Short())},
		refused("untrusted-root", "a credential for the US President from a look-alike root"), func() (api.Accepted, error) {
			_, err := client.New(p.base, nil, p.clientOptions()...).PublishCredential(p.ctx, cred)
			return api.Accepted{}, err
		})
	if err != nil {
		return err
	}
	p.emit(s)

	// Seal the forged letter for Iran's room with seal directly, as a forger with its own tools
	// would, and try to post it.
	b := reader.c.Book(TalksMuscat)
	var to []*seal.Credential
	for _, h := range b.State.Recipients(talks.RoomCaucus("ir"), p.now()) {
		org, principal, _ := seal.SplitHandle(h)
		if cr := b.Trust.Latest(org, principal); cr != nil {
			to = append(to, cr)
		}
	}
	env, err := id.Seal(p.rand, seal.Context{
		Talks: TalksMuscat, Room: talks.RoomCaucus("ir"), Kind: backchannel.KindLetter, Topics: []string{topicNuclear},
		CreatedAt: now, Sequence: 1,
	}, []byte("Letter from the President of the United States."), to)
	if err != nil {
		return err
	}
	s, _, err = p.call(Step{Actor: forger, Action: "send", Talks: TalksMuscat, Detail: "tries to post " + what + " to Iran's room"},
		refused("unknown-credential", what), func() (api.Accepted, error) {
			return client.New(p.base, id, p.clientOptions()...).SubmitEnvelope(p.ctx, TalksMuscat, env)
		})
	if err != nil {
		return err
	}
	p.emit(s)

	// Handed over outside the channel, the envelope is opened by Iran's own client against the
	// roots its record pinned: the sender is no one the record knows, and the credential it
	// comes with is not signed by the pinned US root.
	flag := Step{Actor: reader.Actor, Action: "check", Talks: TalksMuscat, Detail: "is handed the forged letter outside the channel and opens it with the roots his record pinned"}
	_, openErr := reader.c.Identity().Open(env, b.Trust, seal.Expect{Talks: TalksMuscat, Room: talks.RoomCaucus("ir"), AnyRound: true})
	credErr := b.Trust.VerifyCredential(cred, p.now())
	if openErr == nil || credErr == nil || !errors.Is(openErr, seal.ErrUnknownCredential) || !errors.Is(credErr, seal.ErrUntrustedRoot) {
		return p.fail(flag, fmt.Errorf("the forged letter was not flagged: open: %v; credential: %v", openErr, credErr))
	}
	flag.Outcome, flag.Problem = OutcomeFlagged, "untrusted-root"
	flag.Reason = fmt.Sprintf("%v; %v", openErr, credErr)
	flag.At = p.now().UTC().Truncate(time.Millisecond)
	flag.Verified = "flagged, never shown as genuine: the credential claiming the President does not verify against the US root pinned in the charter"
	p.emit(flag)
	p.offRecord[TalksMuscat+"/"+reader.Principal]++
	p.res.Refusals = append(p.res.Refusals, Refusal{
		Talks: TalksMuscat, What: what, From: forger, By: reader.Actor, Problem: "untrusted-root", Source: SourceClient, At: flag.At,
	})
	return nil
}

// 11. Resumption: the venue again moves from Istanbul to Muscat at Iran's request, the US adds
// a presidential adviser, and asks again for missiles and regional influence; the agenda
// stays as agreed.
func (p *player) resumption() error {
	p.begin(11, "Resumption")
	envoy, vp, adviser := p.who("us", "special-envoy"), p.who("us", "vice-president"), p.who("us", "adviser")
	irFM, snsc, omFM := p.who("ir", "foreign-minister"), p.who("ir", "snsc-secretary"), p.who("om", "foreign-minister")
	start := p.now().UTC().Truncate(time.Minute)
	if err := p.decide(envoy, TalksMuscat, motionRound3Istanbul, talks.ScheduleRound("Istanbul", start), talks.OutcomeRefused, no(irFM)); err != nil {
		return err
	}
	if err := p.decide(omFM, TalksMuscat, motionRound3, talks.ScheduleRound("Muscat", start), talks.OutcomePassed, yes(irFM), yes(envoy)); err != nil {
		return err
	}
	if err := p.add(envoy, adviser, TalksMuscat, "adds a presidential adviser to the US delegation"); err != nil {
		return err
	}
	if _, err := p.do(omFM, TalksMuscat, "open-round", "opens round 3 in Muscat", accepted,
		func() (api.Accepted, error) { return omFM.c.OpenRound(p.ctx, TalksMuscat, 3) }); err != nil {
		return err
	}
	note, err := p.send(irFM, TalksMuscat, draft(talks.RoomCaucus("ir"), backchannel.KindNote,
		"Only the nuclear file is open.", topicNuclear), "repeats in Iran's room that only the nuclear file is open", accepted)
	if err != nil {
		return err
	}
	relayed, err := p.relay(omFM, TalksMuscat, note.Hash(), talks.RoomCaucus("us"), "carries Iran's note to the US room, word for word")
	if err != nil {
		return err
	}
	if _, err := p.read(adviser, TalksMuscat, relayed.Hash(), seal.RelayVerbatim, irFM, omFM, "reads Iran's note"); err != nil {
		return err
	}
	if err := p.propose(vp, TalksMuscat, motionMissilesAgain, talks.AddTopic("missiles"), talks.OutcomeRefused); err != nil {
		return err
	}
	if err := p.decide(vp, TalksMuscat, motionRegionalInfluence, talks.AddTopic("regional-influence"), talks.OutcomeRefused, no(snsc)); err != nil {
		return err
	}
	if _, err := envoy.c.Sync(p.ctx, TalksMuscat); err != nil {
		return err
	}
	agenda := envoy.c.Book(TalksMuscat).State.Agenda()
	if fmt.Sprint(agenda) != fmt.Sprint([]string{topicNuclear, topicSanctions}) {
		return fmt.Errorf("muscat: step 11: the agenda is %v, not as agreed", agenda)
	}
	p.emit(Step{Actor: envoy.Actor, Action: "check-agenda", Talks: TalksMuscat, Outcome: OutcomeVerified,
		Detail:   fmt.Sprintf("finds the agenda as agreed: %v", agenda),
		Verified: "from the US copy of the record, replayed and checked against the host's signed checkpoints"})
	return nil
}
