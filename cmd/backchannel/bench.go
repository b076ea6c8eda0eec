package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/internal/bench"
	"github.com/backchannel/backchannel/internal/node"
)

// benchConfig is the configuration of backchannel bench: its flags, each also settable from
// BACKCHANNEL_<NAME>.
type benchConfig struct {
	Embedded bool
	URL      string // one node, or several separated by commas
	Metrics  string // each node's /metrics URL, in the order of URL
	Store    string // the embedded server's store
	Nodes    int    // embedded nodes (PostgreSQL only)
	JSON     bool
	Profile  string // CPU profile of this process

	run bench.Config
}

func benchCommand(e *env) *cobra.Command {
	cfg := benchConfig{Nodes: 1}
	cmd := &cobra.Command{
		Use:   "bench (--embedded | --url URL[,URL...])",
		Short: "Measure a server: messages per second, latency, memory per event stream",
		Long: "bench sets up talks on a server, each between two parties and a mediator, and measures:\n\n" +
			"  - throughput: --senders principals send --messages 1 KiB messages, each as soon as its\n" +
			"    previous one is accepted; every message is sealed before the clock starts;\n" +
			"  - latency: messages offered at each of --rates for --rate-duration, timed from just\n" +
			"    before the request to their arrival on the live event streams of both recipients;\n" +
			"  - memory: the server's peak, and what each of --idle-streams idle event streams costs.\n\n" +
			"With --embedded it runs the server itself, in this process, on a fresh SQLite database\n" +
			"(or --store postgres://..., with --nodes nodes on it); with --url it loads a running\n" +
			"server, which must allow the load: start it with --rate 1000000 --burst 1000000\n" +
			"--max-streams-per-principal 32 or more. Several URLs are nodes of one service: senders\n" +
			"and event streams are spread over them.\n\n" +
			"Progress goes to stderr; a table of the figures, or with --json one JSON object on the\n" +
			"last line, to stdout.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, e, cfg)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.Embedded, "embedded", false, "run the server in this process")
	f.StringVar(&cfg.URL, "url", "", "base `URL` of the server to load (several nodes: comma-separated)")
	f.StringVar(&cfg.Metrics, "metrics-url", "", "`URL` of each --url node's /metrics (its serve --metrics-addr), comma-separated in the same order, to report the server's memory and streams")
	f.StringVar(&cfg.Store, "store", "sqlite:", "the embedded server's store: sqlite: (a fresh database), sqlite:/path/to/file.db, or postgres://user@host/db")
	f.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "embedded server nodes on the one PostgreSQL store")
	f.IntVar(&cfg.run.Talks, "talks", 10, "talks, each with two parties and a mediator")
	f.IntVar(&cfg.run.Senders, "senders", 32, "principals sending at once")
	f.IntVar(&cfg.run.Messages, "messages", 12000, "messages the throughput phase sends")
	f.IntVar(&cfg.run.Size, "size", 1024, "bytes of a message's body")
	f.Float64SliceVar(&cfg.run.Rates, "rates", []float64{500}, "offered rates (messages per second) at which to measure latency")
	f.DurationVar(&cfg.run.RateDuration, "rate-duration", 5*time.Second, "how long each offered rate lasts")
	f.IntVar(&cfg.run.IdleStreams, "idle-streams", 10000, "idle event streams to open to measure their memory (negative: none)")
	f.IntVar(&cfg.run.StreamsPerPrincipal, "streams-per-principal", 32, "event streams one principal opens at most (the server's --max-streams-per-principal)")
	f.BoolVar(&cfg.JSON, "json", false, "print the figures as one JSON object")
	f.StringVar(&cfg.Profile, "cpuprofile", "", "write a CPU profile of this process (with --embedded, server and load generator) to `file`")
	cmd.MarkFlagsMutuallyExclusive("embedded", "url")
	cmd.MarkFlagsOneRequired("embedded", "url")
	return cmd
}

func runBench(cmd *cobra.Command, e *env, cfg benchConfig) error {
	path := cmd.CommandPath()
	switch {
	case cfg.run.Talks <= 0 || cfg.run.Senders <= 0 || cfg.run.Messages <= 0 || cfg.run.Size <= 0:
		return usagef(path, "--talks, --senders, --messages and --size must be positive")
	case cfg.run.RateDuration <= 0 || cfg.run.StreamsPerPrincipal <= 0:
		return usagef(path, "--rate-duration and --streams-per-principal must be positive")
	case cfg.Nodes <= 0:
		return usagef(path, "--nodes must be positive")
	case cfg.run.IdleStreams == 0:
		cfg.run.IdleStreams = -1 // zero streams asked for: none, not the package's default
	}
	if cfg.run.Rates == nil {
		cfg.run.Rates = []float64{}
	}
	cfg.run.Progress = func(s string) { progressf(e, "%s", s) }
	ctx := cmd.Context()

	var nodes []bench.Node
	store := "remote"
	if cfg.Embedded {
		if cfg.run.IdleStreams > 0 {
			// Both ends of every stream are in this process.
			if _, err := bench.RaiseFileLimit(uint64(2*cfg.run.IdleStreams + 4096)); err != nil {
				progressf(e, "cannot raise the limit on open files: %v", err)
			}
		}
		sp, err := node.ParseStore(cfg.Store)
		if err != nil {
			return usage(withHint(err, "run '%s --help' for usage", path))
		}
		ec := bench.EmbeddedConfig{Nodes: cfg.Nodes, MaxStreams: max(20000, cfg.run.IdleStreams+1000),
			MaxStreamsPerPrincipal: cfg.run.StreamsPerPrincipal}
		switch {
		case sp.Kind == node.Postgres:
			ec.Store = sp.URL
		case sp.Path != "":
			ec.Store = "sqlite:" + sp.Path
		default:
			dir, err := os.MkdirTemp("", "backchannel-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			ec.Dir = dir
		}
		if cfg.Nodes > 1 && sp.Kind != node.Postgres {
			return usagef(path, "--nodes %d: several nodes share one PostgreSQL database; give --store postgres://...", cfg.Nodes)
		}
		emb, err := bench.StartEmbedded(ctx, ec)
		if err != nil {
			return err
		}
		defer emb.Close()
		nodes, store = emb.Nodes, emb.Store
	} else {
		if cfg.run.IdleStreams > 0 {
			if _, err := bench.RaiseFileLimit(uint64(cfg.run.IdleStreams + 4096)); err != nil {
				progressf(e, "cannot raise the limit on open files: %v", err)
			}
		}
		var metrics []string
		for _, u := range strings.Split(cfg.Metrics, ",") {
			if u = strings.TrimSpace(u); u != "" {
				metrics = append(metrics, u)
			}
		}
		for _, u := range strings.Split(cfg.URL, ",") {
			if u = strings.TrimSpace(u); u != "" {
				m := ""
				if len(nodes) < len(metrics) {
					m = metrics[len(nodes)]
				}
				nodes = append(nodes, bench.RemoteNode(u, m))
			}
		}
		if len(nodes) == 0 {
			return usagef(path, "--url: no URL given")
		}
		if len(metrics) > len(nodes) {
			return usagef(path, "--metrics-url: %d URLs for %d nodes", len(metrics), len(nodes))
		}
	}
	if cfg.Profile != "" {
		f, err := os.Create(cfg.Profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg.run, store, nodes)
	if err != nil {
		return withHint(err, "see '%s --help' for what the server must allow", path)
	}
	if cfg.JSON {
		// For machines: one JSON object on the last line, without the prefix of lines for people.
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	for _, line := range benchTable(res) {
		e.printf("%s", line)
	}
	return nil
}

// progressf writes a progress line to stderr, under the rule of tui.go.
func progressf(e *env, format string, args ...any) {
	fmt.Fprintf(e.stderr, prefix+format+"\n", args...)
}

// benchTable lays out the figures of a run for people.
func benchTable(r *bench.Result) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	add("%s, %d node(s); %d talks, %d senders, %d-byte messages; %d cores, %.1f GiB, load %s; %s",
		r.Store, r.Nodes, r.Talks, r.Senders, r.Size, r.Machine.Cores, float64(r.Machine.Memory)/(1<<30), r.Machine.LoadAvg, r.Date.Format(time.RFC3339))
	add("%-22s %10s %10s %8s %8s %8s %8s", "phase", "msgs", "msgs/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	t := r.Throughput
	add("%-22s %10d %10.0f %8.1f %8.1f %8.1f %8.1f", "throughput", t.Messages, t.PerSec, t.Latency.P50, t.Latency.P90, t.Latency.P99, t.Latency.Max)
	for _, x := range r.Rates {
		add("%-22s %10d %10.0f %8.1f %8.1f %8.1f %8.1f", fmt.Sprintf("offered %.0f/s", x.Offered), x.Sent, x.Achieved, x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.Max)
	}
	m := r.Memory
	add("peak memory: %.1f MiB resident, %.1f MiB heap and stacks", float64(m.PeakRSS)/(1<<20), float64(m.PeakHeap)/(1<<20))
	if m.IdleStreams > 0 {
		add("idle event streams: %d open, %.1f KiB each (heap and stacks), %.1f KiB resident", m.IdleStreams, float64(m.PerStream)/1024, float64(m.PerStreamRSS)/1024)
	}
	add("took %.1f s", r.Seconds)
	return out
}
