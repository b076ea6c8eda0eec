package strictjson

import (
	"errors"
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
		{`{"a":1} {"a":2}`, "trailing data"},
		{`{"a":1`, "JSON:"},
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
	var v struct{ Room string }
	if err := Unmarshal([]byte(`{"ROOM":"joint"}`), &v); !errors.Is(err, ErrKey) || v.Room != "" {
		t.Errorf("Unmarshal of a case-folded key = %v, bound %q", err, v.Room)
	}
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
		if Check(b) == nil {
			var v any
			if err := Unmarshal(b, &v); err != nil {
				t.Fatalf("Check accepted what Unmarshal refuses: %v", err)
			}
		}
	})
}
