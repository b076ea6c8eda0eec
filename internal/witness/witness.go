// Package witness is a transparency-log witness that speaks C2SP tlog-witness: a host submits
// each new checkpoint of a talks' record with a consistency proof from the last one the witness
// cosigned, and the witness cosigns it (cosignature/v1) only if it extends that one. Its state,
// the latest checkpoint cosigned per log, lives in SQLite, and the check and the update are one
// transaction: it never cosigns two inconsistent checkpoints of one log, across restarts. It
// sees checkpoints and hashes, never an event of the talks.
//
// A witness cosigns the logs of the hosts it trusts: each host's log key, as the host
// publishes it, signs the checkpoints of every talks on the host under the talks' origin
// ("<host>/talks/<id>"), as record.OriginVerifierKey derives.
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/internal/store/migrate"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/record"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Witness is an open witness.
type Witness struct {
	db       *sql.DB
	name     string
	cosigner *record.Cosigner
	now      func() time.Time
	// mu serialises add-checkpoint in this process; the immediate transaction does between
	// processes sharing the database.
	mu sync.Mutex
}

// Config configures Open.
type Config struct {
	// Path is the SQLite database, created 0600 if missing.
	Path string
	// Name is the witness's key name, for a new database (Init); an existing one keeps its own.
	Name string
	// Now is the witness's clock, for cosignature times. Default time.Now.
	Now func() time.Time
}

// ErrNotInitialised reports a database that holds no witness key: Init creates one.
var ErrNotInitialised = errors.New("the witness has no key yet: run 'backchannel witness init'")

// Init creates the witness's database at cfg.Path with a new key named cfg.Name, and returns
// the open witness. It refuses a database that already holds a key: a witness whose key
// changed is another witness.
func Init(ctx context.Context, cfg Config) (*Witness, error) {
	if !strings.Contains(cfg.Name, ".") || strings.ContainsAny(cfg.Name, " +\n") {
		return nil, fmt.Errorf("witness: name %q: give a domain-like name without spaces or '+', such as witness.example.org/w1", cfg.Name)
	}
	db, err := open(ctx, cfg.Path)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO identity (only, name, seed) VALUES (1, ?, ?)`, cfg.Name, seed); err != nil {
		db.Close()
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "constraint") {
			return nil, fmt.Errorf("witness: %s already holds a witness key: a witness keeps its key for life", cfg.Path)
		}
		return nil, fmt.Errorf("witness: %w", err)
	}
	db.Close()
	return Open(ctx, cfg)
}

// Open opens the witness whose database is at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Witness, error) {
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("witness: %w (%w)", ErrNotInitialised, err)
	}
	db, err := open(ctx, cfg.Path)
	if err != nil {
		return nil, err
	}
	var name string
	var seed []byte
	err = db.QueryRowContext(ctx, `SELECT name, seed FROM identity WHERE only = 1`).Scan(&name, &seed)
	if errors.Is(err, sql.ErrNoRows) {
		db.Close()
		return nil, fmt.Errorf("witness: %s: %w", cfg.Path, ErrNotInitialised)
	}
	if err != nil || len(seed) != ed25519.SeedSize {
		db.Close()
		return nil, fmt.Errorf("witness: %s: the witness key does not read back (%v)", cfg.Path, err)
	}
	c, err := record.NewCosigner(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		db.Close()
		return nil, err
	}
	w := &Witness{db: db, name: name, cosigner: c, now: cfg.Now}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

func open(ctx context.Context, path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	if err := sqlite.Private(path); err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("witness: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	sub, _ := fs.Sub(schemaFS, "schema")
	if _, err := migrate.Apply(ctx, db, sub, migrate.Options{}); err != nil {
		db.Close()
		return nil, fmt.Errorf("witness: %s: %w", path, err)
	}
	return db, nil
}

// Close closes the witness's database.
func (w *Witness) Close() error { return w.db.Close() }

// VerifierKey returns the witness's cosignature/v1 verifier key, which charters and hosts pin.
func (w *Witness) VerifierKey() string { return w.cosigner.VerifierKey() }

// TrustHost makes the witness cosign the logs of the host whose log key (a signed-note verifier
// key named after the host, as the host publishes it) is given. A host already trusted under
// another key is refused: its logs' state would be checked against another key's history.
func (w *Witness) TrustHost(ctx context.Context, hostKey string) (string, error) {
	v, err := note.NewVerifier(hostKey)
	if err != nil {
		return "", fmt.Errorf("witness: host key %q: %w", hostKey, err)
	}
	if _, err := record.OriginVerifierKey(hostKey, v.Name()+"/talks/x"); err != nil {
		return "", fmt.Errorf("witness: host key %q: %w", hostKey, err)
	}
	var have string
	err = w.db.QueryRowContext(ctx, `SELECT key FROM hosts WHERE host = ?`, v.Name()).Scan(&have)
	switch {
	case err == nil && have == hostKey:
		return v.Name(), nil
	case err == nil:
		return "", fmt.Errorf("witness: host %s is trusted already under another key (%s)", v.Name(), have)
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("witness: %w", err)
	}
	if _, err := w.db.ExecContext(ctx, `INSERT INTO hosts (host, key) VALUES (?, ?)`, v.Name(), hostKey); err != nil {
		return "", fmt.Errorf("witness: %w", err)
	}
	return v.Name(), nil
}

// Latest returns the latest checkpoint the witness cosigned of the log with origin, and false if
// none.
func (w *Witness) Latest(ctx context.Context, origin string) (record.Checkpoint, bool, error) {
	var size int64
	var hash []byte
	err := w.db.QueryRowContext(ctx, `SELECT size, hash FROM logs WHERE origin = ?`, origin).Scan(&size, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return record.Checkpoint{}, false, nil
	}
	if err != nil {
		return record.Checkpoint{}, false, err
	}
	return record.Checkpoint{Origin: origin, Size: size, Hash: tlog.Hash(hash)}, true, nil
}

// Error is a refusal of add-checkpoint, with the HTTP status tlog-witness gives it.
type Error struct {
	Status int
	// Stale is set when the old size was not the size of the latest checkpoint the witness
	// cosigned, which Size then is: the submitter retries from it.
	Stale bool
	Size  int64
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

func refuse(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// maxRequest bounds an add-checkpoint body: an old size, 63 hashes and a checkpoint note.
const maxRequest = 8 + 63*45 + record.MaxCheckpointSize

// AddCheckpoint carries out an add-checkpoint request (C2SP tlog-witness): it returns the
// witness's cosignature lines on the checkpoint, or an *Error with the status to answer.
func (w *Witness) AddCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	old, proof, msg, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	text, _, _ := bytes.Cut(msg, []byte("\n\n"))
	origin, _, _ := strings.Cut(string(text), "\n")
	host, _, err := record.ParseOrigin(origin)
	if err != nil {
		return nil, refuse(http.StatusNotFound, "unknown log %q", origin)
	}
	var hostKey string
	if err := w.db.QueryRowContext(ctx, `SELECT key FROM hosts WHERE host = ?`, host).Scan(&hostKey); errors.Is(err, sql.ErrNoRows) {
		return nil, refuse(http.StatusNotFound, "unknown log %q: this witness does not cosign for host %s", origin, host)
	} else if err != nil {
		return nil, err
	}
	vkey, err := record.OriginVerifierKey(hostKey, origin)
	if err != nil {
		return nil, refuse(http.StatusNotFound, "unknown log %q: %v", origin, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	cp, _, err := record.OpenCheckpoint(msg, origin, v)
	switch {
	case errors.Is(err, record.ErrBadSignature):
		return nil, refuse(http.StatusForbidden, "the checkpoint carries no valid signature of log %s", origin)
	case err != nil:
		return nil, refuse(http.StatusBadRequest, "the checkpoint: %v", err)
	}
	if old > cp.Size {
		return nil, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint's %d", old, cp.Size)
	}
	if old == 0 && len(proof) != 0 {
		return nil, refuse(http.StatusBadRequest, "a consistency proof from size 0")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var latest record.Checkpoint
	var hash []byte
	err = tx.QueryRowContext(ctx, `SELECT size, hash FROM logs WHERE origin = ?`, origin).Scan(&latest.Size, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		latest.Hash = tlog.Hash(hash)
	}
	latest.Origin = origin
	if old != latest.Size {
		return nil, &Error{Status: http.StatusConflict, Stale: true, Size: latest.Size,
			Msg: fmt.Sprintf("old size %d is not %d, the size of the latest checkpoint this witness cosigned of %s", old, latest.Size, origin)}
	}
	switch {
	case old == cp.Size && latest.Size > 0 && cp.Hash != latest.Hash:
		return nil, refuse(http.StatusConflict, "checkpoint %d of %s has another root than the one this witness cosigned: the log forked", cp.Size, origin)
	case old > 0 && old < cp.Size:
		if err := record.CheckConsistency(latest, cp, proof); err != nil {
			return nil, refuse(http.StatusUnprocessableEntity, "the consistency proof from %d to %d does not verify: %v", old, cp.Size, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO logs (origin, size, hash, checkpoint) VALUES (?, ?, ?, ?)
		ON CONFLICT (origin) DO UPDATE SET size = excluded.size, hash = excluded.hash, checkpoint = excluded.checkpoint`,
		origin, cp.Size, cp.Hash[:], msg); err != nil {
		return nil, err
	}
	// Persisted before it is answered: a cosignature given is never for a state the witness
	// could forget.
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	signed, err := w.cosigner.Cosign(cp, w.now())
	if err != nil {
		return nil, err
	}
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	return sigs, nil
}

// parseRequest parses an add-checkpoint body: "old N", up to 63 base64 hashes, an empty line,
// the checkpoint note.
func parseRequest(body []byte) (old int64, proof tlog.TreeProof, msg []byte, err error) {
	if len(body) > maxRequest {
		return 0, nil, nil, refuse(http.StatusRequestEntityTooLarge, "a request of %d bytes, at most %d", len(body), maxRequest)
	}
	head, msg, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, refuse(http.StatusBadRequest, "no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	n, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return 0, nil, nil, refuse(http.StatusBadRequest, "the first line is not \"old <size>\"")
	}
	old, err = strconv.ParseInt(n, 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != n {
		return 0, nil, nil, refuse(http.StatusBadRequest, "old size %q is not a decimal size", n)
	}
	if len(lines)-1 > 63 {
		return 0, nil, nil, refuse(http.StatusBadRequest, "%d consistency proof lines, at most 63", len(lines)-1)
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return 0, nil, nil, refuse(http.StatusBadRequest, "consistency proof line %d is not a base64 hash", i+1)
		}
		proof = append(proof, tlog.Hash(h))
	}
	return old, proof, msg, nil
}

// Handler serves the tlog-witness HTTP interface, POST /add-checkpoint, and GET /healthz for
// a load balancer (200 once the database answers).
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, r *http.Request) {
		if err := w.db.PingContext(r.Context()); err != nil {
			http.Error(rw, "the database does not answer", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(rw, "ok\n")
	})
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
		if err != nil {
			http.Error(rw, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		sigs, err := w.AddCheckpoint(r.Context(), body)
		var we *Error
		switch {
		case errors.As(err, &we) && we.Stale:
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", we.Size)
		case errors.As(err, &we):
			http.Error(rw, we.Msg, we.Status)
		case err != nil:
			http.Error(rw, "the witness failed", http.StatusInternalServerError)
		default:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.Write(sigs)
		}
	})
	return mux
}
