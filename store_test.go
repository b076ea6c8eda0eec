package backchannel

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

func TestParseEntryInvertsEntry(t *testing.T) {
	for _, tag := range [][]byte{nil, bytes.Repeat([]byte{7}, TagSize)} {
		e := Event{Type: "envelope", Data: []byte("sealed bytes"), Tag: tag}
		typ, h, gotTag, ok := ParseEntry(e.Entry())
		if !ok || typ != "envelope" || h != e.Hash() || !bytes.Equal(gotTag, tag) {
			t.Fatalf("ParseEntry(Entry()) = %q %x %x %v", typ, h, gotTag, ok)
		}
		entry := e.Entry()
		for _, bad := range [][]byte{nil, {1}, {2, 0}, {3, 0}, append(entry, 0), entry[:10], entry[:len(entry)-1]} {
			if _, _, _, ok := ParseEntry(bad); ok {
				t.Errorf("ParseEntry(%x) accepted a malformed entry", bad)
			}
		}
	}
	// A version-1 entry followed by 32 more bytes is no version-2 entry, nor the reverse.
	untagged := (&Event{Type: "act", Data: []byte("x")}).Entry()
	if _, _, _, ok := ParseEntry(append(untagged, make([]byte, TagSize)...)); ok {
		t.Error("a version-1 entry with a tag appended parsed")
	}
	tagged := (&Event{Type: "act", Data: []byte("x"), Tag: make([]byte, TagSize)}).Entry()
	if _, _, _, ok := ParseEntry(tagged[:len(tagged)-TagSize]); ok {
		t.Error("a version-2 entry without its tag parsed")
	}
}

// entryVector is one record leaf of testdata/entries.json: the event it commits to, the room
// key its tag is made with (none for an event every member reads), and the leaf's bytes.
type entryVector struct {
	Comment string `json:"comment"`
	Type    string `json:"type"`
	Data    string `json:"data"`     // hex
	RoomKey string `json:"room_key"` // hex, or empty
	Tag     string `json:"tag"`      // hex, or empty
	Entry   string `json:"entry"`    // hex
}

func TestEntryVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/entries.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []entryVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 3 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		data, _ := hex.DecodeString(v.Data)
		e := Event{Type: v.Type, Data: data}
		if v.RoomKey != "" {
			key, _ := hex.DecodeString(v.RoomKey)
			e.Tag = RoomTag(key, v.Type, e.Hash())
		}
		if got := hex.EncodeToString(e.Tag); got != v.Tag {
			t.Errorf("%s: tag %s, want %s", v.Comment, got, v.Tag)
		}
		if got := hex.EncodeToString(e.Entry()); got != v.Entry {
			t.Errorf("%s: entry %s, want %s", v.Comment, got, v.Entry)
		}
	}
}

func TestRoomTagSeparatesKeysTypesAndEvents(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, RoomKeySize), bytes.Repeat([]byte{2}, RoomKeySize)
	h1, h2 := EventHash{1}, EventHash{2}
	base := RoomTag(k1, EventEnvelope, h1)
	for name, other := range map[string][]byte{
		"another key":   RoomTag(k2, EventEnvelope, h1),
		"another type":  RoomTag(k1, EventReceipt, h1),
		"another event": RoomTag(k1, EventEnvelope, h2),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("%s gives the same tag", name)
		}
	}
	if len(base) != TagSize {
		t.Errorf("tag of %d bytes", len(base))
	}
}

// FuzzParseEntry checks that whatever a tile holds, ParseEntry accepts only the one encoding of
// an entry: what it parses, EntryOf writes back byte for byte.
func FuzzParseEntry(f *testing.F) {
	b, err := os.ReadFile("testdata/entries.json")
	if err != nil {
		f.Fatal(err)
	}
	var vs []entryVector
	if err := json.Unmarshal(b, &vs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		entry, _ := hex.DecodeString(v.Entry)
		f.Add(entry)
	}
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, entry []byte) {
		typ, h, tag, ok := ParseEntry(entry)
		if !ok {
			return
		}
		if got := EntryOf(typ, h, tag); !bytes.Equal(got, entry) {
			t.Fatalf("ParseEntry(%x) = %q %x %x, which encodes as %x", entry, typ, h, tag, got)
		}
	})
}
