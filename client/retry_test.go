package client

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRetryLaterResendsWhatTheServerRefusedForNow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		refusals   int
		wantCalls  int
		wantStatus int
		wantWaits  []time.Duration
	}{
		{"429 with Retry-After, twice", 429, "1", 2, 3, 200, []time.Duration{time.Second, time.Second}},
		{"503 with Retry-After", 503, "0", 1, 2, 200, []time.Duration{0}},
		{"429 without Retry-After is returned", 429, "", 1, 1, 429, nil},
		{"503 from a proxy without Retry-After is returned", 503, "", 1, 1, 503, nil},
		{"a wait too long is returned", 429, "3600", 1, 1, 429, nil},
		{"a date is not honoured", 429, "Wed, 21 Oct 2015 07:28:00 GMT", 1, 1, 429, nil},
		{"at most four attempts", 429, "1", 10, 4, 429, []time.Duration{time.Second, time.Second, time.Second}},
		{"other refusals are returned", 409, "1", 1, 1, 409, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				body, _ := io.ReadAll(r.Body)
				if string(body) != "the same envelope" {
					t.Errorf("call %d: body %q", calls, body)
				}
				if calls <= tc.refusals {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					return
				}
			}))
			defer srv.Close()
			var waits []time.Duration
			h := withRetryLater(&http.Client{})
			rt := h.Transport.(retryLater)
			rt.sleep = func(_ *http.Request, d time.Duration) error { waits = append(waits, d); return nil }
			h.Transport = rt
			resp, err := h.Post(srv.URL, "text/plain", bytes.NewReader([]byte("the same envelope")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || calls != tc.wantCalls || len(waits) != len(tc.wantWaits) {
				t.Fatalf("status %d after %d calls and waits %v; want %d after %d calls and waits %v",
					resp.StatusCode, calls, waits, tc.wantStatus, tc.wantCalls, tc.wantWaits)
			}
			for i := range waits {
				if waits[i] != tc.wantWaits[i] {
					t.Fatalf("waits %v, want %v", waits, tc.wantWaits)
				}
			}
		})
	}
}
