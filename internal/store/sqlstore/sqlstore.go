// Package sqlstore is the part of a store that SQLite and PostgreSQL agree on: every read of the
// talks' logs, their cosignatures, the directory of organisations and credentials, and the host's
// secrets, on database/sql with one set of queries. Each store embeds a DB and keeps only what
// differs: its write strategy for appends (group commit) and its notices.
//
// The queries use $1, $2, ... placeholders, which PostgreSQL reads natively and SQLite reads as
// numbered parameters, and only SQL that both databases run alike (ON CONFLICT ... DO NOTHING,
// excluded.*, correlated subqueries; no arrays, no DISTINCT ON).
package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
)

// DB is the shared part of a store on a database/sql handle.
type DB struct {
	// Read serves reads; on SQLite a pool of read-only connections beside the writer.
	Read *sql.DB
	// Write serves the directory's and the cosignatures' short writes; on SQLite the one
	// connection that may write.
	Write *sql.DB
}

// Querier is what the queries run on: a *sql.DB, or the *sql.Tx of an append.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CheckTexts refuses strings that a text column of either database cannot hold: PostgreSQL takes
// only UTF-8 without NUL, and the two stores refuse alike.
func CheckTexts(what string, ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s %q is not valid UTF-8 text without NUL", what, s)
		}
	}
	return nil
}

// NonNil returns b, or an empty slice for nil: drivers send a nil []byte as NULL, which the
// NOT NULL byte columns refuse.
func NonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Talks returns the summary of a talks' log.
func (d *DB) Talks(ctx context.Context, id string) (backchannel.TalksInfo, error) {
	var info backchannel.TalksInfo
	var created int64
	err := d.Read.QueryRowContext(ctx, `SELECT id, size, created_ms FROM talks WHERE id = $1`, id).Scan(&info.ID, &info.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return info, fmt.Errorf("talks %q: %w", id, backchannel.ErrNotFound)
	}
	if err != nil {
		return info, err
	}
	info.Created = time.UnixMilli(created).UTC()
	info.Members, err = collect(scanString)(d.Read.QueryContext(ctx, `SELECT org FROM talks_members WHERE talks = $1 ORDER BY org`, id))
	return info, err
}

// ListTalks lists every talks id, oldest first.
func (d *DB) ListTalks(ctx context.Context) ([]string, error) {
	return collect(scanString)(d.Read.QueryContext(ctx, `SELECT id FROM talks ORDER BY created_ms, id`))
}

// TalksOf lists the talks in which org is a member, oldest first.
func (d *DB) TalksOf(ctx context.Context, org string) ([]backchannel.TalksInfo, error) {
	ids, err := collect(scanString)(d.Read.QueryContext(ctx, `SELECT t.id FROM talks_members m JOIN talks t ON t.id = m.talks
		WHERE m.org = $1 ORDER BY t.created_ms, t.id`, org))
	if err != nil {
		return nil, err
	}
	out := make([]backchannel.TalksInfo, 0, len(ids))
	for _, id := range ids {
		info, err := d.Talks(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Events returns up to limit events of a talks from index from, in order.
func (d *DB) Events(ctx context.Context, talks string, from int64, limit int) ([]backchannel.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	return Events(ctx, d.Read, talks, from, from+int64(limit))
}

// Events reads the events of a talks with from <= index < to, in order, on q.
func Events(ctx context.Context, q Querier, talks string, from, to int64) ([]backchannel.Event, error) {
	return collect(func(r *sql.Rows) (backchannel.Event, error) {
		return scanEvent(r, talks)
	})(q.QueryContext(ctx, `SELECT idx, type, room, data, time_ms, tag FROM events
		WHERE talks = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, talks, from, to))
}

func scanEvent(r interface{ Scan(...any) error }, talks string) (backchannel.Event, error) {
	e := backchannel.Event{Talks: talks}
	var ms int64
	err := r.Scan(&e.Index, &e.Type, &e.Room, &e.Data, &ms, &e.Tag)
	e.Time = time.UnixMilli(ms).UTC()
	return e, err
}

// EventByHash returns the event of a talks whose data hashes to h.
func (d *DB) EventByHash(ctx context.Context, talks string, h backchannel.EventHash) (backchannel.Event, error) {
	e, ok, err := EventByHash(ctx, d.Read, talks, h)
	if err == nil && !ok {
		err = fmt.Errorf("event %x of talks %q: %w", h[:8], talks, backchannel.ErrNotFound)
	}
	return e, err
}

// EventByHash looks up the event of a talks whose data hashes to h, on q.
func EventByHash(ctx context.Context, q Querier, talks string, h backchannel.EventHash) (backchannel.Event, bool, error) {
	e, err := scanEvent(q.QueryRowContext(ctx, `SELECT idx, type, room, data, time_ms, tag FROM events WHERE talks = $1 AND hash = $2`,
		talks, h[:]), talks)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	return e, err == nil, err
}

// ReadHashes returns stored hashes of a talks' log.
func (d *DB) ReadHashes(ctx context.Context, talks string, indexes []int64) ([]tlog.Hash, error) {
	return ReadHashes(ctx, d.Read, talks, indexes)
}

// hashesPerQuery bounds the parameters of one query: SQLite's limit is 32766, PostgreSQL's 65535.
const hashesPerQuery = 1000

// ReadHashes reads the stored hashes of a talks at the given indexes, in their order, on q.
func ReadHashes(ctx context.Context, q Querier, talks string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	want := make(map[int64][]int, len(indexes))
	var distinct []int64
	for i, x := range indexes {
		if _, dup := want[x]; !dup {
			distinct = append(distinct, x)
		}
		want[x] = append(want[x], i)
	}
	found := 0
	for len(distinct) > 0 {
		chunk := distinct[:min(len(distinct), hashesPerQuery)]
		distinct = distinct[len(chunk):]
		var b strings.Builder
		args := make([]any, 0, len(chunk)+1)
		args = append(args, talks)
		b.WriteString(`SELECT idx, hash FROM hashes WHERE talks = $1 AND idx IN (`)
		for i, x := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(i+2))
			args = append(args, x)
		}
		b.WriteString(")")
		rows, err := q.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var x int64
			var h []byte
			if err := rows.Scan(&x, &h); err != nil {
				rows.Close()
				return nil, err
			}
			if len(h) != tlog.HashSize {
				rows.Close()
				return nil, fmt.Errorf("stored hash %d of talks %q has %d bytes", x, talks, len(h))
			}
			for _, i := range want[x] {
				copy(out[i][:], h)
			}
			found++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if found != len(want) {
		return nil, fmt.Errorf("talks %q: %d of %d stored hashes missing: %w", talks, len(want)-found, len(want), backchannel.ErrNotFound)
	}
	return out, nil
}

// Checkpoint returns the latest checkpoint of a talks, or the one at size.
func (d *DB) Checkpoint(ctx context.Context, talks string, size int64) (backchannel.Checkpoint, error) {
	var cp backchannel.Checkpoint
	var root []byte
	var row *sql.Row
	if size > 0 {
		row = d.Read.QueryRowContext(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = $1 AND size = $2`, talks, size)
	} else {
		row = d.Read.QueryRowContext(ctx, `SELECT size, root, note FROM checkpoints WHERE talks = $1 ORDER BY size DESC LIMIT 1`, talks)
	}
	err := row.Scan(&cp.Size, &root, &cp.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, fmt.Errorf("checkpoint of talks %q at size %d: %w", talks, size, backchannel.ErrNotFound)
	}
	copy(cp.Root[:], root)
	return cp, err
}

// AddCosignature stores a party's cosignature of a checkpoint, replacing the cosigner's earlier
// one for the same size.
func (d *DB) AddCosignature(ctx context.Context, talks string, c backchannel.Cosignature) error {
	if err := CheckTexts("cosigner", c.Cosigner); err != nil {
		return err
	}
	_, err := d.Write.ExecContext(ctx, `INSERT INTO cosignatures (talks, size, cosigner, line, time_ms) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (talks, size, cosigner) DO UPDATE SET line = excluded.line, time_ms = excluded.time_ms`,
		talks, c.Size, c.Cosigner, NonNil(c.Line), c.Time.UnixMilli())
	return err
}

// Cosignatures returns the cosignatures of a checkpoint, or with size 0 the latest of each
// cosigner.
func (d *DB) Cosignatures(ctx context.Context, talks string, size int64) ([]backchannel.Cosignature, error) {
	query := `SELECT size, cosigner, line, time_ms FROM cosignatures WHERE talks = $1 AND size = $2 ORDER BY cosigner`
	args := []any{talks, size}
	if size <= 0 {
		query = `SELECT size, cosigner, line, time_ms FROM cosignatures c WHERE talks = $1
			AND size = (SELECT MAX(size) FROM cosignatures d WHERE d.talks = c.talks AND d.cosigner = c.cosigner)
			ORDER BY cosigner`
		args = args[:1]
	}
	return collect(func(r *sql.Rows) (backchannel.Cosignature, error) {
		var c backchannel.Cosignature
		var ms int64
		err := r.Scan(&c.Size, &c.Cosigner, &c.Line, &ms)
		c.Time = time.UnixMilli(ms).UTC()
		return c, err
	})(d.Read.QueryContext(ctx, query, args...))
}

// PutOrganisation registers an organisation and its root key. The same root again is not an
// error; another root under an existing id is ErrExists.
func (d *DB) PutOrganisation(ctx context.Context, o backchannel.Organisation) error {
	if err := CheckTexts("organisation field", o.ID, o.Name); err != nil {
		return err
	}
	return d.putOnce(ctx, `INSERT INTO organisations (id, root_key, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		[]any{o.ID, NonNil(o.RootKey), o.Name},
		`SELECT root_key FROM organisations WHERE id = $1`, o.ID, o.RootKey,
		fmt.Errorf("organisation %q: %w with another root key", o.ID, backchannel.ErrExists))
}

// PutCredential stores a credential. The same bytes again are not an error; other bytes under
// an existing id are ErrExists.
func (d *DB) PutCredential(ctx context.Context, c backchannel.StoredCredential) error {
	if err := CheckTexts("credential field", c.ID, c.Principal, c.Org); err != nil {
		return err
	}
	return d.putOnce(ctx, `INSERT INTO credentials (id, principal, org, serial, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		[]any{c.ID, c.Principal, c.Org, int64(c.Serial), NonNil(c.Data)},
		`SELECT data FROM credentials WHERE id = $1`, c.ID, c.Data,
		fmt.Errorf("credential %q: %w with other contents", c.ID, backchannel.ErrExists))
}

// putOnce inserts a row unless its id is taken, and then accepts the insert only if the taken
// row holds the same bytes: registering the same thing twice is not an error, registering
// something else under its id is.
func (d *DB) putOnce(ctx context.Context, insert string, args []any, lookup, id string, want []byte, conflict error) error {
	res, err := d.Write.ExecContext(ctx, insert, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	var have []byte
	if err := d.Write.QueryRowContext(ctx, lookup, id).Scan(&have); err != nil {
		return err
	}
	if !bytes.Equal(have, want) {
		return conflict
	}
	return nil
}

// Organisation returns a registered organisation.
func (d *DB) Organisation(ctx context.Context, id string) (backchannel.Organisation, error) {
	var o backchannel.Organisation
	err := d.Read.QueryRowContext(ctx, `SELECT id, root_key, name FROM organisations WHERE id = $1`, id).Scan(&o.ID, &o.RootKey, &o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("organisation %q: %w", id, backchannel.ErrNotFound)
	}
	return o, err
}

const credentialColumns = `SELECT id, principal, org, serial, data, revocation FROM credentials`

// Credential returns the credential with the given id.
func (d *DB) Credential(ctx context.Context, id string) (backchannel.StoredCredential, error) {
	cs, err := collect(scanCredential)(d.Read.QueryContext(ctx, credentialColumns+` WHERE id = $1`, id))
	if err == nil && len(cs) == 0 {
		err = fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
	}
	if err != nil {
		return backchannel.StoredCredential{}, err
	}
	return cs[0], nil
}

// CredentialsOf returns every credential of a principal, lowest serial first.
func (d *DB) CredentialsOf(ctx context.Context, principal string) ([]backchannel.StoredCredential, error) {
	return collect(scanCredential)(d.Read.QueryContext(ctx, credentialColumns+` WHERE principal = $1 ORDER BY serial, id`, principal))
}

func scanCredential(r *sql.Rows) (backchannel.StoredCredential, error) {
	var c backchannel.StoredCredential
	var serial int64
	err := r.Scan(&c.ID, &c.Principal, &c.Org, &serial, &c.Data, &c.Revocation)
	c.Serial = uint64(serial)
	return c, err
}

// RevokeCredential stores a credential's signed revocation.
func (d *DB) RevokeCredential(ctx context.Context, id string, revocation []byte) error {
	res, err := d.Write.ExecContext(ctx, `UPDATE credentials SET revocation = $1 WHERE id = $2`, NonNil(revocation), id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = fmt.Errorf("credential %q: %w", id, backchannel.ErrNotFound)
	}
	return err
}

// Secret returns the named host secret, creating it on first use. Callers racing to create it
// all end with the value stored first.
func (d *DB) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if err := CheckTexts("secret name", name); err != nil {
		return nil, err
	}
	var v []byte
	err := d.Read.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	if !errors.Is(err, sql.ErrNoRows) {
		return v, err
	}
	nv, err := create()
	if err != nil {
		return nil, err
	}
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, NonNil(nv)); err != nil {
		return nil, err
	}
	err = d.Write.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	return v, err
}

// UseOnce records key as used until expires, unless it is already; see store.Nonces.
func (d *DB) UseOnce(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	if err := CheckTexts("nonce", key); err != nil {
		return false, err
	}
	if _, err := d.Write.ExecContext(ctx, `DELETE FROM used_once WHERE expires_ms <= $1`, now.UnixMilli()); err != nil {
		return false, err
	}
	res, err := d.Write.ExecContext(ctx, `INSERT INTO used_once (key, expires_ms) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		key, expires.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// collect gathers every row of a query with scan. It is curried so that a query's result
// (rows, err) passes straight in: collect(scan)(db.QueryContext(...)).
func collect[T any](scan func(*sql.Rows) (T, error)) func(rows *sql.Rows, err error) ([]T, error) {
	return func(rows *sql.Rows, err error) ([]T, error) {
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []T
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
}

func scanString(r *sql.Rows) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}
