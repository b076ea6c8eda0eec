package session

import (
	"errors"
	"strings"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/talks"
)

// todo says, for every problem the API can answer and every rule of the talks, what the person
// at the page can do about it, in the page's own words. A test holds the list to
// api.ProblemKinds and talks.Rules.
var todo = map[string]string{
	api.ProblemMalformed.Name:            "the server could not read the request: reload the page; if it happens again, the server may run another version",
	api.ProblemBodyTooLarge.Name:         "send less at once: a shorter message",
	api.ProblemUnsupportedMediaType.Name: "the server expects another format: reload the page to get the client of its version",
	api.ProblemNotFound.Name:             "the server has nothing under that name: check it",
	api.ProblemMethodNotAllowed.Name:     "this server does not take that request: reload the page to get the client of its version",
	api.ProblemUnknownTalks.Name:         "these talks are not yours to see on this server: pick talks from the list",
	api.ProblemUnauthenticated.Name:      "sign in again",
	api.ProblemTokenExpired.Name:         "sign in again",
	api.ProblemForbidden.Name:            "your role may not do this: see who may in the talks' overview",
	api.ProblemNotInRoom.Name:            "you write and read only in the rooms you sit in: they are the columns shown",
	api.ProblemRateLimited.Name:          "wait a moment and try again",
	api.ProblemTooManyStreams.Name:       "close another window following these talks, or wait a moment",
	api.ProblemExists.Name:               "it is there already: nothing more to do, or choose another name",
	api.ProblemClockSkew.Name:            "set this computer's clock right (it signs the time), then try again",
	api.ProblemWrongTalks.Name:           "the data was signed for other talks: open those",
	api.ProblemUntrustedRoot.Name:        "compare the organisation's safety number again, out of band",
	api.ProblemUnknownCredential.Name:    "your credential is not published on this server: ask your organisation to publish it",
	api.ProblemUnknownOrganisation.Name:  "the organisation is not registered on this server: ask it to register",
	api.ProblemFingerprintMismatch.Name:  "the root is not the one pinned: compare the safety number again, out of band",
	api.ProblemActorMismatch.Name:        "the identity signed in is not the one acting: sign in again",
	api.ProblemRecipientOutsideRoom.Name: "the room changed while you wrote: reload the talks and send again",
	api.ProblemUnscopedID.Name:           "name talks under your own organisation: ORG:NAME",
	api.ProblemRecipientMissing.Name:     "the room changed while you wrote: reload the talks and send again",
	api.ProblemUnknownEnvelope.Name:      "the server holds no such message: reload the talks",
	api.ProblemAlreadyRelayed.Name:       "its readers have it already; to add your own words, write a summary",
	api.ProblemRelayNotice.Name:          "reload the page: this client is out of date",
	api.ProblemInternal.Name:             "the server failed: try again later, and tell its operator",
	api.ProblemUnavailable.Name:          "the server cannot serve now: try again in a moment",
	api.ProblemRecordConflict.Name:       "the host's record contradicts a checkpoint a party cosigned: do not trust this host; tell the other parties and the host's operator",

	api.ProblemMalformedSignedData.Name: "the signed data did not decode: reload the page to get the client of the server's version",
	api.ProblemTampered.Name:            "a signature did not verify: do not send it again; tell the other parties",
	api.ProblemRelayAltered.Name:        "a verbatim relay carries the author's words unchanged: relay it again, or write a summary",
	api.ProblemWrongRoom.Name:           "the message was signed for another room: write it anew in this one",
	api.ProblemWrongRound.Name:          "messages carry the round in session: reload the talks and send again",
	api.ProblemContextMismatch.Name:     "reload the page: this client and the server disagree",
	api.ProblemNotAddressed.Name:        "the message is not sealed to you: nothing to read",
	api.ProblemCredentialExpired.Name:   "your credential is not valid now: ask your organisation for a new one, and import it",
	api.ProblemCredentialRevoked.Name:   "your credential is revoked: ask your organisation for a new one, and import it",
	api.ProblemRankTooLow.Name:          "this needs a higher rank: have someone of that rank do it",
	api.ProblemReplayed.Name:            "the server saw this sequence number before: if you restored a copy of your keys, tell the other parties; otherwise try again",
	api.ProblemKeyMismatch.Name:         "the identity's keys are not the credential's: import the identity again",

	talks.ErrMalformed.Name:           "reload the page: this client and the server disagree",
	talks.ErrTimeWentBack.Name:        "set this computer's clock right (events go in time order), then try again",
	talks.ErrNotCharter.Name:          "talks start from one charter",
	talks.ErrDuplicateID.Name:         "that name is taken in these talks: choose another",
	talks.ErrNotMember.Name:           "you are not in a delegation of these talks: the head of your delegation adds you",
	talks.ErrNoAuthority.Name:         "only the head of delegation, or someone of at least the head's rank, may do this",
	talks.ErrAlreadyMember.Name:       "the principal sits in a delegation already",
	talks.ErrHeadOfDelegation.Name:    "a delegation keeps exactly one head: name another head first",
	talks.ErrNotActive.Name:           "every organisation named in the charter must accept it first",
	talks.ErrSuspended.Name:           "the talks are suspended: propose to resume them",
	talks.ErrTalksOver.Name:           "the talks are over: nothing more can change them",
	talks.ErrBadTransition.Name:       "the talks cannot move there from where they are",
	talks.ErrNotAllowedToPropose.Name: "your role may not propose this motion: ask a party or the mediator to",
	talks.ErrNoSuchMotion.Name:        "see the motions listed",
	talks.ErrNotAVoter.Name:           "only the parties, and a mediator on its own appointment, vote",
	talks.ErrAlreadyVoted.Name:        "your organisation has voted on this motion already",
	talks.ErrMotionRefused.Name:       "the motion was refused; propose it again only if the parties now want it",
	talks.ErrMotionExpired.Name:       "propose it again if it is still wanted",
	talks.ErrMotionClosed.Name:        "the motion is decided already",
	talks.ErrNoChange.Name:            "the talks are that way already",
	talks.ErrLastMediator.Name:        "indirect talks keep a mediator: appoint another before this one goes",
	talks.ErrLastParties.Name:         "talks keep two parties",
	talks.ErrNotOnAgenda.Name:         "keep to the agenda shown in the overview; a new topic needs a motion (add-topic) every party accepts",
	talks.ErrNoTopic.Name:             "name an agenda topic",
	talks.ErrRankBelowLevel.Name:      "a formal message needs a rank at least the talks' level: send a note, or have someone of that rank send it",
	talks.ErrNoSuchRoom.Name:          "pick one of the rooms shown",
	talks.ErrNotInRoom.Name:           "you write and read only in the rooms you sit in: they are the columns shown",
	talks.ErrRelay.Name:               "a mediator relays between rooms it sits in; a summary is written as a summary",
	talks.ErrNoSuchRound.Name:         "see the rounds listed",
	talks.ErrRoundState.Name:          "one round is in session at a time, and each goes scheduled, in session, closed",
	talks.ErrNoSession.Name:           "open a direct session by motion first",
	talks.ErrSecret.Name:              "secret talks make no public statements",
	talks.ErrAlreadySigned.Name:       "your organisation signed this statement already",
	talks.ErrNoVenue.Name:             "agree a venue first, by motion",
	talks.ErrRootMismatch.Name:        "the organisation's root is not the one pinned in these talks: compare its safety number out of band",
}

// Explain turns an error of the client library into what the page shows: the problem's name,
// the words of the refusal, and what to do. An error that says the host may be lying (a
// record that does not verify, an event withheld, a changed root or log key) is an alarm.
func Explain(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	out := &Error{Message: err.Error()}
	var p *api.Problem
	var r *talks.Rule
	var pin *client.PinError
	switch {
	case errors.As(err, &pin):
		out.Problem, out.Alarm = "pin", errors.Is(err, client.ErrPinMismatch)
		out.Todo = "compare the safety numbers again, out of band, and type in each one you were read"
	case errors.Is(err, ErrLogKeyChanged):
		out.Problem, out.Alarm = "log-key-changed", true
		out.Todo = "the host changed its key or someone stands in for it: ask the host's operator out of band before you go on"
	case errors.Is(err, client.ErrWithheld), errors.Is(err, client.ErrRecord), errors.Is(err, record.ErrForked):
		out.Problem, out.Alarm = "record", true
		out.Todo = "do not trust this host's record: keep this browser's data as evidence, and tell the other parties and the host's operator"
	case errors.As(err, &p):
		out.Problem = p.Name()
		out.Rule = ruleText(p.Name())
		if out.Rule != "" {
			out.RefusedBy = "host"
		}
		out.Todo = todo[p.Name()]
		out.Alarm = p.Name() == api.ProblemRecordConflict.Name
	case errors.As(err, &r):
		out.Problem, out.Rule, out.RefusedBy = r.Name, r.Text, "client"
		out.Todo = todo[r.Name]
	case errors.Is(err, client.ErrNoServer):
		out.Problem = "unreachable"
		out.Todo = "check the network connection, then try again"
	}
	if strings.Contains(out.Message, "wrong passphrase") {
		out.Problem, out.Todo = "wrong-passphrase", "type the passphrase again: it is the one the identity was exported with"
	}
	return out
}

// ruleText returns the words of the talks' rule of that name, if it is one.
func ruleText(name string) string {
	for _, r := range talks.Rules() {
		if r.Name == name {
			return r.Text
		}
	}
	return ""
}
