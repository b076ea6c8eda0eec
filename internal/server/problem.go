package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// sealProblems maps seal's refusals to problems.
var sealProblems = []struct {
	err  error
	kind api.ProblemKind
}{
	{seal.ErrMalformed, api.ProblemMalformedSignedData},
	{seal.ErrTampered, api.ProblemTampered},
	{seal.ErrRelayAltered, api.ProblemRelayAltered},
	{seal.ErrWrongTalks, api.ProblemWrongTalks},
	{seal.ErrWrongRoom, api.ProblemWrongRoom},
	{seal.ErrWrongRound, api.ProblemWrongRound},
	{seal.ErrContextMismatch, api.ProblemContextMismatch},
	{seal.ErrNotAddressed, api.ProblemNotAddressed},
	{seal.ErrUntrustedRoot, api.ProblemUntrustedRoot},
	{seal.ErrUnknownCredential, api.ProblemUnknownCredential},
	{seal.ErrExpired, api.ProblemCredentialExpired},
	{seal.ErrRevoked, api.ProblemCredentialRevoked},
	{seal.ErrRankTooLow, api.ProblemRankTooLow},
	{seal.ErrSequence, api.ProblemReplayed},
	{seal.ErrKeyMismatch, api.ProblemKeyMismatch},
}

// problemf returns a problem of the given kind with a formatted detail.
func problemf(k api.ProblemKind, format string, args ...any) *api.Problem {
	return k.New(format, args...)
}

// isRefusal reports whether err is the server refusing a request (as opposed to a failure of
// the server or its store).
func isRefusal(err error) bool {
	var p *api.Problem
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
func (s *Server) problemOf(ctx context.Context, err error) *api.Problem {
	var p *api.Problem
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
		p = &api.Problem{Type: api.ProblemTypePrefix + r.Rule.Name, Title: r.Rule.Text, Status: status, Detail: err.Error()}
	case errors.Is(err, record.ErrMalformed):
		p = problemf(api.ProblemMalformed, "%v", err)
	case errors.Is(err, backchannel.ErrNotFound):
		p = problemf(api.ProblemNotFound, "%v", err)
	case errors.Is(err, backchannel.ErrExists):
		p = problemf(api.ProblemExists, "%v", err)
	case errors.Is(err, backchannel.ErrClosed), errors.Is(err, backchannel.ErrSchemaTooNew):
		p = problemf(api.ProblemUnavailable, "the store is not available")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		p = problemf(api.ProblemUnavailable, "the request was cancelled or timed out")
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
		p = problemf(api.ProblemInternal, "the server failed; the operator's log has the details")
	}
	s.metrics.refused.WithLabelValues(strings.TrimPrefix(p.Type, api.ProblemTypePrefix)).Inc()
	return p
}

// problemKindOf names the kind of problem an HTTP status stands for, for the errors the
// operations do not raise themselves (huma's validation, the mux, the tile handler).
func problemKindOf(status int) api.ProblemKind {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return api.ProblemMalformed
	case http.StatusRequestEntityTooLarge:
		return api.ProblemBodyTooLarge
	case http.StatusUnsupportedMediaType:
		return api.ProblemUnsupportedMediaType
	case http.StatusNotFound:
		return api.ProblemNotFound
	case http.StatusMethodNotAllowed:
		return api.ProblemMethodNotAllowed
	case http.StatusUnauthorized:
		return api.ProblemUnauthenticated
	case http.StatusForbidden:
		return api.ProblemForbidden
	case http.StatusTooManyRequests:
		return api.ProblemRateLimited
	case http.StatusServiceUnavailable:
		return api.ProblemUnavailable
	}
	if status >= 500 {
		return api.ProblemInternal
	}
	return api.ProblemKind{Name: "http-" + fmt.Sprint(status), Status: status, Title: http.StatusText(status)}
}

// newHumaError makes huma's own errors (validation, body size, content type) problems of ours,
// so that every error the API returns has a stable type.
func newHumaError(status int, msg string, errs ...error) huma.StatusError {
	p := problemKindOf(status).New("%s", msg)
	for _, e := range errs {
		if e == nil {
			continue
		}
		d := api.ProblemDetail{Message: e.Error()}
		var ed huma.ErrorDetailer
		if errors.As(e, &ed) {
			hd := ed.ErrorDetail()
			d = api.ProblemDetail{Location: hd.Location, Message: hd.Message}
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
