package muscat

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/internal/node"
)

// host starts a real server on loopback with its embedded SQLite store and returns its URL.
func host(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts := httptest.NewUnstartedServer(nil)
	addr := ts.Listener.Addr().String()
	cfg := node.DefaultConfig()
	cfg.Store, cfg.Server.Host = "sqlite:"+filepath.Join(t.TempDir(), "backchannel.db"), addr
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = n.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		n.Close()
	})
	return ts.URL
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// play plays the scenario once for all the tests of this file.
func play(t *testing.T) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var transcript strings.Builder
	res, err := Play(ctx, host(t), Options{}, Narrator(&transcript))
	t.Log("\n" + transcript.String())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestMuscat(t *testing.T) {
	res := play(t)

	t.Run("every refusal is on the record with who refused", func(t *testing.T) {
		for _, c := range []struct {
			what, motion, by, source string
			standing                 bool
		}{
			{"the UAE as mediator", motionUAE, "ir:foreign-minister", SourceRecord, false},
			{"direct talks", motionDirect, "ir:foreign-minister", SourceRecord, false},
			{"Istanbul as the venue", motionIstanbul, "ir:foreign-minister", SourceRecord, false},
			{"a round in Istanbul", motionRound3Istanbul, "ir:foreign-minister", SourceRecord, false},
			{"missiles on the agenda", motionMissiles, "ir:foreign-minister", SourceRecord, true},
			{"missiles on the agenda, again", motionMissilesAgain, "ir:foreign-minister", SourceRecord, true},
			{"regional influence on the agenda", motionRegionalInfluence, "ir:snsc-secretary", SourceRecord, false},
		} {
			r := refusal(res, func(r Refusal) bool { return r.Motion == c.motion })
			if r == nil {
				t.Errorf("%s: no refusal of motion %s in the result", c.what, c.motion)
				continue
			}
			if r.Talks != TalksMuscat || r.By.Principal != c.by || r.By.Org != "ir" || r.Source != c.source || r.Standing != c.standing || r.At.IsZero() {
				t.Errorf("%s: refusal = %+v, want one by %s (standing %v) on the record", c.what, *r, c.by, c.standing)
			}
			if c.standing && len(r.Commitment) != 64 {
				t.Errorf("%s: a standing refusal without its commitment: %+v", c.what, *r)
			}
		}
		forged := refusal(res, func(r Refusal) bool { return r.Source == SourceClient })
		if forged == nil || forged.By.Principal != "ir:foreign-minister" || forged.Problem != "untrusted-root" || !strings.Contains(forged.What, "US President") {
			t.Errorf("the forged letter is not flagged by Iran's client: %+v", forged)
		}
		host := refusal(res, func(r Refusal) bool { return r.Source == SourceHost && r.Problem == "untrusted-root" })
		if host == nil || !strings.Contains(host.What, "look-alike root") {
			t.Errorf("the host did not refuse the look-alike credential: %+v", host)
		}
		for _, name := range []string{"not-on-agenda", "rank-below-level", "suspended", "not-in-room", "unknown-credential"} {
			if refusal(res, func(r Refusal) bool { return r.Source == SourceHost && r.Problem == name }) == nil {
				t.Errorf("no refusal %q by the host", name)
			}
		}
	})

	t.Run("the verbatim relays verify against their authors", func(t *testing.T) {
		for _, c := range []struct{ talks, reader, author, via string }{
			{TalksLetter, "ir:supreme-leader", "President (United States)", "Diplomat (United Arab Emirates)"},
			{TalksMuscat, "ir:foreign-minister", "Special Envoy (United States)", "Foreign Minister (Sultanate of Oman)"},
			{TalksMuscat, "us:vice-president", "Secretary of the Supreme National Security Council (Islamic Republic of Iran)", "Foreign Minister (Sultanate of Oman)"},
			{TalksDoha, "us:special-envoy", "Secretary of the Supreme National Security Council (Islamic Republic of Iran)", "Foreign Ministry official (State of Qatar)"},
			{TalksMuscat, "ir:foreign-minister", "President (United States)", "Foreign Minister (Sultanate of Oman)"},
		} {
			s := step(res, func(s Step) bool {
				return s.Action == "read" && s.Talks == c.talks && s.Actor.Principal == c.reader && s.Via == c.via &&
					strings.HasPrefix(s.Verified, "word for word") && strings.Contains(s.Verified, "the signature of the "+c.author+" verified")
			})
			if s == nil || s.Outcome != OutcomeVerified || !s.OnRecord {
				t.Errorf("%s reading %s's words via %s in %s: %+v", c.reader, c.author, c.via, c.talks, s)
			}
		}
		letter := step(res, func(s Step) bool { return s.Number == 1 && s.Action == "read" })
		if letter == nil || !strings.Contains(letter.Verified, "President (United States)") || !strings.Contains(letter.Verified, "United States root pinned in the charter") {
			t.Errorf("the President's letter was not verified against the pinned US root: %+v", letter)
		}
	})

	t.Run("the summary is marked as Oman's", func(t *testing.T) {
		s := step(res, func(s Step) bool {
			return s.Number == 6 && s.Action == "read" && s.Actor.Principal == "us:special-envoy"
		})
		if s == nil || !strings.HasPrefix(s.Verified, "marked as a summary in the mediator's own words") || !strings.Contains(s.Verified, "Foreign Minister (Sultanate of Oman)") {
			t.Errorf("the US reading Oman's summary: %+v", s)
		}
	})

	t.Run("Iran cannot read the US room", func(t *testing.T) {
		s := step(res, func(s Step) bool { return s.Action == "fetch-envelope" })
		if s == nil || s.Actor.Principal != "ir:foreign-minister" || s.Outcome != OutcomeRefused || s.Problem != "not-found" {
			t.Errorf("Iran fetching the US caucus envelope: %+v", s)
		}
	})

	t.Run("Iran acknowledges receipt", func(t *testing.T) {
		s := step(res, func(s Step) bool { return s.Action == "receipt" })
		if s == nil || s.Actor.Principal != "ir:foreign-minister" || s.Outcome != OutcomeAccepted || !s.OnRecord {
			t.Errorf("Iran's acknowledgment: %+v", s)
		}
		learnt := step(res, func(s Step) bool { return s.Number == 10 && s.Action == "read" && s.Actor.Principal == "us:president" })
		if learnt == nil || learnt.Outcome != OutcomeVerified {
			t.Errorf("the President learning of the acknowledgment: %+v", learnt)
		}
	})

	t.Run("every member synced and cosigned", func(t *testing.T) {
		want := map[string][]string{
			TalksLetter: {"us/president", "ir/supreme-leader", "ae/diplomat"},
			TalksMuscat: {"us/special-envoy", "ir/foreign-minister", "om/foreign-minister", "us/vice-president", "ir/snsc-secretary", "us/president", "us/adviser"},
			TalksDoha:   {"ir/snsc-secretary", "us/special-envoy", "qa/foreign-ministry"},
		}
		for id, cosigners := range want {
			tr := res.TalksByID(id)
			if tr == nil {
				t.Errorf("no report of talks %s", id)
				continue
			}
			if origin, _, _ := strings.Cut(tr.Checkpoint, "\n"); tr.Size == 0 || !strings.HasSuffix(origin, "/talks/"+id) {
				t.Errorf("%s: checkpoint %q", id, tr.Checkpoint)
			}
			if !strings.HasSuffix(tr.Log, "/v1/talks/"+id+"/log/") {
				t.Errorf("%s: log URL %q", id, tr.Log)
			}
			for _, c := range cosigners {
				if !slices.Contains(tr.Cosigners, c) {
					t.Errorf("%s: the final checkpoint lacks the cosignature of %s: %v", id, c, tr.Cosigners)
				}
			}
			for _, m := range tr.Members {
				if !m.Synced || m.Cosigned != tr.Size {
					t.Errorf("%s: member %s synced %v, cosigned %d of %d", id, m.Actor, m.Synced, m.Cosigned, tr.Size)
				}
			}
		}
		muscat := res.TalksByID(TalksMuscat)
		if muscat.Venue != "Muscat" || muscat.Level != 5 || !slices.Equal(muscat.Agenda, []string{topicNuclear, topicSanctions}) || !slices.Equal(muscat.Mediators, []string{"om"}) {
			t.Errorf("muscat ends as %+v", muscat)
		}
		for _, m := range muscat.Members {
			if m.Actor.Principal == "ir:foreign-minister" && (m.Flagged != 1 || m.Verified+m.Flagged != m.Received) {
				t.Errorf("Iran's Foreign Minister: %+v, want the forged letter as the one flagged", m)
			}
		}
	})

	t.Run("the result carries as JSON", func(t *testing.T) {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Steps) != len(res.Steps) || len(back.Refusals) != len(res.Refusals) || len(back.Organisations) != 5 {
			t.Errorf("the JSON round trip lost steps, refusals or organisations")
		}
		for _, s := range res.Steps {
			if s.Number < 0 || s.Number > 12 || s.Title == "" || s.Outcome == "" || s.Actor.Title == "" {
				t.Errorf("an incomplete step: %+v", s)
			}
		}
	})
}

func refusal(res *Result, f func(Refusal) bool) *Refusal {
	for i := range res.Refusals {
		if f(res.Refusals[i]) {
			return &res.Refusals[i]
		}
	}
	return nil
}

func step(res *Result, f func(Step) bool) *Step {
	for i := range res.Steps {
		if f(res.Steps[i]) {
			return &res.Steps[i]
		}
	}
	return nil
}
