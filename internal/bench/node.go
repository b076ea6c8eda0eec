package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/backchannel/backchannel/internal/node"
)

// Node is one API node the load goes to.
type Node struct {
	// URL is the node's base URL ("http://127.0.0.1:8080").
	URL string
	// Memory reads the memory the node's process holds. If gc is true and the node runs in this
	// process, it collects garbage first, so that the heap counts only what is live.
	Memory func(ctx context.Context, gc bool) (Memory, error)
}

// Memory is what a server process holds, in bytes.
type Memory struct {
	// Heap is the Go heap in use (live objects and fragmentation) and Stacks the goroutine
	// stacks: together, what the server's own data structures cost.
	Heap   uint64
	Stacks uint64
	// RSS is the process's resident set, and PeakRSS its high-water mark when known.
	RSS     uint64
	PeakRSS uint64
	// OpenStreams is the server's backchannel_open_streams gauge.
	OpenStreams int
}

// RemoteNode is a node reached at url, whose memory is read from its Prometheus metrics at
// metrics (the server's own process, whatever runs beside it); with no metrics URL, its memory
// is not reported.
func RemoteNode(url, metrics string) Node {
	url = strings.TrimRight(url, "/")
	return Node{URL: url, Memory: func(ctx context.Context, _ bool) (Memory, error) {
		if metrics == "" {
			return Memory{}, errors.New("no metrics URL for " + url)
		}
		return scrape(ctx, metrics)
	}}
}

// scrape reads the memory figures and the open streams of a node from its metrics at url.
func scrape(ctx context.Context, url string) (Memory, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Memory{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Memory{}, fmt.Errorf("metrics of %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Memory{}, fmt.Errorf("metrics of %s: %s", url, resp.Status)
	}
	var m Memory
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			m.Heap = uint64(v)
		case "go_memstats_stack_inuse_bytes":
			m.Stacks = uint64(v)
		case "process_resident_memory_bytes":
			m.RSS = uint64(v)
		case "backchannel_open_streams":
			m.OpenStreams = int(v)
		}
	}
	return m, sc.Err()
}

// Embedded is one or more server nodes run in this process on loopback, on one store each
// (several nodes need PostgreSQL: they share its database).
type Embedded struct {
	Nodes []Node
	// Store describes the store, for the results.
	Store string

	stop []func()
}

// EmbeddedConfig configures the servers StartEmbedded runs.
type EmbeddedConfig struct {
	// Store is "" or "sqlite:" for a fresh SQLite database in Dir, "sqlite:/path/file.db", or a
	// PostgreSQL URL.
	Store string
	// Dir holds a fresh SQLite database. Required for the default store.
	Dir string
	// Nodes is how many server nodes to run; more than one needs PostgreSQL. Default 1.
	Nodes int
	// MaxStreams and MaxStreamsPerPrincipal are the servers' limits on event streams.
	MaxStreams             int
	MaxStreamsPerPrincipal int
}

// StartEmbedded starts the servers. The load generator shares their process, so their limits
// on requests per principal are lifted: what is measured is the server, not its throttle.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	pg := strings.HasPrefix(cfg.Store, "postgres://") || strings.HasPrefix(cfg.Store, "postgresql://")
	if cfg.Nodes > 1 && !pg {
		return nil, errors.New("bench: several nodes share a PostgreSQL database: give a postgres:// store")
	}
	e := &Embedded{}
	// Every node names the same host: they are one service behind several addresses.
	var host string
	for i := 0; i < cfg.Nodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.Close()
			return nil, err
		}
		if host == "" {
			host = ln.Addr().String()
		}
		nc := node.DefaultConfig()
		nc.Server.Host, nc.Server.Rate, nc.Server.Burst = host, 1e9, 1<<30
		nc.Server.MaxStreams, nc.Server.MaxStreamsPerPrincipal = cfg.MaxStreams, cfg.MaxStreamsPerPrincipal
		switch {
		case pg:
			nc.Store, e.Store = cfg.Store, "postgres"
		default:
			path := strings.TrimPrefix(cfg.Store, "sqlite:")
			if path == "" {
				if cfg.Dir == "" {
					ln.Close()
					e.Close()
					return nil, errors.New("bench: EmbeddedConfig.Dir is required for a fresh SQLite store")
				}
				path = filepath.Join(cfg.Dir, "backchannel.db")
			}
			nc.Store, e.Store = "sqlite:"+path, "sqlite"
		}
		n, err := node.Open(ctx, nc)
		if err != nil {
			ln.Close()
			e.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
		n.Serve(ln)
		url := "http://" + ln.Addr().String()
		e.stop = append(e.stop, func() { n.Close() })
		mln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
		n.ServeMetrics(mln)
		metrics := "http://" + mln.Addr().String() + "/metrics"

		e.Nodes = append(e.Nodes, Node{URL: url, Memory: func(ctx context.Context, gc bool) (Memory, error) {
			m, err := scrape(ctx, metrics)
			if err != nil {
				return m, err
			}
			self := selfMemory(gc)
			self.OpenStreams = m.OpenStreams
			return self, nil
		}})
	}
	return e, nil
}

// Close stops the servers and closes their stores.
func (e *Embedded) Close() {
	for _, stop := range e.stop {
		stop()
	}
	e.stop = nil
}

// selfMemory reads this process's memory: the Go runtime's own accounts, and the kernel's
// resident set and its high-water mark.
func selfMemory(gc bool) Memory {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Memory{Heap: ms.HeapInuse, Stacks: ms.StackInuse}
	if f, err := os.Open("/proc/self/status"); err == nil {
		m.RSS, m.PeakRSS = procStatus(f)
		f.Close()
	}
	return m
}

// procStatus reads VmRSS and VmHWM from a /proc/<pid>/status file.
func procStatus(r io.Reader) (rss, hwm uint64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// RaiseFileLimit raises this process's limit on open files to at least n if it can (a
// process may raise its soft limit up to its hard limit, and a privileged one the hard limit
// too), and returns the limit in force. Every event stream costs a file descriptor, two when
// the server runs in the same process.
func RaiseFileLimit(n uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= n {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = n
	if want.Max < n {
		want.Max = n
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not privileged: take what the hard limit allows.
		want = lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, err
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// machine describes this machine: its cores, memory and load when the run began.
func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) == 2 {
					n, _ := strconv.ParseUint(f[0], 10, 64)
					m.Memory = n << 10
				}
			}
		}
	}
	return m
}
