package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Response size limits of TileClient: a checkpoint note, a full hash tile, a full entry bundle.
const (
	maxTileBytes   = TileWidth * tlog.HashSize
	maxBundleBytes = TileWidth * (2 + MaxEntrySize)
)

// TileClient reads a log served in the C2SP tlog-tiles layout (by the backchannel server or any
// other tlog-tiles server) and verifies everything it reads: tiles against the checkpoint's root
// (through tlog.TileHashReader), entries against the tiles' leaf hashes.
type TileClient struct {
	// HTTP is the client to fetch with; nil means http.DefaultClient.
	HTTP *http.Client
	// BaseURL is the log's prefix, ending in "/", for instance
	// "https://host/v1/talks/t1/log/".
	BaseURL string
	// Refusal, if set, turns an answer other than 200 into the error to return (for 404, the
	// error wrapped with ErrNotFound), given its status and the start of its body: a server that says why it refuses (an RFC 9457
	// problem) reaches the caller in its own words rather than as a bare status.
	Refusal func(status int, body []byte) error
}

// Checkpoint fetches the log's current checkpoint note, unverified.
func (c *TileClient) Checkpoint(ctx context.Context) ([]byte, error) {
	b, _, err := c.get(ctx, "checkpoint", MaxCheckpointSize)
	return b, err
}

// Sync fetches the current checkpoint and the tiles needed to prove it consistent with the
// Verifier's latest checkpoint, and updates the Verifier. The proof is computed here from tiles
// verified against the new root, so a server that rewrote history cannot make it pass.
func (c *TileClient) Sync(ctx context.Context, v *Verifier) (Checkpoint, error) {
	msg, err := c.Checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	next, _, err := OpenCheckpoint(msg, v.Origin(), v.LogVerifier())
	if err != nil {
		return Checkpoint{}, err
	}
	old, _ := v.Latest()
	var proof tlog.TreeProof
	if old.Size <= next.Size {
		if proof, err = ProveConsistency(old.Size, next.Size, c.HashReader(ctx, next)); err != nil {
			return Checkpoint{}, err
		}
	}
	return v.Update(msg, proof)
}

// HashReader returns a reader of the stored hashes of the tree of checkpoint cp, fetched as
// tiles and verified against cp's root before any hash is returned.
func (c *TileClient) HashReader(ctx context.Context, cp Checkpoint) HashReader {
	hr := tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Hash}, &tileReader{ctx: ctx, c: c})
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs, err := hr.ReadHashes(indexes)
		var fe *fetchError
		switch {
		case errors.As(err, &fe):
			return nil, fe.err
		case err != nil:
			// Everything else tlog reports is tile data that does not hash to the root.
			return nil, fmt.Errorf("%w: the served tiles do not hash to the root of %s: %v", ErrInconsistent, cp, err)
		}
		return hs, nil
	})
}

// ProveInclusion builds the inclusion proof of entry index in the tree of cp from served tiles.
func (c *TileClient) ProveInclusion(ctx context.Context, cp Checkpoint, index int64) (tlog.RecordProof, error) {
	return ProveInclusion(cp.Size, index, c.HashReader(ctx, cp))
}

// Entries fetches entries start to start+n-1 of the tree of cp from the served entry bundles and
// checks each against the leaf hash the verified tiles commit to. A bundle that is short is
// ErrMissingEntry, an entry that belongs at another index is ErrReordered, an entry whose bytes
// changed is ErrLeafMismatch.
func (c *TileClient) Entries(ctx context.Context, cp Checkpoint, start, n int64) ([][]byte, error) {
	if start < 0 || n < 0 || start+n > cp.Size {
		return nil, fmt.Errorf("%w: entries %d to %d of a tree of %d", ErrNotFound, start, start+n-1, cp.Size)
	}
	hr := c.HashReader(ctx, cp)
	var out [][]byte
	for k := start / TileWidth; k*TileWidth < start+n; k++ {
		lo := k * TileWidth
		w := int(min(TileWidth, cp.Size-lo))
		entries, err := c.bundle(ctx, k, w)
		if errors.Is(err, ErrNotFound) {
			// The checkpoint was verified: its entries exist, so a host that does not serve
			// them is withholding them.
			return nil, fmt.Errorf("%w: entries %d to %d of the verified tree of %d are not served (%v)", ErrMissingEntry, lo, lo+int64(w)-1, cp.Size, err)
		}
		if err != nil {
			return nil, err
		}
		idx := make([]int64, w)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, lo+int64(i))
		}
		leaves, err := hr.ReadHashes(idx)
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			if err := checkLeaf(lo, i, e, leaves); err != nil {
				return nil, err
			}
		}
		from, to := max(start, lo)-lo, min(start+n, lo+int64(w))-lo
		out = append(out, entries[from:to]...)
	}
	return out, nil
}

// checkLeaf compares entry i of the bundle starting at index lo with the leaf hashes, and
// names the fault when they differ.
func checkLeaf(lo int64, i int, entry []byte, leaves []tlog.Hash) error {
	h := tlog.RecordHash(entry)
	if h == leaves[i] {
		return nil
	}
	for j, l := range leaves {
		if l == h {
			return fmt.Errorf("%w: the entry served at index %d is the tree's entry %d", ErrReordered, lo+int64(i), lo+int64(j))
		}
	}
	return fmt.Errorf("%w: entry %d does not hash to the leaf the tree commits to", ErrLeafMismatch, lo+int64(i))
}

// bundle fetches entry bundle k of width w, falling back to the full bundle when a partial one
// is gone because the log grew.
func (c *TileClient) bundle(ctx context.Context, k int64, w int) ([][]byte, error) {
	t := tlog.Tile{H: TileHeight, L: -1, N: k, W: w}
	b, status, err := c.get(ctx, TilePath(t), maxBundleBytes)
	if status == http.StatusNotFound && w < TileWidth {
		t.W = TileWidth
		if b, _, err = c.get(ctx, TilePath(t), maxBundleBytes); err == nil {
			full, err := ParseEntryBundle(b, TileWidth)
			if err != nil {
				return nil, fmt.Errorf("entry bundle %d: %w", k, err)
			}
			return full[:w], nil
		}
	}
	if err != nil {
		return nil, err
	}
	entries, err := ParseEntryBundle(b, w)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: %w", k, err)
	}
	return entries, nil
}

// get fetches path under BaseURL, reading at most limit bytes.
func (c *TileClient) get(ctx context.Context, path string, limit int64) ([]byte, int, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	url := strings.TrimSuffix(c.BaseURL, "/") + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		if c.Refusal != nil {
			// A tile beyond the tree, or a log the server does not show the caller: the
			// server's reason reaches the caller too.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return nil, resp.StatusCode, fmt.Errorf("%w: GET %s: %w", ErrNotFound, url, c.Refusal(resp.StatusCode, body))
		}
		return nil, resp.StatusCode, fmt.Errorf("%w: GET %s: 404", ErrNotFound, url)
	}
	if resp.StatusCode != http.StatusOK {
		if c.Refusal != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return nil, resp.StatusCode, fmt.Errorf("record: GET %s: %w", url, c.Refusal(resp.StatusCode, body))
		}
		return nil, resp.StatusCode, fmt.Errorf("record: GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("record: GET %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, resp.StatusCode, fmt.Errorf("%w: GET %s: response over %d bytes", ErrMalformed, url, limit)
	}
	return b, resp.StatusCode, nil
}

// tileReader is a tlog.TileReader over HTTP with the C2SP paths. It keeps the tiles
// tlog.TileHashReader verified, up to maxSavedTiles, so that the proofs of every entry of a
// long log (an export) fetch each tile once rather than once per proof.
type tileReader struct {
	ctx context.Context
	c   *TileClient

	mu    sync.Mutex
	saved map[tlog.Tile][]byte
}

// maxSavedTiles bounds a tileReader's tiles: 32 MiB of full tiles, the tiles of a log of
// eight million entries.
const maxSavedTiles = 4096

func (r *tileReader) Height() int { return TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		r.mu.Lock()
		b, ok := r.saved[t]
		r.mu.Unlock()
		if ok {
			out[i] = b
			continue
		}
		b, status, err := r.c.get(r.ctx, TilePath(t), maxTileBytes)
		if status == http.StatusNotFound && t.W < TileWidth {
			full := t
			full.W = TileWidth
			b, _, err = r.c.get(r.ctx, TilePath(full), maxTileBytes)
			if err == nil && len(b) == maxTileBytes {
				b = b[:t.W*tlog.HashSize]
			}
		}
		if err != nil {
			return nil, &fetchError{err}
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, &fetchError{fmt.Errorf("%w: tile %s is %d bytes, want %d", ErrMalformed, TilePath(t), len(b), t.W*tlog.HashSize)}
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles keeps the tiles tlog verified against the checkpoint's root, for the reader's
// later proofs.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saved == nil {
		r.saved = make(map[tlog.Tile][]byte)
	}
	for i, t := range tiles {
		if len(r.saved) >= maxSavedTiles {
			return
		}
		r.saved[t] = data[i]
	}
}

// fetchError marks a failure to fetch a tile, which tlog.TileHashReader passes through, apart
// from its own findings that fetched tiles do not hash to the root.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }
