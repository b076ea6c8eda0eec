package client_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// The host casts a refusal in Iran's name: with its server stopped, it appends to its record a
// vote refusing the US's venue motion, as if Iran's red lines had made it, and signs the longer
// log; the vote is in no one's signature (as the host once cast standing refusals), or in the
// signature of someone else than Iran. No client may show Iran refusing a motion it never saw,
// and so leave Iran unable to accept it.
func TestAVoteTheHostCastsIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// alarm: the host's own server serves the event, and every client raises ErrRecord.
		alarm bool
		event func(fw *faultWorld, vote talks.Vote) (string, []byte)
	}{
		{"in no one's signature", false, func(fw *faultWorld, vote talks.Vote) (string, []byte) {
			data, err := talks.Marshal(vote)
			if err != nil {
				t.Fatal(err)
			}
			return "standing", data
		}},
		{"signed by the US", true, func(fw *faultWorld, vote talks.Vote) (string, []byte) {
			data, err := talks.Marshal(vote)
			if err != nil {
				t.Fatal(err)
			}
			act, err := fw.envoy.Identity().Act(muscat, vote.Type(), data, vote.At)
			if err != nil {
				t.Fatal(err)
			}
			return backchannel.EventAct, act.Marshal()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := newFaultWorld(t)
			fw.ok(fw.envoy.Propose(fw.ctx, muscat, "venue", talks.SetVenue("Istanbul"), time.Time{}))
			typ, data := tc.event(fw, talks.Vote{At: time.Now().UTC().Add(time.Second).Truncate(time.Millisecond), By: fw.irFM.Actor(),
				Motion: "venue", Standing: strings.Repeat("5a", 32)})
			fw.restart(editDB(t, fw.host, func(h *hostDB) {
				h.appendEvent(typ, "", data)
				h.resign()
			}))
			for _, c := range []*client.Client{fw.envoy, fw.irFM, fw.omFM} {
				fresh := client.New(fw.url, c.Identity(), client.WithLogKey(c.PinnedLogKey()))
				// Our own server refuses to serve a record it cannot replay; a host running
				// other code serves it, and the client's replay refuses it (replay's tests).
				_, err := fresh.Sync(fw.ctx, muscat)
				if err == nil || (tc.alarm && !errors.Is(err, client.ErrRecord)) {
					t.Errorf("%s: Sync = %v, want the host's vote refused", c.Credential().Handle(), err)
				}
				if b := fresh.Book(muscat); b != nil && b.State != nil {
					if m, _ := b.State.Motion("venue"); len(m.Ballots) > 1 {
						t.Errorf("%s: the book shows ballots %+v", c.Credential().Handle(), m.Ballots)
					}
				}
			}
		})
	}
}

// Iran's red lines reach the host sealed to Iran's delegation, so that nothing in its database
// names a topic of them; the refusal they make of a US motion is a vote Iran's own client
// signs as soon as it reads the motion, carrying the commitment to the instruction.
func TestRedLinesAreSealedAndTheirRefusalsSigned(t *testing.T) {
	fw := newFaultWorld(t)
	fw.ok(fw.irFM.SetRedLines(fw.ctx, muscat, []string{"regional-security", "missiles"}))
	fw.ok(fw.envoy.Propose(fw.ctx, muscat, "add-missiles", talks.AddTopic("missiles"), time.Time{}))
	motion := func(c *client.Client) talks.Motion {
		t.Helper()
		m, ok := mustSync(t, fw.ctx, c).State.Motion("add-missiles")
		if !ok {
			t.Fatalf("%s: no motion add-missiles", c.Credential().Handle())
		}
		return m
	}
	if m := motion(fw.envoy); len(m.Ballots) != 1 {
		t.Fatalf("before Iran's client read the motion: ballots %+v", m.Ballots)
	}
	motion(fw.irFM) // reads the motion, and refuses it
	lines := fw.irFM.Book(muscat).RedLines
	if lines == nil || !slices.Equal(lines.Topics, []string{"missiles", "regional-security"}) {
		t.Fatalf("Iran's client holds red lines %+v (%v)", lines, fw.irFM.Book(muscat).RedLinesErr)
	}
	for _, c := range []*client.Client{fw.irFM, fw.envoy, fw.omFM} {
		m := motion(c)
		if got := m.OutcomeAt(time.Now()); got != talks.OutcomeRefused {
			t.Fatalf("%s: the motion is %s", c.Credential().Handle(), got)
		}
		b, ok := m.Ballot("ir")
		if !ok || b.Accept || b.By != fw.irFM.Actor() || b.Standing != lines.Commitment() {
			t.Fatalf("%s: Iran's ballot %+v, want a refusal by its foreign minister committing to %s", c.Credential().Handle(), b, lines.Commitment())
		}
		if c != fw.irFM && c.Book(muscat).RedLines != nil {
			t.Fatalf("%s holds Iran's red lines", c.Credential().Handle())
		}
	}
	fw.restart(editDB(t, fw.host, func(h *hostDB) {
		if where := h.find([]byte("regional-security")); where != "" {
			t.Errorf("the host's database names a red line in clear, in %s", where)
		}
	}))
}

// appendEvent appends an event to the talks' log, as a host writing its own database could; the
// log is then re-signed with resign.
func (h *hostDB) appendEvent(typ, room string, data []byte) {
	h.t.Helper()
	n := h.size()
	h.exec(`INSERT INTO events (talks, idx, type, room, hash, data, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		h.talks, n, typ, room, []byte{byte(n)}, data, time.Now().UnixMilli())
	h.exec(`UPDATE talks SET size = ? WHERE id = ?`, n+1, h.talks)
}

// find returns the table and column of the first value in the database that holds needle, or
// "" if none does.
func (h *hostDB) find(needle []byte) string {
	h.t.Helper()
	rows, err := h.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		rows, err := h.db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			h.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				h.t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch x := v.(type) {
				case []byte:
					b = x
				case string:
					b = []byte(x)
				}
				if bytes.Contains(b, needle) {
					rows.Close()
					return table + "." + cols[i]
				}
			}
		}
		rows.Close()
	}
	return ""
}
