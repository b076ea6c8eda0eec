package record

import (
	"bytes"
	_ "embed"
	"testing"
)

//go:embed testdata/bundle.bin
var bundleVector []byte

func TestEntryBundleVector(t *testing.T) {
	b, err := AppendEntryBundle(nil, [][]byte{entry(0), {}, bytes.Repeat([]byte{0xff}, 300)})
	if err != nil {
		t.Fatal(err)
	}
	checkVector(t, "bundle.bin", b, bundleVector)
	es, err := ParseEntryBundle(bundleVector, 3)
	if err != nil || !bytes.Equal(es[0], entry(0)) || len(es[1]) != 0 || len(es[2]) != 300 {
		t.Fatalf("ParseEntryBundle = %q, %v", es, err)
	}
}

func TestParseEntryBundleRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want int
		err  error
	}{
		{"fewer entries than the tree", []byte{0, 1, 'a'}, 2, ErrMissingEntry},
		{"more entries than the tree", []byte{0, 1, 'a', 0, 0}, 1, ErrMalformed},
		{"cut inside a length", []byte{0, 1, 'a', 0}, 2, ErrMalformed},
		{"cut inside an entry", []byte{0, 3, 'a'}, 1, ErrMalformed},
		{"zero entries wanted", nil, 0, ErrMalformed},
		{"257 entries wanted", nil, 257, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEntryBundle(tc.data, tc.want)
			wantErr(t, err, tc.err)
		})
	}
	_, err := AppendEntryBundle(nil, [][]byte{make([]byte, MaxEntrySize+1)})
	wantErr(t, err, ErrEntryTooLarge)
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Add(bundleVector, 3)
	f.Add([]byte{0, 0}, 1)
	f.Fuzz(func(t *testing.T, data []byte, want int) {
		es, err := ParseEntryBundle(data, want)
		if err != nil {
			return
		}
		// One encoding per bundle.
		again, err := AppendEntryBundle(nil, es)
		if err != nil || !bytes.Equal(again, data) || len(es) != want {
			t.Fatalf("bundle %x parsed to %d entries that re-encode as %x", data, len(es), again)
		}
	})
}
