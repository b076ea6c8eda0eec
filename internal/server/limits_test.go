package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/talks"
)

// trio is a small world: talks between us and ir, mediated by om, founded by us and accepted
// by all, with one principal each.
type trio struct {
	*world
	id         string
	us, ir, om *person
}

// newTrio sets up a trio; between steps it moves the clock on by pause, to refill the rate
// limit's buckets when a test makes it small.
func newTrio(t *testing.T, pause time.Duration, configure func(*server.Config)) *trio {
	t.Helper()
	w := newWorld(t, configure)
	tr := &trio{world: w, id: "us:muscat"}
	for _, org := range []string{"us", "ir", "om"} {
		w.org(org)
		w.clock.advance(pause)
	}
	tr.us = w.person("us", "envoy", "Envoy", 3)
	w.clock.advance(pause)
	tr.ir = w.person("ir", "minister", "Minister", 4)
	w.clock.advance(pause)
	tr.om = w.person("om", "minister", "Minister", 4)
	w.clock.advance(pause)
	w.accepted(w.do(request{method: http.MethodPost, path: "/v1/talks", token: tr.us.token, body: api.CreateTalks{Charter: w.charter(tr.us, talks.Charter{
		ID: tr.id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: agenda,
	})}}))
	w.accepted(w.submit(tr.ir, tr.id, talks.AcceptCharter{At: w.now(), By: tr.ir.actor()}))
	w.accepted(w.submit(tr.om, tr.id, talks.AcceptCharter{At: w.now(), By: tr.om.actor()}))
	w.clock.advance(pause)
	return tr
}

// TestRateLimitIsPerPrincipal gives each principal a small bucket: one that empties its own
// is refused with 429 rate-limited while others are still served, until time refills it.
func TestRateLimitIsPerPrincipal(t *testing.T) {
	const burst = 5
	// A rate so low that the test's own run time refills nothing: the test clock refills.
	tr := newTrio(t, 2*time.Hour, func(c *server.Config) { c.Rate, c.Burst, c.TokenTTL = 0.001, burst, 48*time.Hour })
	get := func(p *person) *response {
		return tr.do(request{method: http.MethodGet, path: talksPath(tr.id), token: p.token})
	}
	for i := range burst {
		if r := get(tr.us); r.status != http.StatusOK {
			t.Fatalf("request %d of the burst: %s", i+1, r)
		}
	}
	r := get(tr.us)
	want(t, r, http.StatusTooManyRequests, "rate-limited")
	if d := r.problem().Detail; !strings.Contains(d, tr.us.handle()) || !strings.Contains(d, "slow down") {
		t.Errorf("detail %q does not name the principal and what to do", d)
	}
	// Another principal, and callers without a token, have buckets of their own.
	want(t, get(tr.ir), http.StatusOK, "")
	want(t, tr.do(request{method: http.MethodGet, path: "/v1/statements"}), http.StatusOK, "")
	// A refused submission stores nothing.
	size := tr.size(tr.id)
	want(t, tr.submit(tr.us, tr.id, talks.Propose{At: tr.now(), By: tr.us.actor(), Motion: "m", Change: talks.SetVenue("Doha")}),
		http.StatusTooManyRequests, "rate-limited")
	if tr.size(tr.id) != size {
		t.Fatalf("a refused submission grew the record from %d to %d", size, tr.size(tr.id))
	}
	tr.clock.advance(time.Hour)
	want(t, get(tr.us), http.StatusOK, "")

	// Before login, the limit is per address.
	tr.clock.advance(time.Hour)
	for range burst {
		tr.do(request{method: http.MethodGet, path: "/v1/statements"})
	}
	want(t, tr.do(request{method: http.MethodPost, path: "/v1/auth/challenge", body: api.ChallengeRequest{Credential: tr.us.cred.ID().String()}}),
		http.StatusTooManyRequests, "rate-limited")
}

// Behind a load balancer every caller not logged in reaches the server from the balancer's
// address: from a trusted proxy, the client's own address in X-Forwarded-For keys the rate
// limit, so one caller's flood does not lock out the others. From anyone else, the header is
// ignored: a caller cannot dodge the limit by naming a new address in each request.
func TestRateLimitBehindATrustedProxyIsPerClient(t *testing.T) {
	const burst = 5
	from := func(client string) request {
		return request{method: http.MethodGet, path: "/v1/statements", header: map[string]string{"X-Forwarded-For": client}}
	}
	for _, tc := range []struct {
		name    string
		proxies []string
		// apart: the second client is served after the first emptied its bucket.
		apart bool
	}{
		{"the server's peer is a trusted proxy, behind another", []string{"127.0.0.0/8", "::1", "10.0.0.0/8"}, true},
		{"no proxy is trusted", nil, false},
		{"another proxy is trusted", []string{"10.0.0.0/8"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTrio(t, 2*time.Hour, func(c *server.Config) {
				c.Rate, c.Burst, c.TokenTTL, c.TrustedProxies = 0.001, burst, 48*time.Hour, tc.proxies
			})
			tr.clock.advance(time.Hour)
			for range burst {
				tr.do(from("203.0.113.7, 10.1.2.3"))
			}
			want(t, tr.do(from("203.0.113.7")), http.StatusTooManyRequests, "rate-limited")
			r := tr.do(from("198.51.100.9"))
			if tc.apart {
				want(t, r, http.StatusOK, "")
				if r := tr.do(from("203.0.113.7")); !strings.Contains(r.problem().Detail, "203.0.113.7") {
					t.Errorf("the refusal names %q, not the client's address", r.problem().Detail)
				}
			} else {
				want(t, r, http.StatusTooManyRequests, "rate-limited")
			}
		})
	}
}

// openStream opens an event stream and keeps it open until the returned function is called.
func (w *world) openStream(path, token string) (*response, func()) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	h := *w.http
	h.Timeout = 0
	resp, err := h.Do(req)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, stream: resp.Body}
	if resp.StatusCode != http.StatusOK {
		out.body = readAll(resp)
		cancel()
		return out, func() {}
	}
	return out, func() {
		cancel()
		resp.Body.Close()
	}
}

func readAll(resp *http.Response) []byte {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return b
}

// TestOpenStreamsAreLimited bounds event streams per principal and in all: one more is refused
// with 429 too-many-streams, and closing one makes room.
func TestOpenStreamsAreLimited(t *testing.T) {
	tr := newTrio(t, 0, func(c *server.Config) { c.MaxStreamsPerPrincipal, c.MaxStreams = 1, 2 })
	path := talksPath(tr.id, "events", "stream")
	r, closeUS := tr.openStream(path, tr.us.token)
	want(t, r, http.StatusOK, "")
	defer closeUS()
	r, _ = tr.openStream(path, tr.us.token)
	want(t, r, http.StatusTooManyRequests, "too-many-streams")
	if d := r.problem().Detail; !strings.Contains(d, "at most 1") {
		t.Errorf("detail %q does not say the limit", d)
	}
	r, closeIR := tr.openStream(path, tr.ir.token)
	want(t, r, http.StatusOK, "")
	r, _ = tr.openStream(path, tr.om.token)
	want(t, r, http.StatusTooManyRequests, "too-many-streams")

	// Closing a stream frees its place, once the server notices the client left.
	closeIR()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, closeOM := tr.openStream(path, tr.om.token)
		if r.status == http.StatusOK {
			closeOM()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream still counts: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An organisation that opens every stream the server allows, as principals it mints at will can,
// does not lock the others out: their streams take the newest of its streams' places, which
// end, until it holds no more than its share.
func TestStreamsAreSharedBetweenOrganisations(t *testing.T) {
	tr := newTrio(t, 0, func(c *server.Config) { c.MaxStreamsPerPrincipal, c.MaxStreams = 32, 4 })
	path := talksPath(tr.id, "events", "stream")
	var usStreams []io.Reader
	for range 4 {
		r, closeUS := tr.openStream(path, tr.us.token)
		want(t, r, http.StatusOK, "")
		defer closeUS()
		usStreams = append(usStreams, r.stream)
	}
	r, _ := tr.openStream(path, tr.us.token)
	want(t, r, http.StatusTooManyRequests, "too-many-streams")
	for _, p := range []*person{tr.ir, tr.om} {
		r, closeIt := tr.openStream(path, p.token)
		want(t, r, http.StatusOK, "")
		defer closeIt()
	}
	// The server ended the two newest US streams (the stream reads to its end, as a client
	// sees a closed connection, and would reconnect).
	for _, body := range usStreams[2:] {
		if _, err := io.Copy(io.Discard, body); err != nil {
			t.Fatalf("an ended stream: %v", err)
		}
	}
	// Now at its share, the US cannot take another's place.
	r, _ = tr.openStream(path, tr.us.token)
	want(t, r, http.StatusTooManyRequests, "too-many-streams")
}

// TestBodyLimit refuses a body over Config.MaxBody with 413 body-too-large, before reading it
// whole, and accepts one under it.
func TestBodyLimit(t *testing.T) {
	const limit = 8 << 10
	tr := newTrio(t, 0, func(c *server.Config) { c.MaxBody = limit })
	room := talks.RoomCaucus("us")
	to := tr.recipients(tr.us, tr.id, room)
	small := tr.seal(tr.us, tr.id, draft{room: room, kind: backchannel.KindNote, body: "short", to: to})
	big := tr.seal(tr.us, tr.id, draft{room: room, kind: backchannel.KindNote, body: strings.Repeat("long ", limit/5), to: to})

	size := tr.size(tr.id)
	r := tr.send(tr.us, tr.id, big)
	want(t, r, http.StatusRequestEntityTooLarge, "body-too-large")
	if d := r.problem().Detail; !strings.Contains(d, "8192") {
		t.Errorf("detail %q does not say the limit", d)
	}
	if tr.size(tr.id) != size {
		t.Fatalf("a refused body grew the record from %d to %d", size, tr.size(tr.id))
	}
	tr.accepted(tr.send(tr.us, tr.id, small))

	// Without a token too, and before anything is parsed.
	r = tr.do(request{method: http.MethodPost, path: "/v1/organisations", body: `{"name":"` + strings.Repeat("x", limit) + `"}`})
	want(t, r, http.StatusRequestEntityTooLarge, "body-too-large")
	// Padding counts.
	r = tr.do(request{method: http.MethodPost, path: "/v1/auth/challenge", body: strings.Repeat(" ", 2*limit) + `{"credential":"x"}`})
	want(t, r, http.StatusRequestEntityTooLarge, "body-too-large")
}
