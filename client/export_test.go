package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/client"
)

var update = flag.Bool("update", false, "rewrite the party export vector in testdata")

// exportOf has the mediator of a fault world export muscat, and returns the file and the log
// key its client pinned.
func exportOf(t *testing.T) ([]byte, string) {
	fw := newFaultWorld(t)
	c := fw.omFM
	var calls int
	px, err := c.Export(fw.ctx, "us:muscat", func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || len(px.Messages) == 0 || len(px.Events) == 0 {
		t.Fatalf("an export of %d events and %d messages after %d progress calls", len(px.Events), len(px.Messages), calls)
	}
	data, err := json.MarshalIndent(px, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data, c.PinnedLogKey()
}

// A party's export verifies offline against the log key it pinned, and any change to it does
// not: an event that is not its leaf, a message that is not its event's envelope, a record
// altered, another host's key.
func TestPartyExportVerifiesOfflineAndRefusesEveryAlteration(t *testing.T) {
	data, key := exportOf(t)
	rep, err := client.VerifyPartyExport(data, key)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Talks != "us:muscat" || !rep.Record.Pinned || rep.Events == 0 || rep.Messages == 0 || rep.Record.Entries != rep.Events {
		t.Fatalf("report %+v (record %+v)", rep, rep.Record)
	}
	var px client.PartyExport
	if err := json.Unmarshal(data, &px); err != nil {
		t.Fatal(err)
	}
	_, otherKey := exportOf(t)
	for _, tc := range []struct {
		name  string
		alter func(px *client.PartyExport) []byte
		key   string
	}{
		{"an event's bytes", func(px *client.PartyExport) []byte {
			px.Events[len(px.Events)-1].Data[10] ^= 1
			return mustJSON(t, px)
		}, key},
		{"an event moved", func(px *client.PartyExport) []byte {
			px.Events[0].Index, px.Events[1].Index = px.Events[1].Index, px.Events[0].Index
			return mustJSON(t, px)
		}, key},
		{"a message's envelope", func(px *client.PartyExport) []byte {
			px.Messages[0].Hash = strings.Repeat("0", 64)
			return mustJSON(t, px)
		}, key},
		{"a message moved", func(px *client.PartyExport) []byte {
			px.Messages[0].Index = px.Events[0].Index
			return mustJSON(t, px)
		}, key},
		{"the record's checkpoint", func(px *client.PartyExport) []byte {
			px.Record = bytes.Replace(px.Record, []byte(`\n`), []byte(`\n\n`), 1)
			return mustJSON(t, px)
		}, key},
		{"another host's key", func(px *client.PartyExport) []byte { return mustJSON(t, px) }, otherKey},
		{"an unknown field", func(px *client.PartyExport) []byte {
			return bytes.Replace(mustJSON(t, px), []byte(`{`), []byte(`{"extra":1,`), 1)
		}, key},
		{"not JSON", func(*client.PartyExport) []byte { return []byte("a letter") }, key},
	} {
		var copy client.PartyExport
		if err := json.Unmarshal(data, &copy); err != nil {
			t.Fatal(err)
		}
		if _, err := client.VerifyPartyExport(tc.alter(&copy), tc.key); !errors.Is(err, client.ErrExport) {
			t.Errorf("%s: VerifyPartyExport = %v, want ErrExport", tc.name, err)
		}
	}
	// The record inside verifies on its own, as a bare record export.
	rep, err = client.VerifyPartyExport(px.Record, key)
	if err != nil || rep.Talks != "" || rep.Record.Entries == 0 {
		t.Fatalf("the bare record: %+v, %v", rep, err)
	}
}

// The party export vector (testdata/party-export.json, with the log key its party pinned in
// testdata/party-export.key) keeps verifying: the format does not drift. go test -run Vector
// -update rewrites both from a fresh world.
func TestPartyExportVector(t *testing.T) {
	path, keyPath := filepath.Join("testdata", "party-export.json"), filepath.Join("testdata", "party-export.key")
	if *update {
		data, key := exportOf(t)
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyPath, []byte(key+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyPartyExport(data, strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Talks != "muscat" || !rep.Record.Pinned || rep.Messages == 0 {
		t.Fatalf("the vector verifies as %+v", rep)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
