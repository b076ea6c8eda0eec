package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// ProblemTypePrefix starts the type of every problem the API returns: the type is this prefix and
// a stable name, such as "urn:backchannel:problem:not-on-agenda". docs/api.md lists them.
const ProblemTypePrefix = "urn:backchannel:problem:"

// Problem is an RFC 9457 problem details body.
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

// Error implements error.
func (p *Problem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter so problems go out as application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// problemKind is one kind of problem: its name, HTTP status and title.
type problemKind struct {
	name   string
	status int
	title  string
}

// The problems the server itself raises. Refusals by the talks' rules and by seal's checks are
// mapped in problemOf.
var (
	probMalformed            = problemKind{"malformed", http.StatusBadRequest, "Malformed request"}
	probTooLarge             = problemKind{"body-too-large", http.StatusRequestEntityTooLarge, "Request body too large"}
	probMediaType            = problemKind{"unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported media type"}
	probNotFound             = problemKind{"not-found", http.StatusNotFound, "Not found"}
	probUnknownTalks         = problemKind{"unknown-talks", http.StatusNotFound, "Unknown talks"}
	probUnauthenticated      = problemKind{"unauthenticated", http.StatusUnauthorized, "Authentication required"}
	probTokenExpired         = problemKind{"token-expired", http.StatusUnauthorized, "Token expired"}
	probForbidden            = problemKind{"forbidden", http.StatusForbidden, "Not allowed"}
	probNotInRoom            = problemKind{"not-in-room", http.StatusForbidden, "Not in that room"}
	probRateLimited          = problemKind{"rate-limited", http.StatusTooManyRequests, "Too many requests"}
	probTooManyStreams       = problemKind{"too-many-streams", http.StatusTooManyRequests, "Too many open event streams"}
	probExists               = problemKind{"exists", http.StatusConflict, "Already exists"}
	probClockSkew            = problemKind{"clock-skew", http.StatusUnprocessableEntity, "Signed time too far from the server's"}
	probWrongTalks           = problemKind{"wrong-talks", http.StatusUnprocessableEntity, "Signed for other talks"}
	probUntrusted            = problemKind{"untrusted-root", http.StatusUnprocessableEntity, "Not signed by a pinned root"}
	probUnknownCredential    = problemKind{"unknown-credential", http.StatusUnprocessableEntity, "Unknown credential"}
	probUnknownOrganisation  = problemKind{"unknown-organisation", http.StatusUnprocessableEntity, "Unknown organisation"}
	probFingerprintMismatch  = problemKind{"fingerprint-mismatch", http.StatusUnprocessableEntity, "Root does not match the pinned fingerprint"}
	probActorMismatch        = problemKind{"actor-mismatch", http.StatusUnprocessableEntity, "Signed by someone other than the one named"}
	probRecipientOutsideRoom = problemKind{"recipient-outside-room", http.StatusUnprocessableEntity, "Recipient outside the room"}
	probUnknownEnvelope      = problemKind{"unknown-envelope", http.StatusUnprocessableEntity, "Unknown envelope"}
	probInternal             = problemKind{"internal", http.StatusInternalServerError, "Internal error"}
	probUnavailable          = problemKind{"unavailable", http.StatusServiceUnavailable, "Service unavailable"}
)

// sealProblems maps seal's refusals to problems.
var sealProblems = []struct {
	err  error
	kind problemKind
}{
	{seal.ErrMalformed, problemKind{"malformed-signed-data", http.StatusBadRequest, "Malformed signed data"}},
	{seal.ErrTampered, problemKind{"tampered", http.StatusUnprocessableEntity, "Signature does not verify"}},
	{seal.ErrRelayAltered, problemKind{"relay-altered", http.StatusUnprocessableEntity, "Verbatim relay altered"}},
	{seal.ErrWrongTalks, probWrongTalks},
	{seal.ErrWrongRoom, problemKind{"wrong-room", http.StatusUnprocessableEntity, "Signed for another room"}},
	{seal.ErrWrongRound, problemKind{"wrong-round", http.StatusUnprocessableEntity, "Signed for another round"}},
	{seal.ErrContextMismatch, problemKind{"context-mismatch", http.StatusUnprocessableEntity, "Signed context does not match the header"}},
	{seal.ErrNotAddressed, problemKind{"not-addressed", http.StatusUnprocessableEntity, "Not addressed to this principal"}},
	{seal.ErrUntrustedRoot, probUntrusted},
	{seal.ErrUnknownCredential, probUnknownCredential},
	{seal.ErrExpired, problemKind{"credential-expired", http.StatusUnprocessableEntity, "Credential not valid at that time"}},
	{seal.ErrRevoked, problemKind{"credential-revoked", http.StatusUnprocessableEntity, "Credential revoked"}},
	{seal.ErrRankTooLow, problemKind{"rank-too-low", http.StatusForbidden, "Rank too low"}},
	{seal.ErrSequence, problemKind{"replayed", http.StatusConflict, "Sequence number not increasing (replay)"}},
	{seal.ErrKeyMismatch, problemKind{"key-mismatch", http.StatusUnprocessableEntity, "Credential keys do not match"}},
}

// problemf returns a problem of the given kind with a formatted detail.
func problemf(k problemKind, format string, args ...any) *Problem {
	return &Problem{Type: ProblemTypePrefix + k.name, Title: k.title, Status: k.status, Detail: fmt.Sprintf(format, args...)}
}

// isRefusal reports whether err is the server refusing a request (as opposed to a failure of
// the server or its store).
func isRefusal(err error) bool {
	var p *Problem
	if errors.As(err, &p) {
		return p.Status < 500
	}
	var r *talks.Refusal
	if errors.As(err, &r) {
		return true
	}
	for _, sp := range sealProblems {
		if errors.Is(err, sp.err) {
			return true
		}
	}
	return false
}

// problemOf maps any error a handler meets to the problem the client sees: the one place where
// the domain's errors meet HTTP. Unknown errors are internal, and their text is not shown.
func (s *Server) problemOf(ctx context.Context, err error) *Problem {
	var p *Problem
	var r *talks.Refusal
	switch {
	case errors.As(err, &p):
	case errors.As(err, &r):
		status := http.StatusConflict
		switch r.Rule {
		case talks.ErrMalformed:
			status = http.StatusBadRequest
		case talks.ErrNotMember, talks.ErrNoAuthority, talks.ErrNotAVoter, talks.ErrNotInRoom,
			talks.ErrNotAllowedToPropose, talks.ErrRankBelowLevel:
			// Who may act, not the state of the talks: the same request from someone else
			// would be accepted.
			status = http.StatusForbidden
		}
		p = &Problem{Type: ProblemTypePrefix + r.Rule.Name, Title: r.Rule.Text, Status: status, Detail: err.Error()}
	case errors.Is(err, record.ErrMalformed):
		p = problemf(probMalformed, "%v", err)
	case errors.Is(err, backchannel.ErrNotFound):
		p = problemf(probNotFound, "%v", err)
	case errors.Is(err, backchannel.ErrExists):
		p = problemf(probExists, "%v", err)
	case errors.Is(err, backchannel.ErrClosed), errors.Is(err, backchannel.ErrSchemaTooNew):
		p = problemf(probUnavailable, "the store is not available")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		p = problemf(probUnavailable, "the request was cancelled or timed out")
	default:
		for _, sp := range sealProblems {
			if errors.Is(err, sp.err) {
				p = problemf(sp.kind, "%v", err)
				break
			}
		}
	}
	if p == nil {
		s.log.ErrorContext(ctx, "internal error", "err", err)
		p = problemf(probInternal, "the server failed; the operator's log has the details")
	}
	s.metrics.refused.WithLabelValues(strings.TrimPrefix(p.Type, ProblemTypePrefix)).Inc()
	return p
}

// newHumaError makes huma's own errors (validation, body size, content type) problems of ours,
// so that every error the API returns has a stable type.
func newHumaError(status int, msg string, errs ...error) huma.StatusError {
	k := probMalformed
	switch status {
	case http.StatusRequestEntityTooLarge:
		k = probTooLarge
	case http.StatusUnsupportedMediaType:
		k = probMediaType
	case http.StatusNotFound:
		k = probNotFound
	case http.StatusUnauthorized:
		k = probUnauthenticated
	case http.StatusForbidden:
		k = probForbidden
	case http.StatusTooManyRequests:
		k = probRateLimited
	case http.StatusInternalServerError:
		k = probInternal
	case http.StatusServiceUnavailable:
		k = probUnavailable
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		status = http.StatusBadRequest
	default:
		if status >= 500 {
			k = probInternal
		} else {
			k = problemKind{"http-" + fmt.Sprint(status), status, http.StatusText(status)}
		}
	}
	p := &Problem{Type: ProblemTypePrefix + k.name, Title: k.title, Status: k.status, Detail: msg}
	if k == probMalformed {
		p.Status = status
	}
	for _, e := range errs {
		if e == nil {
			continue
		}
		d := ProblemDetail{Message: e.Error()}
		var ed huma.ErrorDetailer
		if errors.As(e, &ed) {
			hd := ed.ErrorDetail()
			d = ProblemDetail{Location: hd.Location, Message: hd.Message}
		}
		p.Errors = append(p.Errors, d)
	}
	if len(p.Errors) > 0 && msg != "" {
		parts := make([]string, len(p.Errors))
		for i, d := range p.Errors {
			parts[i] = strings.TrimSpace(d.Location + " " + d.Message)
		}
		p.Detail = msg + ": " + strings.Join(parts, "; ")
	}
	return p
}
