package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/backchannel/backchannel/internal/bench"
)

// TestRunSmall runs the whole benchmark, small, against an embedded server: every message it
// sends must be accepted and delivered to both its recipients' live streams.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := bench.StartEmbedded(ctx, bench.EmbeddedConfig{Dir: t.TempDir(), MaxStreamsPerPrincipal: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := bench.Run(ctx, bench.Config{
		Talks: 2, Senders: 4, Messages: 40, Rates: []float64{50}, RateDuration: 400 * time.Millisecond,
		IdleStreams: 60, StreamsPerPrincipal: 8, Progress: func(s string) { t.Log(s) },
	}, e.Store, e.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	if res.Throughput.Messages != 40 || res.Throughput.Delivered != 80 || res.Throughput.PerSec <= 0 {
		t.Errorf("throughput: %+v, want 40 messages delivered twice each", res.Throughput)
	}
	if len(res.Rates) != 1 || res.Rates[0].Sent != 20 || res.Rates[0].Delivered != 40 || res.Rates[0].Latency.Samples != 40 {
		t.Errorf("rates: %+v, want 20 messages delivered twice each", res.Rates)
	}
	if res.Memory.IdleStreams != 60 || res.Memory.PeakRSS == 0 {
		t.Errorf("memory: %+v", res.Memory)
	}
	t.Logf("%+v", res)
}
