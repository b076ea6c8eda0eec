package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoPlaysTheScenarioAndVerifies runs the built binary's demo, as a newcomer would.
func TestDemoPlaysTheScenarioAndVerifies(t *testing.T) {
	cmd := command(t, "demo")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	out := stdout.String()
	for _, landmark := range []string{
		"1. A letter before the talks",
		"refuses the UAE as mediator",
		"refuses direct talks",
		"refused (not-on-agenda)",
		"refuses Istanbul as the venue",
		"word for word: the signature of the Special Envoy (United States) verified",
		"marked as a summary in the mediator's own words",
		"refused (rank-below-level)",
		"11. Resumption",
		"/v1/talks/us:muscat/log/",
		"checkpoint, cosigned by",
		"every check passed",
	} {
		if !strings.Contains(out, landmark) {
			t.Errorf("the transcript lacks %q", landmark)
		}
	}
	if strings.Contains(stderr.String(), "goroutine") || strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr shows a crash:\n%s", stderr.String())
	}
}

// TestDemoJSONEndsWithTheSummary checks the machine-readable transcript.
func TestDemoJSONEndsWithTheSummary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	cmd := command(t, "demo", "--json", "--data", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 20 {
		t.Fatalf("%d JSON lines, want the whole transcript", len(lines))
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %d is not JSON: %s", i+1, l)
		}
	}
	var summary struct {
		Summary bool `json:"summary"`
		OK      bool `json:"ok"`
		Talks   []struct {
			ID        string   `json:"id"`
			Cosigners []string `json:"cosigners"`
		} `json:"talks"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || !summary.Summary || !summary.OK || len(summary.Talks) == 0 {
		t.Fatalf("last line = %s (%v)", lines[len(lines)-1], err)
	}
	if _, err := os.Stat(filepath.Join(dir, "backchannel.db")); err != nil {
		t.Errorf("--data did not keep the store: %v", err)
	}
	// A second demo on the same store is refused with a hint, not a crash.
	again := command(t, "demo", "--data", dir)
	var errOut bytes.Buffer
	again.Stderr = &errOut
	if err := again.Run(); err == nil || !strings.Contains(errOut.String(), "backchannel: hint:") {
		t.Errorf("demo on a used store: err %v, stderr %q", err, errOut.String())
	}
}
