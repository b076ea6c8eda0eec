package record_test

import (
	"bufio"
	"bytes"
	_ "embed"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/record"
)

//go:embed testdata/tilepaths.txt
var tilePathVectors []byte

func TestTilePathMatchesC2SPExamples(t *testing.T) {
	for _, tc := range []struct {
		tile tlog.Tile
		path string
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, "tile/0/000"},
		{tlog.Tile{H: 8, L: 0, N: 1234067, W: 256}, "tile/0/x001/x234/067"},
		{tlog.Tile{H: 8, L: 2, N: 1234067, W: 8}, "tile/2/x001/x234/067.p/8"},
		{tlog.Tile{H: 8, L: 1, N: 1000, W: 255}, "tile/1/x001/000.p/255"},
		{tlog.Tile{H: 8, L: -1, N: 42, W: 256}, "tile/entries/042"},
		{tlog.Tile{H: 8, L: -1, N: 999, W: 1}, "tile/entries/999.p/1"},
		{tlog.Tile{H: 8, L: 0, N: 1<<63 - 1, W: 256}, "tile/0/x009/x223/x372/x036/x854/x775/807"},
	} {
		if got := record.TilePath(tc.tile); got != tc.path {
			t.Errorf("TilePath(%+v) = %q, want %q", tc.tile, got, tc.path)
		}
		got, err := record.ParseTilePath(tc.path)
		if err != nil || got != tc.tile {
			t.Errorf("ParseTilePath(%q) = %+v, %v, want %+v", tc.path, got, err, tc.tile)
		}
	}
}

func TestParseTilePathRejectsNonCanonical(t *testing.T) {
	for _, p := range []string{
		"", "tile", "tile/", "tile/0", "tile/0/", "tile/00/000", "tile/-1/000", "tile/64/000",
		"tile/data/000", "tile/8/0/000", "tile/0/0", "tile/0/0000", "tile/0/1234",
		"tile/0/x000/001", "tile/0/001/002", "tile/0/x001", "tile/0/y001/000",
		"tile/0/000.p", "tile/0/000.p/", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/08",
		"tile/0/000.p/+8", "tile/0/000/.p/8", "tile/0/000.p/8/", "/tile/0/000", "tile/0/000/",
		"tile/0/x010/x000/x000/x000/x000/x000/000", "tile/0/x009/x223/x372/x036/x854/x775/808",
		"tile/entries/000.p/8.p/8", "tile/0/0a0", "tile/ 0/000", "tile/entries/x000/000",
	} {
		if tile, err := record.ParseTilePath(p); err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want an error", p, tile)
		}
	}
}

func FuzzParseTilePath(f *testing.F) {
	sc := bufio.NewScanner(bytes.NewReader(tilePathVectors))
	for sc.Scan() {
		f.Add(sc.Text())
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := record.ParseTilePath(path)
		if err != nil {
			return
		}
		// One spelling per tile: what parses must format back to itself.
		if got := record.TilePath(tile); got != path {
			t.Fatalf("ParseTilePath(%q) = %+v, which formats as %q", path, tile, got)
		}
		if tile.H != record.TileHeight || tile.W < 1 || tile.W > record.TileWidth || tile.N < 0 || tile.L < -1 || tile.L > 63 {
			t.Fatalf("ParseTilePath(%q) = out-of-range %+v", path, tile)
		}
	})
}
