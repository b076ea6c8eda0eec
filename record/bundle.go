package record

import (
	"encoding/binary"
	"fmt"
)

// AppendEntryBundle appends the C2SP tlog-tiles encoding of entries to b: each entry as a
// big-endian uint16 length followed by its bytes.
func AppendEntryBundle(b []byte, entries [][]byte) ([]byte, error) {
	for i, e := range entries {
		if err := CheckEntry(e); err != nil {
			return nil, fmt.Errorf("bundle entry %d: %w", i, err)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b, nil
}

// ParseEntryBundle parses an entry bundle that must hold exactly want entries (1 to 256) and
// nothing after them. Entries alias data.
func ParseEntryBundle(data []byte, want int) ([][]byte, error) {
	if want < 1 || want > TileWidth {
		return nil, fmt.Errorf("%w: entry bundle of %d entries", ErrMalformed, want)
	}
	entries := make([][]byte, 0, want)
	for len(data) > 0 {
		if len(entries) == want {
			return nil, fmt.Errorf("%w: entry bundle has bytes after its %d entries", ErrMalformed, want)
		}
		if len(data) < 2 {
			return nil, fmt.Errorf("%w: entry bundle ends inside a length", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, fmt.Errorf("%w: entry bundle's entry %d is cut short", ErrMalformed, len(entries))
		}
		entries = append(entries, data[2:2+n:2+n])
		data = data[2+n:]
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%w: entry bundle has %d entries, the tree commits to %d", ErrMissingEntry, len(entries), want)
	}
	return entries, nil
}
