package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// The host as adversary: with the server stopped, it edits its own database, then serves
// it again. Whatever it does to history that its parties verified and cosigned, each party's
// client refuses the record with an error saying what is wrong, or the server itself refuses
// to serve it (its replay of the record fails, or the record conflicts with a stored
// cosignature). DESIGN.md principle 4; docs/record.md, "What a party can prove".

const muscat = "us:muscat"

// negotiation is talks between the United States and Iran through Oman, with messages and a
// verbatim relay on the record, which every member has verified and cosigned.
type negotiation struct {
	*world
	envoy, irFM, omFM *client.Client
	// opened is the size of the record when round 1 opened, before any message.
	opened int64
	// cosigned is the size every member verified and cosigned last.
	cosigned int64
}

func newNegotiation(t *testing.T) *negotiation {
	t.Helper()
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	n := &negotiation{world: w,
		envoy: w.person("us", "special-envoy", "Special Envoy", 3),
		irFM:  w.person("ir", "foreign-minister", "Foreign Minister", 4),
		omFM:  w.person("om", "foreign-minister", "Foreign Minister", 4),
	}
	ctx := w.ctx
	w.ok(n.envoy.CreateTalks(ctx, talks.Charter{
		ID: muscat, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
		Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
		Visibility: talks.VisibilityConfidential, Format: talks.FormatIndirect, Level: 3,
		Venue: "Muscat", Agenda: []string{"nuclear-programme", "sanctions-relief"},
	}))
	w.ok(n.irFM.Accept(ctx, muscat, w.pins()))
	w.ok(n.omFM.Accept(ctx, muscat, w.pins()))
	w.ok(n.envoy.Propose(ctx, muscat, "round-1", talks.ScheduleRound("Muscat", time.Now().UTC().Truncate(time.Second)), time.Time{}))
	w.ok(n.irFM.Vote(ctx, muscat, "round-1", true))
	open, err := n.omFM.OpenRound(ctx, muscat, 1)
	if err != nil {
		t.Fatal(err)
	}
	n.opened = open.Checkpoint.Size
	n.send(n.envoy, "us", "The United States is willing to negotiate on the nuclear issue.")
	got, err := n.omFM.Sync(ctx, muscat)
	if err != nil || len(got) != 1 {
		t.Fatalf("mediator synced %d messages, %v", len(got), err)
	}
	w.ok3(n.omFM.RelayVerbatim(ctx, muscat, got[0], talks.RoomCaucus("ir")))
	n.send(n.irFM, "ir", "Iran will discuss enrichment levels if sanctions are on the table.")
	n.syncAll()
	return n
}

// send posts a proposal in the caucus of org.
func (n *negotiation) send(c *client.Client, org, text string) {
	n.t.Helper()
	n.ok3(c.Send(n.ctx, muscat, client.Draft{
		Room: talks.RoomCaucus(org), Kind: backchannel.KindProposal, Topics: []string{"nuclear-programme"}, Body: []byte(text),
	}))
}

// members are the principals of the talks, by cosigner name.
func (n *negotiation) members() []member {
	return []member{{"us/special-envoy", n.envoy}, {"ir/foreign-minister", n.irFM}, {"om/foreign-minister", n.omFM}}
}

type member struct {
	name string
	c    *client.Client
}

// syncAll syncs every member, which verifies and cosigns the record as it now stands.
func (n *negotiation) syncAll() {
	n.t.Helper()
	for _, m := range n.members() {
		if _, err := m.c.Sync(n.ctx, muscat); err != nil {
			n.t.Fatalf("%s: sync: %v", m.name, err)
		}
	}
	cp, _ := n.envoy.Book(muscat).Verifier.Cosigned()
	for _, m := range n.members() {
		if c, _ := m.c.Book(muscat).Verifier.Cosigned(); c != cp {
			n.t.Fatalf("%s cosigned %v, the envoy %v", m.name, c, cp)
		}
	}
	n.cosigned = cp.Size
}

// refusedByClients syncs every member and fails unless each refuses the record
// (client.ErrRecord) with an error naming the refusal, sentinel, and containing want. With
// fresh, each member syncs from a new client of its identity that pinned the same log key but
// holds no book: a reader that has yet to read the events (a new device, a new member, an
// auditor). It returns the envoy's error text.
func (n *negotiation) refusedByClients(fresh bool, sentinel error, want string) string {
	n.t.Helper()
	var first string
	for _, m := range n.members() {
		c := m.c
		if fresh {
			c = client.New(n.url, m.c.Identity(), client.WithLogKey(m.c.PinnedLogKey()))
		}
		_, err := c.Sync(n.ctx, muscat)
		if !errors.Is(err, client.ErrRecord) || !errors.Is(err, sentinel) || !strings.Contains(err.Error(), want) {
			n.t.Fatalf("%s: Sync = %v, want client.ErrRecord naming %q and saying %q", m.name, err, sentinel, want)
		}
		if first == "" {
			first = err.Error()
		}
	}
	return first
}

// problem GETs path on the server as c and returns the problem it answers with, or nil.
func (n *negotiation) problem(c *client.Client, path string) *api.Problem {
	n.t.Helper()
	status, body := n.get(c, path)
	if status < 300 {
		return nil
	}
	p := &api.Problem{}
	if err := json.Unmarshal(body, p); err != nil {
		n.t.Fatalf("GET %s: %d %q is not a problem", path, status, body)
	}
	return p
}

// get GETs path with c's bearer token.
func (n *negotiation) get(c *client.Client, path string) (int, []byte) {
	n.t.Helper()
	req, err := http.NewRequestWithContext(n.ctx, http.MethodGet, n.url+path, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	resp, err := c.LogTiles(muscat).HTTP.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// refusedByServer fails unless the server refuses every member's reading of the record with
// the named problem, and its detail (for "internal", its log) contains want. It returns the
// detail, or the log's line.
func (n *negotiation) refusedByServer(name, want string) string {
	n.t.Helper()
	var detail string
	for _, m := range n.members() {
		for _, path := range []string{"/v1/talks/us:muscat/log/checkpoint", "/v1/talks/us:muscat/proof?index=0"} {
			p := n.problem(m.c, path)
			if p == nil || p.Name() != name {
				n.t.Fatalf("%s: GET %s = %+v, want problem %q", m.name, path, p, name)
			}
			detail = p.Detail
			if name == "internal" {
				// An internal error's detail says only that the operator's log has it.
				detail = lastLine(n.logs.String(), want)
			}
			if !strings.Contains(detail, want) {
				n.t.Fatalf("%s: GET %s: %q (log:\n%s), want it to say %q", m.name, path, p.Detail, n.logs, want)
			}
		}
		// The client library hands the server's refusal on as the problem it is, detail
		// and all, never as a bare status.
		if _, err := m.c.Sync(n.ctx, muscat); !api.IsProblem(err, name) || (name != "internal" && !strings.Contains(err.Error(), want)) {
			n.t.Fatalf("%s: Sync = %v, want the problem %q saying %q", m.name, err, name, want)
		}
	}
	if !strings.Contains(n.logs.String(), "level=ERROR") {
		n.t.Fatalf("the refusal was not logged at ERROR:\n%s", n.logs)
	}
	return detail
}

// hostDB is the host's database, opened directly while its server is stopped.
type hostDB struct {
	t    *testing.T
	db   *sql.DB
	host string
	// talks is the talks whose log the edits touch: muscat unless editTalksDB says otherwise.
	talks string
}

// editDB returns an edit for world.restart that runs fn on the opened database.
func editDB(t *testing.T, host string, fn func(h *hostDB)) func(string) {
	return func(path string) {
		t.Helper()
		db, err := sqlite.OpenRaw(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fn(&hostDB{t: t, db: db, host: host, talks: muscat})
	}
}

// editTalksDB is editDB for the log of another talks.
func editTalksDB(t *testing.T, host, talksID string, fn func(h *hostDB)) func(string) {
	return editDB(t, host, func(h *hostDB) {
		h.talks = talksID
		fn(h)
	})
}

func (h *hostDB) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.db.Exec(q, args...); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
}

// envelopes returns the indexes of the envelopes on the record.
func (h *hostDB) envelopes() []int64 {
	h.t.Helper()
	rows, err := h.db.Query(`SELECT idx FROM events WHERE talks = ? AND type = 'envelope' ORDER BY idx`, h.talks)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, i)
	}
	if len(out) < 3 {
		h.t.Fatalf("%d envelopes on the record, want 3", len(out))
	}
	return out
}

func (h *hostDB) size() int64 {
	h.t.Helper()
	var n int64
	if err := h.db.QueryRow(`SELECT size FROM talks WHERE id = ?`, h.talks).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// deleteEvent deletes event i; with renumber, the later events move down to close the gap.
func (h *hostDB) deleteEvent(i int64, renumber bool) {
	h.exec(`DELETE FROM events WHERE talks = ? AND idx = ?`, h.talks, i)
	if renumber {
		// Two steps, so that no index is ever taken twice.
		h.exec(`UPDATE events SET idx = -idx WHERE talks = ? AND idx > ?`, h.talks, i)
		h.exec(`UPDATE events SET idx = -idx - 1 WHERE talks = ? AND idx < 0`, h.talks)
	}
}

// swapEvents swaps everything but the index between events i and j: each row stays
// internally consistent (its hash column matches its data).
func (h *hostDB) swapEvents(i, j int64) {
	h.t.Helper()
	type row struct {
		typ, room       string
		hash, data, tag []byte
		ms              int64
	}
	read := func(x int64) row {
		var r row
		if err := h.db.QueryRow(`SELECT type, room, hash, data, tag, time_ms FROM events WHERE talks = ? AND idx = ?`, h.talks, x).
			Scan(&r.typ, &r.room, &r.hash, &r.data, &r.tag, &r.ms); err != nil {
			h.t.Fatal(err)
		}
		return r
	}
	ri, rj := read(i), read(j)
	write := func(x int64, r row) {
		h.exec(`UPDATE events SET type = ?, room = ?, hash = ?, data = ?, tag = ?, time_ms = ? WHERE talks = ? AND idx = ?`,
			r.typ, r.room, r.hash, r.data, r.tag, r.ms, h.talks, x)
	}
	h.exec(`UPDATE events SET hash = x'00' WHERE talks = ? AND idx = ?`, h.talks, i) // free i's hash for j
	write(j, ri)
	write(i, rj)
}

// alterCiphertext flips one byte of the ciphertext of envelope i (the ciphertext ends right
// before the 64-byte signature); with fixHash, the row's hash column is rewritten to match.
func (h *hostDB) alterCiphertext(i int64, fixHash bool) {
	h.t.Helper()
	var data []byte
	if err := h.db.QueryRow(`SELECT data FROM events WHERE talks = ? AND idx = ?`, h.talks, i).Scan(&data); err != nil {
		h.t.Fatal(err)
	}
	data[len(data)-ed25519.SignatureSize-3] ^= 0x01
	h.exec(`UPDATE events SET data = ? WHERE talks = ? AND idx = ?`, data, h.talks, i)
	if fixHash {
		sum := sha256.Sum256(data)
		h.exec(`UPDATE events SET hash = ? WHERE talks = ? AND idx = ?`, sum[:], h.talks, i)
	}
}

// truncate cuts the log back to its first k entries: events, stored hashes, checkpoints and the
// size, everything the store keeps of the log beyond k.
func (h *hostDB) truncate(k int64) {
	h.exec(`DELETE FROM events WHERE talks = ? AND idx >= ?`, h.talks, k)
	h.exec(`DELETE FROM hashes WHERE talks = ? AND idx >= ?`, h.talks, tlog.StoredHashCount(k))
	h.exec(`DELETE FROM checkpoints WHERE talks = ? AND size > ?`, h.talks, k)
	h.exec(`UPDATE talks SET size = ? WHERE id = ?`, k, h.talks)
}

// dropCosignatures deletes every cosignature, so that the server has nothing to check against.
func (h *hostDB) dropCosignatures() {
	h.exec(`DELETE FROM cosignatures WHERE talks = ?`, h.talks)
}

// resign is the careful host: it recomputes the tree from the events as they now are (and each
// event's hash column), and re-signs a checkpoint for every size it had signed, with the log
// key it keeps in its own database. The result is a well-formed log, signed by the right key,
// that merely tells another history.
func (h *hostDB) resign() {
	h.t.Helper()
	rows, err := h.db.Query(`SELECT idx, type, data, tag FROM events WHERE talks = ? ORDER BY idx`, h.talks)
	if err != nil {
		h.t.Fatal(err)
	}
	var leaves [][]byte
	var datas [][]byte
	for rows.Next() {
		var i int64
		e := backchannel.Event{}
		if err := rows.Scan(&i, &e.Type, &e.Data, &e.Tag); err != nil {
			h.t.Fatal(err)
		}
		if i != int64(len(leaves)) {
			h.t.Fatalf("event %d where %d was expected", i, len(leaves))
		}
		leaves, datas = append(leaves, e.Entry()), append(datas, e.Data)
	}
	rows.Close()
	for i, d := range datas {
		sum := sha256.Sum256(d)
		h.exec(`UPDATE events SET hash = ? WHERE talks = ? AND idx = ?`, sum[:], h.talks, i)
	}
	hashes, err := record.StoredHashesForLeaves(0, leaves, tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) {
		return nil, errors.New("no hashes before the first")
	}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.exec(`DELETE FROM hashes WHERE talks = ?`, h.talks)
	for i, x := range hashes {
		h.exec(`INSERT INTO hashes (talks, idx, hash) VALUES (?, ?, ?)`, h.talks, i, x[:])
	}
	var seed []byte
	if err := h.db.QueryRow(`SELECT value FROM secrets WHERE name = 'log-key'`).Scan(&seed); err != nil {
		h.t.Fatal(err)
	}
	key, err := record.NewLogKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		h.t.Fatal(err)
	}
	origin, _ := record.Origin(h.host, h.talks)
	signer, err := key.Signer(origin)
	if err != nil {
		h.t.Fatal(err)
	}
	n := int64(len(leaves))
	sizes := map[int64]bool{n: true}
	srows, err := h.db.Query(`SELECT size FROM checkpoints WHERE talks = ? AND size <= ?`, h.talks, n)
	if err != nil {
		h.t.Fatal(err)
	}
	for srows.Next() {
		var s int64
		if err := srows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		sizes[s] = true
	}
	srows.Close()
	h.exec(`DELETE FROM checkpoints WHERE talks = ?`, h.talks)
	for size := range sizes {
		root, err := tlog.TreeHash(size, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for i, x := range idx {
				out[i] = hashes[x]
			}
			return out, nil
		}))
		if err != nil {
			h.t.Fatal(err)
		}
		note, err := record.SignCheckpoint(signer, record.Checkpoint{Origin: origin, Size: size, Hash: root})
		if err != nil {
			h.t.Fatal(err)
		}
		h.exec(`INSERT INTO checkpoints (talks, size, root, note) VALUES (?, ?, ?, ?)`, h.talks, size, root[:], note)
	}
	h.exec(`UPDATE talks SET size = ? WHERE id = ?`, n, h.talks)
}

// Each edit of the host's database is caught, by every party's client or by the server itself,
// with an error that names what was done.
func TestTamperedDatabaseIsDetected(t *testing.T) {
	const (
		byClients = "clients" // the members' clients, which verified and cosigned the record
		// A new client of each member, reading the record afresh. The members' own clients
		// hold the events they verified and re-read nothing below the size they reached, so an
		// edit that leaves the tree and checkpoints alone changes nothing they rely on; whoever
		// reads those events next (a new device, a new member, an export) refuses them.
		byReaders = "readers"
		byServer  = "server"
	)
	for _, tc := range []struct {
		name string
		edit func(n *negotiation, h *hostDB)
		// after runs on the restarted server before the members sync.
		after    func(n *negotiation)
		by       string
		sentinel error  // the refusal the clients' error names
		problem  string // the problem the server refuses with
		want     string // in the clients' error, or the server's problem detail or log
	}{
		{
			name: "delete an event",
			edit: func(n *negotiation, h *hostDB) { h.deleteEvent(h.envelopes()[1], false) },
			by:   byServer, problem: "internal", want: "record does not replay",
		},
		{
			name: "delete the last event",
			edit: func(n *negotiation, h *hostDB) { h.deleteEvent(h.size()-1, false) },
			by:   byReaders, sentinel: record.ErrMissingEntry, want: "are not served",
		},
		{
			name: "delete an event, renumber and re-sign, keep cosignatures",
			edit: func(n *negotiation, h *hostDB) { h.deleteEvent(h.envelopes()[1], true); h.resign() },
			by:   byServer, problem: "record-conflict", want: "entries (rolled back)",
		},
		{
			name: "delete an event, renumber and re-sign, drop cosignatures",
			edit: func(n *negotiation, h *hostDB) {
				h.deleteEvent(h.envelopes()[1], true)
				h.resign()
				h.dropCosignatures()
			},
			by: byClients, sentinel: record.ErrForked, want: "smaller than size",
		},
		{
			name: "swap two events",
			edit: func(n *negotiation, h *hostDB) { e := h.envelopes(); h.swapEvents(e[0], e[2]) },
			by:   byReaders, sentinel: record.ErrReordered, want: "is the tree's entry",
		},
		{
			name: "swap two events and re-sign",
			edit: func(n *negotiation, h *hostDB) {
				e := h.envelopes()
				h.swapEvents(e[0], e[2])
				h.resign()
				h.dropCosignatures()
			},
			by: byClients, sentinel: record.ErrForked, want: "you cosigned: the log was rewritten or forked",
		},
		{
			name: "swap two events and re-sign, keep cosignatures",
			edit: func(n *negotiation, h *hostDB) { e := h.envelopes(); h.swapEvents(e[0], e[2]); h.resign() },
			by:   byServer, problem: "record-conflict", want: "is not the one cosigned",
		},
		{
			name: "alter a ciphertext byte",
			edit: func(n *negotiation, h *hostDB) { h.alterCiphertext(h.envelopes()[0], false) },
			by:   byReaders, sentinel: record.ErrLeafMismatch, want: "does not hash to the leaf the tree commits to",
		},
		{
			name: "alter a ciphertext byte and its hash column",
			edit: func(n *negotiation, h *hostDB) { h.alterCiphertext(h.envelopes()[0], true) },
			by:   byReaders, sentinel: record.ErrLeafMismatch, want: "does not hash to the leaf the tree commits to",
		},
		{
			name: "alter a ciphertext byte and re-sign",
			edit: func(n *negotiation, h *hostDB) {
				h.alterCiphertext(h.envelopes()[0], true)
				h.resign()
				h.dropCosignatures()
			},
			by: byClients, sentinel: record.ErrForked, want: "you cosigned: the log was rewritten or forked",
		},
		{
			// The server refuses to sign what would re-grow the log over what the parties
			// cosigned, so nothing can be appended, and it refuses to present what it holds.
			name:  "truncate and re-append, keep cosignatures",
			edit:  func(n *negotiation, h *hostDB) { h.truncate(n.opened) },
			after: (*negotiation).reappendRefused,
			by:    byServer, problem: "record-conflict", want: "entries (rolled back)",
		},
		{
			name:  "truncate and re-append, drop cosignatures",
			edit:  func(n *negotiation, h *hostDB) { h.truncate(n.opened); h.dropCosignatures() },
			after: (*negotiation).reappend,
			by:    byClients, sentinel: record.ErrForked, want: "you cosigned: the log was rewritten or forked",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNegotiation(t)
			n.restart(editDB(t, n.host, func(h *hostDB) { tc.edit(n, h) }))
			if tc.after != nil {
				tc.after(n)
			}
			switch tc.by {
			case byClients, byReaders:
				t.Logf("every %s refuses: %s", tc.by, n.refusedByClients(tc.by == byReaders, tc.sentinel, tc.want))
			case byServer:
				t.Logf("the server refuses (%s): %s", tc.problem, n.refusedByServer(tc.problem, tc.want))
			}
		})
	}
}

// reappend appends messages of the envoy after the host truncated the log, until the log is
// back to the size every member cosigned, with other events: each sealed and submitted
// directly, since the envoy's own client would refuse the record before sending.
func (n *negotiation) reappend() {
	n.t.Helper()
	for size, i := int64(0), 0; size < n.cosigned; i++ {
		a, err := n.envoy.SubmitEnvelope(n.ctx, muscat, n.demand(i))
		if err != nil {
			n.t.Fatal(err)
		}
		size = a.Checkpoint.Size
	}
}

// reappendRefused has the US submit a message to a host whose log was cut below what the
// parties cosigned: the host refuses to sign the grown log, and stores nothing.
func (n *negotiation) reappendRefused() {
	n.t.Helper()
	size := func() int64 {
		p, err := n.envoy.Events(n.ctx, muscat, 0, 1)
		if err != nil {
			n.t.Fatal(err)
		}
		return p.Size
	}
	before := size()
	_, err := n.envoy.SubmitEnvelope(n.ctx, muscat, n.demand(0))
	if !api.IsProblem(err, "record-conflict") || !strings.Contains(err.Error(), "refuses to sign") {
		n.t.Fatalf("an append over a cut log: %v, want record-conflict: the host refuses to sign", err)
	}
	if got := size(); got != before {
		n.t.Fatalf("the refused append grew the log from %d to %d", before, got)
	}
}

// demand is a US message, the i-th, for a host to put in place of what it cut.
func (n *negotiation) demand(i int) *seal.Envelope {
	n.t.Helper()
	now := time.Now().UTC()
	env, err := n.envoy.Identity().Seal(rand.Reader, seal.Context{
		Talks: muscat, Room: talks.RoomCaucus("us"), Kind: backchannel.KindProposal, Topics: []string{"nuclear-programme"},
		Round: 1, CreatedAt: now.Truncate(time.Millisecond), Sequence: uint64(now.UnixMicro()),
	}, fmt.Appendf(nil, "The United States demands zero enrichment (%d).", i), []*seal.Credential{n.envoy.Credential(), n.omFM.Credential()})
	if err != nil {
		n.t.Fatal(err)
	}
	return env
}

func lastLine(log, with string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], with) {
			return lines[i]
		}
	}
	return ""
}

// copyDB copies a stopped store's database (with any write-ahead log) from src to dst.
func copyDB(t *testing.T, src, dst string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(dst + suffix)
		b, err := os.ReadFile(src + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A host that shows the United States one history and Iran another (a split view) is caught by
// each as soon as it is shown the other's branch, and cannot make the branches meet again:
// carrying one party's cosignature into the other branch makes the server itself refuse it.
func TestForkedHistoriesAreDetected(t *testing.T) {
	n := newNegotiation(t)
	dir := t.TempDir()
	fork, branchA, branchB := dir+"/fork.db", dir+"/a.db", dir+"/b.db"
	n.restart(func(db string) { copyDB(t, db, fork) })

	// Branch A: the United States makes an offer and cosigns a record that holds it.
	n.send(n.envoy, "us", "The United States offers phased sanctions relief.")
	n.ok(n.envoy.Sync(n.ctx, muscat))
	cpA, _ := n.envoy.Book(muscat).Verifier.Cosigned()

	// Branch B, from the same point: Iran is shown a record without that offer, and its own
	// message in its place.
	n.restart(func(db string) { copyDB(t, db, branchA); copyDB(t, fork, db) })
	n.send(n.irFM, "ir", "Iran proposes a freeze for a freeze.")
	n.ok(n.irFM.Sync(n.ctx, muscat))
	cpB, _ := n.irFM.Book(muscat).Verifier.Cosigned()
	if cpA.Size <= n.cosigned || cpB.Size <= n.cosigned || cpA.Hash == cpB.Hash {
		t.Fatalf("branches: A cosigned %v, B %v, from %d", cpA, cpB, n.cosigned)
	}

	// The United States is shown branch B.
	_, err := n.envoy.Sync(n.ctx, muscat)
	if !errors.Is(err, client.ErrRecord) || !errors.Is(err, record.ErrForked) || !strings.Contains(err.Error(), fmt.Sprintf("size %d you cosigned", cpA.Size)) {
		t.Fatalf("envoy on branch B: Sync = %v, want a fork against size %d it cosigned", err, cpA.Size)
	}
	t.Logf("the United States refuses branch B: %v", err)

	// Iran is shown branch A.
	n.restart(func(db string) { copyDB(t, db, branchB); copyDB(t, branchA, db) })
	_, err = n.irFM.Sync(n.ctx, muscat)
	if !errors.Is(err, client.ErrRecord) || !errors.Is(err, record.ErrForked) || !strings.Contains(err.Error(), fmt.Sprintf("size %d you cosigned", cpB.Size)) {
		t.Fatalf("Iran on branch A: Sync = %v, want a fork against size %d it cosigned", err, cpB.Size)
	}
	t.Logf("Iran refuses branch A: %v", err)

	// The host carries Iran's cosignature of branch B into branch A, to make it look agreed:
	// the server refuses to present branch A at all.
	var line []byte
	var ms int64
	withDB := func(path string, fn func(db *sql.DB)) {
		db, err := sqlite.OpenRaw(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		fn(db)
	}
	n.restart(func(db string) {
		withDB(branchB, func(b *sql.DB) {
			if err := b.QueryRow(`SELECT line, time_ms FROM cosignatures WHERE talks = ? AND cosigner = 'ir/foreign-minister' AND size = ?`,
				muscat, cpB.Size).Scan(&line, &ms); err != nil {
				t.Fatal(err)
			}
		})
		withDB(db, func(a *sql.DB) {
			if _, err := a.Exec(`INSERT INTO cosignatures (talks, size, cosigner, line, time_ms) VALUES (?, ?, 'ir/foreign-minister', ?, ?)`,
				muscat, cpB.Size, line, ms); err != nil {
				t.Fatal(err)
			}
		})
	})
	p := n.problem(n.omFM, "/v1/talks/us:muscat/log/checkpoint")
	if p == nil || p.Name() != "record-conflict" || !strings.Contains(p.Detail, fmt.Sprintf("what ir/foreign-minister cosigned at size %d", cpB.Size)) {
		t.Fatalf("branch A with Iran's cosignature of branch B: checkpoint = %+v, want a record-conflict", p)
	}
	t.Logf("the server refuses to present branch A: %s", p.Detail)
	if metrics := n.metrics(); !bytes.Contains(metrics, []byte("backchannel_record_conflicts_total 1")) {
		t.Fatalf("metrics do not count the conflict:\n%s", metrics)
	}
}

// A host that keeps the United States and Iran on two branches, never showing either the other's,
// leaves each party's confirmation where the branches part: each client verifies its own branch,
// and sees that the other party has cosigned nothing of it. What both cosigned before the fork
// stays confirmed.
func TestBranchesHeldApartStayUnconfirmed(t *testing.T) {
	n := newNegotiation(t)
	// Each member's last sync came before some of the others had cosigned: one more reads it.
	n.syncAll()
	for _, m := range n.members() {
		if got := m.c.Book(muscat).Confirmed(); got != n.cosigned {
			t.Fatalf("%s: confirmed %d before the fork, want %d", m.name, got, n.cosigned)
		}
	}
	dir := t.TempDir()
	fork, branchA, branchB := dir+"/fork.db", dir+"/a.db", dir+"/b.db"
	n.restart(func(db string) { copyDB(t, db, fork) })
	n.send(n.envoy, "us", "The United States offers phased sanctions relief.")
	n.ok(n.envoy.Sync(n.ctx, muscat))
	n.restart(func(db string) { copyDB(t, db, branchA); copyDB(t, fork, db) })
	n.send(n.irFM, "ir", "Iran proposes a freeze for a freeze.")
	n.ok(n.irFM.Sync(n.ctx, muscat))
	n.restart(func(db string) { copyDB(t, db, branchB); copyDB(t, branchA, db) })
	n.ok(n.envoy.Sync(n.ctx, muscat))
	n.restart(func(db string) { copyDB(t, branchB, db) })
	n.ok(n.irFM.Sync(n.ctx, muscat))

	for _, side := range []struct {
		c      *client.Client
		other  string
		branch string
	}{{n.envoy, "ir", "A"}, {n.irFM, "us", "B"}} {
		b := side.c.Book(muscat)
		latest, _ := b.Verifier.Latest()
		if latest.Size <= n.cosigned || b.Confirmed() != n.cosigned || b.ConfirmedBy(side.other) != n.cosigned {
			t.Errorf("branch %s: latest %d, confirmed %d, by %s %d; want %s's confirmation stuck at %d",
				side.branch, latest.Size, b.Confirmed(), side.other, b.ConfirmedBy(side.other), side.other, n.cosigned)
		}
	}
}
