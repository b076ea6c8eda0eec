package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/talks"
)

// witnessing submits each new checkpoint of talks whose charter names witnesses to each of them
// (C2SP tlog-witness), in the background, and stores each witness's cosignature beside the
// parties': the checkpoint the server presents then carries them, and clients count them
// towards the charter's witness quorum. A witness that is down or behind is tried again at the
// next growth and every retry interval; what it holds is learned from its answers, so every
// node may submit and a restart forgets nothing that matters.
type witnessing struct {
	s      *Server
	client *http.Client
	wake   chan struct{}

	mu      sync.Mutex
	pending map[string]bool  // talks to witness at the next turn
	behind  map[string]bool  // talks some witness of which has not cosigned the latest checkpoint
	held    map[string]int64 // talks and witness name: the size the witness holds, as last told
}

func newWitnessing(s *Server) *witnessing {
	return &witnessing{s: s, client: &http.Client{Timeout: 30 * time.Second}, wake: make(chan struct{}, 1),
		pending: make(map[string]bool), behind: make(map[string]bool), held: make(map[string]int64)}
}

// poke asks for talks to be witnessed.
func (w *witnessing) poke(id string) {
	w.mu.Lock()
	w.pending[id] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run witnesses what is poked until ctx is done, and retries what is behind every retry.
func (w *witnessing) run(ctx context.Context, retry time.Duration) {
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
			w.mu.Lock()
			for id := range w.behind {
				w.pending[id] = true
			}
			w.mu.Unlock()
		}
		w.mu.Lock()
		ids := w.pending
		w.pending = make(map[string]bool)
		w.mu.Unlock()
		for id := range ids {
			behind := w.witness(ctx, id)
			w.mu.Lock()
			if behind {
				w.behind[id] = true
			} else {
				delete(w.behind, id)
			}
			w.mu.Unlock()
		}
	}
}

// witness submits the latest checkpoint of talks id to each witness its charter names that has
// not cosigned it, and reports whether any is still behind.
func (w *witnessing) witness(ctx context.Context, id string) (behind bool) {
	s := w.s
	b, err := s.book(ctx, id)
	if err != nil {
		return false
	}
	b.mu.Lock()
	ws, _ := b.State.Witnesses()
	b.mu.Unlock()
	if len(ws) == 0 {
		return false
	}
	cp, err := s.store.Checkpoint(ctx, id, 0)
	if err != nil {
		s.log.WarnContext(ctx, "witnessing: reading the checkpoint", "talks", id, "err", err)
		return true
	}
	have, err := s.store.Cosignatures(ctx, id, cp.Size)
	if err != nil {
		return true
	}
	origin, err := record.Origin(s.cfg.Host, id)
	if err != nil {
		return false
	}
	hashes := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return s.store.ReadHashes(ctx, id, indexes)
	})
	for _, wt := range ws {
		if cosignedBy(have, wt.Name()) {
			continue
		}
		if err := w.submit(ctx, id, origin, cp, wt, hashes); err != nil {
			s.log.WarnContext(ctx, "witnessing: the witness did not cosign", "talks", id, "size", cp.Size, "witness", wt.Name(), "err", err)
			behind = true
		}
	}
	return behind
}

func cosignedBy(cos []backchannel.Cosignature, name string) bool {
	for _, c := range cos {
		if c.Cosigner == name {
			return true
		}
	}
	return false
}

// submit submits cp to one witness, from the size it holds, and stores its cosignature.
func (w *witnessing) submit(ctx context.Context, id, origin string, cp backchannel.Checkpoint, wt talks.Witness, hashes tlog.HashReader) error {
	s := w.s
	key := id + "\x00" + wt.Name()
	w.mu.Lock()
	old := w.held[key]
	w.mu.Unlock()
	var sigs []byte
	for attempt := 0; ; attempt++ {
		var proof tlog.TreeProof
		if old > 0 && old < cp.Size {
			p, err := record.ProveConsistency(old, cp.Size, hashes)
			if err != nil {
				return err
			}
			proof = p
		}
		if old > cp.Size {
			return errors.New("the witness holds a larger checkpoint than the host's latest")
		}
		var err error
		sigs, err = record.SubmitCheckpoint(ctx, w.client, wt.URL, old, proof, cp.Note)
		var we *record.WitnessError
		if errors.As(err, &we) && we.Stale && attempt == 0 {
			old = we.Size
			w.mu.Lock()
			w.held[key] = old
			w.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	line, err := witnessLine(origin, cp, wt, sigs)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.held[key] = cp.Size
	w.mu.Unlock()
	if err := s.store.AddCosignature(ctx, id, backchannel.Cosignature{Size: cp.Size, Cosigner: wt.Name(), Line: line, Time: s.cfg.Now()}); err != nil {
		return err
	}
	s.cosignedCache.drop(id)
	return nil
}

// witnessLine returns the line of sigs that is the witness's valid cosignature of cp, under the
// key the charter names.
func witnessLine(origin string, cp backchannel.Checkpoint, wt talks.Witness, sigs []byte) ([]byte, error) {
	v, err := record.NewCosignatureVerifier(wt.Key)
	if err != nil {
		return nil, err
	}
	body := record.Checkpoint{Origin: origin, Size: cp.Size, Hash: cp.Root}.Body()
	for l := range strings.Lines(string(sigs)) {
		msg := append(append(bytes.Clone(body), '\n'), l...)
		if n, err := note.Open(msg, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			return []byte(l), nil
		}
	}
	return nil, errors.New("the witness answered no cosignature that verifies with the key the charter names")
}
