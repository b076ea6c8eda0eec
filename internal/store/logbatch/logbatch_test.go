package logbatch

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is a committed log's stored hashes.
type memHashes []tlog.Hash

func (m *memHashes) read(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(*m)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

func (m *memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) { return m.read(idx) }

func TestBatchMatchesOneLeafAtATimeAndRollsBack(t *testing.T) {
	var committed memHashes
	for i := int64(0); i < 5; i++ {
		hs, err := tlog.StoredHashes(i, []byte(fmt.Sprint("leaf ", i)), &committed)
		if err != nil {
			t.Fatal(err)
		}
		committed = append(committed, hs...)
	}
	l := New(5, committed.read)
	want := append(memHashes{}, committed...)
	for i := int64(5); i < 12; i++ {
		data := []byte(fmt.Sprint("leaf ", i))
		first, hs, err := l.Add(data)
		if err != nil {
			t.Fatal(err)
		}
		wantHs, _ := tlog.StoredHashes(i, data, &want)
		if first != int64(len(want)) || fmt.Sprint(hs) != fmt.Sprint(wantHs) {
			t.Fatalf("leaf %d: hashes from %d %v, want from %d %v", i, first, hs, len(want), wantHs)
		}
		want = append(want, wantHs...)
		if i == 8 {
			mark := l.Mark()
			if _, _, err := l.Add([]byte("refused")); err != nil {
				t.Fatal(err)
			}
			l.Rollback(mark)
			if l.Size() != 9 {
				t.Fatalf("size after rollback = %d, want 9", l.Size())
			}
		}
	}
	root, err := l.Root()
	if err != nil {
		t.Fatal(err)
	}
	wantRoot, _ := tlog.TreeHash(12, &want)
	if root != wantRoot {
		t.Fatalf("root %v, want %v", root, wantRoot)
	}
}
