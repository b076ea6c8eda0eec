// Package nodes_test holds two API nodes on one PostgreSQL database to the promise of
// DESIGN.md: they behave as one. A principal following a talks on one node receives, in order
// and exactly once, what was accepted on the other; appends to one talks from both nodes at once
// never fork its log; and a lost notification loses nothing.
package nodes_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	nodepkg "github.com/backchannel/backchannel/internal/node"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// newDatabase creates an empty database on the test PostgreSQL (BACKCHANNEL_TEST_POSTGRES, by
// default the local server with trust authentication) and drops it when the test ends.
func newDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("BACKCHANNEL_TEST_POSTGRES")
	switch admin {
	case "skip":
		t.Skip("BACKCHANNEL_TEST_POSTGRES=skip")
	case "":
		admin = "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for tests (BACKCHANNEL_TEST_POSTGRES, or =skip): %v", err)
	}
	defer c.Close(ctx)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "bc_nodes_" + hex.EncodeToString(rnd[:])
	if _, err := c.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// node is one API node: a server on its own PostgreSQL store (its own pool, writers and
// LISTEN connection), on loopback.
type node struct {
	url   string
	store store.Store
}

// startNodes starts n nodes on the database at db, all serving one host.
func startNodes(t *testing.T, db string, n int) []*node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var host string
	var nodes []*node
	for i := 0; i < n; i++ {
		ts := httptest.NewUnstartedServer(nil)
		if host == "" {
			host = ts.Listener.Addr().String()
		}
		cfg := nodepkg.DefaultConfig()
		cfg.Store = db
		cfg.ListenRetry = 20 * time.Millisecond
		cfg.Server.Host, cfg.Server.Rate, cfg.Server.Burst = host, 1e6, 1e6
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		n, err := nodepkg.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = n.Handler()
		ts.Start()
		t.Cleanup(func() {
			ts.CloseClientConnections()
			ts.Close()
			n.Close()
		})
		nodes = append(nodes, &node{url: ts.URL, store: n.Store})
	}
	return nodes
}

// principal is an identity with a client on each node.
type principal struct {
	id      *seal.Identity
	clients []*client.Client
}

func (p *principal) on(n int) *client.Client { return p.clients[n] }

type cluster struct {
	t     *testing.T
	ctx   context.Context
	nodes []*node
	roots map[string]*seal.Root
}

func (c *cluster) org(id string) {
	c.t.Helper()
	r, err := seal.NewRoot(rand.Reader, id)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := client.New(c.nodes[0].url, nil).RegisterOrganisation(c.ctx, r.Public(), id); err != nil {
		c.t.Fatal(err)
	}
	c.roots[id] = r
}

// person publishes a credential through node 1 (the directory is shared) and returns a
// principal with a client on every node.
func (c *cluster) person(org, name string, rank backchannel.Rank) *principal {
	c.t.Helper()
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cr, err := c.roots[org].Issue(seal.Credential{
		Principal: name, Name: name, Title: "Delegate", Rank: rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		c.t.Fatal(err)
	}
	if _, err := client.New(c.nodes[1].url, nil).PublishCredential(c.ctx, cr); err != nil {
		c.t.Fatal(err)
	}
	p := &principal{id: id}
	for _, n := range c.nodes {
		// Every node serves one host, named by the first node's address.
		p.clients = append(p.clients, client.New(n.url, id, client.WithHost(strings.TrimPrefix(c.nodes[0].url, "http://"))))
	}
	return p
}

// follower records what one live event stream delivers.
type follower struct {
	mu      sync.Mutex
	indexes []int64
	hashes  map[string]int // envelope hash -> times delivered
}

func follow(ctx context.Context, c *client.Client, talksID string, from int64) (*follower, <-chan error) {
	f := &follower{hashes: make(map[string]int)}
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, talksID, from, func(e api.Event) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.indexes = append(f.indexes, e.Index)
			if e.Type == "envelope" {
				f.hashes[e.Hash]++
			}
			return nil
		})
	}()
	return f, done
}

func (f *follower) count(want map[string]bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for h := range want {
		if f.hashes[h] > 0 {
			n++
		}
	}
	return n
}

// TestTwoNodesBehaveAsOne has principals of both parties send to the same talks through both
// nodes at once, while the listening connections of both nodes are cut half way, and checks
// the record and what live streams on each node delivered.
func TestTwoNodesBehaveAsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := newDatabase(t)
	nodes := startNodes(t, db, 2)
	c := &cluster{t: t, ctx: ctx, nodes: nodes, roots: make(map[string]*seal.Root)}
	for _, org := range []string{"us", "ir", "om"} {
		c.org(org)
	}
	const (
		nTalks    = 2
		perParty  = 2 // senders of each party in each talks, one on each node
		perSender = 12
	)
	type talksSet struct {
		id      string
		heads   map[string]*principal
		senders []*principal
		parties []string // of each sender
	}
	var all []*talksSet
	for i := range nTalks {
		ts := &talksSet{id: talks.ScopedID("us", fmt.Sprintf("talks-%d", i)), heads: make(map[string]*principal)}
		for _, org := range []string{"us", "ir", "om"} {
			ts.heads[org] = c.person(org, fmt.Sprintf("head-%d", i), 4)
		}
		// The charter on node 0, the acceptances on node 1: one record whichever node is asked.
		if _, err := ts.heads["us"].on(0).CreateTalks(ctx, talks.Charter{
			ID: ts.id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
			Roots:      []talks.Pin{client.Pin(c.roots["us"].Public()), client.Pin(c.roots["ir"].Public()), client.Pin(c.roots["om"].Public())},
			Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"terms"},
		}); err != nil {
			t.Fatal(err)
		}
		for _, org := range []string{"ir", "om"} {
			if _, err := ts.heads[org].on(1).Accept(ctx, ts.id, client.PinPolicy{Known: client.KnownRoots(c.roots["us"].Public(), c.roots["ir"].Public(), c.roots["om"].Public())}); err != nil {
				t.Fatal(err)
			}
		}
		for _, org := range []string{"us", "ir"} {
			for k := range perParty {
				p := c.person(org, fmt.Sprintf("sender-%d-%d", i, k), 2)
				if _, err := ts.heads[org].on(k%2).AddMember(ctx, ts.id, p.id.Credential()); err != nil {
					t.Fatal(err)
				}
				ts.senders = append(ts.senders, p)
				ts.parties = append(ts.parties, org)
			}
		}
		all = append(all, ts)
	}

	// Seal everything first: each sender's messages to every reader of its party's caucus (its
	// head, the mediator and the party's other senders).
	sealed := make(map[*principal][]*seal.Envelope)
	wantAll := make(map[string]map[string]bool) // talks -> envelope hashes
	wantUS := make(map[string]map[string]bool)  // talks -> hashes in the us caucus
	for _, ts := range all {
		wantAll[ts.id], wantUS[ts.id] = make(map[string]bool), make(map[string]bool)
		for k, p := range ts.senders {
			org := ts.parties[k]
			to := []*seal.Credential{ts.heads[org].id.Credential(), ts.heads["om"].id.Credential()}
			for k2, q := range ts.senders {
				if ts.parties[k2] == org {
					to = append(to, q.id.Credential())
				}
			}
			for j := range perSender {
				env, err := p.id.Seal(rand.Reader, seal.Context{
					Talks: ts.id, Room: talks.RoomCaucus(org), Kind: backchannel.KindNote, Topics: []string{"terms"},
					CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: uint64(j + 1),
				}, []byte(fmt.Sprintf("message %d of %s", j, p.id.Credential().Handle())), to)
				if err != nil {
					t.Fatal(err)
				}
				h := env.Hash()
				sealed[p] = append(sealed[p], env)
				wantAll[ts.id][hex.EncodeToString(h[:])] = true
				if org == "us" {
					wantUS[ts.id][hex.EncodeToString(h[:])] = true
				}
			}
		}
	}

	// Live streams: the mediator follows on node 0, the us head on node 1.
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	type stream struct {
		f    *follower
		done <-chan error
		want map[string]bool
		name string
	}
	var streams []stream
	for _, ts := range all {
		page, err := ts.heads["om"].on(0).Events(ctx, ts.id, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		f, done := follow(fctx, ts.heads["om"].on(0), ts.id, page.Size)
		streams = append(streams, stream{f, done, wantAll[ts.id], ts.id + " mediator on node 0"})
		f, done = follow(fctx, ts.heads["us"].on(1), ts.id, page.Size)
		streams = append(streams, stream{f, done, wantUS[ts.id], ts.id + " us head on node 1"})
	}

	// Every sender sends its messages one after another, through node k%2: both nodes append
	// to both talks at once. Half way, the LISTEN connections of both nodes are cut.
	var mu sync.Mutex
	var accepted []api.Accepted
	var wg sync.WaitGroup
	half := make(chan struct{})
	var halfOnce sync.Once
	var sentHalf sync.WaitGroup
	for _, ts := range all {
		for k, p := range ts.senders {
			wg.Add(1)
			sentHalf.Add(1)
			go func() {
				defer wg.Done()
				var halfOnce sync.Once
				// A sender that fails before half way must not keep the others waiting.
				defer halfOnce.Do(sentHalf.Done)
				for j, env := range sealed[p] {
					if j == perSender/2 {
						halfOnce.Do(sentHalf.Done)
						<-half
					}
					a, err := p.on(k%2).SubmitEnvelope(ctx, ts.id, env)
					if err != nil {
						t.Errorf("%s sender %d message %d: %v", ts.id, k, j, err)
						return
					}
					mu.Lock()
					accepted = append(accepted, a)
					mu.Unlock()
				}
			}()
		}
	}
	sentHalf.Wait()
	killListeners(t, db)
	halfOnce.Do(func() { close(half) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Every stream receives all it may read, once each, in order of the record.
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range streams {
		for s.f.count(s.want) < len(s.want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopFollow()
	for _, s := range streams {
		<-s.done
		s.f.mu.Lock()
		for h := range s.want {
			if n := s.f.hashes[h]; n != 1 {
				t.Errorf("%s: envelope %s delivered %d times, want once", s.name, h[:12], n)
			}
		}
		for h := range s.f.hashes {
			if !s.want[h] {
				t.Errorf("%s: delivered envelope %s it may not read or that was never sent", s.name, h[:12])
			}
		}
		for i := 1; i < len(s.f.indexes); i++ {
			if s.f.indexes[i] <= s.f.indexes[i-1] {
				t.Errorf("%s: index %d delivered after %d", s.name, s.f.indexes[i], s.f.indexes[i-1])
			}
		}
		s.f.mu.Unlock()
	}

	// The record: one log per talks, without fork, gap or duplicate, and every checkpoint
	// either node answered with is a checkpoint of that log.
	for _, ts := range all {
		evs, err := nodes[1].store.Events(ctx, ts.id, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		seen := make(map[backchannel.EventHash]bool)
		var hashes []tlog.Hash
		for i, e := range evs {
			if e.Index != uint64(i) {
				t.Fatalf("%s: event %d has index %d: a gap", ts.id, i, e.Index)
			}
			if seen[e.Hash()] {
				t.Errorf("%s: event %d is a duplicate", ts.id, i)
			}
			seen[e.Hash()] = true
			more, err := tlog.StoredHashes(int64(i), e.Entry(), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				out := make([]tlog.Hash, len(idx))
				for j, x := range idx {
					out[j] = hashes[x]
				}
				return out, nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, more...)
		}
		reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = hashes[x]
			}
			return out, nil
		})
		n := 0
		for _, a := range accepted {
			if a.Talks != ts.id {
				continue
			}
			n++
			if a.Index >= int64(len(evs)) || hex.EncodeToString(func() []byte { h := evs[a.Index].Hash(); return h[:] }()) != a.Hash {
				t.Errorf("%s: accepted at index %d as %s, which the log does not hold there: a fork", ts.id, a.Index, a.Hash[:12])
				continue
			}
			root, err := tlog.TreeHash(a.Checkpoint.Size, reader)
			if err != nil || root.String() != a.Checkpoint.Root || a.Checkpoint.Size <= a.Index {
				t.Errorf("%s: checkpoint of size %d, root %s, does not match the log (root %s, %v) or does not cover index %d",
					ts.id, a.Checkpoint.Size, a.Checkpoint.Root, root, err, a.Index)
			}
		}
		if n != len(ts.senders)*perSender {
			t.Errorf("%s: %d envelopes accepted, want %d", ts.id, n, len(ts.senders)*perSender)
		}
		// A principal syncing through node 0 verifies the whole record against the host's
		// signed, consistent checkpoints, as every client does.
		if _, err := ts.heads["om"].on(0).Sync(ctx, ts.id); err != nil {
			t.Errorf("%s: the mediator's sync on node 0: %v", ts.id, err)
		}
		if _, err := ts.heads["us"].on(1).Sync(ctx, ts.id); err != nil {
			t.Errorf("%s: the us head's sync on node 1: %v", ts.id, err)
		}
	}
}

// killListeners ends every backend of the database that is listening for notifications, as a
// network failure or a restart of a connection pooler would: the nodes must reconnect and find
// what they missed in the database.
func killListeners(t *testing.T, db string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'backchannel-listen'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("cut %d listening connections, want one per node", n)
	}
}

// A signed login challenge buys one token on the whole service: whoever saw the signature (a
// proxy, a log) cannot buy another with it at another node behind the same load balancer.
func TestASignedChallengeBuysOneTokenAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes := startNodes(t, newDatabase(t), 2)
	c := &cluster{t: t, ctx: ctx, nodes: nodes, roots: make(map[string]*seal.Root)}
	c.org("us")
	p := c.person("us", "envoy", 3)
	post := func(n int, path string, in, out any) (int, string) {
		b, _ := json.Marshal(in)
		res, err := http.Post(nodes[n].url+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if out != nil && res.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
		return res.StatusCode, string(body)
	}
	cred := p.id.Credential().ID().String()
	var ch api.Challenge
	if code, body := post(0, "/v1/auth/challenge", api.ChallengeRequest{Credential: cred}, &ch); code != http.StatusOK {
		t.Fatalf("challenge: %d %s", code, body)
	}
	sig, err := p.id.SignLogin(ch.Host, ch.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	req := api.TokenRequest{Credential: cred, Challenge: ch.Challenge, Signature: sig}
	if code, body := post(0, "/v1/auth/token", req, nil); code != http.StatusOK {
		t.Fatalf("the first token, at node 0: %d %s", code, body)
	}
	if code, body := post(1, "/v1/auth/token", req, nil); code != http.StatusUnauthorized || !strings.Contains(body, "used already") {
		t.Fatalf("the same signed challenge at node 1: %d %s, want 401 saying it was used already", code, body)
	}
}
