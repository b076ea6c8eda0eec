// Package web serves the web client beside the API: a page, its script and style, and the
// client library compiled to WebAssembly (web/app), all embedded in the binary, so that
// `backchannel serve` needs nothing else and the page makes no request to any other origin.
//
// The page is held to a strict Content-Security-Policy: scripts only from this origin, no
// inline script or style, WebAssembly compiled under 'wasm-unsafe-eval' and nothing else
// evaluated, requests only to this origin, and no framing. Nothing sets a cookie: the page
// authorises with the API's bearer tokens, which a cross-site request cannot carry.
//
// The WebAssembly module is built by `go generate ./web` (web/gen), gzip-compressed, and
// committed; a test rebuilds it and fails when it no longer matches the sources.
package web

//go:generate go run ./gen

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Static returns the embedded files of the web client.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return sub
}

// ContentSecurityPolicy is the policy every page and asset is served with.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// assets are the files the page loads, by the path served; app.wasm is served from its
// compressed form.
var assets = map[string]struct{ file, typ string }{
	"/":             {"index.html", "text/html; charset=utf-8"},
	"/app.js":       {"app.js", "text/javascript; charset=utf-8"},
	"/app.css":      {"app.css", "text/css; charset=utf-8"},
	"/wasm_exec.js": {"wasm_exec.js", "text/javascript; charset=utf-8"},
	"/app.wasm":     {"app.wasm.gz", "application/wasm"},
	"/favicon.svg":  {"favicon.svg", "image/svg+xml"},
}

type asset struct {
	body []byte
	etag string
	typ  string
	gz   bool   // body is gzip-compressed (the engine)
	zbod []byte // the body compressed, for a text file worth compressing

	// whole is the engine inflated, once, for a client that takes no gzip: inflating 8 MB
	// for each such request would let anyone make the server work for nothing.
	whole func() ([]byte, error)
}

var (
	loadOnce sync.Once
	loaded   map[string]asset
)

func load() map[string]asset {
	loadOnce.Do(func() {
		loaded = map[string]asset{}
		fsys := Static()
		for p, a := range assets {
			b, err := fs.ReadFile(fsys, a.file)
			if err != nil {
				continue // an asset not built is served as not found
			}
			sum := sha256.Sum256(b)
			as := asset{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, typ: a.typ, gz: strings.HasSuffix(a.file, ".gz")}
			if !as.gz && len(b) > 1024 {
				var z bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
				zw.Write(b)
				zw.Close()
				as.zbod = z.Bytes()
			}
			if as.gz {
				gzBody := b
				as.whole = sync.OnceValues(func() ([]byte, error) {
					zr, err := gzip.NewReader(bytes.NewReader(gzBody))
					if err != nil {
						return nil, err
					}
					return io.ReadAll(zr)
				})
			}
			loaded[p] = as
		}
	})
	return loaded
}

// Handler serves the web client's files at their paths and everything else from api.
func Handler(api http.Handler) http.Handler {
	files := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.URL.Path]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			api.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		// Revalidated on every visit, so that a new binary's client is the one run.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", a.typ)
		if a.gz || a.zbod != nil {
			h.Add("Vary", "Accept-Encoding")
		}
		body, etag := a.body, a.etag
		if a.zbod != nil && acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body, etag = a.zbod, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		}
		if a.gz {
			if acceptsGzip(r) {
				h.Set("Content-Encoding", "gzip")
				etag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
			} else {
				var err error
				if body, err = a.whole(); err != nil {
					http.Error(w, "the web client is damaged", http.StatusInternalServerError)
					return
				}
			}
		}
		// Each encoding is its own representation, with its own tag.
		h.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		http.ServeContent(w, r, path.Base(r.URL.Path), zeroTime, bytes.NewReader(body))
	})
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// zeroTime leaves Last-Modified out: the ETag says whether the client changed.
var zeroTime = time.Time{}
