package talks

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

//go:embed testdata/*.jsonl testdata/*.json
var vectors embed.FS

// muscatEncoded returns the canonical encoding of every event of the Muscat scenario, one per
// line.
func muscatEncoded(t testing.TB) []byte {
	var b bytes.Buffer
	for i, e := range playMuscat(t.(*testing.T)).events {
		line, err := Marshal(e)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestVectors pins the encoding: the Muscat events must encode to exactly the bytes in
// testdata/muscat.jsonl, and Iran's red lines to testdata/redlines.json. Any change to the
// wire format shows up here; run with -update to accept an intended one.
func TestVectors(t *testing.T) {
	lines, err := MarshalRedLines(iranRedLines)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{
		"muscat.jsonl":  muscatEncoded(t),
		"redlines.json": append(lines, '\n'),
	} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := vectors.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the encoding changed; if that is intended, run go test -update\ngot:\n%s", path, got)
		}
	}
}

// TestVectorsReplay replays the recorded vectors, independently of the code that made them.
func TestVectorsReplay(t *testing.T) {
	var events []Event
	for i, line := range vectorLines(t) {
		e, err := Parse(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		events = append(events, e)
	}
	tk, err := Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Level() != 4 || tk.Venue() != "Muscat" || strings.Join(tk.Agenda(), ",") != "nuclear-programme,sanctions-relief" {
		t.Errorf("replayed talks: level %d, venue %q, agenda %v", tk.Level(), tk.Venue(), tk.Agenda())
	}
}

// vectorLine returns the first Muscat vector that contains s.
func vectorLine(t testing.TB, s string) string {
	for _, line := range vectorLines(t) {
		if strings.Contains(string(line), s) {
			return string(line)
		}
	}
	t.Fatalf("no vector contains %s", s)
	return ""
}

func vectorLines(t testing.TB) [][]byte {
	b, err := vectors.ReadFile("testdata/muscat.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

// TestParseRefusesOtherSpellings checks that an event has one encoding: each variant below
// means the same as a canonical vector, or nearly, and Parse refuses it.
func TestParseRefusesOtherSpellings(t *testing.T) {
	vote := `{"type":"vote","v":1,"event":{"at":"2025-04-01T09:05:00Z","by":{"principal":"ir.foreign-minister","org":"ir","rank":3,"title":"Foreign Minister"},"motion":"m-ae","accept":false}}`
	if _, err := Parse([]byte(vote)); err != nil {
		t.Fatalf("the canonical vote: %v", err)
	}
	for name, variant := range map[string]string{
		"white space":             strings.Replace(vote, `"v":1`, `"v": 1`, 1),
		"trailing newline":        vote + "\n",
		"trailing value":          vote + "{}",
		"key order":               strings.Replace(vote, `"type":"vote","v":1`, `"v":1,"type":"vote"`, 1),
		"upper-case key":          strings.Replace(vote, `"motion"`, `"Motion"`, 1),
		"duplicate key":           strings.Replace(vote, `"accept":false`, `"accept":true,"accept":false`, 1),
		"unknown field":           strings.Replace(vote, `"accept":false`, `"accept":false,"why":"no"`, 1),
		"escaped letter":          strings.Replace(vote, `"m-ae"`, `"m-\u0061e"`, 1),
		"zero written out":        strings.Replace(vote, `"accept":false`, `"accept":false,"standing":""`, 1),
		"time zone offset":        strings.Replace(vote, `09:05:00Z`, `13:05:00+04:00`, 1),
		"fractional second":       strings.Replace(vote, `09:05:00Z`, `09:05:00.000Z`, 1),
		"rank as float":           strings.Replace(vote, `"rank":3`, `"rank":3.0`, 1),
		"version 2":               strings.Replace(vote, `"v":1`, `"v":2`, 1),
		"unknown type":            strings.Replace(vote, `"type":"vote"`, `"type":"ballot"`, 1),
		"bad principal":           strings.Replace(vote, `ir.foreign-minister`, `IR.foreign-minister`, 1),
		"null event":              `{"type":"vote","v":1,"event":null}`,
		"standing accept":         strings.Replace(vote, `"accept":false`, `"accept":true,"standing":"`+strings.Repeat("a", 64)+`"`, 1),
		"root of another kind":    `{"type":"propose","v":1,"event":{"at":"2025-04-01T09:05:00Z","by":{"principal":"us.special-envoy","org":"us","rank":3},"motion":"m1","change":{"kind":"remove-mediator","org":"om","root":"` + rootOf("om") + `"}}}`,
		"invitation without root": `{"type":"propose","v":1,"event":{"at":"2025-04-01T09:05:00Z","by":{"principal":"us.special-envoy","org":"us","rank":3},"motion":"m1","change":{"kind":"invite-mediator","org":"om"}}}`,
		"upper-case root":         strings.Replace(vectorLine(t, `"invite-mediator"`), rootOf("ae"), strings.ToUpper(rootOf("ae")), 1),
		"field of the kind":       `{"type":"propose","v":1,"event":{"at":"2025-04-01T09:05:00Z","by":{"principal":"us.special-envoy","org":"us","rank":3},"motion":"m1","change":{"kind":"suspend","topic":"missiles"}}}`,
	} {
		if _, err := Parse([]byte(variant)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse(%s) = %v, want a malformed refusal", name, variant, err)
		}
	}
}

// TestMarshalRefusesLocalTime: only UTC times are encoded, so each instant has one spelling.
func TestMarshalRefusesLocalTime(t *testing.T) {
	at := day(4, 1, 9, 0).In(fixedZone)
	if _, err := Marshal(AcceptCharter{At: at, By: irFM}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Marshal with a time at +04:00: %v, want a malformed refusal", err)
	}
}

// FuzzParseEvent checks that Parse never panics, that whatever it accepts re-encodes to the
// same bytes, and that applying it to the Muscat talks either changes them or leaves them
// exactly as they were.
func FuzzParseEvent(f *testing.F) {
	for _, line := range vectorLines(f) {
		f.Add(line)
	}
	c := muscatCharter()
	base, err := New(c)
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range vectorLines(f)[1:20] {
		e, err := Parse(line)
		if err != nil {
			f.Fatal(err)
		}
		if err := base.Apply(e); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("Parse refused with a %T: %v", err, err)
			}
			return
		}
		again, err := Marshal(e)
		if err != nil {
			t.Fatalf("Marshal of a parsed event: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("two encodings:\n%s\n%s", b, again)
		}
		tk := base.Clone()
		if err := tk.Apply(e); err != nil && !equalTalks(tk, base) {
			t.Fatalf("a refused event changed the talks: %v", err)
		}
	})
}

// FuzzParseRedLines checks the same of red lines.
func FuzzParseRedLines(f *testing.F) {
	b, err := vectors.ReadFile("testdata/redlines.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.TrimSuffix(b, []byte("\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRedLines(b)
		if err != nil {
			return
		}
		again, err := MarshalRedLines(r)
		if err != nil {
			t.Fatalf("MarshalRedLines of parsed red lines: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("two encodings:\n%s\n%s", b, again)
		}
		if len(r.Commitment()) != 64 {
			t.Fatalf("no commitment for well-formed red lines")
		}
	})
}
