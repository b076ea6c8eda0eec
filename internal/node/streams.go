package node

import (
	"context"
	"net/http"
	"strings"
	"sync"
)

// streamEnder ends event streams when the server shuts down. http.Server.Shutdown waits for
// the requests in flight to finish, which an event stream never does of itself; the other
// requests should finish rather than be cut off, so only the responses that turn out to be
// event streams (Content-Type text/event-stream) have their context cancelled when shutdown
// begins. The rest keep the server's base context, which is cancelled once shutdown is over.
type streamEnder struct {
	mu     sync.Mutex
	ended  bool
	cancel map[*streamWriter]context.CancelFunc
}

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
	for _, cancel := range s.cancel {
		cancel()
	}
	s.cancel = nil
}

func (s *streamEnder) add(sw *streamWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		sw.cancel()
		return
	}
	if s.cancel == nil {
		s.cancel = make(map[*streamWriter]context.CancelFunc)
	}
	s.cancel[sw] = sw.cancel
}

func (s *streamEnder) forget(sw *streamWriter) {
	if !sw.stream {
		return
	}
	s.mu.Lock()
	delete(s.cancel, sw)
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
