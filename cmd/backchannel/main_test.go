package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests that run the binary share one build of it, made on first use.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary returns the path of the backchannel binary built from this package.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "backchannel-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "backchannel")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process is a running backchannel serve.
type process struct {
	t   *testing.T
	cmd *exec.Cmd
	url string
	// metrics is the URL of its /metrics, when started with --metrics-addr.
	metrics string
	stderr  *syncBuffer
	done    chan struct{}
	err     error // the exit status, once done is closed
}

// syncBuffer is a bytes.Buffer safe to write from the process's output copier and read from
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// command returns the binary's command line args, with an environment of its own.
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	// Only what the test gives it: no BACKCHANNEL_* from the environment of the test run.
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	return cmd
}

// startServe starts backchannel serve with args and waits for the URL it listens on.
func startServe(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{t: t, stderr: new(syncBuffer), done: make(chan struct{})}
	p.cmd = command(t, append([]string{"serve"}, args...)...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "backchannel: metrics on "); ok {
				p.metrics = u // printed before the URL: read once the URL is
			}
			if u, ok := strings.CutPrefix(sc.Text(), "backchannel: listening on "); ok {
				urls <- u
			}
		}
		io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the server had a data race:\n%s", p.stderr)
		}
	})
	select {
	case p.url = <-urls:
		return p
	case <-p.done:
		t.Fatalf("backchannel serve exited before listening: %v\nstderr:\n%s", p.err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("backchannel serve did not print its URL within 20s\nstderr:\n%s", p.stderr)
	}
	return nil
}

// signal sends sig to the process.
func (p *process) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// kill kills the process at once (SIGKILL) and waits for it, if it still runs.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("backchannel serve still runs %v after it was told to stop\nstderr:\n%s", timeout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}
