package record

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of C2SP tlog-tiles: a full tile holds 2^8 = 256 hashes or entries.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile and of entries in a full entry bundle.
const TileWidth = 1 << TileHeight

// TilePath returns the C2SP tlog-tiles path of t, relative to the log's prefix:
// "tile/<L>/<N>[.p/<W>]" for hash tiles and "tile/entries/<N>[.p/<W>]" for entry bundles
// (t.L == -1, tlog's level for data). N is written in groups of three digits, all but the last
// prefixed with "x": tile/0/x001/x234/067 is tile 1234067 of level 0.
//
// tlog.Tile.Path is the sumdb layout (tile/<H>/<L>/…, "data" for entries), which standard
// tlog-tiles clients do not read; this is the C2SP one.
func TilePath(t tlog.Tile) string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.L == -1 {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.L))
	}
	b.WriteString("/")
	n := t.N
	var groups []string
	for {
		groups = append(groups, fmt.Sprintf("%03d", n%1000))
		n /= 1000
		if n == 0 {
			break
		}
	}
	for i := len(groups) - 1; i > 0; i-- {
		b.WriteString("x")
		b.WriteString(groups[i])
		b.WriteString("/")
	}
	b.WriteString(groups[0])
	if t.W < TileWidth {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.W))
	}
	return b.String()
}

// ParseTilePath parses a C2SP tlog-tiles path relative to the log's prefix into a tile of
// height TileHeight (level -1 for entry bundles). It accepts exactly one spelling of each tile,
// the one TilePath writes: no leading zeros, no empty or "x000" leading groups, widths 1 to
// 255 for partial tiles, and no path of a tile beyond int64.
func ParseTilePath(path string) (tlog.Tile, error) {
	bad := func(why string) (tlog.Tile, error) {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q: %s", ErrMalformed, path, why)
	}
	if len(path) > 64 {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return bad("does not start with tile/")
	}
	elems := strings.Split(rest, "/")
	t := tlog.Tile{H: TileHeight, W: TileWidth}
	switch lvl := elems[0]; {
	case lvl == "entries":
		t.L = -1
	default:
		l, err := strconv.Atoi(lvl)
		if err != nil || l < 0 || l > 63 || strconv.Itoa(l) != lvl {
			return bad("level is not a decimal from 0 to 63")
		}
		t.L = l
	}
	elems = elems[1:]
	// A partial tile ends in "<NNN>.p/<W>".
	if len(elems) >= 2 && strings.HasSuffix(elems[len(elems)-2], ".p") {
		ws := elems[len(elems)-1]
		w, err := strconv.Atoi(ws)
		if err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != ws {
			return bad("partial width is not a decimal from 1 to 255")
		}
		t.W = w
		elems = elems[:len(elems)-1]
		elems[len(elems)-1] = strings.TrimSuffix(elems[len(elems)-1], ".p")
	}
	if len(elems) == 0 || len(elems) > 7 {
		return bad("index has no or too many elements")
	}
	var n int64
	for i, e := range elems {
		if i < len(elems)-1 {
			var ok bool
			if e, ok = strings.CutPrefix(e, "x"); !ok {
				return bad("index element before the last lacks its x prefix")
			}
		}
		if len(e) != 3 || e[0] < '0' || e[0] > '9' || e[1] < '0' || e[1] > '9' || e[2] < '0' || e[2] > '9' {
			return bad("index element is not three digits")
		}
		if i == 0 && len(elems) > 1 && e == "000" {
			return bad("index has a leading zero group")
		}
		d, _ := strconv.Atoi(e)
		if n > (1<<63-1-int64(d))/1000 {
			return bad("index overflows")
		}
		n = n*1000 + int64(d)
	}
	t.N = n
	return t, nil
}
