package record_test

import (
	"bytes"
	_ "embed"
	"testing"

	"github.com/backchannel/backchannel/record"
)

//go:embed testdata/bundle.bin
var bundleVector []byte

func TestEntryBundleVector(t *testing.T) {
	b, err := record.AppendEntryBundle(nil, [][]byte{entry(0), {}, bytes.Repeat([]byte{0xff}, 300)})
	if err != nil {
		t.Fatal(err)
	}
	checkVector(t, "bundle.bin", b, bundleVector)
	es, err := record.ParseEntryBundle(bundleVector, 3)
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
		{"fewer entries than the tree", []byte{0, 1, 'a'}, 2, record.ErrMissingEntry},
		{"more entries than the tree", []byte{0, 1, 'a', 0, 0}, 1, record.ErrMalformed},
		{"cut inside a length", []byte{0, 1, 'a', 0}, 2, record.ErrMalformed},
		{"cut inside an entry", []byte{0, 3, 'a'}, 1, record.ErrMalformed},
		{"zero entries wanted", nil, 0, record.ErrMalformed},
		{"257 entries wanted", nil, 257, record.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := record.ParseEntryBundle(tc.data, tc.want)
			wantErr(t, err, tc.err)
		})
	}
	_, err := record.AppendEntryBundle(nil, [][]byte{make([]byte, record.MaxEntrySize+1)})
	wantErr(t, err, record.ErrEntryTooLarge)
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Add(bundleVector, 3)
	f.Add([]byte{0, 0}, 1)
	f.Fuzz(func(t *testing.T, data []byte, want int) {
		es, err := record.ParseEntryBundle(data, want)
		if err != nil {
			return
		}
		// One encoding per bundle.
		again, err := record.AppendEntryBundle(nil, es)
		if err != nil || !bytes.Equal(again, data) || len(es) != want {
			t.Fatalf("bundle %x parsed to %d entries that re-encode as %x", data, len(es), again)
		}
	})
}
