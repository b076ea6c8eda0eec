package backchannel_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/backchannel/backchannel"

// allowedImports are the arrows of docs/architecture.md: for each package (by directory), the
// packages of this module its non-test files may import. A prefix ending in "/" allows every
// package under it. Packages not listed (commands, scenario players, test harnesses) may import
// anything.
var allowedImports = map[string][]string{
	".":                         {},
	"talks":                     {"."},
	"seal":                      {"."},
	"strictjson":                {},
	"record":                    {"strictjson"},
	"api":                       {},
	"replay":                    {".", "talks", "seal", "strictjson"},
	"client":                    {".", "api", "talks", "seal", "record", "replay", "strictjson"},
	"internal/tiles":            {"record"},
	"internal/witness":          {"record", "internal/store/sqlite", "internal/store/migrate"},
	"internal/server":           {".", "api", "talks", "seal", "record", "replay", "strictjson", "internal/tiles", "internal/store"},
	"internal/store":            {"."},
	"internal/store/sqlstore":   {".", "internal/store", "internal/store/migrate"},
	"internal/store/sqlite":     {".", "internal/store", "internal/store/sqlstore", "internal/store/logbatch", "internal/store/migrate", "internal/store/watch"},
	"internal/store/postgres":   {".", "internal/store", "internal/store/sqlstore", "internal/store/logbatch", "internal/store/migrate", "internal/store/watch"},
	"internal/store/logbatch":   {".", "internal/store"},
	"internal/store/migrate":    {"."},
	"internal/store/watch":      {"."},
	"internal/store/faultstore": {".", "internal/store"},
	"internal/node":             {".", "internal/server", "internal/store", "internal/store/sqlite", "internal/store/postgres"},
	"internal/keystore":         {".", "seal", "client"},
	"internal/agent":            {},
	"web":                       {},
	"web/session":               {".", "api", "talks", "seal", "record", "client", "strictjson", "internal/keystore"},
	"web/app":                   {"web/session"},
}

// Every package imports only what docs/architecture.md allows it.
func TestImportsFollowTheArchitecture(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		allowed, ok := allowedImports[filepath.ToSlash(path)]
		if !ok {
			return nil
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if p != module && !strings.HasPrefix(p, module+"/") {
					continue
				}
				rel := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
				if rel == "" {
					rel = "."
				}
				if !slices.Contains(allowed, rel) {
					t.Errorf("%s imports %s, which docs/architecture.md does not allow", filepath.Join(path, e.Name()), p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
