package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store/migrate"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// migrateLockKey is the pg_advisory_xact_lock key that serialises schema changes, so that
// several nodes starting together on one database apply each migration once.
const migrateLockKey int64 = 0x6263_6d69_6772_6174 // "bcmigrat"

// applySchema brings the database up to the newest embedded migration, with the bookkeeping of
// internal/store/migrate (a schema_version table, one transaction per migration,
// backchannel.ErrSchemaTooNew for a database written by a newer program).
//
// It does not call migrate.Apply, which takes a *sql.DB: pgx's database/sql adapter needs a
// module (puddle) that go.mod does not carry. It also creates schema_version under the advisory
// lock, where migrate.Apply creates it before taking the lock: CREATE TABLE IF NOT EXISTS is not
// safe against a concurrent twin in PostgreSQL (both may pass the check; one then fails on the
// catalog's unique index).
func applySchema(ctx context.Context, conn *pgx.Conn) (int, error) {
	sub, err := fs.Sub(schemaFS, "schema")
	if err != nil {
		return 0, err
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return 0, err
	}
	for {
		done, v, err := migrateStep(ctx, conn, ms)
		if err != nil || done {
			return v, err
		}
	}
}

// migrateStep applies the next migration, if any, in one transaction.
func migrateStep(ctx context.Context, conn *pgx.Conn, ms []migrate.Migration) (done bool, version int, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
		return false, 0, fmt.Errorf("lock schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
		return false, 0, fmt.Errorf("create schema_version: %w", err)
	}
	var cur *int64
	if err := tx.QueryRow(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&cur); err != nil {
		return false, 0, fmt.Errorf("read schema version: %w", err)
	}
	v := 0
	if cur != nil {
		v = int(*cur)
	}
	if v > len(ms) {
		return false, v, fmt.Errorf("%w: the database is at version %d, this program knows up to %d; run a newer backchannel", backchannel.ErrSchemaTooNew, v, len(ms))
	}
	if v == len(ms) {
		return true, v, tx.Commit(ctx)
	}
	m := ms[v]
	// No arguments: pgx sends the file with the simple query protocol, which runs several
	// statements in one message.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, v, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
		return false, v, fmt.Errorf("migration %s: record version: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, v, fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return false, m.Version, nil
}
