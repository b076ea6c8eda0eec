// Package agent keeps a working session's unlocked keys and bearer tokens in memory, in a process
// of their owner's, so that the command line asks for a passphrase (and runs scrypt) once per
// session and reuses a valid token instead of logging in for every command. It is ssh-agent's
// idea: the keys on disk stay encrypted; the agent holds their plaintext only in memory, answers
// only its owner (on a Unix socket in a directory only its owner may enter, and, where the
// system tells, a peer of the same user id), forgets everything and exits after an idle time
// or on Lock, and never writes anything down.
//
// The protocol is one JSON object per line each way: a Request, then its Response.
package agent

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Request is one request to the agent.
type Request struct {
	// Op is "get", "put", "lock" (forget everything and exit) or "ping".
	Op string `json:"op"`
	// Key names the value for get and put.
	Key string `json:"key,omitempty"`
	// Value is the value to keep, for put.
	Value []byte `json:"value,omitempty"`
	// Expires, if set, is when a value put stops being given.
	Expires time.Time `json:"expires,omitzero"`
}

// Response is the agent's answer.
type Response struct {
	// Found says whether get found a value.
	Found   bool      `json:"found,omitempty"`
	Value   []byte    `json:"value,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Error says why the request was refused.
	Error string `json:"error,omitempty"`
}

// Config configures an agent.
type Config struct {
	// Idle is how long the agent waits without a request before it forgets everything and
	// exits. Default 15 minutes.
	Idle time.Duration
	// Now is the agent's clock. Default time.Now.
	Now func() time.Time
	// Tick, if set, is when the agent checks its idle time and expiries (tests drive it);
	// default every second.
	Tick <-chan time.Time
}

// DefaultIdle is how long an agent lives without a request, by default.
const DefaultIdle = 15 * time.Minute

// maxLine bounds one request: a key file or a token is a few kilobytes.
const maxLine = 1 << 20

type entry struct {
	value   []byte
	expires time.Time
}

// Serve answers requests on ln until Lock, ctx is done, or Idle passes without a request; then
// it wipes what it holds and returns. It closes ln.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick == nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		cfg.Tick = t.C
	}
	a := &agent{cfg: cfg, values: make(map[string]entry), last: cfg.Now(), stop: make(chan struct{}),
		conns: make(map[net.Conn]bool)}
	defer a.wipe()
	var conns sync.WaitGroup
	defer conns.Wait()
	// A client that connects and says nothing must not keep the agent, and the keys, alive.
	defer a.hangUp()
	go func() {
		select {
		case <-a.stop:
		case <-ctx.Done():
		}
		ln.Close()
	}()
	go func() {
		for {
			select {
			case <-a.stop:
				return
			case <-ctx.Done():
				return
			case <-cfg.Tick:
				if a.idle() {
					a.close()
					return
				}
			}
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			a.close()
			select {
			case <-a.stop:
				return nil
			default:
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Registered here, before its goroutine runs, so that hangUp cannot miss it.
		a.mu.Lock()
		a.conns[c] = true
		a.mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			a.serve(c)
		}()
	}
}

type agent struct {
	cfg    Config
	mu     sync.Mutex
	values map[string]entry
	conns  map[net.Conn]bool // open connections, closed when the agent stops
	last   time.Time
	stop   chan struct{}
	once   sync.Once
}

// hangUp closes every open connection.
func (a *agent) hangUp() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		c.Close()
	}
}

func (a *agent) close() { a.once.Do(func() { close(a.stop) }) }

// idle reports whether the agent has waited Idle without a request, and drops expired values.
func (a *agent) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	for k, e := range a.values {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			clear(e.value)
			delete(a.values, k)
		}
	}
	return now.Sub(a.last) >= a.cfg.Idle
}

// wipe overwrites every value held, so that no key outlives the agent in its memory.
func (a *agent) wipe() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.values {
		clear(e.value)
		delete(a.values, k)
	}
}

func (a *agent) serve(c net.Conn) {
	defer c.Close()
	defer func() {
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
	if err := checkPeer(c); err != nil {
		json.NewEncoder(c).Encode(Response{Error: err.Error()})
		return
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req Request
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = "malformed request: " + err.Error()
		} else {
			resp = a.do(req)
		}
		err := enc.Encode(resp)
		if req.Op == "lock" && resp.Error == "" {
			// Only once the answer is written: stopping closes every connection, this one too,
			// and a lock that closed first would leave its caller told no agent was running.
			a.close()
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *agent) do(req Request) Response {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	a.last = now
	switch req.Op {
	case "ping":
		return Response{}
	case "get":
		e, ok := a.values[req.Key]
		if !ok || (!e.expires.IsZero() && !now.Before(e.expires)) {
			return Response{}
		}
		return Response{Found: true, Value: e.value, Expires: e.expires}
	case "put":
		if req.Key == "" {
			return Response{Error: "put needs a key"}
		}
		if old, ok := a.values[req.Key]; ok {
			clear(old.value)
		}
		a.values[req.Key] = entry{value: req.Value, expires: req.Expires}
		return Response{}
	case "lock":
		for k, e := range a.values {
			clear(e.value)
			delete(a.values, k)
		}
		return Response{}
	default:
		return Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
}

// ErrNotRunning reports that no agent answers at the socket.
var ErrNotRunning = errors.New("no agent is running")

// Client talks to a running agent. Each call is one connection: the commands that use it are
// short-lived.
type Client struct{ path string }

// Dial returns a client of the agent at the socket path, or ErrNotRunning if none answers.
func Dial(path string) (*Client, error) {
	c := &Client{path: path}
	if _, err := c.call(Request{Op: "ping"}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) call(req Request) (Response, error) {
	conn, err := net.DialTimeout("unix", c.path, 2*time.Second)
	if err != nil {
		return Response{}, fmt.Errorf("%w at %s", ErrNotRunning, c.path)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("agent: %w", err)
	}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Response{}, fmt.Errorf("agent: %w", err)
		}
		return Response{}, fmt.Errorf("%w at %s: it closed the connection", ErrNotRunning, c.path)
	}
	var resp Response
	if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
		return Response{}, fmt.Errorf("agent: malformed answer: %w", err)
	}
	if resp.Error != "" {
		return resp, fmt.Errorf("agent: %s", resp.Error)
	}
	return resp, nil
}

// Get returns the value kept under key, and when it expires (zero: never).
func (c *Client) Get(key string) ([]byte, time.Time, bool, error) {
	r, err := c.call(Request{Op: "get", Key: key})
	return r.Value, r.Expires, r.Found, err
}

// Put keeps value under key until expires (zero: until the agent exits).
func (c *Client) Put(key string, value []byte, expires time.Time) error {
	_, err := c.call(Request{Op: "put", Key: key, Value: value, Expires: expires})
	return err
}

// Lock makes the agent forget everything and exit.
func (c *Client) Lock() error {
	_, err := c.call(Request{Op: "lock"})
	return err
}

// maxSocketPath keeps a socket's path within what every system takes (104 bytes on macOS and
// the BSDs, 108 on Linux).
const maxSocketPath = 100

// SocketPath returns where the agent of the keystore in dir listens: agent.sock in the keystore
// (a directory only its owner may enter), or, when that path is too long for a socket, a
// directory of the user's own under the system's temporary directory, named after the keystore.
func SocketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if p := filepath.Join(abs, "agent.sock"); len(p) <= maxSocketPath {
		return p, nil
	}
	own := filepath.Join(os.TempDir(), "backchannel-"+strconv.Itoa(os.Getuid()))
	if err := privateDir(own); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(own, hex.EncodeToString(sum[:8])+".sock"), nil
}

// privateDir creates dir 0700 if missing, and refuses one that another user owns or others may
// enter: the socket in it is how the keys are reached.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("agent: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 || !ownedByMe(fi) {
		return fmt.Errorf("agent: %s is not a directory private to this user (mode %v): remove it", dir, fi.Mode())
	}
	return nil
}

// Listen listens on the socket at path, replacing a stale socket left by an agent that died,
// and refusing to take over one that still answers.
func Listen(path string) (net.Listener, error) {
	if _, err := Dial(path); err == nil {
		return nil, fmt.Errorf("agent: an agent already answers at %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("agent: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	return ln, nil
}
