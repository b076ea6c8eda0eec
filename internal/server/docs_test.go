package server_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// TestDocsListEveryProblem checks that docs/api.md lists every problem type the server and the
// talks' rules name, with the server's status, and nothing else.
func TestDocsListEveryProblem(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := make(map[string][]int)
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| ([0-9]{3}) \\|").FindAllStringSubmatch(string(doc), -1) {
		code, _ := strconv.Atoi(m[2])
		documented[m[1]] = append(documented[m[1]], code)
	}
	known := make(map[string]bool)
	for _, k := range api.ProblemKinds() {
		known[k.Name] = true
		if !slices.Contains(documented[k.Name], k.Status) {
			t.Errorf("docs/api.md does not list problem %s with status %d (it lists %v)", k.Name, k.Status, documented[k.Name])
		}
	}
	for _, r := range talks.Rules() {
		known[r.Name] = true
		if len(documented[r.Name]) == 0 {
			t.Errorf("docs/api.md does not list the talks' rule %s", r.Name)
		}
	}
	for name := range documented {
		if !known[name] {
			t.Errorf("docs/api.md lists problem %s, which nothing raises", name)
		}
	}
}
