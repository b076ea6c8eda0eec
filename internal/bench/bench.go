// Package bench is backchannel's load generator: it sets up talks on a running server (or
// several nodes of one), sends sealed messages through it as real principals do, and measures
// what DESIGN.md's performance targets name: accepted messages per second with durable commits,
// send-to-delivery latency at fixed offered rates, the server's peak memory and the memory of
// an idle event stream.
//
// Everything the clients sign and seal is prepared before the clock starts, so that what is
// measured is the server: parsing, signature and rule checks, the durable group commit, the
// fan-out to event streams, and the HTTP round trips over loopback.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Config is what to run. The zero value of a field means its default.
type Config struct {
	// Talks is the number of talks, each between two parties and a mediator. Default 10.
	Talks int
	// Senders is the number of principals sending at once, each one message after another
	// (a principal's sequence numbers must rise). Default 32.
	Senders int
	// Messages is how many messages the throughput phase sends. Default 12,000.
	Messages int
	// Size is the size of a message's plaintext body in bytes. Default 1 KiB.
	Size int
	// Rates are the offered rates, in messages per second, at which latency is measured, each
	// for RateDuration (default 5 s). Default {500}; none if empty after a negative entry.
	Rates        []float64
	RateDuration time.Duration
	// IdleStreams is the number of idle event streams whose memory is measured (0: default
	// 10,000; negative: none), at most StreamsPerPrincipal for one principal (default 32, the
	// server's default limit).
	IdleStreams         int
	StreamsPerPrincipal int
	// Progress, if set, is told what the benchmark is doing, a line at a time.
	Progress func(string)
}

func (c *Config) setDefaults() {
	if c.Talks <= 0 {
		c.Talks = 10
	}
	if c.Senders <= 0 {
		c.Senders = 32
	}
	if c.Messages <= 0 {
		c.Messages = 12000
	}
	if c.Size <= 0 {
		c.Size = 1024
	}
	if c.Rates == nil {
		c.Rates = []float64{500}
	}
	if c.RateDuration <= 0 {
		c.RateDuration = 5 * time.Second
	}
	if c.IdleStreams == 0 {
		c.IdleStreams = 10000
	}
	if c.StreamsPerPrincipal <= 0 {
		c.StreamsPerPrincipal = 32
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
}

// Result holds the figures of one run. Times are in milliseconds, memory in bytes.
type Result struct {
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Store   string    `json:"store"`
	Nodes   int       `json:"nodes"`
	Talks   int       `json:"talks"`
	Senders int       `json:"senders"`
	Size    int       `json:"message_bytes"`

	Throughput Throughput `json:"throughput"`
	Rates      []Rate     `json:"rates"`
	Memory     MemoryUse  `json:"memory"`
	// Seconds is how long the whole run took, setup included.
	Seconds float64 `json:"seconds"`
}

// Machine is where the run happened.
type Machine struct {
	Cores   int    `json:"cores"`
	Memory  uint64 `json:"memory_bytes"`
	LoadAvg string `json:"loadavg"`
	Go      string `json:"go"`
}

// Throughput is the saturation phase: every sender sends as fast as the server accepts.
type Throughput struct {
	Messages int     `json:"messages"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"accepted_per_second"`
	// Delivered counts deliveries to live subscribers (each message has two recipients), and
	// Latency is send-to-delivery under saturation.
	Delivered int     `json:"delivered"`
	Latency   Latency `json:"latency"`
}

// Rate is one fixed offered rate.
type Rate struct {
	Offered   float64 `json:"offered_per_second"`
	Achieved  float64 `json:"achieved_per_second"`
	Sent      int     `json:"sent"`
	Delivered int     `json:"delivered"`
	Latency   Latency `json:"latency"`
}

// MemoryUse is the server's memory.
type MemoryUse struct {
	// PeakRSS is the highest resident set seen (for an embedded server, of the whole process,
	// load generator included); PeakHeap the highest Go heap plus stacks.
	PeakRSS  uint64 `json:"peak_rss_bytes"`
	PeakHeap uint64 `json:"peak_heap_bytes"`
	// IdleStreams were open at once when PerStream was measured: the growth of the servers'
	// heap and stacks (and of their resident set) divided by the streams.
	IdleStreams  int    `json:"idle_streams"`
	PerStream    uint64 `json:"per_stream_bytes"`
	PerStreamRSS uint64 `json:"per_stream_rss_bytes"`
}

// prepared is a sender's sealed messages, in sequence order.
type prepared struct {
	envs   []*seal.Envelope
	hashes []string
	next   int
}

// inflight is a message sent and not yet delivered to every live recipient.
type inflight struct {
	start time.Time
	rec   *recorder
	count *atomic.Int64
}

// bench is one run.
type bench struct {
	cfg   Config
	nodes []Node
	w     *world
	http  *http.Client

	sealed []*prepared
	sent   sync.Map // envelope hash -> *inflight
}

// recipients of every message who follow its room live: the mediator and the head of the
// sender's party. (The message is sealed to every reader of the caucus, the party's senders
// in the talks too, as the server requires.)
const recipients = 2

// Run runs the benchmark against nodes, which must be nodes of one service (one database).
func Run(ctx context.Context, cfg Config, store string, nodes []Node) (*Result, error) {
	cfg.setDefaults()
	if len(nodes) == 0 {
		return nil, errors.New("bench: no node to run against")
	}
	began := time.Now()
	res := &Result{Date: began.UTC().Truncate(time.Second), Machine: machine(), Store: store, Nodes: len(nodes),
		Talks: cfg.Talks, Senders: cfg.Senders, Size: cfg.Size}
	tr := &http.Transport{
		MaxIdleConns: 0, MaxIdleConnsPerHost: 4 * cfg.Senders, IdleConnTimeout: time.Minute,
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	b := &bench{cfg: cfg, nodes: nodes, http: &http.Client{Transport: tr, Timeout: time.Minute}}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	peak := b.watchMemory(ctx)

	holders := 0
	if cfg.IdleStreams > 0 {
		holders = (cfg.IdleStreams + cfg.StreamsPerPrincipal - 1) / cfg.StreamsPerPrincipal
		holders = max(0, holders-3*cfg.Talks-cfg.Senders)
	}
	cfg.Progress(fmt.Sprintf("setting up %d talks with %d senders and %d more principals on %d node(s)", cfg.Talks, cfg.Senders, holders, len(nodes)))
	w, err := newWorld(ctx, nodes, b.http, cfg.Talks, cfg.Senders, holders)
	if err != nil {
		return nil, err
	}
	b.w = w
	// Senders send to node k mod n; the heads read from the next node along, so that with
	// several nodes most deliveries cross from one node to another.
	for k, p := range w.senders {
		p.node = k % len(nodes)
	}
	for i, t := range w.talks {
		for r, h := range t.heads {
			h.node = (i*3 + r + 1) % len(nodes)
		}
	}

	perRate := 0
	for _, r := range cfg.Rates {
		perRate += int(r*cfg.RateDuration.Seconds()) + 1
	}
	cfg.Progress(fmt.Sprintf("sealing %d messages of %d bytes to every reader of their caucus", cfg.Messages+perRate, cfg.Size))
	if err := b.seal(ctx, cfg.Messages, perRate); err != nil {
		return nil, err
	}
	if err := b.login(ctx); err != nil {
		return nil, err
	}
	subs, err := b.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	defer subs()

	if res.Throughput, err = b.throughput(ctx); err != nil {
		return nil, err
	}
	for _, r := range cfg.Rates {
		if r <= 0 {
			continue
		}
		rr, err := b.paced(ctx, r)
		if err != nil {
			return nil, err
		}
		res.Rates = append(res.Rates, rr)
	}
	subs()
	if cfg.IdleStreams > 0 {
		if err := b.idle(ctx, &res.Memory); err != nil {
			return nil, err
		}
	}
	p := peak()
	res.Memory.PeakRSS, res.Memory.PeakHeap = p.RSS, p.Heap
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// watchMemory samples the nodes' memory until ctx is done; the function it returns stops it
// and returns the peaks (summed over nodes).
func (b *bench) watchMemory(ctx context.Context) func() Memory {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var peak Memory
	done := make(chan struct{})
	sample := func() {
		m := b.memory(ctx, false)
		mu.Lock()
		peak.RSS = max(peak.RSS, m.RSS, m.PeakRSS)
		peak.Heap = max(peak.Heap, m.Heap+m.Stacks)
		mu.Unlock()
	}
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() Memory {
		cancel()
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// memory sums the nodes' memory. Embedded nodes share this process: it is counted once.
func (b *bench) memory(ctx context.Context, gc bool) Memory {
	var sum Memory
	seen := false
	for _, n := range b.nodes {
		m, err := n.Memory(ctx, gc && !seen)
		if err != nil {
			continue
		}
		if m.PeakRSS != 0 && seen {
			// In-process: the same process, counted once; only the streams are per node.
			sum.OpenStreams += m.OpenStreams
			continue
		}
		seen = seen || m.PeakRSS != 0
		sum.Heap += m.Heap
		sum.Stacks += m.Stacks
		sum.RSS += m.RSS
		sum.PeakRSS += m.PeakRSS
		sum.OpenStreams += m.OpenStreams
	}
	return sum
}

// seal seals each sender's messages: enough for its share of the throughput phase and of every
// paced phase, in sequence order.
func (b *bench) seal(ctx context.Context, throughput, paced int) error {
	s := len(b.w.senders)
	per := (throughput+s-1)/s + (paced+s-1)/s + 1
	b.sealed = make([]*prepared, s)
	body := make([]byte, b.cfg.Size)
	rand.Read(body)
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for k, p := range b.w.senders {
		b.sealed[k] = &prepared{}
		g.Go(func() error {
			to := []*seal.Credential{p.talks.heads[mediator].id.Credential(), p.talks.heads[p.party].id.Credential()}
			for _, q := range b.w.senders {
				if q.talks == p.talks && q.party == p.party {
					to = append(to, q.id.Credential())
				}
			}
			room := talks.RoomCaucus(b.w.orgID(p.party))
			at := time.Now().UTC().Truncate(time.Millisecond)
			out := b.sealed[k]
			for j := range per {
				env, err := p.id.Seal(rand.Reader, seal.Context{
					Talks: p.talks.id, Room: room, Kind: backchannel.KindNote, Topics: []string{"terms"},
					CreatedAt: at, Sequence: uint64(j + 1),
				}, body, to)
				if err != nil {
					return err
				}
				h := env.Hash()
				out.envs = append(out.envs, env)
				out.hashes = append(out.hashes, hex.EncodeToString(h[:]))
			}
			return nil
		})
	}
	return g.Wait()
}

// login logs every sender in on its node before the clock starts.
func (b *bench) login(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, p := range b.w.senders {
		g.Go(func() error { return p.client().Login(gctx) })
	}
	for _, t := range b.w.talks {
		for _, h := range t.heads {
			g.Go(func() error { return h.client().Login(gctx) })
		}
	}
	return g.Wait()
}

// subscribe opens a live event stream for every head of a talks that has senders (the
// recipients of every message), from the current end of its log, and waits until the servers
// count them open. The function it returns closes them.
func (b *bench) subscribe(ctx context.Context) (func(), error) {
	before := b.memory(ctx, false).OpenStreams
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	n := 0
	for _, t := range b.w.talks[:min(len(b.w.talks), len(b.w.senders))] {
		c := t.heads[partyA].client()
		page, err := c.Events(ctx, t.id, 0, 1)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("talks %s: %w", t.id, err)
		}
		for _, h := range t.heads {
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = h.client().Follow(sctx, t.id, page.Size, func(e api.Event) error {
					if e.Type != backchannel.EventEnvelope {
						return nil
					}
					at := time.Now()
					if v, ok := b.sent.Load(e.Hash); ok {
						f := v.(*inflight)
						f.rec.add(at.Sub(f.start))
						f.count.Add(1)
					}
					return nil
				})
			}()
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
	if err := b.waitStreams(ctx, before+n); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// waitStreams waits until the nodes count at least n open event streams.
func (b *bench) waitStreams(ctx context.Context, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := b.memory(ctx, false).OpenStreams
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %d event streams open after 30s, want %d", got, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// send submits sender k's next sealed message, timing it against rec.
func (b *bench) send(ctx context.Context, k int, rec *recorder, delivered *atomic.Int64) error {
	p, sealed := b.w.senders[k], b.sealed[k]
	if sealed.next >= len(sealed.envs) {
		return errRanOut
	}
	env, h := sealed.envs[sealed.next], sealed.hashes[sealed.next]
	sealed.next++
	b.sent.Store(h, &inflight{start: time.Now(), rec: rec, count: delivered})
	if _, err := p.client().SubmitEnvelope(ctx, p.talks.id, env); err != nil {
		return fmt.Errorf("sender %d: %w", k, err)
	}
	return nil
}

var errRanOut = errors.New("bench: a sender ran out of sealed messages")

// throughput sends cfg.Messages messages, every sender as fast as the server answers.
func (b *bench) throughput(ctx context.Context) (Throughput, error) {
	s := len(b.w.senders)
	per := (b.cfg.Messages + s - 1) / s
	total := per * s
	b.cfg.Progress(fmt.Sprintf("throughput: %d senders send %d messages as fast as they are accepted", s, total))
	var rec recorder
	var delivered, accepted atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for k := range s {
		g.Go(func() error {
			for range per {
				if err := b.send(gctx, k, &rec, &delivered); err != nil {
					return err
				}
				accepted.Add(1)
			}
			return nil
		})
	}
	stop := b.ticker(ctx, func(el time.Duration) string {
		n := accepted.Load()
		return fmt.Sprintf("throughput: %d/%d accepted, %.0f/s", n, total, float64(n)/el.Seconds())
	})
	err := g.Wait()
	took := time.Since(start)
	stop()
	if err != nil {
		return Throughput{}, err
	}
	b.drain(ctx, &delivered, int64(total*recipients))
	return Throughput{Messages: total, Seconds: took.Seconds(), PerSec: float64(total) / took.Seconds(),
		Delivered: int(delivered.Load()), Latency: rec.summary()}, nil
}

// paced offers messages at a fixed rate for cfg.RateDuration, round robin over the senders;
// a sender still busy with its last message queues the next.
func (b *bench) paced(ctx context.Context, rate float64) (Rate, error) {
	s := len(b.w.senders)
	n := int(rate * b.cfg.RateDuration.Seconds())
	b.cfg.Progress(fmt.Sprintf("latency: %d messages offered at %.0f/s", n, rate))
	var rec recorder
	var delivered, sent atomic.Int64
	queues := make([]chan struct{}, s)
	g, gctx := errgroup.WithContext(ctx)
	for k := range queues {
		queues[k] = make(chan struct{}, n/s+2)
		g.Go(func() error {
			for range queues[k] {
				if err := b.send(gctx, k, &rec, &delivered); err != nil {
					return err
				}
				sent.Add(1)
			}
			return nil
		})
	}
	stop := b.ticker(ctx, func(el time.Duration) string {
		return fmt.Sprintf("latency: %d sent at %.0f/s, %d delivered, p99 so far %.1f ms", sent.Load(), float64(sent.Load())/el.Seconds(), delivered.Load(), rec.summary().P99)
	})
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var err error
	for i := 0; i < n && err == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-gctx.Done():
				err = gctx.Err()
			case <-time.After(d):
			}
		}
		queues[i%s] <- struct{}{}
	}
	for _, q := range queues {
		close(q)
	}
	if werr := g.Wait(); werr != nil {
		err = werr
	}
	took := time.Since(start)
	stop()
	if err != nil {
		return Rate{}, err
	}
	b.drain(ctx, &delivered, sent.Load()*recipients)
	return Rate{Offered: rate, Achieved: float64(sent.Load()) / took.Seconds(), Sent: int(sent.Load()),
		Delivered: int(delivered.Load()), Latency: rec.summary()}, nil
}

// drain waits, up to 10 s, for the deliveries still on their way.
func (b *bench) drain(ctx context.Context, delivered *atomic.Int64, want int64) {
	deadline := time.Now().Add(10 * time.Second)
	for delivered.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// ticker reports progress every second until the returned function is called.
func (b *bench) ticker(ctx context.Context, line func(elapsed time.Duration) string) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.cfg.Progress(line(time.Since(start)))
			}
		}
	}()
	return func() { cancel(); <-done }
}
