package node

import (
	"context"
	"net/http"
	"net/http/httptest"
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
