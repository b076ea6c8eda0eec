package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrdersAndRefusesGapsAndBadNames(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"0002_more.sql": {Data: []byte("two")},
		"0001_init.sql": {Data: []byte("one")},
	})
	if err != nil || len(ms) != 2 || ms[0].SQL != "one" || ms[1].Version != 2 {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for name, fs := range map[string]fstest.MapFS{
		"gap":      {"0001_a.sql": {}, "0003_c.sql": {}},
		"bad name": {"first.sql": {}},
		"zero":     {"0000_a.sql": {}},
	} {
		if _, err := Load(fs); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: Load = %v, want a refusal naming the migration", name, err)
		}
	}
}
