package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
)

// conflictChecks remembers, per talks, the latest checkpoint checked against the stored
// cosignatures and the outcome, so the check runs once per new checkpoint, not per request,
// and the cosignatures already verified, so each is verified once.
type conflictChecks struct {
	mu       sync.Mutex
	latest   map[string]conflictCheck
	verified map[cosignedKey]tlog.Hash
}

type conflictCheck struct {
	size int64
	root tlog.Hash
	err  error // nil: the checkpoint may be presented
}

type cosignedKey struct {
	talks, cosigner string
	size            int64
}

// checkNotConflicting refuses, with api.ProblemRecordConflict, a checkpoint of talks id that does not
// extend every party's latest stored cosignature: the rule of docs/record.md ("the server
// refuses to present any checkpoint that does not extend every stored cosigned checkpoint").
//
// The root a party cosigned is taken from the stored checkpoint of that size only after the
// party's cosignature is verified over it, so a host that rewrote its checkpoints table (it
// holds the log key and can re-sign anything) is caught as surely as one that rewrote its
// hashes: the only thing it cannot forge is the party's signature.
func (s *Server) checkNotConflicting(ctx context.Context, id string, cp backchannel.Checkpoint) error {
	cc := &s.conflicts
	cc.mu.Lock()
	last, ok := cc.latest[id]
	cc.mu.Unlock()
	if ok && last.size == cp.Size && last.root == cp.Root {
		return last.err
	}
	err := s.conflicting(ctx, id, cp)
	var p *api.Problem
	if err != nil && !errors.As(err, &p) {
		return err // the store failed: check again next time
	}
	if err != nil {
		s.log.ErrorContext(ctx, "the record conflicts with a party's cosignature: refusing to present it",
			"talks", id, "size", cp.Size, "err", p.Detail)
		s.metrics.recordConflicts.Inc()
	}
	cc.mu.Lock()
	if cc.latest == nil {
		cc.latest = make(map[string]conflictCheck)
	}
	cc.latest[id] = conflictCheck{size: cp.Size, root: cp.Root, err: err}
	cc.mu.Unlock()
	return err
}

// conflicting runs the check; a conflict is a *api.Problem, anything else a failure to check.
func (s *Server) conflicting(ctx context.Context, id string, cp backchannel.Checkpoint) error {
	cos, err := s.store.Cosignatures(ctx, id, 0)
	if err != nil {
		return err
	}
	origin, err := record.Origin(s.cfg.Host, id)
	if err != nil {
		return err
	}
	next := record.Checkpoint{Origin: origin, Size: cp.Size, Hash: cp.Root}
	hashes := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return s.store.ReadHashes(ctx, id, indexes)
	})
	for _, c := range cos {
		conflict := func(format string, args ...any) error {
			return problemf(api.ProblemRecordConflict, "talks %s: the record conflicts with what %s cosigned at size %d: %s; the host refuses to present checkpoint %d until its operators restore the record",
				id, c.Cosigner, c.Size, fmt.Sprintf(format, args...), cp.Size)
		}
		if c.Size > cp.Size {
			// The log may have grown, and the party cosigned the newer checkpoint, since cp
			// was read: that is no rollback, and the newer checkpoint is checked when it is
			// presented.
			latest, err := s.store.Checkpoint(ctx, id, 0)
			if err != nil {
				return err
			}
			if latest.Size >= c.Size {
				continue
			}
			return conflict("the log has only %d entries (rolled back)", latest.Size)
		}
		root, err := s.cosignedRoot(ctx, id, origin, c)
		var nc notCosigned
		if errors.As(err, &nc) {
			return conflict("%s", nc)
		}
		if err != nil {
			return err
		}
		cosigned := record.Checkpoint{Origin: origin, Size: c.Size, Hash: root}
		err = record.CheckNotConflicting(next, []record.Checkpoint{cosigned}, hashes)
		switch {
		case errors.Is(err, record.ErrForked):
			return conflict("checkpoint %d does not extend it (history rewritten)", cp.Size)
		case errors.Is(err, backchannel.ErrNotFound) && ctx.Err() == nil:
			return conflict("the stored hashes cannot prove checkpoint %d extends it: %v", cp.Size, err)
		case err != nil:
			return err
		}
	}
	return nil
}

// notCosigned says why a stored cosignature vouches for no stored checkpoint of its size.
type notCosigned string

func (e notCosigned) Error() string { return string(e) }

// cosignedRoot returns the root a stored cosignature vouches for: the root of the stored
// checkpoint of its size, once the cosignature verifies over it with a key of the cosigner's
// published credentials.
func (s *Server) cosignedRoot(ctx context.Context, id, origin string, c backchannel.Cosignature) (tlog.Hash, error) {
	stored, err := s.store.Checkpoint(ctx, id, c.Size)
	if errors.Is(err, backchannel.ErrNotFound) {
		return tlog.Hash{}, notCosigned(fmt.Sprintf("the store no longer holds a checkpoint of size %d", c.Size))
	}
	if err != nil {
		return tlog.Hash{}, err
	}
	key := cosignedKey{id, c.Cosigner, c.Size}
	s.conflicts.mu.Lock()
	root, ok := s.conflicts.verified[key]
	s.conflicts.mu.Unlock()
	if ok && root == stored.Root {
		return root, nil
	}
	verifiers, err := s.cosignerVerifiers(ctx, id, c.Cosigner)
	if err != nil {
		return tlog.Hash{}, err
	}
	if len(verifiers) == 0 {
		return tlog.Hash{}, notCosigned(fmt.Sprintf("no published credential of %s verifies its cosignature", c.Cosigner))
	}
	body := record.Checkpoint{Origin: origin, Size: c.Size, Hash: stored.Root}.Body()
	msg := append(append(body, '\n'), c.Line...)
	if n, err := note.Open(msg, note.VerifierList(verifiers...)); err != nil || len(n.Sigs) != 1 {
		return tlog.Hash{}, notCosigned(fmt.Sprintf("the stored checkpoint of size %d is not the one cosigned (the cosignature does not verify over it)", c.Size))
	}
	s.conflicts.mu.Lock()
	if s.conflicts.verified == nil {
		s.conflicts.verified = make(map[cosignedKey]tlog.Hash)
	}
	s.conflicts.verified[key] = stored.Root
	s.conflicts.mu.Unlock()
	return stored.Root, nil
}

// cosignerVerifiers returns the cosignature verifiers of a cosigner of talks id: a witness the
// charter names, by the key it names; else every published credential of the principal a
// cosigner name ("<org>/<principal>", seal.CosignerName) names: a principal that rotated its
// keys cosigned earlier checkpoints with an older credential's key.
func (s *Server) cosignerVerifiers(ctx context.Context, id, name string) ([]note.Verifier, error) {
	b, err := s.book(ctx, id)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	ws, _ := b.State.Witnesses()
	b.mu.Unlock()
	for _, w := range ws {
		if w.Name() == name {
			v, err := record.NewCosignatureVerifier(w.Key)
			if err != nil {
				return nil, nil
			}
			return []note.Verifier{v}, nil
		}
	}
	var out []note.Verifier
	org, principal, ok := strings.Cut(name, "/")
	if !ok {
		return nil, nil
	}
	all, err := s.store.CredentialsOf(ctx, principal)
	if err != nil {
		return nil, err
	}
	for _, sc := range all {
		if sc.Org != org {
			continue
		}
		cr, err := seal.ParseCredential(sc.Data)
		if err != nil {
			continue
		}
		vk, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey)
		if err != nil {
			continue
		}
		v, err := record.NewCosignatureVerifier(vk)
		if err != nil {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// cosignedCache keeps, per talks, the checkpoints the parties last cosigned, verified, for the
// check before each checkpoint is signed. It is dropped when this server takes a cosignature
// of the talks, and read again after cosignedTTL, for those other nodes take.
type cosignedCache struct {
	mu      sync.Mutex
	byTalks map[string]cosignedEntry
}

type cosignedEntry struct {
	loaded time.Time
	cps    []cosignedCheckpoint
}

type cosignedCheckpoint struct {
	cosigner string
	cp       record.Checkpoint
	err      error // the stored cosignature vouches for no stored checkpoint (notCosigned)
}

const cosignedTTL = 5 * time.Second

// drop forgets what was cosigned of talks id.
func (c *cosignedCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byTalks, id)
}

// guardCheckpoint refuses, with api.ProblemRecordConflict, to sign a checkpoint of talks id
// that does not extend every party's latest cosigned checkpoint: what the store holds was
// rolled back or rewritten since a party vouched for it, and signing would put a second history
// in the host's name. hashes reads the grown log's hashes, inside the store's transaction.
func (s *Server) guardCheckpoint(id string, next record.Checkpoint, hashes tlog.HashReader) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cosigned, err := s.cosignedCheckpoints(ctx, id, next.Origin)
	if err != nil {
		return err
	}
	for _, c := range cosigned {
		conflict := func(format string, args ...any) error {
			s.metrics.recordConflicts.Inc()
			p := problemf(api.ProblemRecordConflict, "talks %s: the record conflicts with what %s cosigned at size %d: %s; the host refuses to sign checkpoint %d until its operators restore the record",
				id, c.cosigner, c.cp.Size, fmt.Sprintf(format, args...), next.Size)
			s.log.Error("the record conflicts with a party's cosignature: refusing to sign", "talks", id, "size", next.Size, "err", p.Detail)
			return p
		}
		switch {
		case c.err != nil:
			return conflict("%s", c.err)
		case c.cp.Size > next.Size:
			return conflict("the log would have only %d entries (rolled back)", next.Size)
		}
		err := record.CheckNotConflicting(next, []record.Checkpoint{c.cp}, hashes)
		switch {
		case errors.Is(err, record.ErrForked):
			return conflict("checkpoint %d would not extend it (history rewritten)", next.Size)
		case errors.Is(err, backchannel.ErrNotFound):
			return conflict("the stored hashes cannot prove checkpoint %d extends it: %v", next.Size, err)
		case err != nil:
			return err
		}
	}
	return nil
}

// cosignedCheckpoints returns the latest cosigned checkpoint of each cosigner of talks id,
// verified (cosignedRoot), through the cache.
func (s *Server) cosignedCheckpoints(ctx context.Context, id, origin string) ([]cosignedCheckpoint, error) {
	cc := &s.cosignedCache
	now := time.Now()
	cc.mu.Lock()
	e, ok := cc.byTalks[id]
	cc.mu.Unlock()
	if ok && now.Sub(e.loaded) < cosignedTTL {
		return e.cps, nil
	}
	cos, err := s.store.Cosignatures(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	var cps []cosignedCheckpoint
	for _, c := range cos {
		root, err := s.cosignedRoot(ctx, id, origin, c)
		var nc notCosigned
		switch {
		case errors.As(err, &nc):
			cps = append(cps, cosignedCheckpoint{cosigner: c.Cosigner, cp: record.Checkpoint{Origin: origin, Size: c.Size}, err: nc})
		case err != nil:
			return nil, err
		default:
			cps = append(cps, cosignedCheckpoint{cosigner: c.Cosigner, cp: record.Checkpoint{Origin: origin, Size: c.Size, Hash: root}})
		}
	}
	cc.mu.Lock()
	if cc.byTalks == nil {
		cc.byTalks = make(map[string]cosignedEntry)
	}
	cc.byTalks[id] = cosignedEntry{loaded: now, cps: cps}
	cc.mu.Unlock()
	return cps, nil
}
