package record_test

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/record"
)

//go:embed testdata/export.json
var exportVector []byte

// buildExport makes the export of the vector: 13 entries in three checkpoints, the first
// cosigned by both parties, the second by party A, the last by nobody yet.
func buildExport(t *testing.T) []byte {
	t.Helper()
	a, b := testCosigner(t, "party-a"), testCosigner(t, "party-b")
	m := newTestLog(t, 5, a, b)
	var ckpts [][]byte
	for _, step := range []struct {
		grow int
		by   []*record.Cosigner
	}{{0, []*record.Cosigner{a, b}}, {5, []*record.Cosigner{a}}, {3, nil}} {
		if step.grow > 0 {
			m.Append(entries(int(m.Size()), int(m.Size())+step.grow)...)
		}
		msg, _ := m.Checkpoint(t.Context())
		cp, _, _ := record.OpenCheckpoint(msg, testOrigin, logVerifier(t))
		for _, c := range step.by {
			cs, _ := c.Cosign(cp, testTime)
			if err := m.AddCosignature(cs); err != nil {
				t.Fatal(err)
			}
		}
		msg, _ = m.Checkpoint(t.Context())
		ckpts = append(ckpts, msg)
	}
	logKey, _ := testLogKey(t).VerifierKey(testOrigin)
	es := map[int64][]byte{0: entry(0), 4: entry(4), 7: entry(7), 12: entry(12)}
	e, err := record.NewExport(testOrigin, logKey, []string{a.VerifierKey(), b.VerifierKey()}, ckpts, es, m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestExportVectorIsStable(t *testing.T) {
	checkVector(t, "export.json", buildExport(t), exportVector)
}

func TestVerifyExportReportsWhatItVerified(t *testing.T) {
	rep, err := record.VerifyExport(exportVector, hostVKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pinned || rep.Entries != 4 || rep.ConsistencyProofs != 2 || len(rep.Checkpoints) != 3 {
		t.Fatalf("report %+v", rep)
	}
	var sizes []int64
	var cosigners []string
	for _, c := range rep.Checkpoints {
		sizes = append(sizes, c.Size)
		cosigners = append(cosigners, strings.Join(c.Cosigners, "+"))
	}
	if !reflect.DeepEqual(sizes, []int64{5, 10, 13}) || !reflect.DeepEqual(cosigners, []string{"party-a+party-b", "party-a", ""}) {
		t.Fatalf("sizes %v cosigners %q", sizes, cosigners)
	}
	rep, err = record.VerifyExport(exportVector, "")
	if err != nil || rep.Pinned {
		t.Fatalf("unpinned: %+v %v", rep, err)
	}
}

// edit applies f to the decoded vector and re-encodes it.
func edit(t *testing.T, f func(e *record.Export)) []byte {
	var e record.Export
	if err := json.Unmarshal(exportVector, &e); err != nil {
		t.Fatal(err)
	}
	f(&e)
	b, _ := json.Marshal(e)
	return b
}

func TestVerifyExportRefusesTampering(t *testing.T) {
	otherKey, _ := record.NewLogKey(testKey("impostor"))
	impostor, _ := otherKey.VerifierKey(testHost)
	// A fork: the same first 5 entries, then other ones, signed by the real log key.
	fork := newTestLog(t, 5)
	fork.Append([]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"))
	forked, _ := fork.Checkpoint(t.Context())

	for _, tc := range []struct {
		name   string
		data   []byte
		pinned string
		want   error
	}{
		{"altered entry byte", edit(t, func(e *record.Export) { e.Entries[1].Data = "A" + e.Entries[1].Data[1:] }), "", record.ErrNotIncluded},
		{"entry moved to another index", edit(t, func(e *record.Export) { e.Entries[1].Index = 5 }), "", record.ErrNotIncluded},
		{"two entries swapped", edit(t, func(e *record.Export) {
			e.Entries[0].Data, e.Entries[1].Data = e.Entries[1].Data, e.Entries[0].Data
		}), "", record.ErrNotIncluded},
		{"forked middle checkpoint", edit(t, func(e *record.Export) { e.Checkpoints[1] = string(forked) }), "", record.ErrInconsistent},
		{"checkpoints out of order", edit(t, func(e *record.Export) {
			e.Checkpoints[0], e.Checkpoints[1] = e.Checkpoints[1], e.Checkpoints[0]
		}), "", record.ErrRollback},
		{"altered root", edit(t, func(e *record.Export) { e.Checkpoints[2] = strings.Replace(e.Checkpoints[2], "\n13\n", "\n14\n", 1) }), "", record.ErrBadSignature},
		{"forged cosignature", edit(t, func(e *record.Export) {
			// Keep the key ID and time (16 base64 characters), change the signature.
			i := strings.Index(e.Checkpoints[1], "— party-a ") + len("— party-a ") + 16
			c := []byte(e.Checkpoints[1])
			c[i] ^= 'A' ^ 'B'
			e.Checkpoints[1] = string(c)
		}), "", record.ErrBadSignature},
		{"another log key", exportVector, impostor, record.ErrBadSignature},
		{"missing consistency proof", edit(t, func(e *record.Export) { e.Consistency = e.Consistency[1:] }), "", record.ErrMalformed},
		{"short consistency proof", edit(t, func(e *record.Export) { e.Consistency[0] = e.Consistency[0][1:] }), "", record.ErrInconsistent},
		{"unknown field", bytes.Replace(exportVector, []byte(`"origin"`), []byte(`"extra": 1, "origin"`), 1), "", record.ErrMalformed},
		{"trailing data", append(bytes.Clone(exportVector), "{}"...), "", record.ErrMalformed},
		// Another verifier could read the other origin, or bind none.
		{"a key twice", bytes.Replace(exportVector, []byte(`"origin"`), []byte(`"origin": "elsewhere", "origin"`), 1), "", record.ErrMalformed},
		{"a case-folded key", bytes.Replace(exportVector, []byte(`"origin"`), []byte(`"Origin"`), 1), "", record.ErrMalformed},
		{"other format", edit(t, func(e *record.Export) { e.Format = "backchannel-record-export/v2" }), "", record.ErrMalformed},
		{"non-canonical base64", edit(t, func(e *record.Export) { e.Entries[0].Data += "\n" }), "", record.ErrMalformed},
		{"entry of no checkpoint", edit(t, func(e *record.Export) { e.Entries[0].Checkpoint = 3 }), "", record.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := record.VerifyExport(tc.data, tc.pinned)
			wantErr(t, err, tc.want)
		})
	}
}

func FuzzVerifyExport(f *testing.F) {
	f.Add(exportVector)
	f.Add([]byte(`{"format":"backchannel-record-export/v1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := record.VerifyExport(data, "")
		if err != nil {
			if !errors.Is(err, record.ErrMalformed) && !errors.Is(err, record.ErrBadSignature) && !errors.Is(err, record.ErrWrongOrigin) &&
				!errors.Is(err, record.ErrInconsistent) && !errors.Is(err, record.ErrRollback) && !errors.Is(err, record.ErrNotIncluded) {
				t.Fatalf("error wraps none of the package's errors: %v", err)
			}
			return
		}
		// What verifies still verifies, with the same report, after a round trip.
		e, _ := record.ParseExport(data)
		again, _ := json.Marshal(e)
		rep2, err := record.VerifyExport(again, "")
		if err != nil || !reflect.DeepEqual(rep, rep2) {
			t.Fatalf("re-encoded export: %v, %+v vs %+v", err, rep2, rep)
		}
	})
}

// FuzzParseExport fuzzes the decoder alone, which is cheap enough to explore far more inputs
// than FuzzVerifyExport, whose every run verifies a dozen signatures.
func FuzzParseExport(f *testing.F) {
	f.Add(exportVector)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := record.ParseExport(data)
		if err != nil {
			if !errors.Is(err, record.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := json.Marshal(e)
		e2, err := record.ParseExport(again)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encoded export: %v, %+v vs %+v", err, e2, e)
		}
	})
}
