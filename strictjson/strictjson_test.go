package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // "" for accepted
	}{
		{`{"room":"caucus:us","topics":["a","b"],"n":1.5e3,"x":null,"ok":true}`, ""},
		{`[{"a":1},{"a":2}]`, ""},
		{`{"a":{"a":{"a":1}}}`, ""},
		{`"just a string"`, ""},
		{`{"room":"a","room":"b"}`, "appears twice"},
		{`{"room":"a","Room":"b"}`, "not lower-case"},
		{`{"Room":"b"}`, "not lower-case"},
		{"{\"\u212aind\":\"letter\"}", "not lower-case"}, // the Kelvin sign folds to k
		{`{"kind":"a","x":{"y":1,"y":2}}`, "appears twice"},
		{`{"":1}`, "not lower-case"},
		{`{"a":1} {"a":1,"a":2}`, "appears twice"},
		{`{"k\u0041":1}`, "not lower-case"},
		{`{"s":"a \" quote, \\ and \"k\": in a string","k":1}`, ""},
		{manyKeys(100, false), ""},
		{manyKeys(100, true), "appears twice"},
		{`{"a":1`, ""},        // not JSON, but Check leaves that to the decoder
		{`"unterminated`, ""}, // likewise
		{`]]]}`, ""},          // likewise
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper"},
	} {
		err := Check([]byte(tt.in))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%s) = %v, want it accepted", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%s) = %v, want an error saying %q", tt.in, err, tt.want)
		}
	}
	var bad struct{ Room string }
	if err := Unmarshal([]byte(`{"room":`), &bad); err == nil {
		t.Error("Unmarshal of a truncated object succeeded")
	}
	var v struct{ Room string }
	if err := Unmarshal([]byte(`{"ROOM":"joint"}`), &v); !errors.Is(err, ErrKey) || v.Room != "" {
		t.Errorf("Unmarshal of a case-folded key = %v, bound %q", err, v.Room)
	}
}

// manyKeys is an object of n keys, the last a repeat of the first if dup.
func manyKeys(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		k := i
		if dup && i == n-1 {
			k = 0
		}
		fmt.Fprintf(&b, `"k%d":%d`, k, i)
	}
	b.WriteString("}")
	return b.String()
}

// reference is Check written the slow, obvious way, with the standard library's tokenizer: the
// fuzzer holds Check to it.
func reference(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var value func(depth int) error
	value = func(depth int) error {
		if depth > maxDepth {
			return errors.New("deep")
		}
		t, err := d.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return err
				}
				raw := k.(string)
				if !plain(raw) || seen[raw] {
					return ErrKey
				}
				seen[raw] = true
				if err := value(depth + 1); err != nil {
					return err
				}
			}
			_, err = d.Token()
		case json.Delim('['):
			for d.More() {
				if err := value(depth + 1); err != nil {
					return err
				}
			}
			_, err = d.Token()
		}
		return err
	}
	if err := value(1); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing")
	}
	return nil
}

func FuzzCheck(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a":[1,{"b":null}],"c":"d"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// An escaped key the tokenizer decodes to a plain one Check refuses unread; otherwise
		// the two agree.
		if got, want := Check(b), reference(b); json.Valid(b) && (got == nil) != (want == nil) && !(want == nil && bytes.Contains(b, []byte(`\\`))) {
			t.Fatalf("Check = %v, the reference says %v", got, want)
		}
		if json.Valid(b) && Check(b) == nil {
			// Into raw JSON: a number too large for a float64 is still JSON.
			var v json.RawMessage
			if err := Unmarshal(b, &v); err != nil {
				t.Fatalf("Check accepted what Unmarshal refuses: %v", err)
			}
		}
	})
}
