// Package witnesstest runs litewitness (filippo.io/torchwood v0.6.1, a C2SP tlog-witness we
// did not write, a tool of this module) for tests: built with the go command, keyed through an
// ssh-agent in the test process, and configured to cosign the logs it is given.
package witnesstest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/backchannel/backchannel/record"
)

// Name is the key name of the litewitness StartLitewitness runs.
const Name = "witness.example/lw"

// StartLitewitness runs litewitness until the test ends, cosigning the logs given (origin to
// the log's verifier key), and returns its URL and its cosignature verifier key.
func StartLitewitness(t testing.TB, logs map[string]string) (url, key string) {
	t.Helper()
	dir := t.TempDir()
	bin := func(name string) string {
		path := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", path, "filippo.io/torchwood/cmd/"+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
		return path
	}
	litewitness, witnessctl := bin("litewitness"), bin("witnessctl")

	// litewitness takes its key from an ssh-agent: one in this process, holding one key.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(keyring, c) }()
		}
	}()
	sshPub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}

	db := filepath.Join(dir, "litewitness.db")
	for origin, vkey := range logs {
		for _, args := range [][]string{
			{"add-log", "-db", db, "-origin", origin},
			{"add-key", "-db", db, "-origin", origin, "-key", vkey},
		} {
			if out, err := exec.Command(witnessctl, args...).CombinedOutput(); err != nil {
				t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
			}
		}
	}

	addr := freeAddr(t)
	lw := exec.Command(litewitness, "-name", Name, "-db", db, "-ssh-agent", sock,
		"-key", ssh.FingerprintSHA256(sshPub), "-listen", addr)
	logFile, err := os.Create(filepath.Join(dir, "litewitness.log"))
	if err != nil {
		t.Fatal(err)
	}
	lw.Stdout, lw.Stderr = logFile, logFile
	if err := lw.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- lw.Wait() }()
	t.Cleanup(func() {
		lw.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			lw.Process.Kill()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("litewitness log:\n%s", out)
		}
	})
	url = "http://" + addr
	waitFor(t, url, exited)
	key, err = record.CosignerVerifierKey(Name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return url, key
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor waits until the server at url answers, or its process exits.
func waitFor(t testing.TB, url string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("litewitness exited before it answered: %v", fmt.Errorf("exit: %w", err))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("litewitness did not answer at %s in 30s", url)
		}
	}
}
