// Package migrate applies a store's embedded, versioned SQL schema.
//
// Migrations are files named NNNN_description.sql in an fs.FS, applied in order, each in its own
// transaction together with the row that records its version. A database whose recorded version
// is newer than the newest file was written by a newer backchannel: Apply refuses it rather than
// run old code on a schema it does not know.
//
// A dozen lines of SQL bookkeeping did not warrant a migration framework and the drivers it
// pulls in; this package serves both stores through database/sql.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/backchannel/backchannel"
)

// Migration is one schema version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in the root of fsys, ordered by version.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: path.Base(name), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := range ms {
		if ms[i].Version != i+1 {
			return nil, fmt.Errorf("migration %q: versions must run 1, 2, 3... without gaps", ms[i].Name)
		}
	}
	return ms, nil
}

// Options adjust Apply for a database.
type Options struct {
	// Lock, if set, runs first in every migration transaction, so that several processes
	// starting at once on one database apply each migration once (PostgreSQL:
	// "SELECT pg_advisory_xact_lock(...)").
	Lock string
}

// Apply brings the database up to the newest migration in fsys and returns the version it is
// at. It returns an error wrapping backchannel.ErrSchemaTooNew if the database is at a later
// version.
func Apply(ctx context.Context, db *sql.DB, fsys fs.FS, opt Options) (int, error) {
	ms, err := Load(fsys)
	if err != nil {
		return 0, err
	}
	for {
		done, v, err := step(ctx, db, ms, opt)
		if err != nil || done {
			return v, err
		}
	}
}

// step applies the next migration, if any, in one transaction.
func step(ctx context.Context, db *sql.DB, ms []Migration, opt Options) (done bool, version int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, err
	}
	defer tx.Rollback()
	if opt.Lock != "" {
		if _, err := tx.ExecContext(ctx, opt.Lock); err != nil {
			return false, 0, fmt.Errorf("lock schema: %w", err)
		}
	}
	// Created under the lock: two processes creating it at once can collide in PostgreSQL.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return false, 0, fmt.Errorf("create schema_version: %w", err)
	}
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&cur); err != nil {
		return false, 0, fmt.Errorf("read schema version: %w", err)
	}
	v := int(cur.Int64)
	if v > len(ms) {
		return false, v, fmt.Errorf("%w: the database is at version %d, this program knows up to %d; run a newer backchannel", backchannel.ErrSchemaTooNew, v, len(ms))
	}
	if v == len(ms) {
		return true, v, nil
	}
	m := ms[v]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, v, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (`+strconv.Itoa(m.Version)+`)`); err != nil {
		return false, v, fmt.Errorf("migration %s: record version: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, v, fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return false, m.Version, nil
}
