package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// fault is one way a request can go wrong between the client and the server.
type fault string

const (
	faultRefused     fault = "refused"     // the connection fails; the server sees nothing
	faultLost        fault = "lost"        // the server handles the request; its answer is lost
	faultLate        fault = "late"        // the answer comes, late
	faultCut         fault = "cut"         // the answer's body stops half way
	faultUnavailable fault = "unavailable" // a proxy answers 503; the server sees nothing
	faultTwice       fault = "twice"       // the request reaches the server twice
)

var faults = []fault{faultRefused, faultLost, faultLate, faultCut, faultUnavailable, faultTwice}

// faultyTransport counts the requests it carries and applies a fault to the one numbered at
// (from 1), once.
type faultyTransport struct {
	base http.RoundTripper

	mu     sync.Mutex
	n      int
	at     int
	onPost bool // fault the first submission instead of request at
	// post, if set, is the end of the path of the only POST that onPost faults; else it faults
	// any submission but the publication of a room key, which the client makes on its own
	// before the submission it was asked for
	post  string
	fault fault
	hit   bool
}

// armSubmission arms fault k for the next submission: a POST other than a login or a
// cosignature.
func (f *faultyTransport) armSubmission(k fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.at, f.onPost, f.post, f.fault, f.hit = 0, 0, true, "", k, false
}

// armPost arms fault k for the next POST to a path ending in suffix.
func (f *faultyTransport) armPost(suffix string, k fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.at, f.onPost, f.post, f.fault, f.hit = 0, 0, true, suffix, k, false
}

func (f *faultyTransport) arm(at int, k fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n, f.at, f.onPost, f.fault, f.hit = 0, at, false, k, false
}

// fired reports whether the armed fault was applied.
func (f *faultyTransport) fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit
}

func (f *faultyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.n++
	k := fault("")
	submission := r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/v1/auth/") && !strings.HasSuffix(r.URL.Path, "/cosignatures")
	if f.post != "" {
		submission = r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, f.post)
	} else if strings.HasSuffix(r.URL.Path, "/room-keys") {
		submission = false
	}
	if (!f.onPost && f.n == f.at) || (f.onPost && !f.hit && submission) {
		k, f.hit = f.fault, true
	}
	f.mu.Unlock()
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	send := func() (*http.Response, error) {
		rr := r.Clone(r.Context())
		rr.Body = io.NopCloser(bytes.NewReader(body))
		return f.base.RoundTrip(rr)
	}
	switch k {
	case faultRefused:
		return nil, errors.New("connection refused (injected)")
	case faultUnavailable:
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(bytes.NewReader([]byte("upstream unavailable"))), Request: r}, nil
	case faultLost:
		if resp, err := send(); err == nil {
			drain(resp)
		}
		return nil, errors.New("connection reset after the request was sent (injected)")
	case faultLate:
		time.Sleep(20 * time.Millisecond)
		return send()
	case faultCut:
		resp, err := send()
		if err != nil {
			return nil, err
		}
		if isStream(resp) {
			// A stream has no end to cut in half: cut it after its first bytes.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(io.LimitReader(resp.Body, 700), errReader{io.ErrUnexpectedEOF}), resp.Body}
			return resp, nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b[:len(b)/2]), errReader{io.ErrUnexpectedEOF}))
		resp.ContentLength = -1
		return resp, nil
	case faultTwice:
		if resp, err := send(); err == nil {
			drain(resp)
		}
		return send()
	}
	return send()
}

func isStream(resp *http.Response) bool {
	return resp.Header.Get("Content-Type") == "text/event-stream"
}

// drain reads and closes the body of a response nobody will see; a stream, which does not end,
// is closed after its headers, once the server has handled the request.
func drain(resp *http.Response) {
	if !isStream(resp) {
		io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// faultWorld is Muscat after a few messages, with a way to make clients that act as the
// envoy, Iran's minister and Oman's mediator over a faulty transport.
type faultWorld struct {
	*world
	envoy, irFM, omFM *client.Client
}

func newFaultWorld(t *testing.T) *faultWorld {
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	fw := &faultWorld{world: w,
		envoy: w.person("us", "special-envoy", "Special Envoy", 3),
		irFM:  w.person("ir", "foreign-minister", "Foreign Minister", 4),
		omFM:  w.person("om", "foreign-minister", "Foreign Minister", 4)}
	ctx := w.ctx
	w.ok(fw.envoy.CreateTalks(ctx, talks.Charter{
		ID: "us:muscat", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
	}))
	w.ok(fw.irFM.Accept(ctx, "us:muscat", w.pins()))
	w.ok(fw.omFM.Accept(ctx, "us:muscat", w.pins()))
	for i := range 6 {
		fw.send(fw.envoy, talks.RoomCaucus("us"), fmt.Sprintf("us note %d", i))
		fw.send(fw.irFM, talks.RoomCaucus("ir"), fmt.Sprintf("ir note %d", i))
	}
	return fw
}

func (fw *faultWorld) send(c *client.Client, room, body string) {
	fw.t.Helper()
	if _, _, err := c.Send(fw.ctx, "us:muscat", client.Draft{Room: room, Kind: backchannel.KindNote,
		Topics: []string{"nuclear-programme"}, Body: []byte(body)}); err != nil {
		fw.t.Fatal(err)
	}
}

// faulty returns a new client acting as c, over a faulty transport.
func (fw *faultWorld) faulty(c *client.Client) (*client.Client, *faultyTransport) {
	ft := &faultyTransport{base: http.DefaultTransport}
	return client.New(fw.url, c.Identity(), client.WithHTTPClient(&http.Client{Transport: ft, Timeout: 30 * time.Second})), ft
}

// bodies returns the bodies of the messages of the book, in order.
func bodies(b *client.Book) []string {
	var out []string
	for _, m := range b.Messages {
		if m.Opened != nil {
			out = append(out, string(m.Opened.Body))
		} else {
			out = append(out, "unopened: "+m.Err.Error())
		}
	}
	return out
}

// Whatever request of a sync fails, and however, the sync either succeeds or leaves the book as
// it was; a retry then succeeds with every message once, and nothing is taken for the host's
// misbehaviour.
func TestFaultEachRequestOfASyncChangesNothingOrEverything(t *testing.T) {
	fw := newFaultWorld(t)
	for _, fromScratch := range []bool{true, false} {
		// Fault request 1, 2, ... of a sync until a sync makes fewer requests than that.
		at := 1
		for ; ; at++ {
			fired := false
			for _, k := range faults {
				name := fmt.Sprintf("scratch=%v/request %d/%s", fromScratch, at, k)
				c, ft := fw.faulty(fw.omFM)
				var before []string
				if !fromScratch {
					ft.arm(0, "")
					before = bodies(mustSync(t, fw.ctx, c))
				}
				fw.send(fw.envoy, talks.RoomCaucus("us"), name)
				want := bodies(mustSync(t, fw.ctx, fw.omFM))
				ft.arm(at, k)
				_, err := c.Sync(fw.ctx, "us:muscat")
				fired = fired || ft.fired()
				if errors.Is(err, client.ErrRecord) {
					t.Fatalf("%s: a false alarm: %v", name, err)
				}
				if err != nil {
					if b := c.Book("us:muscat"); b != nil && !slices.Equal(bodies(b), before) {
						t.Fatalf("%s: the failed sync (%v) changed the book:\n%q\nwas\n%q", name, err, bodies(b), before)
					}
					ft.arm(0, "")
					if _, err2 := c.Sync(fw.ctx, "us:muscat"); err2 != nil {
						t.Fatalf("%s: the retry after %v failed: %v", name, err, err2)
					}
				}
				if got := bodies(c.Book("us:muscat")); !slices.Equal(got, want) {
					t.Fatalf("%s: the book holds\n%q\nwant\n%q", name, got, want)
				}
			}
			if !fired {
				break
			}
		}
		if at < 4 {
			t.Fatalf("scratch=%v: a sync made %d requests", fromScratch, at-1)
		}
	}
}

// Whatever request of a send fails, and however, retrying the send puts the message on the
// record once.
func TestFaultEachRequestOfASendLandsTheMessageOnce(t *testing.T) {
	fw := newFaultWorld(t)
	c, ft := fw.faulty(fw.envoy)
	mustSync(t, fw.ctx, c)
	draft := func(body string) client.Draft {
		return client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Body: []byte(body)}
	}
	at := 1
	for ; ; at++ {
		fired := false
		for _, k := range faults {
			name := fmt.Sprintf("request %d/%s", at, k)
			// Another party's message first, so that the send's own sync has news to read.
			fw.send(fw.irFM, talks.RoomCaucus("ir"), "before "+name)
			ft.arm(at, k)
			_, _, err := c.Send(fw.ctx, "us:muscat", draft(name))
			fired = fired || ft.fired()
			if errors.Is(err, client.ErrRecord) {
				t.Fatalf("%s: a false alarm: %v", name, err)
			}
			if err != nil {
				ft.arm(0, "")
				if _, _, err2 := c.Send(fw.ctx, "us:muscat", draft(name)); err2 != nil {
					t.Fatalf("%s: the retry after %v failed: %v", name, err, err2)
				}
			}
			n := 0
			for _, body := range bodies(mustSync(t, fw.ctx, fw.omFM)) {
				if body == name {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s: the message is on the record %d times (the send said %v)", name, n, err)
			}
		}
		if !fired {
			break
		}
	}
	if at < 4 {
		t.Fatalf("a send made %d requests", at-1)
	}
}

// When the answer to a submission is lost, the party cannot know whether it landed; asked to
// make it again, the client sends the same signed bytes, which the host answers as a duplicate
// of what it holds, so every kind of submission is on the record once.
func TestFaultLostAnswerOfEachSubmissionLandsItOnce(t *testing.T) {
	fw := newFaultWorld(t)
	ctx := fw.ctx
	envoy, envoyFT := fw.faulty(fw.envoy)
	irFM, irFT := fw.faulty(fw.irFM)
	omFM, omFT := fw.faulty(fw.omFM)
	for _, c := range []*client.Client{envoy, irFM, omFM} {
		mustSync(t, ctx, c)
	}
	us, ir, om := fw.roots["us"], fw.roots["ir"], fw.roots["om"]
	// usNote is a message of the US caucus that the mediator has opened.
	usNote := func() *client.Message {
		for _, m := range mustSync(t, ctx, omFM).Messages {
			if m.Opened != nil && m.Room == talks.RoomCaucus("us") {
				return m
			}
		}
		t.Fatal("the mediator opened no message of the US caucus")
		return nil
	}
	// The key a client publishes for a room before its first event there (here Iran's private
	// room, before its red lines) lands once too when its answer is lost.
	irFT.armPost("/room-keys", faultLost)
	if _, err := irFM.SetRedLines(ctx, "us:muscat", []string{"nuclear-programme"}); err == nil || !irFT.fired() {
		t.Fatalf("room key: the lost answer went unnoticed (fault applied: %v)", irFT.fired())
	}
	irFT.arm(0, "")
	if _, err := irFM.SetRedLines(ctx, "us:muscat", []string{"nuclear-programme"}); err != nil {
		t.Fatal(err)
	}
	keys := 0
	for _, e := range mustEvents(t, ctx, irFM) {
		if env, err := seal.ParseEnvelope(e.Data); err == nil && e.Type == backchannel.EventRoomKey && env.Room == backchannel.RoomPrivate("ir") {
			keys++
		}
	}
	if keys != 1 {
		t.Errorf("room key: %d keys of room %s on the record after a lost answer, want 1", keys, backchannel.RoomPrivate("ir"))
	}
	note := client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"}, Body: []byte("sent once")}
	summary := client.Draft{Room: talks.RoomCaucus("ir"), Topics: []string{"nuclear-programme"}, Body: []byte("the US side is ready to talk")}
	for _, tc := range []struct {
		name   string
		ft     *faultyTransport
		submit func() (api.Accepted, error)
	}{
		{"found talks", envoyFT, func() (api.Accepted, error) {
			return envoy.CreateTalks(ctx, talks.Charter{
				ID: "us:muscat-2", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
				Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
				Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
			})
		}},
		{"accept a charter", irFT, func() (api.Accepted, error) { return irFM.Accept(ctx, "us:muscat-2", fw.pins()) }},
		{"propose", envoyFT, func() (api.Accepted, error) {
			return envoy.Propose(ctx, "us:muscat", "venue", talks.SetVenue("Muscat"), time.Time{})
		}},
		{"vote", irFT, func() (api.Accepted, error) { return irFM.Vote(ctx, "us:muscat", "venue", true) }},
		{"send", envoyFT, func() (api.Accepted, error) {
			a, _, err := envoy.Send(ctx, "us:muscat", note)
			return a, err
		}},
		{"relay verbatim", omFT, func() (api.Accepted, error) {
			a, _, err := omFM.RelayVerbatim(ctx, "us:muscat", usNote(), talks.RoomCaucus("ir"))
			return a, err
		}},
		{"summarize", omFT, func() (api.Accepted, error) {
			a, _, err := omFM.Summarize(ctx, "us:muscat", []seal.Hash{usNote().Hash}, summary)
			return a, err
		}},
		{"receipt", omFT, func() (api.Accepted, error) {
			return omFM.Receipt(ctx, "us:muscat", usNote().Hash, seal.Read)
		}},
		{"red lines", irFT, func() (api.Accepted, error) {
			return irFM.SetRedLines(ctx, "us:muscat", []string{"nuclear-programme", "sanctions"})
		}},
	} {
		tc.ft.armSubmission(faultLost)
		if _, err := tc.submit(); err == nil || !tc.ft.fired() {
			t.Fatalf("%s: the lost answer went unnoticed (fault applied: %v)", tc.name, tc.ft.fired())
		}
		tc.ft.arm(0, "")
		got, err := tc.submit()
		if err != nil {
			t.Errorf("%s: sent again after its answer was lost: %v", tc.name, err)
		} else if !got.Duplicate {
			t.Errorf("%s: sent again after its answer was lost, it landed again at %d", tc.name, got.Index)
		}
	}
}

// Whatever request of a follow fails, and however, the follower sees every event it may read
// once, in order.
func TestFaultEachRequestOfAFollowDeliversEveryEventOnce(t *testing.T) {
	fw := newFaultWorld(t)
	info, err := fw.envoy.Talks(fw.ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	var drops int
	follow := func(c *client.Client) ([]int64, error) {
		ctx, cancel := context.WithCancel(fw.ctx)
		defer cancel()
		var got []int64
		drops = 0
		err := c.FollowNotify(ctx, "us:muscat", 0, func(e api.Event) error {
			got = append(got, e.Index)
			if e.Index == info.Size-1 {
				cancel()
			}
			return nil
		}, func(error, int64) { drops++ })
		if ctx.Err() != nil && fw.ctx.Err() == nil {
			err = nil
		}
		return got, err
	}
	probe, pt := fw.faulty(fw.omFM)
	pt.arm(0, "")
	want, err := follow(probe)
	if drops != 0 {
		t.Fatalf("a follow with no fault was told of %d dropped connections", drops)
	}
	if err != nil {
		t.Fatal(err)
	}
	at := 1
	for ; ; at++ {
		fired := false
		for _, k := range faults {
			name := fmt.Sprintf("request %d/%s", at, k)
			c, ft := fw.faulty(fw.omFM)
			ft.arm(at, k)
			got, err := follow(c)
			fired = fired || ft.fired()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: the follower saw %v, want %v", name, got, want)
			}
			// A fault that broke a request is told, once resumed; a late answer breaks nothing.
			// (A request that reached the server twice may break a login, or not.)
			switch {
			case k == faultLate && drops != 0, k != faultLate && k != faultTwice && ft.fired() && drops == 0:
				t.Fatalf("%s: the follower was told of %d dropped connections (fault applied: %v)", name, drops, ft.fired())
			}
		}
		if !fired {
			break
		}
	}
	if at < 3 {
		t.Fatalf("a follow made %d requests", at-1)
	}
}

func mustSync(t *testing.T, ctx context.Context, c *client.Client) *client.Book {
	t.Helper()
	if _, err := c.Sync(ctx, "us:muscat"); err != nil {
		t.Fatal(err)
	}
	return c.Book("us:muscat")
}

// Syncs of one talks from many goroutines, while others read the book and another party
// writes, neither race (go test -race) nor leave a message twice or out of order in the book.
func TestConcurrentSyncsOfOneTalksNeitherRaceNorDouble(t *testing.T) {
	fw := newFaultWorld(t)
	c, _ := fw.faulty(fw.omFM)
	const writes, syncers = 20, 4
	var wg sync.WaitGroup
	errs := make(chan error, syncers+2)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range writes {
			if _, _, err := fw.envoy.Send(fw.ctx, "us:muscat", client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
				Topics: []string{"nuclear-programme"}, Body: fmt.Appendf(nil, "concurrent %d", i)}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range syncers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Sync(fw.ctx, "us:muscat"); err != nil {
					errs <- err
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if b := c.Book("us:muscat"); b != nil {
				last := int64(-1)
				for _, m := range b.Messages {
					if m.Index <= last {
						errs <- fmt.Errorf("the book's messages go from %d to %d", last, m.Index)
						return
					}
					last = m.Index
					_ = len(m.Relays) + len(m.Receipts)
				}
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := bodies(mustSync(t, fw.ctx, c))
	want := bodies(mustSync(t, fw.ctx, fw.omFM))
	if !slices.Equal(got, want) {
		t.Fatalf("the book holds\n%q\nwant\n%q", got, want)
	}
}

// The server restarts under an open event stream: the follower reconnects, resumes with
// Last-Event-ID, and sees every event it may read once, in order, those written before the
// restart and after.
func TestFaultServerRestartUnderAnOpenStreamDeliversEveryEventOnce(t *testing.T) {
	fw := newFaultWorld(t)
	follower := client.New(fw.url, fw.omFM.Identity())
	var mu sync.Mutex
	var got []int64
	seen := make(chan int64, 1024)
	ctx, cancel := context.WithCancel(fw.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- follower.Follow(ctx, "us:muscat", 0, func(e api.Event) error {
			mu.Lock()
			got = append(got, e.Index)
			mu.Unlock()
			seen <- e.Index
			return nil
		})
	}()
	// waitFor waits until the follower has seen the event at index last.
	waitFor := func(last int64) {
		t.Helper()
		deadline := time.After(time.Minute) // a hang, not a speed: reaching it is a failure
		for {
			select {
			case i := <-seen:
				if i >= last {
					return
				}
			case err := <-done:
				t.Fatalf("the follow ended waiting for event %d: %v", last, err)
			case <-deadline:
				t.Fatalf("the follower never saw event %d", last)
			}
		}
	}
	// send sends a note, again if the connection broke with the restart: the retry lands once.
	send := func(body string) api.Accepted {
		t.Helper()
		var err error
		for range 5 {
			var a api.Accepted
			if a, _, err = fw.envoy.Send(fw.ctx, "us:muscat", client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
				Topics: []string{"nuclear-programme"}, Body: []byte(body)}); err == nil {
				return a
			}
		}
		t.Fatal(err)
		return api.Accepted{}
	}
	info, err := fw.envoy.Talks(fw.ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(info.Size - 1)
	var last api.Accepted
	for i := range 5 {
		last = send(fmt.Sprintf("before the restart %d", i))
	}
	waitFor(last.Index)
	fw.restart(nil)
	for i := range 5 {
		last = send(fmt.Sprintf("after the restart %d", i))
	}
	waitFor(last.Index)
	cancel()
	<-done

	// What the follower may read, page by page.
	var want []int64
	for from := int64(0); from <= last.Index; {
		p, err := fw.omFM.Events(fw.ctx, "us:muscat", from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			want = append(want, e.Index)
		}
		if p.Next <= from {
			break
		}
		from = p.Next
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("the follower saw %v, want %v", got, want)
	}
}
