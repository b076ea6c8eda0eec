package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The crash test: start the binary, submit envelopes from several principals at once, kill -9
// it at a random moment, start it again on the same data, and check the record. Every
// envelope the server acknowledged (201) must be on the record exactly once, where the server
// said; what it did not acknowledge may or may not be there, but whole or not at all: the
// events are numbered without a gap, each hash is on the record once, and the latest signed
// checkpoint covers exactly the events, with the Merkle root that they hash to.

const (
	crashTalks   = "a:crash"
	crashHost    = "crash.backchannel.test"
	crashSenders = 8
)

func TestCrashKeepsEveryAcknowledgedEnvelope(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the server several times")
	}
	iterations := 3
	if s := os.Getenv("BACKCHANNEL_CRASH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("BACKCHANNEL_CRASH_ITERATIONS=%q: want a positive number", s)
		}
		iterations = n
	}
	t.Run("sqlite", func(t *testing.T) { crash(t, iterations, nil) })
	t.Run("postgres", func(t *testing.T) { crash(t, iterations, []string{"--store", newDatabase(t)}) })
}

// crash runs the crash test with the server's store given by args (none: SQLite in --data).
func crash(t *testing.T, iterations int, args []string) {
	w := newCrashWorld(t)
	w.args = args
	for i := range iterations {
		p := w.start()
		if i == 0 {
			w.setup()
		} else {
			w.check(fmt.Sprintf("after crash %d", i))
		}
		w.load(p, i+1)
	}
	p := w.start()
	w.check(fmt.Sprintf("after crash %d", iterations))
	t.Logf("%d envelopes acknowledged over %d runs", w.total, iterations)

	// An open event stream does not hold up a graceful shutdown: it ends when shutdown
	// begins, well within the shutdown timeout (10s).
	// Its reader reads on, as a client does, while the server stops.
	stream := w.openStream()
	defer stream.Close()
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream)
		read <- err
	}()
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr)
	}
	if err := <-read; err != nil {
		t.Errorf("the event stream did not end cleanly: %v", err)
	}
	t.Logf("stopped in %v with an event stream open", time.Since(start).Round(time.Millisecond))
}

// openStream opens the talks' event stream and reads its first event.
func (w *crashWorld) openStream() io.ReadCloser {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.url+"/v1/talks/"+crashTalks+"/events/stream?from=0", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.senders[0].token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		w.t.Fatalf("event stream: %s (%s): %s", res.Status, ct, b)
	}
	line := make([]byte, len("id: 0\n"))
	if _, err := io.ReadFull(res.Body, line); err != nil || string(line) != "id: 0\n" {
		res.Body.Close()
		w.t.Fatalf("event stream starts %q, %v", line, err)
	}
	return res.Body
}

// crashWorld is the data directory that outlives each process, the organisations and
// principals, and what the server acknowledged.
type crashWorld struct {
	t    *testing.T
	data string
	args []string // more flags for serve: the store
	url  string
	// metrics is the URL of the server's /metrics.
	metrics string
	http    *http.Client
	roots   map[string]*seal.Root
	// senders are the principals of organisation "a" that submit envelopes; senders[0] heads
	// the delegation. other is organisation "b"'s head, the other party.
	senders []*principal
	other   *principal

	// logKey is the host's log key verifier, which must survive every crash.
	logKey string

	// total counts the envelopes acknowledged over every run.
	total int64

	mu sync.Mutex
	// acked maps the hash of every event the server acknowledged to the index it gave.
	acked map[string]int64
	// sent holds the hash of every envelope submitted, acknowledged or not.
	sent map[string]bool
}

// principal is an identity with its credential, and its token for the running process.
type principal struct {
	id    *seal.Identity
	token string
	seq   uint64
}

// caucus is every reader of organisation a's caucus: its senders.
func (w *crashWorld) caucus() []*seal.Credential {
	var to []*seal.Credential
	for _, p := range w.senders {
		to = append(to, p.id.Credential())
	}
	return to
}

// nextNote seals p's next note to its delegation's caucus, addressed to every reader of it (to),
// and returns its bytes and their hash (hex), as the server names the envelope.
func (p *principal) nextNote(to []*seal.Credential) ([]byte, string, error) {
	p.seq++
	env, err := p.id.Seal(rand.Reader, seal.Context{
		Talks: crashTalks, Room: talks.RoomCaucus("a"), Kind: backchannel.KindNote,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: p.seq,
	}, []byte("note "+strconv.FormatUint(p.seq, 10)), to)
	if err != nil {
		return nil, "", err
	}
	data := env.Marshal()
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

func (p *principal) actor() talks.Actor {
	c := p.id.Credential()
	return talks.Actor{Principal: c.Handle(), Org: c.Org, Rank: c.Rank, Title: c.Title}
}

func newCrashWorld(t *testing.T) *crashWorld {
	w := &crashWorld{
		t:     t,
		data:  t.TempDir(),
		http:  &http.Client{Timeout: 10 * time.Second},
		roots: make(map[string]*seal.Root),
		acked: make(map[string]int64),
		sent:  make(map[string]bool),
	}
	for _, org := range []string{"a", "b"} {
		r, err := seal.NewRoot(rand.Reader, org)
		if err != nil {
			t.Fatal(err)
		}
		w.roots[org] = r
	}
	for i := range crashSenders {
		w.senders = append(w.senders, w.identity("a", fmt.Sprintf("p%d", i)))
	}
	w.other = w.identity("b", "head")
	return w
}

// identity makes a principal of org with a credential issued by its root.
func (w *crashWorld) identity(org, name string) *principal {
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c, err := w.roots[org].Issue(seal.Credential{
		Principal: name, Name: "Office " + name, Title: "Delegate", Rank: 3,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := id.SetCredential(c); err != nil {
		w.t.Fatal(err)
	}
	return &principal{id: id}
}

// start starts the server on the world's data and logs every principal in.
func (w *crashWorld) start() *process {
	p := startServe(w.t, append([]string{"--addr", "127.0.0.1:0", "--data", w.data, "--host", crashHost, "--metrics-addr", "127.0.0.1:0",
		"--rate", "1000000", "--burst", "1000000", "--log-level", "warn"}, w.args...)...)
	w.url, w.metrics = p.url, p.metrics
	return p
}

// setup registers the organisations and credentials, founds the talks with both parties, and
// adds every sender to organisation a's delegation.
func (w *crashWorld) setup() {
	for _, org := range []string{"a", "b"} {
		w.must(w.call("", http.MethodPost, "/v1/organisations",
			api.RegisterOrganisation{RootKey: w.roots[org].Public().Marshal(), Name: "Organisation " + org}, nil))
	}
	for _, p := range append([]*principal{w.other}, w.senders...) {
		w.must(w.call("", http.MethodPost, "/v1/credentials", api.PublishCredential{Credential: p.id.Credential().Marshal()}, nil))
	}
	w.login()

	head := w.senders[0]
	pin := func(org string) talks.Pin {
		fp := w.roots[org].Public().Fingerprint()
		return talks.Pin{Org: org, Fingerprint: hex.EncodeToString(fp[:])}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	charter := talks.Charter{
		ID: crashTalks, At: now, Proposer: head.actor(),
		Parties: []string{"a", "b"}, Roots: []talks.Pin{pin("a"), pin("b")},
		Visibility: talks.VisibilityConfidential, Format: talks.FormatDirect, Level: 1,
		Agenda: []string{"durability"},
	}
	founded := w.act(head, "", charter)
	w.acked[founded.Hash] = founded.Index
	w.submitAct(w.other, "acceptances", talks.AcceptCharter{At: now, By: w.other.actor()})
	for _, p := range w.senders[1:] {
		w.submitAct(head, "delegations", talks.AddMember{At: now, By: head.actor(), Member: talks.Member{Actor: p.actor()}})
	}
}

// submitAct signs e as p and submits it to the talks' operation op, expecting it accepted.
func (w *crashWorld) submitAct(p *principal, op string, e talks.Event) {
	w.t.Helper()
	a := w.act(p, op, e)
	w.acked[a.Hash] = a.Index
}

// act signs e as p and submits it: founding the talks if op is "", else to the operation op.
func (w *crashWorld) act(p *principal, op string, e talks.Event) api.Accepted {
	w.t.Helper()
	payload, err := talks.Marshal(e)
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := p.id.Act(crashTalks, e.Type(), payload, e.When())
	if err != nil {
		w.t.Fatal(err)
	}
	var out api.Accepted
	if op == "" {
		w.must(w.call(p.token, http.MethodPost, "/v1/talks", api.CreateTalks{Charter: a.Marshal()}, &out))
	} else {
		w.must(w.call(p.token, http.MethodPost, "/v1/talks/"+crashTalks+"/"+op, api.SubmitAct{Act: a.Marshal()}, &out))
	}
	if want := sha256.Sum256(a.Marshal()); out.Hash != hex.EncodeToString(want[:]) {
		w.t.Fatalf("%s accepted as %s, want hash %x", e.Type(), out.Hash, want)
	}
	return out
}

// login gets a token for every principal from the running process.
func (w *crashWorld) login() {
	w.t.Helper()
	for _, p := range append([]*principal{w.other}, w.senders...) {
		cred := p.id.Credential().ID().String()
		var ch api.Challenge
		w.must(w.call("", http.MethodPost, "/v1/auth/challenge", api.ChallengeRequest{Credential: cred}, &ch))
		if ch.Host != crashHost {
			w.t.Fatalf("login challenge for host %q, want %q", ch.Host, crashHost)
		}
		sig, err := p.id.SignLogin(ch.Host, ch.Challenge)
		if err != nil {
			w.t.Fatal(err)
		}
		var tok api.Token
		w.must(w.call("", http.MethodPost, "/v1/auth/token", api.TokenRequest{Credential: cred, Challenge: ch.Challenge, Signature: sig}, &tok))
		p.token = tok.Token
	}
}

// crashRunEnvelopes bounds the envelopes acknowledged in one run before the kill: a count, not a
// time, so that a slow machine (or the race detector) reaches the same size of log as a fast
// one. Three runs cross several 1,000-event pages of GET /events, which the check reads back.
const (
	crashRunMin  = 850
	crashRunSpan = 300
)

// load has every sender submit notes, one after the other, until the process is killed at a
// random count of acknowledgments between crashRunMin and crashRunMin+crashRunSpan, with the
// other senders' submissions in flight.
func (w *crashWorld) load(p *process, iteration int) {
	w.t.Helper()
	if iteration > 1 {
		w.login()
	}
	var killed atomic.Bool
	var acked, lost atomic.Int64
	target := int64(crashRunMin + mrand.IntN(crashRunSpan+1))
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for _, s := range w.senders {
		// Sequences only grow, across the crashes too: each run starts above the last.
		s.seq = uint64(iteration) << 32
		wg.Go(func() {
			w.send(s, &killed, &acked, &lost, func(n int64) {
				if n >= target {
					once.Do(func() { close(enough) })
				}
			})
		})
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-enough:
	case <-stopped:
		w.t.Fatalf("run %d: every sender stopped before %d envelopes were acknowledged", iteration, target)
	}
	w.checkCommitMetrics()
	killed.Store(true)
	p.kill()
	wg.Wait()
	w.t.Logf("run %d: killed after %d acknowledgments: %d envelopes acknowledged, %d in flight", iteration, target, acked.Load(), lost.Load())
	w.total += acked.Load()
}

// send submits notes from s until a submission fails, which must be because the process died.
// It calls ack with the count of acknowledgments so far after each one.
func (w *crashWorld) send(s *principal, killed *atomic.Bool, acked, lost *atomic.Int64, ack func(int64)) {
	for {
		data, h, err := s.nextNote(w.caucus())
		if err != nil {
			w.t.Error(err)
			return
		}
		w.mu.Lock()
		w.sent[h] = true
		w.mu.Unlock()
		var out api.Accepted
		status, body, err := w.do(s.token, http.MethodPost, "/v1/talks/"+crashTalks+"/envelopes", api.SubmitEnvelope{Envelope: data}, &out)
		if err != nil || status == 0 {
			if !killed.Load() {
				w.t.Errorf("envelope submitted before the crash: %v", err)
			}
			lost.Add(1)
			return
		}
		if status != http.StatusCreated {
			w.t.Errorf("envelope refused: %d %s", status, body)
			return
		}
		if out.Hash != h || out.Duplicate || out.Type != "envelope" {
			w.t.Errorf("envelope %s acknowledged as %+v", h, out)
			return
		}
		w.mu.Lock()
		w.acked[h] = out.Index
		w.mu.Unlock()
		ack(acked.Add(1))
	}
}

// check reads the whole record back from the running process and checks it against what was
// acknowledged and against the latest signed checkpoint.
func (w *crashWorld) check(when string) {
	t := w.t
	t.Helper()
	w.login()
	reader := w.senders[0]

	var events []api.Event
	var size int64
	for from := int64(0); ; {
		var page api.EventPage
		w.must(w.call(reader.token, http.MethodGet, fmt.Sprintf("/v1/talks/%s/events?from=%d&limit=1000", crashTalks, from), nil, &page))
		size = page.Size
		events = append(events, page.Events...)
		if len(page.Events) == 0 || page.Next >= page.Size {
			break
		}
		from = page.Next
	}
	if int64(len(events)) != size {
		t.Errorf("%s: %d events read, the log has %d", when, len(events), size)
	}

	// Numbered without a gap, each hash once and matching its bytes.
	at := make(map[string]int64, len(events))
	var hashes []tlog.Hash
	for i, e := range events {
		if e.Index != int64(i) {
			t.Fatalf("%s: event %d has index %d", when, i, e.Index)
		}
		sum := sha256.Sum256(e.Data)
		if hex.EncodeToString(sum[:]) != e.Hash {
			t.Errorf("%s: event %d: hash %s, its bytes hash to %x", when, i, e.Hash, sum)
		}
		if j, ok := at[e.Hash]; ok {
			t.Errorf("%s: events %d and %d are the same bytes, %s", when, j, i, e.Hash)
		}
		at[e.Hash] = e.Index
		if e.Type == "envelope" && !w.sent[e.Hash] {
			t.Errorf("%s: event %d is an envelope nobody sent, %s", when, i, e.Hash)
		}
		leaf := (&backchannel.Event{Type: e.Type, Data: e.Data}).Entry()
		hs, err := tlog.StoredHashes(int64(i), leaf, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for k, x := range idx {
				out[k] = hashes[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}

	// Every acknowledged event is there, where the server said.
	missing := 0
	for h, i := range w.acked {
		j, ok := at[h]
		switch {
		case !ok:
			missing++
			if missing <= 5 {
				t.Errorf("%s: acknowledged event %s (index %d) is not on the record", when, h, i)
			}
		case i != j:
			t.Errorf("%s: acknowledged event %s was given index %d, the record has it at %d", when, h, i, j)
		}
	}
	if missing > 0 {
		t.Fatalf("%s: %d of %d acknowledged events lost", when, missing, len(w.acked))
	}

	// The latest checkpoint is signed by the host's log key and covers exactly these events.
	var key api.LogKey
	w.must(w.call("", http.MethodGet, "/v1/log-key", nil, &key))
	if w.logKey == "" {
		w.logKey = key.Verifier
	} else if key.Verifier != w.logKey {
		t.Errorf("%s: the log key is %s, before it was %s", when, key.Verifier, w.logKey)
	}
	origin, err := record.Origin(crashHost, crashTalks)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := record.OriginVerifierKey(key.Verifier, origin)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, err := w.do(reader.token, http.MethodGet, "/v1/talks/"+crashTalks+"/log/checkpoint", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := record.OpenCheckpoint(msg, origin, verifier)
	if err != nil {
		t.Fatalf("%s: checkpoint: %v\n%s", when, err, msg)
	}
	if cp.Size != int64(len(events)) {
		t.Fatalf("%s: the latest checkpoint has size %d, the record %d events", when, cp.Size, len(events))
	}
	root, err := tlog.TreeHash(cp.Size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for k, x := range idx {
			out[k] = hashes[x]
		}
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if root != cp.Hash {
		t.Fatalf("%s: the events hash to root %s, the checkpoint says %s", when, root, cp.Hash)
	}
	unacked := 0
	for h := range w.sent {
		if _, ok := at[h]; ok {
			if _, ok := w.acked[h]; !ok {
				unacked++
			}
		}
	}
	t.Logf("%s: %d events, %d acknowledged, %d sent but not acknowledged yet recorded whole", when, len(events), len(w.acked), unacked)
}

// checkCommitMetrics checks that the store's commits reach the server's metrics.
func (w *crashWorld) checkCommitMetrics() {
	w.t.Helper()
	res, err := http.Get(w.metrics)
	if err != nil {
		w.t.Error(err)
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		w.t.Error(err)
		return
	}
	for line := range strings.Lines(string(body)) {
		if n, ok := strings.CutPrefix(line, "backchannel_store_commit_batch_size_count "); ok {
			if c, _ := strconv.ParseFloat(strings.TrimSpace(n), 64); c > 0 {
				return
			}
		}
	}
	w.t.Errorf("/metrics counts no store commit under load:\n%s", body)
}

// call makes a request that must succeed (2xx) and decodes its answer into out.
func (w *crashWorld) call(token, method, path string, in, out any) error {
	status, body, err := w.do(token, method, path, in, out)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, bytes.TrimSpace(body))
	}
	return nil
}

// do makes a request and returns the status and body, decoding a 2xx JSON body into out.
// A status of 0 with a nil error does not happen: a request that got no full answer is an error.
func (w *crashWorld) do(token, method, path string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := url.JoinPath(w.url, strings.Split(path, "?")[0])
	if err != nil {
		return 0, nil, err
	}
	if _, q, ok := strings.Cut(path, "?"); ok {
		u += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := w.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if out != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return 0, nil, fmt.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode, b, nil
}

func (w *crashWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}
