package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backchannel/backchannel/api"
)

// idle opens cfg.IdleStreams event streams that receive nothing and measures what they cost
// the servers. Each is a bare connection that sent its request and is never read: the load
// generator's side costs a file descriptor and a few hundred bytes, so that the growth of an
// embedded server's heap is the server's.
func (b *bench) idle(ctx context.Context, out *MemoryUse) error {
	n := b.cfg.IdleStreams
	fdPer := uint64(1)
	if b.memory(ctx, false).PeakRSS != 0 {
		fdPer = 2 // the server's end of each connection is in this process too
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)*fdPer+512 {
		if lim.Cur < fdPer*100+512 {
			return fmt.Errorf("bench: this process may open only %d files: raise the limit (ulimit -n)", lim.Cur)
		}
		fit := int((lim.Cur - 512) / fdPer)
		b.cfg.Progress(fmt.Sprintf("memory: %d idle streams need %d open files and this process may open %d: measuring %d streams (run the server apart and use --url for more)",
			n, uint64(n)*fdPer+512, lim.Cur, fit))
		n = fit
	}
	// Who holds the streams: every principal of the world, up to StreamsPerPrincipal each.
	var holders []*principal
	for _, t := range b.w.talks {
		holders = append(holders, t.heads[:]...)
	}
	holders = append(append(holders, b.w.senders...), b.w.holders...)
	if len(holders)*b.cfg.StreamsPerPrincipal < n {
		return fmt.Errorf("bench: %d principals at %d streams each cannot hold %d streams", len(holders), b.cfg.StreamsPerPrincipal, n)
	}
	b.cfg.Progress(fmt.Sprintf("memory: opening %d idle event streams from %d principals", n, (n+b.cfg.StreamsPerPrincipal-1)/b.cfg.StreamsPerPrincipal))
	sizes := make(map[string]int64)
	for _, t := range b.w.talks {
		page, err := t.heads[partyA].client().Events(ctx, t.id, 0, 1)
		if err != nil {
			return err
		}
		sizes[t.id] = page.Size
	}
	if err := b.waitStreamsBelow(ctx, 1); err != nil {
		return err
	}
	before := b.memory(ctx, true)

	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for h := 0; h*b.cfg.StreamsPerPrincipal < n; h++ {
		p := holders[h]
		g.Go(func() error {
			node := b.nodes[h%len(b.nodes)]
			tok, err := b.token(gctx, node.URL, p)
			if err != nil {
				return err
			}
			for j := h * b.cfg.StreamsPerPrincipal; j < min(n, (h+1)*b.cfg.StreamsPerPrincipal); j++ {
				if conns[j], err = openStream(gctx, node.URL, p.talks.id, tok, sizes[p.talks.id]); err != nil {
					return fmt.Errorf("idle stream %d: %w", j, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := b.waitStreams(ctx, before.OpenStreams+n); err != nil {
		return fmt.Errorf("%w (does the server allow --max-streams %d and --max-streams-per-principal %d?)", err, n, b.cfg.StreamsPerPrincipal)
	}
	// Let the servers' goroutines settle into their wait before measuring.
	time.Sleep(500 * time.Millisecond)
	after := b.memory(ctx, true)
	out.IdleStreams = n
	out.PerStream = sub(after.Heap+after.Stacks, before.Heap+before.Stacks) / uint64(n)
	out.PerStreamRSS = sub(after.RSS, before.RSS) / uint64(n)
	b.cfg.Progress(fmt.Sprintf("memory: %d idle streams cost %d KiB of heap and stacks each (%d KiB resident)", n, out.PerStream>>10, out.PerStreamRSS>>10))
	return nil
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// waitStreamsBelow waits until the nodes count fewer than n open event streams.
func (b *bench) waitStreamsBelow(ctx context.Context, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for b.memory(ctx, false).OpenStreams >= n {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: event streams still open after 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// token logs p in at node and returns the bearer token.
func (b *bench) token(ctx context.Context, node string, p *principal) (string, error) {
	cred := p.id.Credential().ID().String()
	var ch api.Challenge
	if err := b.post(ctx, node+"/v1/auth/challenge", api.ChallengeRequest{Credential: cred}, &ch); err != nil {
		return "", err
	}
	sig, err := p.id.SignLogin(ch.Host, ch.Challenge)
	if err != nil {
		return "", err
	}
	var t api.Token
	if err := b.post(ctx, node+"/v1/auth/token", api.TokenRequest{Credential: cred, Challenge: ch.Challenge, Signature: sig}, &t); err != nil {
		return "", err
	}
	return t.Token, nil
}

func (b *bench) post(ctx context.Context, u string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// openStream sends the request of an event stream on a new connection and leaves the
// connection to the server.
func openStream(ctx context.Context, node, talksID, token string, from int64) (net.Conn, error) {
	u, err := url.Parse(node)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET /v1/talks/%s/events/stream?from=%d HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n",
		url.PathEscape(talksID), from, u.Host, token)
	if _, err := c.Write([]byte(req.String())); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
