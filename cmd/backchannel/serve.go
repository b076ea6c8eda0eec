package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/backchannel/backchannel/web"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/node"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/record"
)

// serveConfig is the configuration of backchannel serve: its flags, each also settable from
// BACKCHANNEL_<NAME>. The defaults run a server on loopback with an embedded store.
type serveConfig struct {
	Addr string // address to listen on
	// MetricsAddr is the address to serve /metrics on, apart from the API; "" for none.
	MetricsAddr string
	Data        string // data directory of the embedded store; "" for the XDG default
	Store       string // sqlite:, sqlite:/path/to/file.db or postgres://...
	Host        string // name of the host in checkpoints and logins; "" for the address listened on

	MaxBody                byteSize
	Rate                   float64
	Burst                  int
	MaxStreams             int
	MaxStreamsPerPrincipal int
	TrustedProxies         []string
	MaxTalksInMemory       int
	TokenTTL               time.Duration
	ShutdownTimeout        time.Duration

	LogLevel  slog.Level
	LogFormat string
}

func serveCommand(e *env) *cobra.Command {
	d := node.DefaultConfig()
	cfg := serveConfig{
		Addr:                   "127.0.0.1:8080",
		Store:                  d.Store,
		MaxBody:                byteSize(d.Server.MaxBody),
		Rate:                   d.Server.Rate,
		Burst:                  d.Server.Burst,
		MaxStreams:             d.Server.MaxStreams,
		MaxStreamsPerPrincipal: d.Server.MaxStreamsPerPrincipal,
		MaxTalksInMemory:       d.Server.MaxTalksInMemory,
		TokenTTL:               d.Server.TokenTTL,
		ShutdownTimeout:        10 * time.Second,
		LogLevel:               slog.LevelInfo,
		LogFormat:              "text",
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the backchannel server",
		Long: "serve runs the backchannel HTTP API until it receives SIGINT or SIGTERM, then stops\n" +
			"taking requests, lets those in flight finish, and closes the store.\n\n" +
			"It prints \"backchannel: listening on http://ADDR\" to stdout once it serves, and logs\n" +
			"to stderr.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, cfg, cmd.CommandPath())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "`address` to listen on (port 0 picks a free port)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "`address` to serve Prometheus /metrics on, apart from the API (which never serves them); none if empty")
	f.StringVar(&cfg.Data, "data", "", "`directory` of the embedded store, created if missing (default $XDG_DATA_HOME/backchannel or ~/.local/share/backchannel)")
	f.StringVar(&cfg.Store, "store", cfg.Store, "the store: sqlite: (in --data), sqlite:/path/to/file.db, or postgres://user@host/db")
	f.StringVar(&cfg.Host, "host", "", "`name` of this host in checkpoints and logins, as clients reach it; kept in the store at first start, and never changed (default the store's name, or for a new store the address listened on)")
	f.Var(&cfg.MaxBody, "max-body", "largest request body (bytes, or with a KiB, MiB or GiB suffix)")
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "sustained requests per second of one principal (or address, before login)")
	f.IntVar(&cfg.Burst, "burst", cfg.Burst, "requests one principal may make at once")
	f.IntVar(&cfg.MaxStreams, "max-streams", cfg.MaxStreams, "event streams open at once")
	f.IntVar(&cfg.MaxStreamsPerPrincipal, "max-streams-per-principal", cfg.MaxStreamsPerPrincipal, "event streams one principal may open at once")
	f.StringSliceVar(&cfg.TrustedProxies, "trusted-proxy", nil, "`address` or CIDR range of a reverse proxy in front of the server, whose X-Forwarded-For names the client (repeatable)")
	f.IntVar(&cfg.MaxTalksInMemory, "max-talks-in-memory", cfg.MaxTalksInMemory, "talks whose state is kept in memory; others are rebuilt from their record when used")
	f.DurationVar(&cfg.TokenTTL, "token-ttl", cfg.TokenTTL, "how long a login token lasts")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long requests in flight may take to finish at shutdown")
	f.Var((*levelValue)(&cfg.LogLevel), "log-level", "log `level`: debug, info, warn or error")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log `format`: text or json")
	return cmd
}

// check refuses a configuration that cannot run.
func (cfg *serveConfig) check(path string) error {
	switch {
	case cfg.LogFormat != "text" && cfg.LogFormat != "json":
		return usagef(path, "--log-format %q: want text or json", cfg.LogFormat)
	case cfg.MaxBody <= 0:
		return usagef(path, "--max-body must be positive")
	case cfg.Rate <= 0 || cfg.Burst <= 0:
		return usagef(path, "--rate and --burst must be positive")
	case cfg.MaxStreams <= 0 || cfg.MaxStreamsPerPrincipal <= 0:
		return usagef(path, "--max-streams and --max-streams-per-principal must be positive")
	case cfg.MaxTalksInMemory <= 0:
		return usagef(path, "--max-talks-in-memory must be positive")
	case cfg.TokenTTL <= 0:
		return usagef(path, "--token-ttl must be positive")
	case cfg.ShutdownTimeout <= 0:
		return usagef(path, "--shutdown-timeout must be positive")
	}
	return nil
}

// dataDir returns the data directory: --data, or the XDG default.
func (cfg *serveConfig) dataDir(e *env) (string, error) {
	if cfg.Data != "" {
		return cfg.Data, nil
	}
	if x := e.getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "backchannel"), nil
	}
	if home := e.getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "backchannel"), nil
	}
	return "", withHint(errors.New("no data directory: neither XDG_DATA_HOME nor HOME is set"),
		"choose one with --data or %sDATA", envPrefix)
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, e *env, cfg serveConfig, path string) error {
	if err := cfg.check(path); err != nil {
		return err
	}
	sp, err := node.ParseStore(cfg.Store)
	if err != nil {
		return usage(withHint(err, "run '%s --help' for usage", path))
	}
	if sp.Kind == node.SQLite && sp.Path == "" {
		dir, err := cfg.dataDir(e)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return withHint(fmt.Errorf("data directory: %w", err), "choose another with --data")
		}
		sp.Path = filepath.Join(dir, dbFile)
	}
	log := newLogger(e, cfg)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return withHint(err, "another process listens on %s: choose another address with --addr", cfg.Addr)
		}
		return withHint(err, "check --addr %q", cfg.Addr)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return withHint(err, "check --metrics-addr %q", cfg.MetricsAddr)
		}
		defer metricsLn.Close()
	}
	host := cfg.Host
	if host == "" {
		host = ln.Addr().String()
	}
	// The host names every checkpoint's origin: refuse now a name no checkpoint could carry
	// (an IPv6 address, upper case) rather than every append later.
	if _, err := record.Origin(host, "talks"); err != nil {
		if cfg.Host == "" {
			return withHint(fmt.Errorf("the address listened on, %s, cannot name this host: %w", host, err),
				"give the name clients reach this server by with --host")
		}
		return usagef(path, "--host %q: %v", host, err)
	}

	ncfg := node.DefaultConfig()
	ncfg.Store, ncfg.Logger = "sqlite:"+sp.Path, log
	ncfg.Site = web.Handler // the web client, at /
	if sp.Kind == node.Postgres {
		ncfg.Store = sp.URL
	}
	sc := &ncfg.Server
	sc.Host, sc.KeepHost, sc.Version = host, cfg.Host == "", version()
	sc.MaxBody, sc.Rate, sc.Burst = int64(cfg.MaxBody), cfg.Rate, cfg.Burst
	sc.MaxStreams, sc.MaxStreamsPerPrincipal = cfg.MaxStreams, cfg.MaxStreamsPerPrincipal
	sc.MaxTalksInMemory, sc.TokenTTL = cfg.MaxTalksInMemory, cfg.TokenTTL
	sc.TrustedProxies = cfg.TrustedProxies
	n, err := node.Open(ctx, ncfg)
	var changed *server.HostChangedError
	var storeErr *node.StoreError
	switch {
	case errors.As(err, &changed):
		return withHint(err, "start it with --host %s (a host keeps its name for as long as its records), or give this name a new store with --data or --store", changed.Stored)
	case errors.Is(err, sqlite.ErrNotPrivate):
		return withHint(err, "the database holds the host's log and token keys: make it and its -wal and -shm files readable by this user only (chmod 600), and find out who could read them")
	case errors.As(err, &storeErr) && sp.Kind == node.Postgres:
		return withHint(err, "check that PostgreSQL is running at %s and that --store names the right database and user", sp)
	case errors.As(err, &storeErr):
		return withHint(err, "check that the directory of %s is writable, or choose another with --data or --store", sp.Path)
	case err != nil:
		return err
	}
	host = n.Server.Host()
	n.Serve(ln)

	url := "http://" + ln.Addr().String()
	log.Info("serving", "addr", ln.Addr().String(), "host", host, "store", sp.String(), "log_key", n.Server.LogKey(),
		"log_key_safety_number", client.LogKeySafetyNumber(n.Server.LogKey()))
	if metricsLn != nil {
		n.ServeMetrics(metricsLn)
		log.Info("serving metrics", "addr", metricsLn.Addr().String())
		e.printf("metrics on http://%s/metrics", metricsLn.Addr())
	}
	e.printf("listening on %s", url)
	e.printf("web client on %s/ (open it in a browser)", url)
	// Who signs in compares this with what their client pinned, out of band, as with a root.
	e.printf("log key safety number %s", client.LogKeySafetyNumber(n.Server.LogKey()))

	select {
	case <-ctx.Done():
	case <-n.Stopped():
		n.Close()
		return fmt.Errorf("serve: %w", n.Err())
	}

	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		log.Warn("stopping", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newLogger returns the structured logger on stderr.
func newLogger(e *env, cfg serveConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// byteSize is a flag value in bytes, written as a number with an optional KiB, MiB or GiB
// suffix.
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) String() string {
	for _, u := range byteUnits {
		if int64(*b) != 0 && int64(*b)%u.n == 0 {
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			mult, num = u.n, strings.TrimSpace(n)
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size in bytes (such as 4194304 or 4MiB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) Type() string { return "size" }

// levelValue is a log level flag.
type levelValue slog.Level

func (l *levelValue) String() string { return strings.ToLower(slog.Level(*l).String()) }

func (l *levelValue) Set(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q is not a log level (debug, info, warn or error)", s)
	}
	*l = levelValue(lv)
	return nil
}

func (l *levelValue) Type() string { return "level" }
