package record

import (
	"fmt"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of C2SP tlog-tiles: a full tile holds 2^8 = 256 hashes or entries.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile and of entries in a full entry bundle.
const TileWidth = 1 << TileHeight

// TilePath returns the C2SP tlog-tiles path of t, relative to the log's prefix:
// "tile/<L>/<N>[.p/<W>]" for hash tiles and "tile/entries/<N>[.p/<W>]" for entry bundles
// (t.L == -1, tlog's level for data). N is written in groups of three digits, all but the last
// prefixed with "x": tile/0/x001/x234/067 is tile 1234067 of level 0. It is torchwood's; t must
// be of height TileHeight.
func TilePath(t tlog.Tile) string { return torchwood.TilePath(t) }

// ParseTilePath parses a C2SP tlog-tiles path (torchwood.ParseTilePath), refusing, with
// ErrMalformed, anything longer than any tile's path and any spelling but the one TilePath
// writes, so that each tile has one path.
func ParseTilePath(path string) (tlog.Tile, error) {
	if len(path) > 64 {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q: too long", ErrMalformed, path)
	}
	t, err := torchwood.ParseTilePath(path)
	if err != nil {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q: %v", ErrMalformed, path, err)
	}
	if t.H != TileHeight || t.N < 0 || t.W < 1 || t.W > TileWidth || t.L < -1 || t.L > 63 || TilePath(t) != path {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q: not the canonical path of a tile", ErrMalformed, path)
	}
	return t, nil
}
