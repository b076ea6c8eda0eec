package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

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
