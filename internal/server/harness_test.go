package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
)

// testClock is the server's clock in a test: real time moved by an offset the test controls,
// so that a token can expire or a cache go stale without waiting.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// testServer is a real server on loopback over its SQLite store. Every answer a test reads
// through it is recorded and, when the test ends, checked against the OpenAPI document.
type testServer struct {
	t     *testing.T
	ctx   context.Context
	url   string
	host  string
	srv   *server.Server
	store *sqlite.Store
	clock *testClock
	rec   *recorder
	http  *http.Client // records what it reads
	raw   *http.Client // records nothing: for probes of what is not documented
}

// newTestServer starts a server; configure may change its Config (Host and Now are set).
func newTestServer(t *testing.T, configure func(*server.Config)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := httptest.NewUnstartedServer(nil)
	host := ts.Listener.Addr().String()
	signer := server.NewSigner()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "backchannel.db"), Signer: signer.Sign})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	clock := &testClock{}
	cfg := server.Config{Host: host, Now: clock.now}
	if configure != nil {
		configure(&cfg)
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, st, signer, log)
	if err != nil {
		cancel()
		st.Close()
		t.Fatal(err)
	}
	go srv.Run(ctx)
	ts.Config.Handler = srv.Handler()
	ts.Start()
	s := &testServer{t: t, ctx: ctx, url: ts.URL, host: host, srv: srv, store: st, clock: clock,
		raw: &http.Client{Timeout: 30 * time.Second}}
	s.rec = newRecorder(srv.OpenAPI())
	s.http = &http.Client{Timeout: 30 * time.Second, Transport: &recordingTransport{rec: s.rec, base: http.DefaultTransport}}
	t.Cleanup(func() {
		cancel()
		ts.CloseClientConnections()
		ts.Close()
		st.Close()
		s.rec.check(t)
	})
	return s
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// response is an answer as a test reads it.
type response struct {
	status int
	header http.Header
	body   []byte
	stream io.Reader // an open event stream's body
}

// problem is an RFC 9457 body as the API writes it.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// problem decodes the answer as a problem; Type is empty if it is none.
func (r *response) problem() problem {
	var p problem
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		_ = json.Unmarshal(r.body, &p)
	}
	return p
}

// name is the problem's stable name, or "" for an answer that is not a problem.
func (r *response) name() string {
	return strings.TrimPrefix(r.problem().Type, api.ProblemTypePrefix)
}

func (r *response) String() string {
	b := r.body
	if len(b) > 400 {
		b = append(b[:400:400], "..."...)
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

// decode decodes a JSON answer into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r, err)
	}
}

// request is a request to make: body is sent as is if it is []byte or string, else as JSON.
type request struct {
	method, path string
	token        string
	body         any
	header       map[string]string
}

// do makes a request through the recording client.
func (s *testServer) do(r request) *response { return s.send(s.http, r) }

// probe makes a request that is not recorded.
func (s *testServer) probe(r request) *response { return s.send(s.raw, r) }

func (s *testServer) send(c *http.Client, r request) *response {
	s.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(s.ctx, r.method, s.url+r.path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading the answer: %v", r.method, r.path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// sseEvent is one message of an event stream.
type sseEvent struct {
	id, event string
	data      []byte
}

// stream opens an event stream and reads it until done says it has enough or wait passes. It
// returns the answer (whose body is empty for a stream) and the events read.
func (s *testServer) stream(path, token string, header map[string]string, wait time.Duration, done func([]sseEvent) bool) (*response, []sseEvent) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	h := *s.http
	h.Timeout = 0
	resp, err := h.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	out := &response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		out.body, _ = io.ReadAll(resp.Body)
		return out, nil
	}
	var evs []sseEvent
	if done != nil && done(evs) {
		return out, evs
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data == nil {
				continue
			}
			evs = append(evs, cur)
			cur = sseEvent{}
			if done != nil && done(evs) {
				return out, evs
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = []byte(strings.TrimPrefix(line, "data: "))
		}
	}
	return out, evs
}

// exchange is one answer the recording client read.
type exchange struct {
	method, path string
	status       int
	contentType  string
	body         []byte // JSON answers only
}

// recorder keeps every exchange of a test, to check them against the document at the end.
type recorder struct {
	doc *huma.OpenAPI
	ops []docOperation

	mu   sync.Mutex
	seen []exchange
}

// docOperation is an operation of the document with its path split for matching.
type docOperation struct {
	method   string
	template string
	segments []string
	op       *huma.Operation
}

func newRecorder(doc *huma.OpenAPI) *recorder {
	return &recorder{doc: doc, ops: documentOperations(doc)}
}

// documentOperations lists every operation of the document, sorted by path and method.
func documentOperations(doc *huma.OpenAPI) []docOperation {
	var out []docOperation
	for p, item := range doc.Paths {
		for _, m := range []struct {
			method string
			op     *huma.Operation
		}{
			{http.MethodGet, item.Get}, {http.MethodPut, item.Put}, {http.MethodPost, item.Post},
			{http.MethodDelete, item.Delete}, {http.MethodOptions, item.Options}, {http.MethodHead, item.Head},
			{http.MethodPatch, item.Patch}, {http.MethodTrace, item.Trace},
		} {
			if m.op != nil {
				out = append(out, docOperation{method: m.method, template: p, segments: strings.Split(p, "/"), op: m.op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].template != out[j].template {
			return out[i].template < out[j].template
		}
		return out[i].method < out[j].method
	})
	return out
}

// multiSegment reports whether the last parameter of a documented path spans several segments
// (Go's mux {name...}), which OpenAPI cannot say in a template.
func multiSegment(template string) bool { return strings.HasSuffix(template, "/log/{path}") }

// match finds the operation that serves method and path, by the document's templates.
func (r *recorder) match(method, path string) *docOperation {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	segs := strings.Split(path, "/")
	var best *docOperation
	bestLiterals := -1
	for i := range r.ops {
		o := &r.ops[i]
		if o.method != method {
			continue
		}
		if len(segs) != len(o.segments) && !(multiSegment(o.template) && len(segs) > len(o.segments)) {
			continue
		}
		literals, ok := 0, true
		for j, ts := range o.segments {
			if strings.HasPrefix(ts, "{") {
				if segs[j] == "" && !(multiSegment(o.template) && j == len(o.segments)-1) {
					ok = false
					break
				}
				continue
			}
			if ts != segs[j] {
				ok = false
				break
			}
			literals++
		}
		// Go's mux prefers the most specific pattern: here, the one with most literal segments.
		if ok && literals > bestLiterals {
			best, bestLiterals = o, literals
		}
	}
	return best
}

func (r *recorder) add(e exchange) {
	r.mu.Lock()
	r.seen = append(r.seen, e)
	r.mu.Unlock()
}

// check validates every recorded exchange against the document: the operation is documented,
// so is the status and the content type, a JSON body matches the schema of that status, and an
// error is an RFC 9457 problem with a type of ours.
func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.seen {
		if err := r.validate(e); err != nil {
			t.Errorf("%s %s answered %d (%s): %v", e.method, e.path, e.status, e.contentType, err)
		}
	}
}

func (r *recorder) validate(e exchange) error {
	o := r.match(e.method, e.path)
	if o == nil {
		return fmt.Errorf("no operation of the document serves it")
	}
	resp := o.op.Responses[strconv.Itoa(e.status)]
	if resp == nil {
		resp = o.op.Responses["default"]
	}
	if resp == nil {
		return fmt.Errorf("operation %s documents no %d answer", o.op.OperationID, e.status)
	}
	media := resp.Content[e.contentType]
	if media == nil {
		return fmt.Errorf("operation %s documents no %s body for %d", o.op.OperationID, e.contentType, e.status)
	}
	if e.status >= 400 {
		if e.contentType != "application/problem+json" {
			return fmt.Errorf("an error answered as %s, not application/problem+json", e.contentType)
		}
		var p problem
		if err := json.Unmarshal(e.body, &p); err != nil {
			return fmt.Errorf("problem body: %v", err)
		}
		if !strings.HasPrefix(p.Type, api.ProblemTypePrefix) || len(p.Type) == len(api.ProblemTypePrefix) {
			return fmt.Errorf("problem type %q does not start with %s", p.Type, api.ProblemTypePrefix)
		}
		if p.Status != e.status || p.Title == "" || p.Detail == "" {
			return fmt.Errorf("problem %+v: want status %d, a title and a detail", p, e.status)
		}
	}
	if e.body == nil || media.Schema == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(e.body, &v); err != nil {
		return fmt.Errorf("the body is not JSON: %v", err)
	}
	res := &huma.ValidateResult{}
	huma.Validate(r.doc.Components.Schemas, media.Schema, huma.NewPathBuffer(nil, 0), huma.ModeReadFromServer, v, res)
	if len(res.Errors) > 0 {
		return fmt.Errorf("the body does not match the schema of operation %s: %v", o.op.OperationID, res.Errors)
	}
	return nil
}

// recordingTransport records every answer's status, type and (JSON) body.
type recordingTransport struct {
	rec  *recorder
	base http.RoundTripper
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	e := exchange{method: req.Method, path: req.URL.Path, status: resp.StatusCode, contentType: ct}
	if ct == "application/json" || ct == "application/problem+json" {
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
		e.body = data
	}
	rt.rec.add(e)
	return resp, nil
}
