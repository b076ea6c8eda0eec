package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ProblemTypePrefix starts the type of every problem the API returns: the type is this prefix and
// a stable name, such as "urn:backchannel:problem:not-on-agenda". docs/api.md lists them.
const ProblemTypePrefix = "urn:backchannel:problem:"

// Problem is an RFC 9457 problem details body: every error the API answers, and the error the
// client library returns for it.
type Problem struct {
	Type   string `json:"type" doc:"A stable URN naming the kind of problem, urn:backchannel:problem:<name>."`
	Title  string `json:"title" doc:"A short summary of the kind of problem."`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty" doc:"What was wrong with this request, and what to do."`
	// Errors lists each problem of a request that failed validation.
	Errors []ProblemDetail `json:"errors,omitempty"`
}

// ProblemDetail is one validation problem.
type ProblemDetail struct {
	Location string `json:"location,omitempty" doc:"Where in the request, such as body.envelope."`
	Message  string `json:"message"`
}

// Error returns the detail, or the title when there is none.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Detail
	}
	return p.Title
}

// Name is the stable part of the problem's type: "not-on-agenda", "rank-too-low", ...; a
// ProblemKind's Name or a talks.Rule's Name.
func (p *Problem) Name() string { return strings.TrimPrefix(p.Type, ProblemTypePrefix) }

// GetHeaders returns the headers to answer the problem with (huma.HeadersError): a refusal to
// serve now (429, 503) says when to try again, which clients honour before they give up.
func (p *Problem) GetHeaders() http.Header {
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		return http.Header{"Retry-After": {"1"}}
	}
	return nil
}

// GetStatus returns the HTTP status (huma.StatusError).
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes problems go out as application/problem+json (huma.ContentTypeFilter).
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// IsProblem reports whether err is a Problem with the given name: a ProblemKind's Name or a
// talks.Rule's Name.
func IsProblem(err error, name string) bool {
	var p *Problem
	return errors.As(err, &p) && p.Name() == name
}

// ReadProblem returns the problem an HTTP answer of status carries in body. An answer that is not
// a problem of ours (a proxy's error page, a bare status) becomes one named "http-<status>", with
// the status line as title and the start of the body as detail, so callers meet one type.
func ReadProblem(status int, body []byte) *Problem {
	p := &Problem{}
	if json.Unmarshal(body, p) == nil && strings.HasPrefix(p.Type, ProblemTypePrefix) {
		p.Status = status
		return p
	}
	detail := strings.TrimSpace(string(body))
	if len(detail) > 512 {
		detail = detail[:512] + "..."
	}
	return &Problem{
		Type:   fmt.Sprintf("%shttp-%d", ProblemTypePrefix, status),
		Title:  fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Status: status,
		Detail: detail,
	}
}

// ProblemKind is one kind of problem the server raises: its stable name, HTTP status and title.
// Refusals by the talks' rules are problems too, named by talks.Rule.Name.
type ProblemKind struct {
	Name   string
	Status int
	Title  string
}

// New returns a problem of kind k with a formatted detail.
func (k ProblemKind) New(format string, args ...any) *Problem {
	return &Problem{Type: ProblemTypePrefix + k.Name, Title: k.Title, Status: k.Status, Detail: fmt.Sprintf(format, args...)}
}

// The kinds of problem the server raises, besides the talks' rules.
var (
	ProblemMalformed            = ProblemKind{"malformed", http.StatusBadRequest, "Malformed request"}
	ProblemBodyTooLarge         = ProblemKind{"body-too-large", http.StatusRequestEntityTooLarge, "Request body too large"}
	ProblemUnsupportedMediaType = ProblemKind{"unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported media type"}
	ProblemNotFound             = ProblemKind{"not-found", http.StatusNotFound, "Not found"}
	ProblemMethodNotAllowed     = ProblemKind{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed"}
	ProblemUnknownTalks         = ProblemKind{"unknown-talks", http.StatusNotFound, "Unknown talks"}
	ProblemUnauthenticated      = ProblemKind{"unauthenticated", http.StatusUnauthorized, "Authentication required"}
	ProblemTokenExpired         = ProblemKind{"token-expired", http.StatusUnauthorized, "Token expired"}
	ProblemForbidden            = ProblemKind{"forbidden", http.StatusForbidden, "Not allowed"}
	ProblemNotInRoom            = ProblemKind{"not-in-room", http.StatusForbidden, "Not in that room"}
	ProblemRateLimited          = ProblemKind{"rate-limited", http.StatusTooManyRequests, "Too many requests"}
	ProblemTooManyStreams       = ProblemKind{"too-many-streams", http.StatusTooManyRequests, "Too many open event streams"}
	ProblemExists               = ProblemKind{"exists", http.StatusConflict, "Already exists"}
	ProblemClockSkew            = ProblemKind{"clock-skew", http.StatusUnprocessableEntity, "Signed time too far from the server's"}
	ProblemWrongTalks           = ProblemKind{"wrong-talks", http.StatusUnprocessableEntity, "Signed for other talks"}
	ProblemUntrustedRoot        = ProblemKind{"untrusted-root", http.StatusUnprocessableEntity, "Not signed by a pinned root"}
	ProblemUnknownCredential    = ProblemKind{"unknown-credential", http.StatusUnprocessableEntity, "Unknown credential"}
	ProblemUnknownOrganisation  = ProblemKind{"unknown-organisation", http.StatusUnprocessableEntity, "Unknown organisation"}
	ProblemFingerprintMismatch  = ProblemKind{"fingerprint-mismatch", http.StatusUnprocessableEntity, "Root does not match the pinned fingerprint"}
	ProblemActorMismatch        = ProblemKind{"actor-mismatch", http.StatusUnprocessableEntity, "Signed by someone other than the one named"}
	ProblemRecipientOutsideRoom = ProblemKind{"recipient-outside-room", http.StatusUnprocessableEntity, "Recipient outside the room"}
	ProblemRecipientMissing     = ProblemKind{"recipient-missing", http.StatusUnprocessableEntity, "A reader of the room is not a recipient"}
	ProblemUnscopedID           = ProblemKind{"unscoped-id", http.StatusUnprocessableEntity, "Talks id outside its founder's scope"}
	ProblemUnknownEnvelope      = ProblemKind{"unknown-envelope", http.StatusUnprocessableEntity, "Unknown envelope"}
	ProblemRelayNotice          = ProblemKind{"relay-notice", http.StatusUnprocessableEntity, "Relay notice missing or untrue"}
	ProblemAlreadyRelayed       = ProblemKind{"already-relayed", http.StatusConflict, "Relayed verbatim already"}
	ProblemInternal             = ProblemKind{"internal", http.StatusInternalServerError, "Internal error"}
	ProblemUnavailable          = ProblemKind{"unavailable", http.StatusServiceUnavailable, "Service unavailable"}
	// ProblemRecordConflict: the store holds a record that contradicts what a party cosigned.
	// It is a failure of the host (its storage was altered or rolled back), never of the
	// caller, so it is 500-class; its detail is shown because every member is entitled to know
	// that the record it vouched for is no longer the one stored.
	ProblemRecordConflict = ProblemKind{"record-conflict", http.StatusInternalServerError, "The record conflicts with a party's cosignature"}

	// Refusals of signed data, by package seal's checks.
	ProblemMalformedSignedData = ProblemKind{"malformed-signed-data", http.StatusBadRequest, "Malformed signed data"}
	ProblemTampered            = ProblemKind{"tampered", http.StatusUnprocessableEntity, "Signature does not verify"}
	ProblemRelayAltered        = ProblemKind{"relay-altered", http.StatusUnprocessableEntity, "Verbatim relay altered"}
	ProblemWrongRoom           = ProblemKind{"wrong-room", http.StatusUnprocessableEntity, "Signed for another room"}
	ProblemWrongRound          = ProblemKind{"wrong-round", http.StatusUnprocessableEntity, "Signed for another round"}
	ProblemContextMismatch     = ProblemKind{"context-mismatch", http.StatusUnprocessableEntity, "Signed context does not match the header"}
	ProblemNotAddressed        = ProblemKind{"not-addressed", http.StatusUnprocessableEntity, "Not addressed to this principal"}
	ProblemCredentialExpired   = ProblemKind{"credential-expired", http.StatusUnprocessableEntity, "Credential not valid at that time"}
	ProblemCredentialRevoked   = ProblemKind{"credential-revoked", http.StatusUnprocessableEntity, "Credential revoked"}
	ProblemRankTooLow          = ProblemKind{"rank-too-low", http.StatusForbidden, "Rank too low"}
	ProblemReplayed            = ProblemKind{"replayed", http.StatusConflict, "Sequence number not increasing (replay)"}
	ProblemKeyMismatch         = ProblemKind{"key-mismatch", http.StatusUnprocessableEntity, "Credential keys do not match"}
)

// ProblemKinds lists every kind of problem the server raises besides the talks' rules (which
// talks.Rules lists), in a fixed order.
func ProblemKinds() []ProblemKind {
	return []ProblemKind{
		ProblemMalformed, ProblemBodyTooLarge, ProblemUnsupportedMediaType, ProblemNotFound, ProblemMethodNotAllowed,
		ProblemUnknownTalks, ProblemUnauthenticated, ProblemTokenExpired, ProblemForbidden,
		ProblemNotInRoom, ProblemRateLimited, ProblemTooManyStreams, ProblemExists,
		ProblemClockSkew, ProblemWrongTalks, ProblemUntrustedRoot, ProblemUnknownCredential,
		ProblemUnknownOrganisation, ProblemFingerprintMismatch, ProblemActorMismatch,
		ProblemRecipientOutsideRoom, ProblemRecipientMissing, ProblemUnscopedID, ProblemUnknownEnvelope, ProblemRelayNotice, ProblemAlreadyRelayed, ProblemInternal, ProblemUnavailable,
		ProblemRecordConflict,
		ProblemMalformedSignedData, ProblemTampered, ProblemRelayAltered, ProblemWrongRoom,
		ProblemWrongRound, ProblemContextMismatch, ProblemNotAddressed, ProblemCredentialExpired,
		ProblemCredentialRevoked, ProblemRankTooLow, ProblemReplayed, ProblemKeyMismatch,
	}
}
