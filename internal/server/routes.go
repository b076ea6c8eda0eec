package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel/api"
)

// op describes one operation for registration.
type op struct {
	id, method, path, summary, tag string
	authed                         bool
	status                         int
}

func (s *Server) operation(o op) huma.Operation {
	h := huma.Operation{
		OperationID:  o.id,
		Method:       o.method,
		Path:         o.path,
		Summary:      o.summary,
		Tags:         []string{o.tag},
		MaxBodyBytes: s.cfg.MaxBody,
	}
	if o.status != 0 {
		h.DefaultStatus = o.status
	}
	if o.authed {
		h.Security = []map[string][]string{{"bearer": {}}}
	}
	// 503: problemOf answers unavailable when the store is closed or the request is cancelled.
	h.Errors = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusTooManyRequests,
		http.StatusServiceUnavailable}
	if o.method == http.MethodPost {
		// Every body is JSON; huma refuses another media type.
		h.Errors = append(h.Errors, http.StatusUnsupportedMediaType)
	}
	return h
}

// register registers a handler whose errors go through problemOf.
func register[I, O any](s *Server, o op, h func(ctx context.Context, in *I) (*O, error)) {
	huma.Register(s.api, s.operation(o), func(ctx context.Context, in *I) (*O, error) {
		start := time.Now()
		out, err := h(ctx, in)
		code := o.status
		if code == 0 {
			code = http.StatusOK
		}
		if err != nil {
			p := s.problemOf(ctx, err)
			code = p.Status
			err = p
		}
		s.metrics.requests.WithLabelValues(o.id, http.StatusText(code)).Inc()
		s.metrics.latency.WithLabelValues(o.id).Observe(time.Since(start).Seconds())
		return out, err
	})
}

// body wraps a response body.
type body[T any] struct {
	Body T
}

func reply[T any](v T, err error) (*body[T], error) {
	if err != nil {
		return nil, err
	}
	return &body[T]{Body: v}, nil
}

// routes registers every operation. The document at /v1/openapi.json (and api/openapi.yaml)
// is generated from these registrations.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.api = newAPI(s.mux, s.cfg.Version)

	s.operationsRoutes()
	s.directoryRoutes()
	s.talksRoutes()
	s.recordRoutes()
	documentWildcards(s.api.OpenAPI())
	base64Unchecked(s.api)

	s.handler = s.remote.record(unknownRoutes(s.mux))
}

// unknownRoutes answers a path no operation serves with the problem not-found, as every other
// error of the API is answered, rather than the mux's plain text.
func unknownRoutes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer: 404, or 405 for a path served under other methods.
		var c statusOnly
		h.ServeHTTP(&c, r)
		if allow := c.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		writeProblemStatus(w, c.status, fmt.Sprintf("no operation at %s %s: see /v1/openapi.json", r.Method, r.URL.Path))
	})
}

// statusOnly is a ResponseWriter that keeps the status and headers written to it.
type statusOnly struct {
	header http.Header
	status int
}

func (c *statusOnly) Header() http.Header {
	if c.header == nil {
		c.header = make(http.Header)
	}
	return c.header
}
func (c *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (c *statusOnly) WriteHeader(status int)      { c.status = status }

// writeProblemStatus writes a problem of the kind the status names, with detail, for the
// handlers that answer outside huma (the tiles, unknown routes).
func writeProblemStatus(w http.ResponseWriter, status int, detail string) {
	p := problemKindOf(status).New("%s", detail)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// documentWildcards renames the paths of the document whose last segment is a wildcard of
// several segments, which Go's mux writes {name...}: in OpenAPI a path template names exactly
// its parameters, so "/log/{path...}" is documented as "/log/{path}".
func documentWildcards(doc *huma.OpenAPI) {
	for p, item := range doc.Paths {
		if strings.HasSuffix(p, "...}") {
			delete(doc.Paths, p)
			doc.Paths[strings.TrimSuffix(p, "...}")+"}"] = item
		}
	}
}

// operationsRoutes are the host's health and readiness. Its metrics are not among them: they
// tell anyone who reads them how busy each operation and the store are, and are served on a
// listener of their own (MetricsHandler).
func (s *Server) operationsRoutes() {
	type status struct {
		Status string `json:"status"`
	}
	register(s, op{id: "healthz", method: http.MethodGet, path: "/healthz", summary: "Liveness: the process serves requests", tag: "operations"},
		func(ctx context.Context, _ *struct{}) (*body[status], error) {
			return &body[status]{Body: status{"ok"}}, nil
		})
	register(s, op{id: "readyz", method: http.MethodGet, path: "/readyz", summary: "Readiness: the store answers and the server is not shutting down", tag: "operations"},
		func(ctx context.Context, _ *struct{}) (*body[status], error) {
			if !s.ready.Load() {
				return nil, problemf(api.ProblemUnavailable, "the server is shutting down")
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := s.store.Ping(ctx); err != nil {
				return nil, problemf(api.ProblemUnavailable, "the store does not answer: %v", err)
			}
			return &body[status]{Body: status{"ready"}}, nil
		})
}
