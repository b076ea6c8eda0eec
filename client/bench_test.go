package client_test

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// BenchmarkAcceptEnvelopes measures envelopes accepted per second by a real server over
// loopback on the embedded store, durable commits on: 16 principals each submit pre-sealed
// 1 KiB notes (to the two members of their caucus) one after another, all at once. Sealing
// happens before the clock starts; what is measured is parse, signature and rule checks,
// group-committed durable append and the HTTP round trip.
func BenchmarkAcceptEnvelopes(b *testing.B) {
	w := newWorld(b)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	const senders = 16
	head := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	omFM := w.person("om", "foreign-minister", "Foreign Minister", 4)
	ctx := w.ctx
	check := func(_ any, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	check(head.CreateTalks(ctx, talks.Charter{
		ID: "us:bench", Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
	}))
	check(irFM.Accept(ctx, "us:bench", w.pins()))
	check(omFM.Accept(ctx, "us:bench", w.pins()))
	clients := []*client.Client{head}
	for i := 1; i < senders; i++ {
		c := w.person("us", fmt.Sprintf("delegate-%d", i), "Delegate", 2)
		check(head.AddMember(ctx, "us:bench", c.Credential()))
		clients = append(clients, c)
	}
	body := make([]byte, 1024)
	per := b.N/senders + 1
	sealed := make([][]*seal.Envelope, senders)
	for i, c := range clients {
		if _, err := c.Sync(ctx, "us:bench"); err != nil {
			b.Fatal(err)
		}
		to := []*seal.Credential{c.Credential(), omFM.Credential()}
		for j := 0; j < per; j++ {
			env, err := c.Identity().Seal(rand.Reader, seal.Context{
				Talks: "us:bench", Room: talks.RoomCaucus("us"), Kind: backchannel.KindNote, Topics: []string{"nuclear-programme"},
				CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sequence: uint64(j + 1),
			}, body, to)
			if err != nil {
				b.Fatal(err)
			}
			sealed[i] = append(sealed[i], env)
		}
		// Log in before the clock starts.
		if err := c.Login(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(1024)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, env := range sealed[i][:per] {
				if _, err := c.SubmitEnvelope(ctx, "us:bench", env); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*senders)/b.Elapsed().Seconds(), "envelopes/s")
}
