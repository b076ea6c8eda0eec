package record

import (
	"fmt"

	"filippo.io/torchwood"
)

// AppendEntryBundle appends the C2SP tlog-tiles encoding of entries to b: each entry as a
// big-endian uint16 length followed by its bytes (torchwood.AppendTileEntry), after checking
// each is an entry this record takes.
func AppendEntryBundle(b []byte, entries [][]byte) ([]byte, error) {
	for i, e := range entries {
		if err := CheckEntry(e); err != nil {
			return nil, fmt.Errorf("bundle entry %d: %w", i, err)
		}
		var err error
		if b, err = torchwood.AppendTileEntry(b, e); err != nil {
			return nil, fmt.Errorf("bundle entry %d: %w", i, err)
		}
	}
	return b, nil
}

// ParseEntryBundle parses an entry bundle (torchwood.ReadTileEntry) that must hold exactly want
// entries (1 to 256) and nothing after them. Entries alias data.
func ParseEntryBundle(data []byte, want int) ([][]byte, error) {
	if want < 1 || want > TileWidth {
		return nil, fmt.Errorf("%w: entry bundle of %d entries", ErrMalformed, want)
	}
	entries := make([][]byte, 0, want)
	for len(data) > 0 {
		if len(entries) == want {
			return nil, fmt.Errorf("%w: entry bundle has bytes after its %d entries", ErrMalformed, want)
		}
		e, rest, err := torchwood.ReadTileEntry(data)
		if err != nil {
			return nil, fmt.Errorf("%w: entry bundle's entry %d: %v", ErrMalformed, len(entries), err)
		}
		entries = append(entries, e[:len(e):len(e)])
		data = rest
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%w: entry bundle has %d entries, the tree commits to %d", ErrMissingEntry, len(entries), want)
	}
	return entries, nil
}
