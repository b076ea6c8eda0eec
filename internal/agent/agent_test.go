package agent

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a clock the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// start runs an agent on a socket in a fresh directory, with a clock and ticks the test drives.
func start(t *testing.T, idle time.Duration) (path string, clk *clock, tick chan time.Time, done chan error) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "agent.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	clk = &clock{now: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	tick = make(chan time.Time)
	done = make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- Serve(ctx, ln, Config{Idle: idle, Now: clk.Now, Tick: tick}) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return path, clk, tick, done
}

func TestPutGetExpireLock(t *testing.T) {
	path, clk, tick, done := start(t, time.Hour)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("secret:k", []byte("plain"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("token:t", []byte("tok"), clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key  string
		want string
	}{{"secret:k", "plain"}, {"token:t", "tok"}, {"absent", ""}} {
		v, _, ok, err := c.Get(tt.key)
		if err != nil || ok != (tt.want != "") || string(v) != tt.want {
			t.Errorf("Get(%q) = %q, %v, %v; want %q", tt.key, v, ok, err, tt.want)
		}
	}
	clk.add(time.Minute)
	if _, _, ok, _ := c.Get("token:t"); ok {
		t.Error("an expired token is still given")
	}
	tick <- clk.Now() // the agent drops what expired, and is not idle
	if _, _, ok, _ := c.Get("secret:k"); !ok {
		t.Error("a tick forgot a value that does not expire")
	}
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Lock: %v", err)
	}
	done <- nil
	if _, err := Dial(path); err == nil {
		t.Error("the agent still answers after Lock")
	}
}

// The agent exits when Idle passes without a request, and a request in between postpones it.
func TestIdleAgentExits(t *testing.T) {
	path, clk, tick, done := start(t, 10*time.Minute)
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	clk.add(9 * time.Minute)
	tick <- clk.Now()
	if err := c.Put("secret:k", []byte("v"), time.Time{}); err != nil {
		t.Fatalf("after 9 idle minutes of 10: %v", err)
	}
	clk.add(9 * time.Minute)
	tick <- clk.Now()
	if _, _, ok, err := c.Get("secret:k"); err != nil || !ok {
		t.Fatalf("9 minutes after the last request: %v, %v", ok, err)
	}
	clk.add(10 * time.Minute)
	tick <- clk.Now()
	if err := <-done; err != nil {
		t.Fatalf("Serve after idling: %v", err)
	}
	done <- nil
	if _, err := Dial(path); err == nil {
		t.Error("an idle agent still answers")
	}
}

func TestMalformedRequestsAreRefused(t *testing.T) {
	path, _, _, _ := start(t, time.Hour)
	for _, tt := range []struct{ line, want string }{
		{"not json\n", "malformed request"},
		{`{"op":"fly"}` + "\n", `unknown op`},
		{`{"op":"put"}` + "\n", "put needs a key"},
	} {
		conn, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(tt.line))
		buf := make([]byte, 4096)
		n, _ := conn.Read(buf)
		conn.Close()
		if !bytes.Contains(buf[:n], []byte(tt.want)) {
			t.Errorf("%q answered %q, want it to say %q", tt.line, buf[:n], tt.want)
		}
	}
	if _, err := Dial(path); err != nil {
		t.Errorf("the agent stopped after malformed requests: %v", err)
	}
}

func TestListenRefusesARunningAgentAndReplacesAStaleSocket(t *testing.T) {
	path, _, _, _ := start(t, time.Hour)
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "already answers") {
		t.Errorf("Listen on a running agent's socket: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "agent.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(stale)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new socket has mode %v, want a socket 0600", fi.Mode())
	}
}

func TestSocketPath(t *testing.T) {
	short := t.TempDir()
	p, err := SocketPath(short)
	if err != nil || p != filepath.Join(short, "agent.sock") {
		t.Errorf("SocketPath(%q) = %q, %v", short, p, err)
	}
	long := filepath.Join(short, strings.Repeat("k", 120))
	p, err = SocketPath(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) > maxSocketPath || strings.HasPrefix(p, long) {
		t.Errorf("SocketPath of a long keystore path = %q", p)
	}
	fi, err := os.Stat(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket's directory has mode %v", fi.Mode())
	}
	if q, _ := SocketPath(long + "2"); q == p {
		t.Error("two keystores share one agent socket")
	}
}

// A client that connects and never asks anything does not keep the agent, or its keys, alive
// past Lock.
func TestASilentClientDoesNotKeepTheAgentAlive(t *testing.T) {
	path, _, _, done := start(t, time.Hour)
	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, err := Dial(path) // after the silent one, so the agent has accepted it
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Lock: %v", err)
		}
		done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("a silent connection kept the agent from stopping")
	}
}

// A lock is answered before the agent stops: stopping closes every connection, and the caller of
// a lock that was carried out must not be told that no agent was running. Each agent here is
// locked once, right after its first request.
func TestLockIsAnsweredBeforeTheAgentStops(t *testing.T) {
	for i := range 200 {
		path, _, _, done := start(t, time.Hour)
		c, err := Dial(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Lock(); err != nil {
			t.Fatalf("lock %d: %v", i, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
		done <- nil // for the cleanup, which waits on it too
	}
}
