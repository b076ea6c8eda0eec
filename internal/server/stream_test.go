package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// checkStreamEvents checks that each message of an event stream is an Event of the document
// whose SSE id is its index and whose SSE event name is its type.
func checkStreamEvents(t *testing.T, w *world, evs []sseEvent) []api.Event {
	t.Helper()
	doc := w.srv.OpenAPI()
	schema := doc.Components.Schemas.Map()["Event"]
	if schema == nil {
		t.Fatal("the document has no Event schema")
	}
	var out []api.Event
	for _, e := range evs {
		var v any
		if err := json.Unmarshal(e.data, &v); err != nil {
			t.Fatalf("stream event %s: %v", e.id, err)
		}
		res := &huma.ValidateResult{}
		huma.Validate(doc.Components.Schemas, schema, huma.NewPathBuffer(nil, 0), huma.ModeReadFromServer, v, res)
		if len(res.Errors) > 0 {
			t.Errorf("stream event %s is not an Event of the document: %v", e.id, res.Errors)
		}
		var ev api.Event
		if err := json.Unmarshal(e.data, &ev); err != nil {
			t.Fatal(err)
		}
		if e.id != strconv.FormatInt(ev.Index, 10) || e.event != ev.Type {
			t.Errorf("stream message id %q event %q carries event %d of type %s", e.id, e.event, ev.Index, ev.Type)
		}
		out = append(out, ev)
	}
	return out
}

// TestStreamResumesAfterLastEventID reads a stream, then reconnects with Last-Event-ID: the
// second connection starts right after that event, and events accepted while it is open
// arrive on it, in order, once.
func TestStreamResumesAfterLastEventID(t *testing.T) {
	tr := newTrio(t, 0, nil)
	path := talksPath(tr.id, "events", "stream")
	size := tr.size(tr.id)
	r, first := tr.stream(path, tr.us.token, nil, 5*time.Second, func(evs []sseEvent) bool { return int64(len(evs)) >= size })
	want(t, r, http.StatusOK, "")
	all := checkStreamEvents(t, tr.world, first)
	for i, e := range all {
		if e.Index != int64(i) {
			t.Fatalf("event %d of the stream has index %d: the whole record is readable to its founder", i, e.Index)
		}
	}

	// Reconnect after event 2; three motions arrive while the stream is open.
	submitted := make(chan int, 3)
	go func() {
		time.Sleep(100 * time.Millisecond)
		for _, id := range []string{"m1", "m2", "m3"} {
			submitted <- tr.submit(tr.us, tr.id, talks.Propose{At: tr.now(), By: tr.us.actor(), Motion: id, Change: talks.SetVenue("Doha " + id)}).status
		}
		close(submitted)
	}()
	wantN := int(size) // the events after index 2, and three more
	r, second := tr.stream(path, tr.us.token, map[string]string{"Last-Event-ID": "2"}, 10*time.Second,
		func(evs []sseEvent) bool { return len(evs) >= wantN })
	want(t, r, http.StatusOK, "")
	for status := range submitted {
		if status != http.StatusCreated {
			t.Fatalf("a motion was answered %d", status)
		}
	}
	evs := checkStreamEvents(t, tr.world, second)
	if len(evs) != wantN {
		t.Fatalf("the resumed stream sent %d events, want %d", len(evs), wantN)
	}
	for i, e := range evs {
		if e.Index != int64(3+i) {
			t.Fatalf("resumed event %d has index %d, want %d", i, e.Index, 3+i)
		}
	}
	if evs[len(evs)-1].Type != "act" || tr.size(tr.id) != size+3 {
		t.Fatalf("the last event is a %s; the record has %d events, want %d", evs[len(evs)-1].Type, tr.size(tr.id), size+3)
	}

	// from= starts a stream where Last-Event-ID is absent.
	r, third := tr.stream(path+"?from="+strconv.FormatInt(size+2, 10), tr.us.token, nil, 5*time.Second, func(evs []sseEvent) bool { return len(evs) >= 1 })
	want(t, r, http.StatusOK, "")
	if evs := checkStreamEvents(t, tr.world, third); len(evs) != 1 || evs[0].Index != size+2 {
		t.Fatalf("from=%d sent %+v", size+2, evs)
	}
}

// TestNotReadyWhileShuttingDown: a server told it is shutting down answers readyz with 503
// unavailable (a documented answer), while still alive.
func TestNotReadyWhileShuttingDown(t *testing.T) {
	s := newTestServer(t, nil)
	want(t, s.do(request{method: http.MethodGet, path: "/readyz"}), http.StatusOK, "")
	s.srv.SetReady(false)
	want(t, s.do(request{method: http.MethodGet, path: "/readyz"}), http.StatusServiceUnavailable, "unavailable")
	want(t, s.do(request{method: http.MethodGet, path: "/healthz"}), http.StatusOK, "")
	s.srv.SetReady(true)
	want(t, s.do(request{method: http.MethodGet, path: "/readyz"}), http.StatusOK, "")
}

// An open event stream ends when its token expires or its credential is revoked: what is
// accepted after is not delivered on it.
func TestStreamEndsWhenItsTokenExpiresOrItsCredentialIsRevoked(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(tr *trio, reader *person)
	}{
		{"the token expires", func(tr *trio, _ *person) {
			tr.clock.advance(2 * time.Hour) // past the default token lifetime of an hour
			tr.login(tr.us)                 // the writer logs in again; the reader does not
		}},
		{"the credential is revoked", func(tr *trio, reader *person) {
			tr.revoke(reader)
			tr.clock.advance(10 * time.Second) // past the server's credential cache
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTrio(t, 0, nil)
			reader := tr.person("ir", "aide", "Aide", 2)
			tr.accepted(tr.submit(tr.ir, tr.id, talks.AddMember{At: tr.now(), By: tr.ir.actor(),
				Member: talks.Member{Actor: reader.actor()}}))
			size := tr.size(tr.id)
			opened := make(chan struct{})
			type result struct {
				r   *response
				evs []sseEvent
			}
			done := make(chan result, 1)
			go func() {
				var once sync.Once
				r, evs := tr.stream(talksPath(tr.id, "events", "stream"), reader.token, nil, 20*time.Second, func(evs []sseEvent) bool {
					if int64(len(evs)) >= size {
						once.Do(func() { close(opened) })
					}
					return false
				})
				done <- result{r, evs}
			}()
			<-opened
			tc.end(tr, reader)
			after := tr.accepted(tr.submit(tr.us, tr.id, talks.Propose{At: tr.now(), By: tr.us.actor(), Motion: "after", Change: talks.SetVenue("Doha")}))
			res := <-done
			want(t, res.r, http.StatusOK, "")
			// Events appended before it ended (the reader's own revocation) may come; the
			// motion proposed after may not.
			for _, e := range checkStreamEvents(t, tr.world, res.evs) {
				if e.Index >= after.Index {
					t.Fatalf("the stream sent event %d, accepted after it should have ended", e.Index)
				}
			}
			if int64(len(res.evs)) < size {
				t.Fatalf("the stream sent %d events, fewer than the %d before", len(res.evs), size)
			}
		})
	}
}
