package witness_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/internal/witness"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/record/recordtest"
)

const origin = "host.example/talks/us:muscat"

// host is a host's log key and one talks' log on it.
type host struct {
	t      *testing.T
	key    *record.LogKey
	vkey   string // the host's published log key
	log    *recordtest.MemLog
	name   string // the host's name, its log key's
	origin string
	salt   string // what tells this log's entries from another's of the same sizes
}

func newHost(t *testing.T, name, origin string) *host {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := record.NewLogKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := k.VerifierKey(name)
	if err != nil {
		t.Fatal(err)
	}
	log, err := recordtest.NewMemLog(k, origin)
	if err != nil {
		t.Fatal(err)
	}
	return &host{t: t, key: k, vkey: vkey, log: log, name: name, origin: origin}
}

// grow appends n entries and returns the new signed checkpoint.
func (h *host) grow(n int) (record.Checkpoint, []byte) {
	h.t.Helper()
	var es [][]byte
	for i := range n {
		es = append(es, fmt.Appendf(nil, "entry %d of %d%s", h.log.Size()+int64(i), h.log.Size()+int64(n), h.salt))
	}
	cp, err := h.log.Append(es...)
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := h.log.Checkpoint(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return cp, msg
}

// submit submits the log's latest checkpoint with a proof from old.
func (h *host) submit(url string, old int64) ([]byte, error) {
	h.t.Helper()
	msg, err := h.log.Checkpoint(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var proof tlog.TreeProof
	if old > 0 {
		p, err := record.ProveConsistency(old, h.log.Size(), h.log)
		if err != nil {
			h.t.Fatal(err)
		}
		proof = p
	}
	return record.SubmitCheckpoint(context.Background(), http.DefaultClient, url, old, proof, msg)
}

func newWitness(t *testing.T, path string, trust ...string) (*witness.Witness, string) {
	t.Helper()
	w, err := witness.Init(context.Background(), witness.Config{Path: path, Name: "witness.example/w1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range trust {
		if _, err := w.TrustHost(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(func() { srv.Close(); w.Close() })
	return w, srv.URL
}

// cosignedBy reports whether sigs are a valid cosignature of msg by the witness whose verifier
// key is wkey.
func cosignedBy(t *testing.T, wkey string, h *host, msg, sigs []byte) bool {
	t.Helper()
	v, err := record.NewCosignatureVerifier(wkey)
	if err != nil {
		t.Fatal(err)
	}
	lk, _ := h.key.VerifierKey(h.origin)
	lv, _ := note.NewVerifier(lk)
	n, err := note.Open(append(append([]byte{}, msg...), sigs...), note.VerifierList(lv, v))
	if err != nil {
		return false
	}
	for _, s := range n.Sigs {
		if s.Name == v.Name() && s.Hash == v.KeyHash() {
			return true
		}
	}
	return false
}

func status(err error) int {
	var we *record.WitnessError
	if errors.As(err, &we) {
		return we.Status
	}
	return 0
}

// The witness cosigns a log's checkpoints as it grows, each with a consistency proof from the
// last it cosigned, and answers each refusal as tlog-witness says.
func TestTheWitnessCosignsWhatExtendsWhatItCosigned(t *testing.T) {
	h := newHost(t, "host.example", origin)
	w, url := newWitness(t, filepath.Join(t.TempDir(), "witness.db"), h.vkey)
	conformance(t, url, w.VerifierKey(), h, nil)
	if cp, ok, err := w.Latest(context.Background(), origin); err != nil || !ok || cp.Size != 12 {
		t.Errorf("after the refusals the witness holds %v, %v, %v; want size 12", cp, ok, err)
	}
}

// conformance plays one log's life against the witness at url, whose cosignature verifier key
// is wkey and which cosigns h's log (and no log of other.example): every request answered as
// C2SP tlog-witness says, but for the statuses deviations gives another (by case: "unknown
// log", "same-size fork"), each a refusal all the same.
func conformance(t *testing.T, url, wkey string, h *host, deviations map[string]int) {
	t.Helper()
	want := func(name string, status int) int {
		if s, ok := deviations[name]; ok {
			return s
		}
		return status
	}
	_, msg := h.grow(5)
	sigs, err := h.submit(url, 0)
	if err != nil || !cosignedBy(t, wkey, h, msg, sigs) {
		t.Fatalf("the first checkpoint: %q, %v", sigs, err)
	}
	_, msg = h.grow(7)
	sigs, err = h.submit(url, 5)
	if err != nil || !cosignedBy(t, wkey, h, msg, sigs) {
		t.Fatalf("the log grown to 12: %q, %v", sigs, err)
	}
	// The same checkpoint again is cosigned again.
	if _, err := h.submit(url, 12); err != nil {
		t.Fatalf("the same checkpoint again: %v", err)
	}

	// A stale old size is told the witness's size.
	_, err = h.submit(url, 5)
	var we *record.WitnessError
	if !errors.As(err, &we) || !we.Stale || we.Size != 12 || we.Status != http.StatusConflict {
		t.Fatalf("a stale old size: %v, want 409 with size 12", err)
	}

	// Another host's log, and this host's log signed by another key.
	other := newHost(t, "other.example", "other.example/talks/a:b")
	other.grow(1)
	if _, err := other.submit(url, 0); status(err) != want("unknown log", http.StatusNotFound) {
		t.Errorf("a log of a host not trusted: %v, want %d", err, want("unknown log", http.StatusNotFound))
	}
	impostor := newHost(t, h.name, h.origin)
	impostor.grow(20)
	if _, err := impostor.submit(url, 12); status(err) != http.StatusForbidden {
		t.Errorf("a checkpoint signed by another key: %v, want 403", err)
	}

	// A fork: the same origin, the same key, another history.
	fork := &host{t: t, key: h.key, vkey: h.vkey, origin: h.origin, name: h.name}
	if fork.log, err = recordtest.NewMemLog(h.key, h.origin); err != nil {
		t.Fatal(err)
	}
	fork.grow(3)
	fork.grow(9)
	if _, err := fork.submit(url, 12); status(err) != want("same-size fork", http.StatusConflict) {
		t.Errorf("a forked checkpoint of the same size: %v, want %d", err, want("same-size fork", http.StatusConflict))
	}
	fork.grow(4)
	if _, err := fork.submit(url, 12); status(err) != http.StatusUnprocessableEntity {
		t.Errorf("a forked checkpoint with its own proof: %v, want 422", err)
	}
	if _, err := record.SubmitCheckpoint(context.Background(), http.DefaultClient, url, 13, nil, msg); status(err) != http.StatusBadRequest {
		t.Errorf("an old size above the checkpoint's: %v, want 400", err)
	}
	// Still at 12: the refusals changed nothing.
	_, err = h.submit(url, 0)
	if !errors.As(err, &we) || !we.Stale || we.Size != 12 {
		t.Errorf("after the refusals: %v, want the witness still at size 12", err)
	}
}

// What the witness cosigned survives a restart: a reopened witness refuses to cosign a history
// inconsistent with it, and a second Init keeps the key it has.
func TestTheWitnessRemembersAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "witness.db")
	h := newHost(t, "host.example", origin)
	w, err := witness.Init(context.Background(), witness.Config{Path: path, Name: "witness.example/w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.TrustHost(context.Background(), h.vkey); err != nil {
		t.Fatal(err)
	}
	key := w.VerifierKey()
	srv := httptest.NewServer(w.Handler())
	h.grow(10)
	if _, err := h.submit(srv.URL, 0); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	w.Close()

	if _, err := witness.Init(context.Background(), witness.Config{Path: path, Name: "witness.example/w2"}); err == nil {
		t.Fatal("a second Init replaced the witness's key")
	}
	w, err = witness.Open(context.Background(), witness.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.VerifierKey() != key {
		t.Fatalf("the key changed across a restart: %s, was %s", w.VerifierKey(), key)
	}
	srv = httptest.NewServer(w.Handler())
	defer srv.Close()
	if _, err := h.submit(srv.URL, 0); status(err) != http.StatusConflict {
		t.Errorf("a fresh start after a restart: %v, want 409", err)
	}
	fork, err := recordtest.NewMemLog(h.key, origin)
	if err != nil {
		t.Fatal(err)
	}
	h.log, h.salt = fork, " (another history)"
	h.grow(10)
	if _, err := h.submit(srv.URL, 10); status(err) != http.StatusConflict {
		t.Errorf("another history of size 10 after a restart: %v, want 409", err)
	}
}

// Submissions racing from the same old size: exactly one is cosigned; the others are told the
// size it moved to. The check and the update are one step.
func TestConcurrentSubmissionsMoveTheWitnessOnce(t *testing.T) {
	h := newHost(t, "host.example", origin)
	_, url := newWitness(t, filepath.Join(t.TempDir(), "witness.db"), h.vkey)
	h.grow(4)
	if _, err := h.submit(url, 0); err != nil {
		t.Fatal(err)
	}
	h.grow(6)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.submit(url, 4)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	var ok, stale int
	for err := range errs {
		var we *record.WitnessError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &we) && we.Stale && we.Size == 10:
			stale++
		default:
			t.Errorf("a racing submission: %v", err)
		}
	}
	if ok != 1 || stale != n-1 {
		t.Errorf("%d cosigned and %d told the new size, want 1 and %d", ok, stale, n-1)
	}
}

// A host is trusted under one key: another key for the same host is refused.
func TestAHostIsTrustedUnderOneKey(t *testing.T) {
	h, impostor := newHost(t, "host.example", origin), newHost(t, "host.example", origin)
	w, _ := newWitness(t, filepath.Join(t.TempDir(), "witness.db"), h.vkey)
	if _, err := w.TrustHost(context.Background(), h.vkey); err != nil {
		t.Errorf("trusting the same key again: %v", err)
	}
	if _, err := w.TrustHost(context.Background(), impostor.vkey); err == nil {
		t.Error("another key for a trusted host was taken")
	}
	if _, err := w.TrustHost(context.Background(), "not a key"); err == nil {
		t.Error("a malformed key was taken")
	}
}

// FuzzAddCheckpoint feeds add-checkpoint requests, which anyone may send: whatever the body,
// the witness answers a cosignature or an *Error with a status, and cosigns only a checkpoint
// of a log it trusts that extends what it cosigned. Every input reaches the database: fuzz
// budget: 20000x.
func FuzzAddCheckpoint(f *testing.F) {
	ctx := context.Background()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := record.NewLogKey(priv)
	vkey, _ := k.VerifierKey("host.example")
	log, err := recordtest.NewMemLog(k, origin)
	if err != nil {
		f.Fatal(err)
	}
	w, err := witness.Init(ctx, witness.Config{Path: filepath.Join(f.TempDir(), "witness.db"), Name: "witness.example/w1"})
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	if _, err := w.TrustHost(ctx, vkey); err != nil {
		f.Fatal(err)
	}
	log.Append([]byte("a"), []byte("b"), []byte("c"))
	first, _ := log.Checkpoint(ctx)
	f.Add(append([]byte("old 0\n\n"), first...))
	if _, err := w.AddCheckpoint(ctx, append([]byte("old 0\n\n"), first...)); err != nil {
		f.Fatal(err)
	}
	log.Append([]byte("d"), []byte("e"))
	next, _ := log.Checkpoint(ctx)
	proof, _ := record.ProveConsistency(3, 5, log)
	body := []byte("old 3\n")
	for _, h := range proof {
		body = fmt.Appendf(body, "%s\n", h)
	}
	f.Add(append(append(body, '\n'), next...))
	f.Add([]byte("old 18446744073709551616\n\nhost.example/talks/us:muscat\n1\nAAAA\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		before, _, _ := w.Latest(ctx, origin)
		sigs, err := w.AddCheckpoint(ctx, b)
		if err != nil {
			var we *witness.Error
			if !errors.As(err, &we) || we.Status < 400 || we.Status > 499 {
				t.Fatalf("a refusal without a 4xx status: %v", err)
			}
			return
		}
		after, _, _ := w.Latest(ctx, origin)
		if len(sigs) == 0 || after.Size < before.Size {
			t.Fatalf("cosigned %q, and moved from %d to %d", sigs, before.Size, after.Size)
		}
	})
}
