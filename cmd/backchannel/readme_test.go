package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMETour runs the README's tour (the block fenced as ```sh tour) with bash, command by
// command as written, against the built binary, so the README cannot rot. Two things change: the
// server's address, 127.0.0.1:8080 in the README, becomes a free port, and the test waits for
// the server the tour starts in the background to answer. Every command must succeed, and
// every output line the README shows under a command must be in what it printed, with any
// word holding a digit (a fingerprint, a hash, a time) matching any word.
func TestREADMETour(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run the tour with")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := tourSteps(t, string(readme))
	bin := binary(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")

	// The script prints a marker before each command, so that each command's output can be
	// told apart, and stops at the first command that fails (set -e).
	var sh strings.Builder
	sh.WriteString("set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n")
	for i, s := range steps {
		cmd := strings.ReplaceAll(s.command, "127.0.0.1:8080", addr)
		fmt.Fprintf(&sh, "printf '\\n@@@ %d\\n'\n", i)
		if bg, ok := strings.CutSuffix(strings.TrimSpace(cmd), "&"); ok {
			fmt.Fprintf(&sh, "%s > background-%d.log 2>&1 &\n", bg, i)
			// Wait for whatever the command listens on, if it is the tour's server.
			fmt.Fprintf(&sh, "for i in $(seq 200); do (exec 3<>/dev/tcp/%s/%s) 2>/dev/null && break; sleep 0.05; done\n", host, port)
			continue
		}
		fmt.Fprintf(&sh, "{ %s\n} 2>&1\n", cmd)
	}
	fmt.Fprintf(&sh, "printf '\\n@@@ end\\n'\n")

	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", sh.String())
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + dir,
		workFactorEnv + "=10",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the tour did not finish in 2 minutes:\n%s", out.String())
	}
	outputs := splitMarkers(out.String())
	if err != nil {
		last := len(outputs) - 1
		if last >= 0 && last < len(steps) {
			t.Fatalf("the tour stopped at\n  $ %s\nwith %v:\n%s", steps[last].command, err, outputs[last])
		}
		t.Fatalf("the tour failed: %v\n%s", err, out.String())
	}
	if len(outputs) != len(steps)+1 {
		t.Fatalf("ran %d of %d commands:\n%s", len(outputs)-1, len(steps), out.String())
	}
	for i, s := range steps {
		got := strings.Split(strings.ReplaceAll(outputs[i], addr, "127.0.0.1:8080"), "\n")
		for _, want := range s.output {
			re := outputPattern(want)
			found := false
			for _, g := range got {
				if re.MatchString(strings.TrimRight(g, " ")) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("README shows, after\n  $ %s\nthe line\n  %s\nbut the command printed:\n%s", s.command, want, outputs[i])
			}
		}
	}
}

// tourStep is one command of the tour and the output lines the README shows under it.
type tourStep struct {
	command string
	output  []string
}

// tourSteps extracts the commands ("$ " lines) of the ```sh tour block and the lines shown
// under each; lines starting with # are comments.
func tourSteps(t *testing.T, readme string) []tourStep {
	_, rest, ok := strings.Cut(readme, "```sh tour\n")
	if !ok {
		t.Fatal("README.md has no ```sh tour block")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("the README's tour block is not closed")
	}
	var steps []tourStep
	for _, line := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(line, "$ "):
			steps = append(steps, tourStep{command: strings.TrimPrefix(line, "$ ")})
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, "#"):
		case len(steps) == 0:
			t.Fatalf("the tour shows output before any command: %q", line)
		default:
			steps[len(steps)-1].output = append(steps[len(steps)-1].output, line)
		}
	}
	if len(steps) == 0 {
		t.Fatal("the README's tour has no commands")
	}
	return steps
}

// splitMarkers splits the script's output at the markers printed before each command.
func splitMarkers(out string) []string {
	var parts []string
	for _, chunk := range strings.Split(out, "\n@@@ ")[1:] {
		_, body, _ := strings.Cut(chunk, "\n")
		parts = append(parts, body)
	}
	return parts
}

// outputPattern matches a shown output line: its words in order, any word with a digit in it
// standing for any word, any run of spaces for any run of spaces.
func outputPattern(line string) *regexp.Regexp {
	var parts []string
	for _, w := range strings.Fields(line) {
		if strings.ContainsAny(w, "0123456789") && !strings.Contains(w, "127.0.0.1:8080") {
			parts = append(parts, `\S+`)
		} else {
			parts = append(parts, regexp.QuoteMeta(w))
		}
	}
	return regexp.MustCompile(`^\s*` + strings.Join(parts, `\s+`) + `$`)
}
