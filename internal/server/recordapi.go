package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/internal/tiles"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// maxPage bounds the events of one page.
const maxPage = 1000

type EventsQuery struct {
	TalksPath
	From  int64  `query:"from" minimum:"0" doc:"The first index to read."`
	Limit int    `query:"limit" minimum:"0" maximum:"1000" doc:"At most this many events (default 100)."`
	Room  string `query:"room" maxLength:"64" doc:"Only events of this room."`
	Type  string `query:"type" maxLength:"64" doc:"Only events of this type."`
	To    int64  `query:"to" minimum:"0" doc:"The size of the checkpoint the caller verified: the page is read as far as it, or to the limit, whatever this node has heard of the log's growth."`
}

// readable returns up to limit events from index from that principal may read, filtered.
// Events up to index to are read from the store if the cache ends before it: a checkpoint read
// from the store (another node's growth, whose notice has not come yet) may be ahead of the
// cache, and a page that stopped short of it would skip events the caller may read.
func (s *Server) readable(ctx context.Context, b *book, principal string, from int64, limit int, room, typ string, to int64) ([]api.Event, int64, error) {
	out := []api.Event{}
	next := from
	for len(out) < limit {
		evs, cached := s.recent.from(b.ID, next)
		if cached && next+int64(len(evs)) < to {
			cached = false
		}
		if !cached {
			var err error
			if evs, err = s.store.Events(ctx, b.ID, next, maxPage); err != nil {
				return nil, 0, err
			}
			s.recent.read(b.ID, evs)
		}
		if len(evs) == 0 {
			break
		}
		now := s.cfg.Now()
		b.mu.Lock()
		for _, e := range evs {
			next = int64(e.Index) + 1
			if (room == "" || e.Room == room) && (typ == "" || e.Type == typ) && b.mayRead(principal, &e, now) {
				out = append(out, eventOf(e))
				if len(out) == limit {
					break
				}
			}
		}
		b.mu.Unlock()
		if cached || len(evs) < maxPage {
			break // the end of what the log is known to hold
		}
	}
	return out, next, nil
}

// storeLog is a talks' log as package record reads it, over the store.
type storeLog struct {
	s  *Server
	id string
	// size pins the log to one checkpoint for the whole of one request.
	size int64
	note []byte
}

func (l *storeLog) Checkpoint(ctx context.Context) ([]byte, error) { return l.note, nil }

func (l *storeLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return l.s.store.ReadHashes(context.Background(), l.id, indexes)
}

func (l *storeLog) ReadEntries(ctx context.Context, start, n int64) ([][]byte, error) {
	if start < 0 || n < 0 || start+n > l.size {
		return nil, fmt.Errorf("entries %d+%d beyond size %d: %w", start, n, l.size, record.ErrNotFound)
	}
	evs, err := l.s.store.Events(ctx, l.id, start, int(n))
	if err != nil {
		return nil, err
	}
	if int64(len(evs)) != n {
		return nil, fmt.Errorf("entries %d+%d: %w", start, n, record.ErrNotFound)
	}
	out := make([][]byte, len(evs))
	for i := range evs {
		out[i] = evs[i].Entry()
	}
	return out, nil
}

// presented returns the latest checkpoint of a talks with every cosignature collected for it.
func (s *Server) presented(ctx context.Context, id string) (*storeLog, error) {
	cp, err := s.store.Checkpoint(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	if err := s.checkNotConflicting(ctx, id, cp); err != nil {
		return nil, err
	}
	cos, err := s.store.Cosignatures(ctx, id, cp.Size)
	if err != nil {
		return nil, err
	}
	n := append([]byte{}, cp.Note...)
	for _, c := range cos {
		n = append(n, c.Line...)
	}
	return &storeLog{s: s, id: id, size: cp.Size, note: n}, nil
}

// recordRoutes serve the record: events as pages and streams, proofs, cosignatures and tiles.
func (s *Server) recordRoutes() {
	register(s, op{id: "list-events", method: http.MethodGet, path: "/v1/talks/{talksID}/events", summary: "The events of talks the caller may read, in record order", tag: "record", authed: true},
		func(ctx context.Context, in *EventsQuery) (*body[api.EventPage], error) {
			c, b, err := s.recordAccess(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			limit := in.Limit
			if limit == 0 {
				limit = 100
			}
			evs, next, err := s.readable(ctx, b, c.principal(), in.From, limit, in.Room, in.Type, in.To)
			if err != nil {
				return nil, err
			}
			info, err := s.store.Talks(ctx, in.Talks)
			if err != nil {
				return nil, err
			}
			return reply(api.EventPage{Events: evs, Next: next, Size: info.Size}, nil)
		})

	huma.Register(s.api, huma.Operation{
		OperationID: "stream-events", Method: http.MethodGet, Path: "/v1/talks/{talksID}/events/stream", Tags: []string{"record"},
		Summary: "The events of talks the caller may read, live, as Server-Sent Events",
		Description: "Each event is an SSE message whose id is its index on the record and whose data is an Event. " +
			"A client that reconnects with Last-Event-ID receives every later event exactly once, in order. " +
			"Comments keep an idle stream alive.",
		Security: []map[string][]string{{"bearer": {}}},
		Responses: map[string]*huma.Response{"200": {
			Description: "An event stream.",
			Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}},
		}},
	}, func(ctx context.Context, in *struct {
		TalksPath
		LastEventID string `header:"Last-Event-ID" doc:"The index of the last event received."`
		From        int64  `query:"from" minimum:"0" doc:"The first index to send, when there is no Last-Event-ID."`
	}) (*huma.StreamResponse, error) {
		c, b, err := s.recordAccess(ctx, in.AuthHeader, in.Talks)
		if err != nil {
			return nil, s.problemOf(ctx, err)
		}
		from := in.From
		if in.LastEventID != "" {
			last, err := strconv.ParseInt(in.LastEventID, 10, 64)
			// The largest index has no successor: from would wrap to the start.
			if err != nil || last < 0 || last == math.MaxInt64 || strconv.FormatInt(last, 10) != in.LastEventID {
				return nil, s.problemOf(ctx, problemf(api.ProblemMalformed, "Last-Event-ID %q is not an event index", in.LastEventID))
			}
			from = last + 1
		}
		slot, ok := s.streams.acquire(c.principal(), c.org(), s.cfg.MaxStreams, s.cfg.MaxStreamsPerPrincipal)
		if !ok {
			return nil, s.problemOf(ctx, problemf(api.ProblemTooManyStreams, "too many event streams open (at most %d for one principal, and %s's share of the server's %d)", s.cfg.MaxStreamsPerPrincipal, c.org(), s.cfg.MaxStreams))
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			defer s.streams.release(slot)
			s.stream(hc, c, b, from, slot.evicted)
		}}, nil
	})

	register(s, op{id: "get-proof", method: http.MethodGet, path: "/v1/talks/{talksID}/proof", summary: "Inclusion proof of an event, and consistency with an older checkpoint", tag: "record", authed: true},
		func(ctx context.Context, in *struct {
			TalksPath
			Index int64 `query:"index" minimum:"0" doc:"The event's index."`
			From  int64 `query:"from" minimum:"0" doc:"An older checkpoint size to prove consistency from (0: none)."`
		}) (*body[api.Proof], error) {
			c, b, err := s.recordAccess(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			return reply(s.proof(ctx, c, b, in.Index, in.From))
		})

	register(s, op{id: "list-cosigned", method: http.MethodGet, path: "/v1/talks/{talksID}/cosignatures", summary: "Each cosigner's latest cosigned checkpoint", tag: "record", authed: true},
		func(ctx context.Context, in *TalksPath) (*body[api.CosignedList], error) {
			if _, _, err := s.recordAccess(ctx, in.AuthHeader, in.Talks); err != nil {
				return nil, err
			}
			return reply(s.cosignedList(ctx, in.Talks))
		})

	register(s, op{id: "cosign", method: http.MethodPost, path: "/v1/talks/{talksID}/cosignatures", summary: "Cosign a checkpoint the caller verified", tag: "record", authed: true, status: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TalksPath
			Body api.Cosign
		}) (*body[api.Checkpoint], error) {
			c, b, err := s.access(ctx, in.AuthHeader, in.Talks)
			if err != nil {
				return nil, err
			}
			return reply(s.cosign(ctx, c, b, in.Body))
		})

	huma.Register(s.api, huma.Operation{
		OperationID: "get-log", Method: http.MethodGet, Path: "/v1/talks/{talksID}/log/{path...}", Tags: []string{"record"},
		Summary:  "The talks' record in the C2SP tlog-tiles layout: checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]",
		Security: []map[string][]string{{"bearer": {}}},
		Responses: map[string]*huma.Response{"200": {
			Description: "A checkpoint (text/plain) or a tile (application/octet-stream).",
			Content: map[string]*huma.MediaType{
				"text/plain":               {Schema: &huma.Schema{Type: "string"}},
				"application/octet-stream": {Schema: &huma.Schema{Type: "string", ContentEncoding: "binary"}},
			},
		}},
	}, func(ctx context.Context, in *struct {
		TalksPath
		Path string `path:"path" maxLength:"128" doc:"checkpoint or a tile path."`
	}) (*huma.StreamResponse, error) {
		// The record of public talks is served to anyone, for monitors and witnesses: its
		// leaves name an event's type and hash, nothing more. Any other talks' is its members'.
		if !s.publicRecord(ctx, in.Talks) {
			if _, _, err := s.recordAccess(ctx, in.AuthHeader, in.Talks); err != nil {
				return nil, s.problemOf(ctx, err)
			}
		}
		l, err := s.presented(ctx, in.Talks)
		if err != nil {
			return nil, s.problemOf(ctx, err)
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			r, w := unwrapHuma(hc)
			tiles.NewHandler(l).Refuse(writeProblemStatus).ServeLogPath(w, r, in.Path)
		}}, nil
	})
}

// publicRecord reports whether the talks id names are public, so that their record is served
// without a token.
func (s *Server) publicRecord(ctx context.Context, id string) bool {
	b, err := s.book(ctx, id)
	if err != nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.State.Visibility() == talks.VisibilityPublic
}

// stream writes events to an SSE client until it leaves.
func (s *Server) stream(hc huma.Context, c *caller, b *book, from int64, evicted <-chan struct{}) {
	r, w := unwrapHuma(hc)
	ctx := r.Context()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Send the headers now: a client waits for them to know the stream is open, and an idle
	// talks may have nothing to say for a while.
	if err := rc.Flush(); err != nil {
		return
	}
	s.metrics.openStreams.Inc()
	defer s.metrics.openStreams.Dec()
	var buf bytes.Buffer
	keep := time.NewTimer(s.cfg.KeepAlive)
	defer keep.Stop()
	next := from
	// The stream ends when the token expires or the credential is revoked: it is checked
	// after every read, before anything read is sent, and at the token's expiry by the
	// server's own clock.
	expiry := time.NewTimer(c.expires.Sub(s.cfg.Now()))
	defer expiry.Stop()
	for {
		// Register for the next growth before reading, so growth between the read and the wait
		// is not missed.
		woke := s.hub.wait(b.ID)
		evs, n, err := s.readable(ctx, b, c.principal(), next, maxPage, "", "", 0)
		if err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "event stream read failed", "talks", b.ID, "err", err)
			}
			return
		}
		if !s.stillAllowed(ctx, c) {
			return
		}
		next = n
		if len(evs) > 0 {
			buf.Reset()
			for _, e := range evs {
				data, _ := json.Marshal(e)
				fmt.Fprintf(&buf, "id: %d\nevent: %s\ndata: %s\n\n", e.Index, e.Type, data)
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if buf.Cap() > 64<<10 {
				buf = bytes.Buffer{} // do not keep a burst's buffer for an idle stream
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-evicted:
			// Another organisation's stream took this one's place: the client reconnects
			// from the last id it got, within its organisation's share.
			return
		case <-woke:
		case <-expiry.C:
		case <-keep.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			keep.Reset(s.cfg.KeepAlive)
		}
	}
}

// proof builds an inclusion proof for an event the caller may read, against the latest
// checkpoint, and a consistency proof from an older size.
func (s *Server) proof(ctx context.Context, c *caller, b *book, index, from int64) (api.Proof, error) {
	l, err := s.presented(ctx, b.ID)
	if err != nil {
		return api.Proof{}, err
	}
	if index >= l.size {
		return api.Proof{}, problemf(api.ProblemNotFound, "talks %s has %d events; there is no event %d", b.ID, l.size, index)
	}
	evs, err := s.store.Events(ctx, b.ID, index, 1)
	if err != nil {
		return api.Proof{}, err
	}
	if len(evs) != 1 {
		return api.Proof{}, problemf(api.ProblemNotFound, "no event %d in talks %s", index, b.ID)
	}
	b.mu.Lock()
	ok := b.mayRead(c.principal(), &evs[0], s.cfg.Now())
	b.mu.Unlock()
	out := api.Proof{Index: index, Leaf: evs[0].Entry()}
	if !ok {
		// The leaf reveals only the event's type and hash, so a member may check that every
		// index is included, including those of rooms it does not sit in.
		out.Leaf = evs[0].Entry()
	}
	ip, err := record.ProveInclusion(l.size, index, l)
	if err != nil {
		return api.Proof{}, err
	}
	out.Inclusion = hashStrings(ip)
	cp, err := s.store.Checkpoint(ctx, b.ID, l.size)
	if err != nil {
		return api.Proof{}, err
	}
	out.Checkpoint = api.Checkpoint{Size: cp.Size, Root: cp.Root.String(), Note: string(l.note)}
	if from > 0 {
		if from > l.size {
			return api.Proof{}, problemf(api.ProblemMalformed, "from %d is beyond the log's size %d", from, l.size)
		}
		tp, err := record.ProveConsistency(from, l.size, l)
		if err != nil {
			return api.Proof{}, err
		}
		out.From = from
		out.Consistency = hashStrings(tp)
	}
	return out, nil
}

func hashStrings[T ~[]tlog.Hash](hs T) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// cosignedList returns each cosigner's latest cosigned checkpoint: what each party vouched for,
// which every other party checks against its own view.
func (s *Server) cosignedList(ctx context.Context, id string) (api.CosignedList, error) {
	cos, err := s.store.Cosignatures(ctx, id, 0)
	if err != nil {
		return api.CosignedList{}, err
	}
	out := api.CosignedList{Cosigned: []api.Cosigned{}}
	for _, c := range cos {
		cp, err := s.store.Checkpoint(ctx, id, c.Size)
		if errors.Is(err, backchannel.ErrNotFound) {
			continue
		}
		if err != nil {
			return api.CosignedList{}, err
		}
		out.Cosigned = append(out.Cosigned, api.Cosigned{Cosigner: c.Cosigner, Size: c.Size, Note: string(cp.Note) + string(c.Line)})
	}
	return out, nil
}

// cosign verifies a party member's cosignature of a checkpoint and stores it.
func (s *Server) cosign(ctx context.Context, c *caller, b *book, in api.Cosign) (api.Checkpoint, error) {
	b.mu.Lock()
	_, member := b.State.Member(c.principal())
	b.mu.Unlock()
	if !member {
		return api.Checkpoint{}, problemf(api.ProblemForbidden, "%s is not a member of a delegation of talks %s", c.principal(), b.ID)
	}
	cp, err := s.store.Checkpoint(ctx, b.ID, in.Size)
	if errors.Is(err, backchannel.ErrNotFound) {
		return api.Checkpoint{}, problemf(api.ProblemNotFound, "talks %s has no checkpoint of size %d", b.ID, in.Size)
	}
	if err != nil {
		return api.Checkpoint{}, err
	}
	origin, err := record.Origin(s.cfg.Host, b.ID)
	if err != nil {
		return api.Checkpoint{}, err
	}
	body := record.Checkpoint{Origin: origin, Size: cp.Size, Hash: cp.Root}.Body()
	line := in.Signature
	if len(line) == 0 || line[len(line)-1] != '\n' {
		line += "\n"
	}
	vk, err := record.CosignerVerifierKey(seal.CosignerName(c.cred), c.cred.IdentityKey)
	if err != nil {
		return api.Checkpoint{}, err
	}
	v, err := record.NewCosignatureVerifier(vk)
	if err != nil {
		return api.Checkpoint{}, err
	}
	msg := append(append(append([]byte{}, body...), '\n'), line...)
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		return api.Checkpoint{}, problemf(api.ProblemMalformed, "the cosignature does not verify as %s's over checkpoint %d of talks %s", seal.CosignerName(c.cred), in.Size, b.ID)
	}
	ts, err := record.CosignatureTime(n.Sigs[0])
	if err != nil {
		return api.Checkpoint{}, problemf(api.ProblemMalformed, "cosignature: %v", err)
	}
	if err := s.checkTime("the cosignature", ts, s.cfg.Now()); err != nil {
		return api.Checkpoint{}, err
	}
	if err := s.store.AddCosignature(ctx, b.ID, backchannel.Cosignature{Size: cp.Size, Cosigner: n.Sigs[0].Name, Line: []byte(line), Time: s.cfg.Now()}); err != nil {
		return api.Checkpoint{}, err
	}
	s.cosignedCache.drop(b.ID)
	cos, err := s.store.Cosignatures(ctx, b.ID, cp.Size)
	if err != nil {
		return api.Checkpoint{}, err
	}
	full := append([]byte{}, cp.Note...)
	for _, x := range cos {
		full = append(full, x.Line...)
	}
	return api.Checkpoint{Size: cp.Size, Root: cp.Root.String(), Note: string(full)}, nil
}
