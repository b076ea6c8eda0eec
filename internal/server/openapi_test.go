package server_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel/internal/server"
)

var update = flag.Bool("update", false, "rewrite api/openapi.yaml from the server's operations")

const documentFile = "../../api/openapi.yaml"

// TestOpenAPIDocumentIsUpToDate regenerates the OpenAPI document from the server's operations
// and compares it with api/openapi.yaml; go test -run OpenAPIDocument -update rewrites it.
func TestOpenAPIDocumentIsUpToDate(t *testing.T) {
	s := newTestServer(t, func(c *server.Config) {
		// Nothing of the configuration may reach the document.
		c.MaxBody, c.Rate, c.Burst, c.MaxStreamsPerPrincipal, c.TokenTTL = 1234, 5, 6, 7, time.Minute
	})
	doc := s.srv.OpenAPI()
	got, err := doc.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := doc.YAML(); !bytes.Equal(got, again) {
		t.Fatal("two renderings of the document differ")
	}
	if bytes.Contains(got, []byte(s.host)) || bytes.Contains(got, []byte("127.0.0.1")) {
		t.Fatalf("the document names the host %s: it must not depend on the configuration", s.host)
	}
	if !bytes.Contains(got, []byte("\nopenapi: 3.1.0\n")) {
		t.Fatal("the document is not OpenAPI 3.1")
	}
	checkDocument(t, doc)

	if *update {
		if err := os.WriteFile(documentFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	file, err := os.ReadFile(documentFile)
	if err != nil {
		t.Fatalf("%v (go test ./internal/server -run OpenAPIDocument -update writes it)", err)
	}
	if !bytes.Equal(file, got) {
		t.Fatalf("api/openapi.yaml is stale; go test ./internal/server -run OpenAPIDocument -update rewrites it. First difference:\n%s",
			firstDifference(string(file), string(got)))
	}
	// The document the server serves is the same.
	r := s.probe(request{method: http.MethodGet, path: "/v1/openapi.yaml"})
	if r.status != http.StatusOK || !bytes.Equal(r.body, file) {
		t.Fatalf("GET /v1/openapi.yaml answered %d and differs from api/openapi.yaml:\n%s", r.status, firstDifference(string(file), string(r.body)))
	}
	r = s.probe(request{method: http.MethodGet, path: "/v1/openapi.json"})
	var served struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &served); err != nil || served.OpenAPI != "3.1.0" || len(served.Paths) != len(doc.Paths) {
		t.Fatalf("GET /v1/openapi.json: %v, openapi %q, %d paths, want 3.1.0 and %d", err, served.OpenAPI, len(served.Paths), len(doc.Paths))
	}
}

// firstDifference shows the first line where a and b differ, with a little context.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(none)"
}

var templateParam = regexp.MustCompile(`\{([^}]*)\}`)

// checkDocument checks what OpenAPI 3.1 asks of a document that a generator could get wrong:
// unique operation ids, path templates whose names are exactly the operation's required path
// parameters, documented error answers as problems, and references that resolve.
func checkDocument(t *testing.T, doc *huma.OpenAPI) {
	t.Helper()
	ids := make(map[string]string)
	for _, o := range documentOperations(doc) {
		where := o.method + " " + o.template
		if o.op.OperationID == "" {
			t.Errorf("%s: no operationId", where)
		}
		if prev, dup := ids[o.op.OperationID]; dup {
			t.Errorf("%s: operationId %q already used by %s", where, o.op.OperationID, prev)
		}
		ids[o.op.OperationID] = where
		var inTemplate, inParams []string
		for _, m := range templateParam.FindAllStringSubmatch(o.template, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		for _, p := range o.op.Parameters {
			if p.In == "path" {
				if !p.Required {
					t.Errorf("%s: path parameter %s is not required", where, p.Name)
				}
				inParams = append(inParams, p.Name)
			}
		}
		sort.Strings(inTemplate)
		sort.Strings(inParams)
		if !slices.Equal(inTemplate, inParams) {
			t.Errorf("%s: the template names %v but the path parameters are %v", where, inTemplate, inParams)
		}
		if len(o.op.Responses) == 0 {
			t.Errorf("%s: no responses", where)
		}
		for status, resp := range o.op.Responses {
			if status >= "400" || status == "default" {
				if m := resp.Content["application/problem+json"]; m == nil || m.Schema == nil || m.Schema.Ref != "#/components/schemas/Problem" {
					t.Errorf("%s: answer %s is not a Problem", where, status)
				}
			}
		}
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(data), -1) {
		if doc.Components.Schemas.Map()[m[1]] == nil {
			t.Errorf("reference to missing schema %s", m[1])
		}
	}
}

// pathFor fills a documented path template with values that name real things, or at least
// well-formed ones.
func pathFor(template string, values map[string]string) string {
	return templateParam.ReplaceAllStringFunc(template, func(p string) string {
		name := strings.Trim(p, "{}")
		if v, ok := values[name]; ok {
			return v
		}
		return "x"
	})
}

// isMuxAnswer reports whether an answer came from the mux finding no route (404) or no route
// for the method (405), rather than from an operation's handler: the server answers those
// with a problem whose detail says no operation is there.
func isMuxAnswer(r *response) bool {
	if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		return false
	}
	return strings.HasPrefix(r.problem().Detail, "no operation at ")
}

// TestEveryDocumentedOperationIsServed makes a request of every operation in the document and
// checks that one of the server's handlers answered it.
func TestEveryDocumentedOperationIsServed(t *testing.T) {
	w := newWorld(t, nil)
	w.org("us")
	p := w.person("us", "envoy", "Special Envoy", 3)
	values := map[string]string{
		"talksID": "us:muscat", "room": "caucus:us", "hash": strings.Repeat("0", 64), "org": "us",
		"principal": "envoy", "credential": p.cred.ID().String(), "path": "checkpoint",
	}
	ops := documentOperations(w.srv.OpenAPI())
	if len(ops) < 30 {
		t.Fatalf("the document has %d operations; is it the server's?", len(ops))
	}
	for _, o := range ops {
		path := pathFor(o.template, values)
		var r *response
		if o.op.OperationID == "stream-events" {
			r, _ = w.stream(path, p.token, nil, time.Second, func([]sseEvent) bool { return true })
		} else {
			req := request{method: o.method, path: path, token: p.token}
			if o.op.RequestBody != nil {
				req.body = "{}"
			}
			r = w.do(req)
		}
		if isMuxAnswer(r) {
			t.Errorf("%s %s (%s): the mux answered %s", o.method, path, o.op.OperationID, r)
		}
		if r.status >= 400 && r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Errorf("%s %s (%s): %s, want a success, a 400 (empty body) or 404 (no such talks)", o.method, path, o.op.OperationID, r)
		}
	}
}

// openapiRoutes are the routes that serve the document itself, in both versions and formats.
var openapiRoutes = []string{
	"GET /v1/openapi-3.0.json", "GET /v1/openapi-3.0.yaml", "GET /v1/openapi.json", "GET /v1/openapi.yaml",
}

// TestNothingUndocumentedIsServed checks the reverse: the server's mux holds a route for
// exactly the operations of the document (and the document itself), every other method of a
// documented path is refused by the mux, and plausible paths that are not documented are not
// found.
func TestNothingUndocumentedIsServed(t *testing.T) {
	w := newWorld(t, nil)
	doc := w.srv.OpenAPI()
	wantRoutes := append([]string{}, openapiRoutes...)
	documented := make(map[string][]string) // path -> methods
	for _, o := range documentOperations(doc) {
		tpl := o.template
		if multiSegment(tpl) {
			tpl = strings.TrimSuffix(tpl, "}") + "...}"
		}
		wantRoutes = append(wantRoutes, o.method+" "+tpl)
		documented[o.template] = append(documented[o.template], o.method)
	}
	sort.Strings(wantRoutes)
	got := server.MuxPatterns(w.srv)
	if len(got) == 0 {
		t.Fatal("read no pattern from the mux: has http.ServeMux changed its layout?")
	}
	if !slices.Equal(got, wantRoutes) {
		t.Errorf("the mux serves\n\t%s\nthe document describes\n\t%s", strings.Join(got, "\n\t"), strings.Join(wantRoutes, "\n\t"))
	}

	values := map[string]string{"talksID": "us:muscat", "room": "caucus:us", "hash": strings.Repeat("0", 64),
		"org": "us", "principal": "envoy", "credential": strings.Repeat("ab", 32), "path": "checkpoint"}
	for tpl, methods := range documented {
		path := pathFor(tpl, values)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(methods, m) {
				continue
			}
			if r := w.probe(request{method: m, path: path, body: "{}"}); r.status != http.StatusMethodNotAllowed || !isMuxAnswer(r) {
				t.Errorf("%s %s: %s, want the mux's 405", m, path, r)
			}
		}
	}
	for _, path := range []string{
		"/", "/v1", "/v1/", "/docs", "/v1/docs", "/v1/schemas/Problem.json", "/schemas/Problem.json", "/openapi.json",
		"/debug/pprof/", "/debug/vars", "/v1/talks/muscat/rooms", "/v1/talks/muscat/rooms/caucus:us",
		"/v1/talks/muscat/envelopes/" + strings.Repeat("0", 64) + "/receipts", "/v1/talks/muscat/members",
		"/v1/talks/muscat/checkpoint", "/v1/organisations/us/principals", "/v1/auth", "/v1/auth/logout",
		"/v2/talks", "/v1/healthz", "/metrics", "/metrics/extra", "/v1/credentials/x/y",
	} {
		if r := w.probe(request{method: http.MethodGet, path: path}); r.status != http.StatusNotFound || !isMuxAnswer(r) {
			t.Errorf("GET %s: %s, want the mux's 404", path, r)
		}
	}
}

// TestResponseCheckRefusesWhatTheDocumentDoesNotSay makes sure the check every test runs on
// its answers can fail: each of these answers breaks the document in one way.
func TestResponseCheckRefusesWhatTheDocumentDoesNotSay(t *testing.T) {
	s := newTestServer(t, nil)
	rec := newRecorder(s.srv.OpenAPI())
	okProblem := `{"type":"urn:backchannel:problem:unknown-talks","title":"Unknown talks","status":404,"detail":"no talks"}`
	good := []exchange{
		{method: "GET", path: "/healthz", status: 200, contentType: "application/json", body: []byte(`{"status":"ok"}`)},
		{method: "GET", path: "/v1/talks/muscat", status: 404, contentType: "application/problem+json", body: []byte(okProblem)},
		{method: "GET", path: "/v1/talks/muscat/log/tile/0/000", status: 200, contentType: "application/octet-stream"},
	}
	for _, e := range good {
		if err := rec.validate(e); err != nil {
			t.Errorf("%s %s %d: %v", e.method, e.path, e.status, err)
		}
	}
	bad := map[string]exchange{
		"undocumented path":   {method: "GET", path: "/v1/talks/muscat/members", status: 200, contentType: "application/json", body: []byte(`{}`)},
		"undocumented method": {method: "DELETE", path: "/v1/talks/muscat", status: 200, contentType: "application/json", body: []byte(`{}`)},
		"undocumented status": {method: "GET", path: "/healthz", status: 201, contentType: "application/json", body: []byte(`{"status":"ok"}`)},
		"wrong content type":  {method: "GET", path: "/healthz", status: 200, contentType: "text/html", body: nil},
		"missing field":       {method: "GET", path: "/v1/log-key", status: 200, contentType: "application/json", body: []byte(`{"host":"h"}`)},
		"unknown field":       {method: "GET", path: "/healthz", status: 200, contentType: "application/json", body: []byte(`{"status":"ok","x":1}`)},
		"wrong type":          {method: "GET", path: "/v1/talks", status: 200, contentType: "application/json", body: []byte(`{"talks":{}}`)},
		"error as JSON":       {method: "GET", path: "/v1/talks/muscat", status: 404, contentType: "application/json", body: []byte(okProblem)},
		"foreign type": {method: "GET", path: "/v1/talks/muscat", status: 404, contentType: "application/problem+json",
			body: []byte(`{"type":"about:blank","title":"Not Found","status":404,"detail":"no"}`)},
		"status mismatch": {method: "GET", path: "/v1/talks/muscat", status: 403, contentType: "application/problem+json", body: []byte(okProblem)},
		"no detail": {method: "GET", path: "/v1/talks/muscat", status: 404, contentType: "application/problem+json",
			body: []byte(`{"type":"urn:backchannel:problem:unknown-talks","title":"Unknown talks","status":404}`)},
	}
	for name, e := range bad {
		if err := rec.validate(e); err == nil {
			t.Errorf("%s: %s %s %d passed the check", name, e.method, e.path, e.status)
		}
	}
}
