package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchEmbeddedJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "bench", "--embedded", "--talks", "2", "--senders", "4",
		"--messages", "40", "--rates", "40", "--rate-duration", "300ms", "--idle-streams", "20",
		"--streams-per-principal", "4", "--json")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res struct {
		Store      string `json:"store"`
		Throughput struct {
			Messages  int     `json:"messages"`
			PerSec    float64 `json:"accepted_per_second"`
			Delivered int     `json:"delivered"`
		} `json:"throughput"`
		Rates []struct {
			Sent    int `json:"sent"`
			Latency struct {
				P99 float64 `json:"p99_ms"`
			} `json:"latency"`
		} `json:"rates"`
		Memory struct {
			IdleStreams int    `json:"idle_streams"`
			PerStream   uint64 `json:"per_stream_bytes"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("the last line of stdout is not the JSON figures: %v\n%s", err, stdout)
	}
	if res.Store != "sqlite" || res.Throughput.Messages != 40 || res.Throughput.Delivered != 80 || res.Throughput.PerSec <= 0 {
		t.Errorf("figures: %+v", res)
	}
	if len(res.Rates) != 1 || res.Rates[0].Sent != 12 || res.Rates[0].Latency.P99 <= 0 {
		t.Errorf("rates: %+v", res.Rates)
	}
	if res.Memory.IdleStreams != 20 {
		t.Errorf("memory: %+v", res.Memory)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("stderr line %q lacks the prefix %q", line, prefix)
		}
	}
}

func TestBenchTable(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "bench", "--embedded", "--talks", "1", "--senders", "2",
		"--messages", "10", "--rates", "20", "--rate-duration", "200ms", "--idle-streams", "-1")
	if code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, stderr)
	}
	for _, want := range []string{"throughput", "offered 20/s", "peak memory"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "embedded"},
		{[]string{"bench", "--embedded", "--url", "http://127.0.0.1:1"}, "embedded"},
		{[]string{"bench", "--embedded", "--talks", "0"}, "--talks"},
		{[]string{"bench", "--embedded", "--nodes", "2"}, "PostgreSQL"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, prefix+"error: ") {
			t.Errorf("%v: exit code %d, stderr:\n%s\nwant code 2 and an error naming %q", tt.args, code, stderr, tt.want)
		}
	}
}
