package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
)

// longEvents is the size of the long record: enough that every page, tile level and cache of
// the server and the client is crossed many times over.
const longEvents = 100_000

// A talks of 100,000 events, written through the real binary, is complete every way a party
// reads it: paged from 0, streamed from 0, synced from scratch by the client library, exported
// with an inclusion proof for every entry, and the export verified offline. It takes minutes,
// so it runs when BACKCHANNEL_LONG=1 (CI sets it, without the race detector); each stage's time
// is logged, not asserted.
func TestLongRecordOf100000Events(t *testing.T) {
	if os.Getenv("BACKCHANNEL_LONG") == "" {
		t.Skip("set BACKCHANNEL_LONG=1 to write and read back a record of 100,000 events")
	}
	n := int64(longEvents)
	if s := os.Getenv("BACKCHANNEL_LONG_EVENTS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			t.Fatalf("BACKCHANNEL_LONG_EVENTS=%q: want a positive number", s)
		}
		n = v
	}
	w := newCrashWorld(t)
	w.start()
	w.setup()
	stage := func(name string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		t.Logf("%-18s %v", name, time.Since(start).Round(10*time.Millisecond))
	}
	reader := w.senders[0]

	var size int64
	stage("write", func() {
		var info api.Talks
		w.must(w.call(reader.token, http.MethodGet, "/v1/talks/"+crashTalks, nil, &info))
		todo := n - info.Size
		var wg sync.WaitGroup
		for i, s := range w.senders {
			count := todo / int64(len(w.senders))
			if int64(i) < todo%int64(len(w.senders)) {
				count++
			}
			wg.Go(func() { w.sendNotes(s, count) })
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		w.must(w.call(reader.token, http.MethodGet, "/v1/talks/"+crashTalks, nil, &info))
		size = info.Size
		if size != n {
			t.Fatalf("the log has %d events, want %d", size, n)
		}
	})

	stage("page from 0", func() { w.check("the long record") })

	stage("stream from 0", func() {
		stream := w.openStream() // it has read "id: 0"
		defer stream.Close()
		sc := bufio.NewScanner(stream)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		next := int64(1)
		for next < size && sc.Scan() {
			id, ok := strings.CutPrefix(sc.Text(), "id: ")
			if !ok {
				continue
			}
			if id != strconv.FormatInt(next, 10) {
				t.Fatalf("the stream's event after %d is %s", next-1, id)
			}
			next++
		}
		if next != size {
			t.Fatalf("the stream ended after %d of %d events: %v", next, size, sc.Err())
		}
	})

	c := client.New(w.url, reader.id, client.WithLogKey(w.logKey), client.WithHost(crashHost))
	var b *client.Book
	stage("sync from scratch", func() {
		if _, err := c.Sync(t.Context(), crashTalks); err != nil {
			t.Fatal(err)
		}
		b = c.Book(crashTalks)
		if b.Size != size {
			t.Fatalf("the book has %d events, the log %d", b.Size, size)
		}
		opened := 0
		for _, m := range b.Messages {
			if m.Opened != nil && m.Envelope.Sender == reader.id.Credential().ID() {
				opened++
			}
		}
		if want := w.notesOf(reader); opened != want {
			t.Fatalf("the sender opened %d of its %d notes", opened, want)
		}
	})

	var export []byte
	stage("export", func() {
		cp, msg := b.Verifier.Latest()
		entries := make(map[int64][]byte, size)
		for from := int64(0); from < cp.Size; {
			page, err := c.Events(t.Context(), crashTalks, from, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, ae := range page.Events {
				e := backchannel.Event{Talks: crashTalks, Index: uint64(ae.Index), Type: ae.Type, Room: ae.Room, Data: ae.Data, Time: ae.Time}
				entries[ae.Index] = e.Entry()
			}
			if page.Next <= from {
				break
			}
			from = page.Next
		}
		if int64(len(entries)) != cp.Size {
			t.Fatalf("read %d entries of %d", len(entries), cp.Size)
		}
		logKey, err := record.OriginVerifierKey(c.PinnedLogKey(), b.Verifier.Origin())
		if err != nil {
			t.Fatal(err)
		}
		ex, err := record.NewExport(b.Verifier.Origin(), logKey, nil, [][]byte{msg}, entries, c.LogTiles(crashTalks).HashReader(t.Context(), cp))
		if err != nil {
			t.Fatal(err)
		}
		if export, err = json.Marshal(ex); err != nil {
			t.Fatal(err)
		}
		t.Logf("the export is %d MB", len(export)>>20)
	})

	stage("verify the export", func() {
		rep, err := record.VerifyExport(export, c.PinnedLogKey())
		if err != nil {
			t.Fatal(err)
		}
		if int64(rep.Entries) != size || !rep.Pinned {
			t.Fatalf("the export verified %d entries of %d (pinned key: %v)", rep.Entries, size, rep.Pinned)
		}
	})
}

// sendNotes has s seal and submit count notes to its delegation's caucus, each acknowledged.
func (w *crashWorld) sendNotes(s *principal, count int64) {
	to := w.caucus()
	for range count {
		data, h, err := s.nextNote(to)
		if err != nil {
			w.t.Error(err)
			return
		}
		var out api.Accepted
		status, body, err := w.do(s.token, http.MethodPost, "/v1/talks/"+crashTalks+"/envelopes", api.SubmitEnvelope{Envelope: data}, &out)
		if err != nil || status != http.StatusCreated || out.Hash != h {
			w.t.Errorf("note %d of %s: %d %s %v", s.seq, s.id.Credential().Handle(), status, body, err)
			return
		}
		w.mu.Lock()
		w.sent[h], w.acked[h] = true, out.Index
		w.mu.Unlock()
	}
}

// notesOf counts the notes s sent.
func (w *crashWorld) notesOf(s *principal) int { return int(s.seq) }
