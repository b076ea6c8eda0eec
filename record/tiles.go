package record

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
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
// /v1/talks/{talksID}/log/). Any standard tlog-tiles client can then fetch and verify the log.
//
// Only tiles within the served checkpoint exist. A partial tile is served only while the full
// tile does not exist (a client of an older checkpoint falls back to the full tile and keeps
// its first W hashes, as TileClient does), so each tile has one current URL.
type Handler struct {
	log Log
}

// NewHandler returns a Handler serving log.
func NewHandler(log Log) *Handler { return &Handler{log: log} }

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
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, ctype, cache, err := h.read(r.Context(), path)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrMalformed):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, "record: cannot read the log", http.StatusInternalServerError)
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
	t, err := ParseTilePath(path)
	if err != nil {
		return nil, "", "", err
	}
	c, err := ParseUnverifiedCheckpoint(ckpt)
	if err != nil {
		// Not %w: the server's own checkpoint that does not parse is a fault of the server
		// (500), not a malformed request (404).
		return nil, "", "", fmt.Errorf("record: stored checkpoint: %v", err)
	}
	if err := tileExists(t, c.Size); err != nil {
		return nil, "", "", err
	}
	cache = cacheFull
	if t.W < TileWidth {
		cache = cachePartial
	}
	if t.L == -1 {
		entries, err := h.log.ReadEntries(ctx, t.N*TileWidth, int64(t.W))
		if err != nil {
			return nil, "", "", err
		}
		if len(entries) != t.W {
			return nil, "", "", fmt.Errorf("record: store returned %d entries for %d", len(entries), t.W)
		}
		body, err = AppendEntryBundle(nil, entries)
		return body, "application/octet-stream", cache, err
	}
	body, err = tlog.ReadTileData(t, h.log)
	return body, "application/octet-stream", cache, err
}

// tileExists reports, with ErrNotFound, whether tile t is served for a tree of size entries.
func tileExists(t tlog.Tile, size int64) error {
	count := size // entries, or hashes at the tile's level
	if t.L > 0 {
		if t.L*TileHeight >= 63 {
			return fmt.Errorf("%w: no level %d", ErrNotFound, t.L)
		}
		count = size >> (t.L * TileHeight)
	}
	if t.N > (count-1)/TileWidth || count == 0 {
		return fmt.Errorf("%w: tile %s is beyond the tree of size %d", ErrNotFound, TilePath(t), size)
	}
	avail := count - t.N*TileWidth
	switch {
	case t.W == TileWidth && avail < TileWidth:
		return fmt.Errorf("%w: tile %s is not full yet at size %d", ErrNotFound, TilePath(t), size)
	case t.W < TileWidth && avail >= TileWidth:
		return fmt.Errorf("%w: tile %s is full: fetch the full tile", ErrNotFound, TilePath(t))
	case int64(t.W) > avail:
		return fmt.Errorf("%w: tile %s is wider than the tree of size %d", ErrNotFound, TilePath(t), size)
	}
	return nil
}
