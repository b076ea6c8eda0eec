package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/sqlite"
)

// dbFile is the name of the SQLite database in the data directory.
const dbFile = "backchannel.db"

// storeSpec says where the store is, as --store names it:
//
//	sqlite:                 backchannel.db in the data directory (the default)
//	sqlite:/path/to/file.db an SQLite database anywhere (sqlite:///path/to/file.db too)
//	postgres://...          a PostgreSQL database (postgresql:// too, as libpq writes it)
type storeSpec struct {
	kind string // "sqlite" or "postgres"
	path string // the SQLite file; "" for the data directory's
	url  string // the PostgreSQL URL
}

func parseStore(s string) (storeSpec, error) {
	switch {
	case s == "" || s == "sqlite" || s == "sqlite:":
		return storeSpec{kind: "sqlite"}, nil
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		// sqlite:///abs/file.db is the URL form of sqlite:/abs/file.db.
		if strings.HasPrefix(p, "///") {
			p = p[2:]
		}
		if strings.HasPrefix(p, "//") {
			return storeSpec{}, fmt.Errorf("store %q: an SQLite store is a file, sqlite:/path/to/file.db", s)
		}
		return storeSpec{kind: "sqlite", path: p}, nil
	case strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return storeSpec{}, fmt.Errorf("store: %w", err)
		}
		return storeSpec{kind: "postgres", url: s}, nil
	default:
		return storeSpec{}, fmt.Errorf("store %q: want sqlite:, sqlite:/path/to/file.db or a postgres:// URL", redact(s))
	}
}

// String describes the store for logs, without a password.
func (sp storeSpec) String() string {
	if sp.kind == "postgres" {
		return redact(sp.url)
	}
	return "sqlite:" + sp.path
}

// redact returns s with the password of a URL hidden.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// openStore opens the store, with signer signing its checkpoints and onCommit told of each
// commit.
func openStore(ctx context.Context, sp storeSpec, signer *server.Signer, onCommit func(int, time.Duration), log *slog.Logger) (backchannel.Store, error) {
	switch sp.kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, sqlite.Config{Path: sp.path, Signer: signer.Sign, OnCommit: onCommit})
		if err != nil {
			return nil, withHint(err, "check that the directory of %s is writable, or choose another with --data or --store", sp.path)
		}
		return st, nil
	case "postgres":
		return openPostgres(ctx, sp.url, signer, onCommit, log)
	}
	return nil, errors.New("store: unknown kind " + sp.kind)
}

// resolveData fills in the SQLite file of the data directory.
func (sp *storeSpec) resolveData(dataDir string) {
	if sp.kind == "sqlite" && sp.path == "" {
		sp.path = filepath.Join(dataDir, dbFile)
	}
}
