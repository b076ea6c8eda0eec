package witness_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
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

// The same life of a log, played against litewitness (filippo.io/torchwood v0.6.1, a witness we
// did not write, built from the module this one requires as a tool), is answered as our witness
// answers it, but for two statuses of an older revision of the spec, and litewitness's
// cosignatures verify with our cosignature verifier: the host's side of tlog-witness (Submit)
// and the record's cosignatures interoperate with the standard.
func TestLitewitnessAnswersAsOurWitnessDoes(t *testing.T) {
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
	defer ln.Close()
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

	h := newHost(t, "host.example", origin)
	db := filepath.Join(dir, "litewitness.db")
	originKey, err := h.key.VerifierKey(h.origin)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"add-log", "-db", db, "-origin", h.origin},
		{"add-key", "-db", db, "-origin", h.origin, "-key", originKey},
	} {
		if out, err := exec.Command(witnessctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
		}
	}

	addr := freeAddr(t)
	const name = "witness.example/lw"
	lw := exec.Command(litewitness, "-name", name, "-db", db, "-ssh-agent", sock,
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
	defer func() {
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
	}()
	url := "http://" + addr
	waitFor(t, url, exited)

	wkey, err := record.CosignerVerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	// litewitness v0.6.1 predates two statuses of the current spec: it answers an unknown log
	// 403 (now 404) and a checkpoint of the witnessed size with another root 422 (now 409).
	// Both are refusals; the submitter handles them alike.
	conformance(t, url, wkey, h, map[string]int{"unknown log": http.StatusForbidden, "same-size fork": http.StatusUnprocessableEntity})
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor waits until the server at url answers, or its process exits.
func waitFor(t *testing.T, url string, exited <-chan error) {
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
			t.Fatalf("litewitness exited before it answered: %v", errors.Join(err, fmt.Errorf("see its log")))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("litewitness did not answer at %s in 30s", url)
		}
	}
}
