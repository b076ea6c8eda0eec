package client

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// Bounds of retryLater: a server that asks for more patience than this gets its refusal
// returned to the caller, who knows better whether to wait.
const (
	retryLaterAttempts = 4
	retryLaterMaxWait  = 10 * time.Second
)

// retryLater is the transport of every request the client makes: a request refused for now
// (429 Too Many Requests, 503 Service Unavailable) with a Retry-After the server set is sent
// again after that wait. Such a refusal means the server did not act on the request, so sending
// it again is safe whatever its method.
type retryLater struct {
	base  http.RoundTripper
	sleep func(r *http.Request, d time.Duration) error
}

func (t retryLater) RoundTrip(r *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(r)
		if err != nil || attempt == retryLaterAttempts ||
			(resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
			return resp, err
		}
		wait, ok := retryAfter(resp.Header.Get("Retry-After"))
		if !ok || wait > retryLaterMaxWait || (r.Body != nil && r.GetBody == nil) {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if r.Body != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			r = r.Clone(r.Context())
			r.Body = body
		}
		if err := t.sleep(r, wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After header given in seconds; a date (the other form) is not
// honoured, as it needs clocks that agree.
func retryAfter(v string) (time.Duration, bool) {
	s, err := strconv.Atoi(v)
	if err != nil || s < 0 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// sleepFor waits d or until r's context is done.
func sleepFor(r *http.Request, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// withRetryLater returns a copy of h whose transport honours Retry-After.
func withRetryLater(h *http.Client) *http.Client {
	if _, ok := h.Transport.(retryLater); ok {
		return h
	}
	base := h.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	nh := *h
	nh.Transport = retryLater{base: base, sleep: sleepFor}
	return &nh
}
