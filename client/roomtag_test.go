package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The host keeps from one reader the last event of a room, so that nothing follows it there to
// give it away: Oman's verbatim relay of the US note to Iran, the last message of Iran's room;
// or Oman's notice to the US that its words were passed on. Each event's leaf carries a tag
// only the readers of its room can make and recognise, so the reader knows of the event from
// the log alone, and refuses the record that does not serve it.
func TestTheLastEventOfAQuietRoomKeptFromItsReaderIsMissed(t *testing.T) {
	fw := newFaultWorld(t)
	usNote := mustSync(t, fw.ctx, fw.omFM).Messages[0]
	acc, relay, err := fw.omFM.RelayVerbatim(fw.ctx, muscat, usNote, talks.RoomCaucus("ir"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		reader *client.Client
		room   string
		kept   func(e api.Event) bool
	}{
		{"the relay, from Iran", fw.irFM, talks.RoomCaucus("ir"), func(e api.Event) bool {
			return e.Type == backchannel.EventEnvelope && seal.Hash(sha256.Sum256(e.Data)) == relay.Hash()
		}},
		{"the notice that the note was passed on, from the US", fw.envoy, talks.RoomCaucus("us"), func(e api.Event) bool {
			return e.Type == backchannel.EventRelayed && e.Index == acc.Index+1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withhold := func(p *api.EventPage) { p.Events = slices.DeleteFunc(p.Events, tc.kept) }
			reader := client.New(fw.url, tc.reader.Identity(), client.WithLogKey(tc.reader.PinnedLogKey()),
				client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: withhold}}))
			_, err := reader.Sync(fw.ctx, muscat)
			if !errors.Is(err, client.ErrRecord) || !errors.Is(err, client.ErrWithheld) || !strings.Contains(err.Error(), "room "+tc.room) {
				t.Fatalf("Sync = %v, want ErrRecord: an event of %s withheld", err, tc.room)
			}
			// Served everything, the reader raises nothing.
			honest := client.New(fw.url, tc.reader.Identity(), client.WithLogKey(tc.reader.PinnedLogKey()))
			mustSync(t, fw.ctx, honest)
		})
	}
	// The events of rooms a reader does not sit in are not served to it, and no alarm: it
	// cannot recognise their tags.
	for _, c := range []*client.Client{fw.envoy, fw.irFM, fw.omFM} {
		fresh := client.New(fw.url, c.Identity(), client.WithLogKey(c.PinnedLogKey()))
		mustSync(t, fw.ctx, fresh)
	}
}

// A host that strips an event's tag from its leaf (or writes another), so that the event's
// readers would not recognise it, changes the leaf its sender was promised: the sender refuses
// the record.
func TestATagTheHostStripsIsMissedByItsSender(t *testing.T) {
	for _, tc := range []struct {
		name string
		tag  any
	}{
		{"stripped", nil},
		{"replaced", make([]byte, backchannel.TagSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := newFaultWorld(t)
			usNote := mustSync(t, fw.ctx, fw.omFM).Messages[0]
			acc, _, err := fw.omFM.RelayVerbatim(fw.ctx, muscat, usNote, talks.RoomCaucus("ir"))
			if err != nil {
				t.Fatal(err)
			}
			fw.restart(editDB(t, fw.host, func(h *hostDB) {
				h.exec(`UPDATE events SET tag = ? WHERE talks = ? AND idx = ?`, tc.tag, h.talks, acc.Index)
				h.resign()
			}))
			_, err = fw.omFM.Sync(fw.ctx, muscat)
			if !errors.Is(err, client.ErrRecord) || !strings.Contains(err.Error(), fmt.Sprint(acc.Index)) {
				t.Fatalf("Sync = %v, want ErrRecord naming the event acknowledged at %d", err, acc.Index)
			}
		})
	}
}

// mustEvents returns every event of us:muscat that c may read.
func mustEvents(t *testing.T, ctx context.Context, c *client.Client) []api.Event {
	t.Helper()
	var out []api.Event
	for from := int64(0); ; {
		p, err := c.Events(ctx, muscat, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		if p.Next >= p.Size || len(p.Events) == 0 {
			return out
		}
		from = p.Next
	}
}

// The host acknowledges another event than the one sent (a made-up hash, another type, no
// talks at all), so that the promise it is held to would be of a leaf it can forge: the client
// holds the host to what it sent, and refuses the answer.
func TestAnAcknowledgmentOfAnotherEventIsRefused(t *testing.T) {
	fw := newFaultWorld(t)
	for _, tc := range []struct {
		name    string
		rewrite func(a *api.Accepted)
	}{
		{"another hash", func(a *api.Accepted) { a.Hash = strings.Repeat("ab", 32) }},
		{"another type", func(a *api.Accepted) { a.Type = backchannel.EventAct }},
		{"no talks", func(a *api.Accepted) { a.Talks = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every answer to a message sent.
			rw := bytesRewriter{base: http.DefaultTransport, match: func(req *http.Request, resp *http.Response) bool {
				return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/envelopes") && resp.StatusCode == http.StatusCreated
			}, rewrite: func(b []byte) []byte {
				var a api.Accepted
				if json.Unmarshal(b, &a) != nil {
					return b
				}
				tc.rewrite(&a)
				out, _ := json.Marshal(a)
				return out
			}}
			envoy := client.New(fw.url, fw.envoy.Identity(), client.WithLogKey(fw.envoy.PinnedLogKey()),
				client.WithHTTPClient(&http.Client{Transport: rw}))
			_, _, err := envoy.Send(fw.ctx, muscat, client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
				Topics: []string{"nuclear-programme"}, Body: []byte("Acknowledged as something else.")})
			if !errors.Is(err, client.ErrRecord) || !strings.Contains(err.Error(), "but the submission was a envelope") {
				t.Fatalf("Send = %v, want ErrRecord: the host acknowledged another event", err)
			}
		})
	}
}

// A member hands its room a key that does not open as a key (here 31 bytes): the other readers
// would go on tagging with it, and the host could keep the room's events from whoever cannot
// recognise it. The reader it fails for hands the room a new key at once, and still misses an
// event kept from it.
func TestARoomKeyThatDoesNotOpenIsReplaced(t *testing.T) {
	fw := newFaultWorld(t)
	ctx := fw.ctx
	b := mustSync(t, ctx, fw.envoy)
	var to []*seal.Credential
	for _, p := range b.State.Recipients(talks.RoomCaucus("us"), time.Now()) {
		org, name, _ := seal.SplitHandle(p)
		to = append(to, b.Trust.Latest(org, name))
	}
	bad, err := fw.envoy.Identity().Seal(rand.Reader, seal.Context{Talks: muscat, Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: uint64(time.Now().UnixMicro())}, make([]byte, backchannel.RoomKeySize-1), to)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := fw.envoy.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.SubmitRoomKey{Envelope: bad.Marshal()})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fw.url+"/v1/talks/"+muscat+"/room-keys", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("publishing the bad key: %v %s %v", resp.Status, b, err)
	}
	resp.Body.Close()
	mustSync(t, ctx, fw.omFM)
	var byOman int
	for _, e := range mustEvents(t, ctx, fw.omFM) {
		if env, err := seal.ParseEnvelope(e.Data); err == nil && e.Type == backchannel.EventRoomKey && env.Room == talks.RoomCaucus("us") &&
			env.Sender == fw.omFM.Credential().ID() {
			byOman++
		}
	}
	if byOman != 1 {
		t.Fatalf("Oman handed the US caucus %d keys after one that did not open, want 1", byOman)
	}
	acc, note, err := fw.envoy.Send(ctx, muscat, client.Draft{Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote,
		Topics: []string{"nuclear-programme"}, Body: []byte("Tagged with Oman's new key.")})
	if err != nil {
		t.Fatal(err)
	}
	withhold := func(p *api.EventPage) {
		p.Events = slices.DeleteFunc(p.Events, func(e api.Event) bool { return e.Index == acc.Index })
	}
	om := client.New(fw.url, fw.omFM.Identity(), client.WithLogKey(fw.omFM.PinnedLogKey()),
		client.WithHTTPClient(&http.Client{Transport: pageRewriter{base: http.DefaultTransport, rewrite: withhold}}))
	if _, err := om.Sync(ctx, muscat); !errors.Is(err, client.ErrWithheld) {
		t.Fatalf("Sync = %v, want ErrWithheld for the note %.12s kept from Oman", err, note.Hash())
	}
}
