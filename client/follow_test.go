package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// TestFollowSeesEveryEventOnceInOrderAcrossReconnects follows a talks' live events while the
// server drops every connection several times, and checks that the follower saw each event it
// may read exactly once, in record order, with nothing of the other party's room.
func TestFollowSeesEveryEventOnceInOrderAcrossReconnects(t *testing.T) {
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	omFM := w.person("om", "foreign-minister", "Foreign Minister", 4)
	ctx := w.ctx
	w.ok(envoy.CreateTalks(ctx, talks.Charter{
		ID: "us:muscat", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
	}))
	w.ok(irFM.Accept(ctx, "us:muscat", w.pins()))
	w.ok(omFM.Accept(ctx, "us:muscat", w.pins()))

	var mu sync.Mutex
	var got []api.Event
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- omFM.Follow(fctx, "us:muscat", 0, func(e api.Event) error {
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
			return nil
		})
	}()

	const messages = 30
	for i := 0; i < messages; i++ {
		room := talks.RoomCaucus("us")
		from := envoy
		if i%2 == 1 {
			room, from = talks.RoomCaucus("ir"), irFM
		}
		if _, _, err := from.Send(ctx, "us:muscat", client.Draft{Room: room, Kind: backchannel.KindNote,
			Topics: []string{"nuclear-programme"}, Body: []byte(fmt.Sprintf("note %d", i))}); err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			w.dropConnections()
		}
	}
	info, err := envoy.Talks(ctx, "us:muscat")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n, last := len(got), int64(-1)
		if n > 0 {
			last = got[n-1].Index
		}
		mu.Unlock()
		if last == info.Size-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower saw %d events, the last %d; the record has %d", n, last, info.Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	err = <-done
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Follow returned %v, want context.Canceled", err)
	}
	// The mediator sits in every room: it must have seen every index, each once, in order.
	for i, e := range got {
		if e.Index != int64(i) {
			t.Fatalf("event %d of the stream has index %d: a gap, a repeat or a reordering", i, e.Index)
		}
	}

	// The US envoy's stream never carries Iran's room.
	var usGot []api.Event
	uctx, ustop := context.WithTimeout(ctx, 5*time.Second)
	defer ustop()
	_ = envoy.Follow(uctx, "us:muscat", 0, func(e api.Event) error {
		usGot = append(usGot, e)
		if e.Index == info.Size-1 {
			ustop()
		}
		return nil
	})
	for _, e := range usGot {
		if e.Room == talks.RoomCaucus("ir") {
			t.Fatalf("the US envoy's stream carried event %d of Iran's room", e.Index)
		}
	}
	if len(usGot) == 0 || len(usGot) >= len(got) {
		t.Errorf("the US stream carried %d events of %d: it should see all but Iran's room", len(usGot), len(got))
	}
}
