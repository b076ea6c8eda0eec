package node

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// streamEnder ends event streams when the server shuts down. http.Server.Shutdown waits for
// the requests in flight to finish, which an event stream never does of itself; the other
// requests should finish rather than be cut off, so only the responses that turn out to be
// event streams (Content-Type text/event-stream) have their context cancelled when shutdown
// begins. The rest keep the server's base context, which is cancelled once shutdown is over.
// A stream whose reader stopped reading is blocked writing, where no context reaches it: if it
// is still running stopGrace after shutdown began, its connection's write deadline is moved to
// now, so that the write fails and the stream ends (cut short: its reader was not reading).
type streamEnder struct {
	mu    sync.Mutex
	ended bool
	live  map[*streamWriter]bool
	// grace is how long a stream has to end by itself; stopGrace if zero.
	grace time.Duration
}

// stopGrace is how long an event stream has, once shutdown begins, to end by itself before its
// writes are cut off: long enough for a reader that reads, well within the shutdown timeout.
const stopGrace = 2 * time.Second

// wrap returns h with the streams it serves ended by end.
func (s *streamEnder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		sw := &streamWriter{ResponseWriter: w, ender: s, cancel: cancel}
		defer s.forget(sw)
		h.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// end cancels every event stream, and any that starts from now on.
func (s *streamEnder) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	for sw := range s.live {
		sw.cancel()
	}
	grace := s.grace
	if grace == 0 {
		grace = stopGrace
	}
	time.AfterFunc(grace, s.cut)
}

// cut fails the writes of every stream still running. It holds the lock that forget takes
// before a stream's handler returns, so no response is touched after its handler is done.
func (s *streamEnder) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sw := range s.live {
		// Not every ResponseWriter has a connection (a test's recorder): then the context is all.
		_ = http.NewResponseController(sw.ResponseWriter).SetWriteDeadline(time.Now())
	}
}

func (s *streamEnder) add(sw *streamWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = make(map[*streamWriter]bool)
	}
	s.live[sw] = true
	if s.ended {
		sw.cancel()
	}
}

func (s *streamEnder) forget(sw *streamWriter) {
	if !sw.stream {
		return
	}
	s.mu.Lock()
	delete(s.live, sw)
	s.mu.Unlock()
}

// streamWriter notices that a response is an event stream when its header is written.
type streamWriter struct {
	http.ResponseWriter
	ender   *streamEnder
	cancel  context.CancelFunc
	written bool
	stream  bool
}

func (w *streamWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		ct := w.Header().Get("Content-Type")
		if code == http.StatusOK && strings.HasPrefix(ct, "text/event-stream") {
			w.stream = true
			w.ender.add(w)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer, to flush.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the response, for handlers that look for http.Flusher.
func (w *streamWriter) Flush() {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}
