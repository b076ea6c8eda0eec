package record_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backchannel/backchannel/record"
)

// logPrefix is where the server mounts a talks' log, and where the tests serve theirs, so that
// TileClient is tested with a base URL that is not the server's root.
const logPrefix = "/v1/talks/" + testTalks + "/log/"

// serve serves h (a recordtest.MemLog, or a host of the test's making around one) under
// logPrefix, the way the server mounts a talks' log, and returns a TileClient for it. h sees
// paths relative to the prefix, with a leading slash: "/checkpoint", "/tile/0/000".
func serve(t *testing.T, h http.Handler) *record.TileClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(logPrefix, http.StripPrefix(strings.TrimSuffix(logPrefix, "/"), h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &record.TileClient{HTTP: srv.Client(), BaseURL: srv.URL + logPrefix}
}

func TestTileClientFollowsGrowingLog(t *testing.T) {
	m := newTestLog(t, 0)
	c := serve(t, m)
	v := newTestVerifier(t)
	var old record.Checkpoint
	for _, grow := range []int{0, 3, 41, 256, 1, 300} {
		if grow > 0 {
			if _, err := m.Append(entries(int(m.Size()), int(m.Size())+grow)...); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := c.Sync(t.Context(), v)
		if err != nil {
			t.Fatalf("sync at size %d: %v", m.Size(), err)
		}
		if cp.Size != m.Size() {
			t.Fatalf("synced to %d, log has %d", cp.Size, m.Size())
		}
		got, err := c.Entries(t.Context(), cp, 0, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got {
			if !bytes.Equal(e, entry(i)) {
				t.Fatalf("entry %d = %q", i, e)
			}
		}
		// The previous checkpoint's partial tiles are gone once full; the client falls
		// back to the full tiles and still proves against the old root.
		if old.Size > 0 {
			if _, err := c.Entries(t.Context(), old, old.Size-1, 1); err != nil {
				t.Fatalf("entries of old checkpoint %d: %v", old.Size, err)
			}
			p, err := c.ProveInclusion(t.Context(), old, old.Size-1)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, record.CheckInclusion(old, old.Size-1, entry(int(old.Size-1)), p), nil)
		}
		old = cp
	}
	if _, err := c.Entries(t.Context(), old, 0, old.Size+1); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("entries beyond the tree: %v", err)
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	n    atomic.Int64
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// Proving every entry of a log fetches each tile once, not once per proof: an export of a long
// log costs its tiles, not its entries times its tiles.
func TestHashReaderFetchesEachTileOnce(t *testing.T) {
	m := newTestLog(t, 0)
	const n = 3*256 + 17
	if _, err := m.Append(entries(0, n)...); err != nil {
		t.Fatal(err)
	}
	c := serve(t, m)
	ct := &countingTransport{base: c.HTTP.Transport}
	c.HTTP = &http.Client{Transport: ct}
	cp, err := c.Sync(t.Context(), newTestVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	hr := c.HashReader(t.Context(), cp)
	before := ct.n.Load()
	for i := range int64(n) {
		p, err := record.ProveInclusion(cp.Size, i, hr)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, record.CheckInclusion(cp, i, entry(int(i)), p), nil)
	}
	// Level 0: three full tiles and a partial one; level 1: one partial tile.
	if got := ct.n.Load() - before; got > 5 {
		t.Fatalf("proving %d entries fetched %d tiles", n, got)
	}
}
