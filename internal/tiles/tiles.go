// Package tiles serves a talks' record over HTTP in the C2SP tlog-tiles layout, so that any
// standard tlog-tiles client (record.TileClient among them) can fetch and verify the log.
//
// The server mounts the handler under /v1/talks/{talksID}/log/ behind its access check;
// record/recordtest serves its reference log with it, so that the record's clients are tested
// against the handler the server runs. The formats themselves (tile paths, entry bundles,
// checkpoints) are package record's: this package only decides which of them exist and how
// HTTP caches may keep them.
package tiles

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
)

// Cache-Control values of the tile handler. A full tile or bundle never changes (the log is
// append-only), so caches may keep it forever; a partial one is replaced by a wider one as the
// log grows; a checkpoint changes with every append.
const (
	cacheFull       = "public, max-age=31536000, immutable"
	cachePartial    = "public, max-age=60"
	cacheCheckpoint = "no-cache"
)

// Handler serves one log in the C2SP tlog-tiles layout: "checkpoint", "tile/<L>/<N>[.p/<W>]"
// and "tile/entries/<N>[.p/<W>]", relative to the log's prefix (for backchannel,
// /v1/talks/{talksID}/log/).
//
// Only tiles within the served checkpoint exist. A partial tile is served only while the full
// tile does not exist (a client of an older checkpoint falls back to the full tile and keeps
// its first W hashes, as record.TileClient does), so each tile has one current URL.
type Handler struct {
	log    record.Log
	refuse func(w http.ResponseWriter, status int, detail string)
}

// Refuse makes fn write the handler's refusals (status 404, 405 or 500, and what was wrong)
// in the form its server answers errors in; by default they are plain text, as a bare
// tlog-tiles server answers.
func (h *Handler) Refuse(fn func(w http.ResponseWriter, status int, detail string)) *Handler {
	h.refuse = fn
	return h
}

func (h *Handler) fail(w http.ResponseWriter, status int, detail string) {
	if h.refuse != nil {
		h.refuse(w, status, detail)
		return
	}
	http.Error(w, detail, status)
}

// NewHandler returns a Handler serving log.
func NewHandler(log record.Log) *Handler { return &Handler{log: log} }

// ServeHTTP serves the request's URL path, which must be relative to the log's prefix (strip
// the prefix first, or call ServeLogPath with the rest of the path).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.ServeLogPath(w, r, strings.TrimPrefix(r.URL.Path, "/"))
}

// ServeLogPath serves path, relative to the log's prefix: for a mux pattern such as
// "GET /v1/talks/{talksID}/log/{path...}", pass r.PathValue("path").
func (h *Handler) ServeLogPath(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, ctype, cache, err := h.read(r.Context(), path)
	switch {
	case errors.Is(err, record.ErrNotFound), errors.Is(err, record.ErrMalformed):
		h.fail(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		h.fail(w, http.StatusInternalServerError, "record: cannot read the log")
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

// read returns the bytes at path with their content type and cache policy.
func (h *Handler) read(ctx context.Context, path string) (body []byte, ctype, cache string, err error) {
	ckpt, err := h.log.Checkpoint(ctx)
	if err != nil {
		return nil, "", "", err
	}
	if path == "checkpoint" {
		return ckpt, "text/plain; charset=utf-8", cacheCheckpoint, nil
	}
	t, err := record.ParseTilePath(path)
	if err != nil {
		return nil, "", "", err
	}
	c, err := record.ParseUnverifiedCheckpoint(ckpt)
	if err != nil {
		// Not %w: the server's own checkpoint that does not parse is a fault of the server
		// (500), not a malformed request (404).
		return nil, "", "", fmt.Errorf("tiles: stored checkpoint: %v", err)
	}
	if err := tileExists(t, c.Size); err != nil {
		return nil, "", "", err
	}
	cache = cacheFull
	if t.W < record.TileWidth {
		cache = cachePartial
	}
	if t.L == -1 {
		entries, err := h.log.ReadEntries(ctx, t.N*record.TileWidth, int64(t.W))
		if err != nil {
			return nil, "", "", err
		}
		if len(entries) != t.W {
			return nil, "", "", fmt.Errorf("tiles: store returned %d entries for %d", len(entries), t.W)
		}
		body, err = record.AppendEntryBundle(nil, entries)
		return body, "application/octet-stream", cache, err
	}
	body, err = tlog.ReadTileData(t, h.log)
	return body, "application/octet-stream", cache, err
}

// tileExists reports, with record.ErrNotFound, whether tile t is served for a tree of size
// entries.
func tileExists(t tlog.Tile, size int64) error {
	count := size // entries, or hashes at the tile's level
	if t.L > 0 {
		if t.L*record.TileHeight >= 63 {
			return fmt.Errorf("%w: no level %d", record.ErrNotFound, t.L)
		}
		count = size >> (t.L * record.TileHeight)
	}
	if t.N > (count-1)/record.TileWidth || count == 0 {
		return fmt.Errorf("%w: tile %s is beyond the tree of size %d", record.ErrNotFound, record.TilePath(t), size)
	}
	avail := count - t.N*record.TileWidth
	switch {
	case t.W == record.TileWidth && avail < record.TileWidth:
		return fmt.Errorf("%w: tile %s is not full yet at size %d", record.ErrNotFound, record.TilePath(t), size)
	case t.W < record.TileWidth && avail >= record.TileWidth:
		return fmt.Errorf("%w: tile %s is full: fetch the full tile", record.ErrNotFound, record.TilePath(t))
	case int64(t.W) > avail:
		return fmt.Errorf("%w: tile %s is wider than the tree of size %d", record.ErrNotFound, record.TilePath(t), size)
	}
	return nil
}
