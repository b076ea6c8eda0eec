package backchannel

import "testing"

func TestParseEntryInvertsEntry(t *testing.T) {
	e := Event{Type: "envelope", Data: []byte("sealed bytes")}
	typ, h, ok := ParseEntry(e.Entry())
	if !ok || typ != "envelope" || h != e.Hash() {
		t.Fatalf("ParseEntry(Entry()) = %q %x %v", typ, h, ok)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0}, append(e.Entry(), 0), e.Entry()[:10]} {
		if _, _, ok := ParseEntry(bad); ok {
			t.Errorf("ParseEntry(%x) accepted a malformed entry", bad)
		}
	}
}
