package main

import (
	"fmt"
	"strings"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// problemHints says, for every problem the API can answer, what the user can do about it. In a
// hint, {talks} stands for the talks' id and {as} for the one acting (ORG:PRINCIPAL). Every name
// of api.ProblemKinds and talks.Rules has one; a test holds the list to that.
var problemHints = map[string]string{
	// The server's own problems.
	api.ProblemMalformed.Name:            "the server could not read the request: check the command's arguments ('--help'); if they are right, the server may run another version",
	api.ProblemBodyTooLarge.Name:         "send less at once: a shorter message, or fewer recipients",
	api.ProblemUnsupportedMediaType.Name: "the server expects another format: it may run another version than this client",
	api.ProblemNotFound.Name:             "check the names and hashes given: the server has nothing under them",
	api.ProblemMethodNotAllowed.Name:     "this server does not take that request there: is it a backchannel server of this version?",
	api.ProblemUnknownTalks.Name:         "list the talks {as} takes part in with 'backchannel talks list'",
	api.ProblemUnauthenticated.Name:      "log in again with 'backchannel login --as {as}'",
	api.ProblemTokenExpired.Name:         "log in again with 'backchannel login --as {as}'",
	api.ProblemForbidden.Name:            "{as} may not do this: see who may with 'backchannel talks show {talks}'",
	api.ProblemNotInRoom.Name:            "see the rooms you sit in with 'backchannel talks show {talks}'",
	api.ProblemRateLimited.Name:          "wait a moment and try again",
	api.ProblemTooManyStreams.Name:       "close another 'backchannel follow' of yours, or wait for the server to have room",
	api.ProblemExists.Name:               "it is there already: nothing more to do, or choose another id",
	api.ProblemClockSkew.Name:            "set this computer's clock right (it signs the time), then try again",
	api.ProblemWrongTalks.Name:           "the data was signed for other talks: send it to those",
	api.ProblemUntrustedRoot.Name:        "compare the organisation's safety number again, out of band, with 'backchannel org compare'",
	api.ProblemUnknownCredential.Name:    "publish the credential first: 'backchannel cred publish ORG PRINCIPAL --server URL'",
	api.ProblemUnknownOrganisation.Name:  "register the organisation first: 'backchannel org register ORG --server URL'",
	api.ProblemFingerprintMismatch.Name:  "the root is not the one pinned: compare the safety number again, out of band",
	api.ProblemActorMismatch.Name:        "act as the one who signs: check --as and --keystore",
	api.ProblemRecipientOutsideRoom.Name: "seal only to the members of the room: sync with 'backchannel talks show {talks}' and send again",
	api.ProblemUnscopedID.Name:           "found talks under your own organisation's name: 'backchannel talks create NAME' founds ORG:NAME",
	api.ProblemRecipientMissing.Name:     "seal to every member of the room: sync with 'backchannel talks show {talks}' and send again",
	api.ProblemUnknownEnvelope.Name:      "the server holds no such message: list them with 'backchannel inbox {talks}'",
	api.ProblemAlreadyRelayed.Name:       "its readers have the message already; to add your own words, relay a summary with 'backchannel relay {talks} --summary'",
	api.ProblemRelayNotice.Name:          "relay with 'backchannel relay', which signs the notice the room of the original is told; a client that does not is out of date",
	api.ProblemInternal.Name:             "the server failed: try again later, and tell its operator (its log has the details)",
	api.ProblemUnavailable.Name:          "the server cannot serve now: try again in a moment",
	api.ProblemRecordConflict.Name:       "the host's record of {talks} contradicts a checkpoint a party cosigned: do not trust it; keep your keystore as evidence, tell the other parties and the host's operator",

	// Refusals of signed data.
	api.ProblemMalformedSignedData.Name: "the signed data did not decode: this client and the server may run different versions",
	api.ProblemTampered.Name:            "a signature did not verify: do not send it again; tell the other parties",
	api.ProblemRelayAltered.Name:        "a verbatim relay must carry the author's words unchanged: relay it again, or send a summary with --summary",
	api.ProblemWrongRoom.Name:           "the message was signed for another room: send it anew in this one",
	api.ProblemWrongRound.Name:          "messages carry the round in session: see the rounds with 'backchannel talks show {talks}'",
	api.ProblemContextMismatch.Name:     "the signed context and the header disagree: this client and the server may run different versions",
	api.ProblemNotAddressed.Name:        "the message is not sealed to you: nothing to read",
	api.ProblemCredentialExpired.Name:   "the credential is not valid now: issue a new one with 'backchannel cred rotate'",
	api.ProblemCredentialRevoked.Name:   "the credential is revoked: rotate to a new one with 'backchannel cred rotate'",
	api.ProblemRankTooLow.Name:          "this needs a higher rank: have someone of that rank do it",
	api.ProblemReplayed.Name:            "the server saw this sequence number before: if you restored the keystore from a copy, tell the other parties; otherwise try again",
	api.ProblemKeyMismatch.Name:         "the credential's keys are not this keystore's: check --keystore",

	// The talks' rules.
	talks.ErrTimeWentBack.Name:        "set this computer's clock right (events go in time order), then try again",
	talks.ErrNotCharter.Name:          "talks start from one charter: create them with 'backchannel talks create'",
	talks.ErrDuplicateID.Name:         "that id is taken in these talks: choose another",
	talks.ErrNotMember.Name:           "{as} is not in a delegation of {talks}: the head of its delegation adds it with 'backchannel delegation add {talks} PRINCIPAL'",
	talks.ErrNoAuthority.Name:         "only the head of delegation, or someone of at least the head's rank, may do this",
	talks.ErrAlreadyMember.Name:       "the principal sits in a delegation already: see them with 'backchannel talks show {talks}'",
	talks.ErrHeadOfDelegation.Name:    "a delegation keeps exactly one head: name another head first",
	talks.ErrNotActive.Name:           "every organisation named in the charter must accept it first: 'backchannel talks accept {talks}'",
	talks.ErrSuspended.Name:           "the talks are suspended: propose to resume them with 'backchannel motion propose {talks} ID resume'",
	talks.ErrTalksOver.Name:           "the talks are over: nothing more can change them",
	talks.ErrBadTransition.Name:       "the talks cannot move to that status from where they are: see it with 'backchannel talks show {talks}'",
	talks.ErrNotAllowedToPropose.Name: "your role may not propose this motion: ask a party or the mediator to",
	talks.ErrNoSuchMotion.Name:        "list the motions with 'backchannel motion list {talks}'",
	talks.ErrNotAVoter.Name:           "only the parties, and a mediator on its own appointment, vote: see 'backchannel motion list {talks}'",
	talks.ErrAlreadyVoted.Name:        "your organisation has voted on this motion: see where it stands with 'backchannel motion list {talks}'",
	talks.ErrMotionRefused.Name:       "see where the motions stand with 'backchannel motion list {talks}'",
	talks.ErrMotionExpired.Name:       "see where the motions stand with 'backchannel motion list {talks}'; propose it again if it is still wanted",
	talks.ErrMotionClosed.Name:        "see where the motions stand with 'backchannel motion list {talks}'",
	talks.ErrNoChange.Name:            "the talks are that way already: see them with 'backchannel talks show {talks}'",
	talks.ErrLastMediator.Name:        "indirect talks keep a mediator: appoint another before this one goes",
	talks.ErrLastParties.Name:         "talks keep two parties: with two, a party withdraws ('backchannel talks withdraw {talks}'), which ends them",
	talks.ErrNotOnAgenda.Name:         "see the agenda with 'backchannel talks show {talks}'; a new topic needs a motion: 'backchannel motion propose {talks} ID add-topic TOPIC'",
	talks.ErrNoTopic.Name:             "name an agenda topic with --topic; see the agenda with 'backchannel talks show {talks}'",
	talks.ErrRankBelowLevel.Name:      "a formal message needs a rank at least the talks' level: send a note, or have someone of that rank send it",
	talks.ErrNoSuchRoom.Name:          "see the rooms with 'backchannel talks show {talks}'",
	talks.ErrRelay.Name:               "a mediator relays between rooms it sits in; a summary is sent with --summary",
	talks.ErrNoSuchRound.Name:         "see the rounds with 'backchannel talks show {talks}'",
	talks.ErrRoundState.Name:          "see the rounds with 'backchannel talks show {talks}': one is in session at a time, and each goes scheduled, in session, closed",
	talks.ErrNoSession.Name:           "open a direct session by motion first: 'backchannel motion propose {talks} ID ...'",
	talks.ErrSecret.Name:              "secret talks make no public statements: propose to change their visibility first",
	talks.ErrAlreadySigned.Name:       "your organisation signed this statement already",
	talks.ErrNoVenue.Name:             "agree a venue first: 'backchannel motion propose {talks} ID set-venue PLACE'",
	talks.ErrRootMismatch.Name:        "the organisation's root is not the one pinned in these talks: compare its safety number out of band",
}

// problemHint gives a server's refusal its hint, and says the missing talks in words.
func problemHint(p *api.Problem, talksID, as string) error {
	if p.Name() == api.ProblemUnknownTalks.Name && talksID != "" {
		return withHint(fmt.Errorf("no talks %q on this server that %s takes part in", talksID, as), "list yours with 'backchannel talks list'")
	}
	if p.Name() == api.ProblemExists.Name {
		return p // the callers that meet it decide whether it is a success
	}
	hint, ok := problemHints[p.Name()]
	if !ok {
		return p
	}
	if talksID == "" {
		talksID = "TALKS"
	}
	if as == "" {
		as = "ORG:PRINCIPAL"
	}
	return withHint(p, "%s", strings.NewReplacer("{talks}", talksID, "{as}", as).Replace(hint))
}
