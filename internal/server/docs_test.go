package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// statusCodes are the net/http constants the server's problem kinds use.
var statusCodes = map[string]int{
	"StatusBadRequest": http.StatusBadRequest, "StatusUnauthorized": http.StatusUnauthorized,
	"StatusForbidden": http.StatusForbidden, "StatusNotFound": http.StatusNotFound,
	"StatusConflict": http.StatusConflict, "StatusRequestEntityTooLarge": http.StatusRequestEntityTooLarge,
	"StatusUnsupportedMediaType": http.StatusUnsupportedMediaType, "StatusUnprocessableEntity": http.StatusUnprocessableEntity,
	"StatusTooManyRequests": http.StatusTooManyRequests, "StatusInternalServerError": http.StatusInternalServerError,
	"StatusServiceUnavailable": http.StatusServiceUnavailable,
}

// sourceMatches returns the submatches of re in the non-test Go files matching glob.
func sourceMatches(t *testing.T, glob string, re *regexp.Regexp) [][]string {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: %v (%d files)", glob, err, len(files))
	}
	var out [][]string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, re.FindAllStringSubmatch(string(src), -1)...)
	}
	return out
}

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
	for _, m := range sourceMatches(t, "*.go", regexp.MustCompile(`problemKind\{"([a-z0-9-]+)", http\.(Status\w+)`)) {
		name, code := m[1], statusCodes[m[2]]
		known[name] = true
		if code == 0 {
			t.Errorf("problem %s: status %s is not in this test's table", name, m[2])
			continue
		}
		found := false
		for _, c := range documented[name] {
			found = found || c == code
		}
		if !found {
			t.Errorf("docs/api.md does not list problem %s with status %d (it lists %v)", name, code, documented[name])
		}
	}
	rules := sourceMatches(t, "../../talks/*.go", regexp.MustCompile(`&Rule\{"([a-z0-9-]+)"`))
	if len(rules) < 20 {
		t.Fatalf("found %d rules of the talks", len(rules))
	}
	for _, m := range rules {
		known[m[1]] = true
		if len(documented[m[1]]) == 0 {
			t.Errorf("docs/api.md does not list the talks' rule %s", m[1])
		}
	}
	for name := range documented {
		if !known[name] {
			t.Errorf("docs/api.md lists problem %s, which nothing raises", name)
		}
	}
}
