package client_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// afterTransport calls after once a request's answer is in, before the client reads it.
type afterTransport struct {
	base  http.RoundTripper
	after func(*http.Request)
}

func (t afterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(r)
	if err == nil {
		t.after(r)
	}
	return res, err
}

// A submission the host acknowledges while a sync is under way, after the sync read its
// checkpoint, is held to a later checkpoint, not to that one, which predates it: a page that
// votes while its live view re-reads the talks must not be told that the host dropped its vote.
func TestAnAcknowledgmentDuringASyncIsHeldToALaterCheckpoint(t *testing.T) {
	fw := newFaultWorld(t)
	var c *client.Client
	var fired atomic.Bool
	c = client.New(fw.url, fw.irFM.Identity(), client.WithLogKey(fw.irFM.PinnedLogKey()),
		client.WithHTTPClient(&http.Client{Transport: afterTransport{base: http.DefaultTransport, after: func(r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/log/checkpoint") && fired.CompareAndSwap(false, true) {
				if _, err := c.Propose(fw.ctx, "us:muscat", "m-during-sync", talks.SetVenue("Doha"), time.Now().Add(time.Hour)); err != nil {
					t.Errorf("proposing during the sync: %v", err)
				}
			}
		}}}))
	if _, err := c.Sync(fw.ctx, "us:muscat"); err != nil {
		t.Fatalf("the sync under way when the proposal was acknowledged: %v", err)
	}
	if !fired.Load() {
		t.Fatal("no checkpoint was read")
	}
	if got := len(c.Promises("us:muscat")); got != 1 {
		t.Fatalf("%d promises held after the sync that began before the acknowledgment, want 1", got)
	}
	if _, err := c.Sync(fw.ctx, "us:muscat"); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Promises("us:muscat")); got != 0 {
		t.Fatalf("%d promises held after a later sync, want the proposal kept", got)
	}
	if _, ok := c.Book("us:muscat").State.Motion("m-during-sync"); !ok {
		t.Fatal("the later sync does not hold the proposal")
	}
}
