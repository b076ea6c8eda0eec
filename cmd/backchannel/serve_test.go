package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/backchannel/backchannel/web"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backchannel/backchannel/api"
)

func TestServeStartsAndStops(t *testing.T) {
	data := filepath.Join(t.TempDir(), "not", "yet")
	p := startServe(t, "--addr", "127.0.0.1:0", "--data", data, "--metrics-addr", "127.0.0.1:0")

	// The metrics are the operators': on their own listener, never on the API's.
	for url, want := range map[string]int{p.metrics: http.StatusOK, p.url + "/metrics": http.StatusNotFound} {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || (want == http.StatusOK && !bytes.Contains(body, []byte("backchannel_open_streams"))) {
			t.Errorf("GET %s: %s, want %d: %.200s", url, res.Status, want, body)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/v1/log-key"} {
		res, err := http.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s: %s", path, res.Status, body)
		}
		if path == "/v1/log-key" {
			var k api.LogKey
			if err := json.Unmarshal(body, &k); err != nil {
				t.Fatalf("GET /v1/log-key: %v: %s", err, body)
			}
			// The host defaults to the address listened on, the real port when given port 0.
			if want := strings.TrimPrefix(p.url, "http://"); k.Host != want {
				t.Errorf("GET /v1/log-key: host %q, want %q", k.Host, want)
			}
			if !strings.Contains(p.stderr.String(), k.Verifier) {
				t.Errorf("the start-up log does not name the log key %s:\n%s", k.Verifier, p.stderr)
			}
		}
	}
	// The web client is served at / beside the API, under its policy.
	res, err := http.Get(p.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`<script src="/app.js"`)) || res.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Errorf("GET /: %s, policy %q: %.200s", res.Status, res.Header.Get("Content-Security-Policy"), page)
	}
	if _, err := os.Stat(filepath.Join(data, dbFile)); err != nil {
		t.Errorf("the store is not in --data: %v", err)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr)
	}
	if strings.Contains(p.stderr.String(), "goroutine ") {
		t.Errorf("stderr holds a stack trace:\n%s", p.stderr)
	}
}

// runCLI runs the command line in-process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli(ctx, args, environ, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestServeBadFlags(t *testing.T) {
	data := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		env     []string
		args    []string
		code    int
		message string // in the error line
		hint    string // in the hint line; "" for no hint expected
	}{
		{name: "unknown flag", args: []string{"serve", "--no-such-flag"}, code: 2,
			message: "unknown flag: --no-such-flag", hint: "backchannel serve --help"},
		{name: "unknown command", args: []string{"serv"}, code: 2,
			message: `unknown command "serv"`, hint: "'serve'"},
		{name: "argument", args: []string{"serve", "now"}, code: 2, message: `unknown command "now"`},
		{name: "bad value", args: []string{"serve", "--max-body", "lots"}, code: 2, message: `"lots" is not a size`},
		{name: "bad environment", env: []string{"BACKCHANNEL_BURST=many"}, args: []string{"serve"}, code: 2,
			message: `BACKCHANNEL_BURST="many" is not a valid --burst`},
		{name: "environment", env: []string{"BACKCHANNEL_LOG_FORMAT=xml"}, args: []string{"serve", "--data", data}, code: 2,
			message: `--log-format "xml"`},
		{name: "flag wins", env: []string{"BACKCHANNEL_LOG_FORMAT=json"}, args: []string{"serve", "--data", data, "--log-format", "yaml"}, code: 2,
			message: `--log-format "yaml"`},
		{name: "unknown store", args: []string{"serve", "--data", data, "--store", "mysql://db"}, code: 2,
			message: `store "mysql://db"`},
		{name: "bad host", args: []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--host", "Talks.Example.org"}, code: 2,
			message: `--host "Talks.Example.org"`},
		{name: "address in use", args: []string{"serve", "--data", data, "--addr", busy.Addr().String()}, code: 1,
			message: "address already in use", hint: "choose another address with --addr"},
		{name: "postgres unreachable", args: []string{"serve", "--addr", "127.0.0.1:0", "--store", "postgres://backchannel:secret@127.0.0.1:1/backchannel?connect_timeout=5"}, code: 1,
			message: "postgres", hint: "check that PostgreSQL is running at postgres://backchannel:xxxxx@127.0.0.1:1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"HOME=" + data}, tt.env...), tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stdout != "" {
				t.Errorf("stdout: %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if !strings.HasPrefix(lines[0], "backchannel: error: ") || !strings.Contains(lines[0], tt.message) {
				t.Errorf("stderr starts %q, want backchannel: error: ...%s...", lines[0], tt.message)
			}
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "backchannel: error: ") && !strings.HasPrefix(l, "backchannel: hint: ") {
					t.Errorf("stderr line %q is not an error or hint", l)
				}
			}
			if tt.hint != "" && !strings.Contains(stderr, "\nbackchannel: hint: ") {
				t.Errorf("stderr has no hint:\n%s", stderr)
			} else if !strings.Contains(stderr, tt.hint) {
				t.Errorf("stderr does not say %q:\n%s", tt.hint, stderr)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr shows the database password:\n%s", stderr)
			}
		})
	}
}

// A bad flag given to the binary exits with code 2 and an error line, never cobra's usage.
func TestServeBadFlagsBinary(t *testing.T) {
	cmd := command(t, "serve", "--no-such-flag")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d (%v), want 2:\n%s", code, err, out)
	}
	want := "backchannel: error: unknown flag: --no-such-flag\nbackchannel: hint: run 'backchannel serve --help' for usage\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4194304": 4 << 20, "4MiB": 4 << 20, "512 KiB": 512 << 10, "1GiB": 1 << 30, "10B": 10} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "4MB", "-1", "1.5MiB", "MiB", "99999999999GiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
	if s := byteSize(4 << 20); s.String() != "4MiB" {
		t.Errorf("String() = %q, want 4MiB", s.String())
	}
}

func TestDataDir(t *testing.T) {
	tests := []struct {
		flag string
		vars map[string]string
		want string
	}{
		{flag: "/d", vars: map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, want: "/d"},
		{vars: map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, want: "/x/backchannel"},
		// The XDG spec says to ignore a relative XDG_DATA_HOME.
		{vars: map[string]string{"XDG_DATA_HOME": "x", "HOME": "/h"}, want: "/h/.local/share/backchannel"},
		{vars: map[string]string{"HOME": "/h"}, want: "/h/.local/share/backchannel"},
	}
	for _, tt := range tests {
		cfg := serveConfig{Data: tt.flag}
		got, err := cfg.dataDir(&env{vars: tt.vars})
		if err != nil || got != tt.want {
			t.Errorf("dataDir(--data %q, %v) = %q, %v; want %q", tt.flag, tt.vars, got, err, tt.want)
		}
	}
	if _, err := (&serveConfig{}).dataDir(&env{}); err == nil {
		t.Error("dataDir with no HOME: no error")
	}
}
