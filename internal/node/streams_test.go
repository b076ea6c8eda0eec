package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// At shutdown an event stream ends at once, while another request in flight keeps its context
// and finishes.
func TestStreamEnderEndsOnlyStreams(t *testing.T) {
	var ender streamEnder
	started := make(chan string, 2)
	ended := make(chan string, 2)
	h := ender.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
		} else {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{"))
		}
		started <- r.URL.Path
		select {
		case <-r.Context().Done():
			ended <- r.URL.Path + " cancelled"
		case <-time.After(300 * time.Millisecond):
			ended <- r.URL.Path + " finished"
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/stream", "/page"} {
		go func() {
			res, err := http.Get(srv.URL + p)
			if err == nil {
				res.Body.Close()
			}
		}()
	}
	<-started
	<-started
	ender.end()
	got := map[string]bool{<-ended: true, <-ended: true}
	if !got["/stream cancelled"] || !got["/page finished"] {
		t.Errorf("got %v, want the stream cancelled and the page finished", got)
	}

	// A stream that starts after shutdown began ends at once.
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/stream", nil))
	}()
	<-started
	if e := <-ended; e != "/stream cancelled" {
		t.Errorf("late stream: %s", e)
	}
	<-done
}

// A stream whose reader stopped reading is blocked in a write, where its context does not reach:
// shutdown ends it all the same.
func TestStreamEnderEndsAStreamBlockedWriting(t *testing.T) {
	var ender streamEnder
	wrote := make(chan struct{})
	returned := make(chan error, 1)
	h := ender.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 64<<10)
		var once sync.Once
		for {
			if _, err := w.Write(chunk); err != nil {
				returned <- err
				return
			}
			once.Do(func() { close(wrote) })
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL) // and never read the body
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	<-wrote
	ender.end()
	select {
	case err := <-returned:
		t.Logf("the blocked stream ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a stream blocked writing to a reader that stopped reading outlived shutdown")
	}
}
