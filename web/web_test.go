package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/web"
	"github.com/backchannel/backchannel/web/internal/wasmbuild"
)

// TestTheEmbeddedClientIsBuiltFromTheseSources: the committed WebAssembly module and its
// loader are what `go generate ./web` builds from the sources as they are, so the browser runs
// the same client library as the command line. It fails after a change to the library until
// the module is generated again.
func TestTheEmbeddedClientIsBuiltFromTheseSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the web client (-short)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := wasmbuild.Build(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := fs.ReadFile(web.Static(), name)
		if err != nil {
			t.Fatalf("%s is not embedded: run go generate ./web", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("web/static/%s is not what the sources build: run go generate ./web and commit it", name)
		}
	}
}

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestThePageIsServedUnderItsPolicy: every file of the web client goes out with the strict
// policy, no cookie, and its type; the module compressed to a browser that takes gzip and
// whole to one that does not; anything else is the API's.
func TestThePageIsServedUnderItsPolicy(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "api")
	})
	h := web.Handler(api)
	for _, tc := range []struct{ path, typ string }{
		{"/", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/app.css", "text/css; charset=utf-8"},
		{"/wasm_exec.js", "text/javascript; charset=utf-8"},
		{"/app.wasm", "application/wasm"},
		{"/favicon.svg", "image/svg+xml"},
	} {
		res := get(t, h, http.MethodGet, tc.path, map[string]string{"Accept-Encoding": "gzip, br"})
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", tc.path, res.Status)
			continue
		}
		for k, want := range map[string]string{
			"Content-Security-Policy": web.ContentSecurityPolicy,
			"Content-Type":            tc.typ,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("GET %s: %s %q, want %q", tc.path, k, got, want)
			}
		}
		if c := res.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("GET %s sets a cookie: %v", tc.path, c)
		}
	}
	for _, forbidden := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} {
		if strings.Contains(web.ContentSecurityPolicy, forbidden+" ") || strings.Contains(web.ContentSecurityPolicy, forbidden+";") {
			t.Errorf("the policy allows %s", forbidden)
		}
	}

	// The page's script is compressed for a browser that takes it, and whole for another.
	js := get(t, h, http.MethodGet, "/app.js", map[string]string{"Accept-Encoding": "gzip"})
	jsPlain := get(t, h, http.MethodGet, "/app.js", nil)
	if zr, err := gzip.NewReader(js.Body); err != nil || js.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("app.js to a browser that takes gzip: %q, %v", js.Header.Get("Content-Encoding"), err)
	} else if a, b := readAll(zr), readAll(jsPlain.Body); !bytes.Equal(a, b) || len(b) == 0 {
		t.Error("app.js compressed and whole differ")
	}

	gz := get(t, h, http.MethodGet, "/app.wasm", map[string]string{"Accept-Encoding": "gzip"})
	plain := get(t, h, http.MethodGet, "/app.wasm", nil)
	if gz.Header.Get("Content-Encoding") != "gzip" || plain.Header.Get("Content-Encoding") != "" {
		t.Fatalf("encodings: %q with gzip accepted, %q without", gz.Header.Get("Content-Encoding"), plain.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	whole, _ := io.ReadAll(plain.Body)
	if !bytes.Equal(unzipped, whole) || !bytes.HasPrefix(whole, []byte("\x00asm")) {
		t.Error("the module served compressed and whole differ, or is not WebAssembly")
	}
	if etag := gz.Header.Get("ETag"); etag == "" {
		t.Error("no ETag")
	} else if res := get(t, h, http.MethodGet, "/app.wasm", map[string]string{"If-None-Match": etag, "Accept-Encoding": "gzip"}); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating: %s, want 304", res.Status)
	} else if etag == plain.Header.Get("ETag") {
		t.Error("the module compressed and whole share one tag: each encoding is its own representation")
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/talks"}, {http.MethodPost, "/"}, {http.MethodGet, "/index.html"}, {http.MethodGet, "/static/app.js"},
	} {
		res := get(t, h, tc.method, tc.path, nil)
		if b, _ := io.ReadAll(res.Body); string(b) != "api" {
			t.Errorf("%s %s was not left to the API", tc.method, tc.path)
		}
	}
}

// TestThePageHasNoInlineScriptOrStyle: the policy forbids inline script and style, so the
// page must not need them; and its script builds no markup from strings.
func TestThePageHasNoInlineScriptOrStyle(t *testing.T) {
	page, err := fs.ReadFile(web.Static(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*</script>`).FindAll(page, -1) {
		if !regexp.MustCompile(`^<script src="/[a-z_.]+\.js"( defer)?></script>$`).Match(tag) {
			t.Errorf("index.html has inline script: %s", tag)
		}
	}
	for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`} {
		if m := regexp.MustCompile(re).Find(page); m != nil {
			t.Errorf("index.html has inline code: %s", m)
		}
	}
	app, err := fs.ReadFile(web.Static(), "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if bytes.Contains(app, []byte(sink)) {
			t.Errorf("app.js uses %s: text from parties or the host must go in as text", sink)
		}
	}
}

func readAll(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}
