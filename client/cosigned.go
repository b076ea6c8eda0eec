package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// Cosigned is the latest checkpoint a member cosigned, as this client checked it: signed by the
// log, cosigned with a key of the member's credentials on the record, and extended by the
// record this client verified.
type Cosigned struct {
	Org, Principal string
	// Witness is the name of a witness the charter names, for a witness's cosignature (Org
	// and Principal are then empty).
	Witness string
	Size    int64

	note []byte // the cosigned checkpoint note as checked, for an export
}

// Confirmed returns the size of the record the charter's quorum of parties has cosigned (every
// party unless the charter names a majority), and its quorum of witnesses if it names any, by
// the newest checkpoint each party's members and each witness cosigned that this client checked. Events past it are unconfirmed: a host keeping two
// parties on two branches leaves each side's confirmation stuck where the branches part.
func (b *Book) Confirmed() int64 {
	if b.State == nil {
		return 0
	}
	by := make(map[string]int64)
	for _, org := range b.State.Parties() {
		by[org] = b.ConfirmedBy(org)
	}
	confirmed := QuorumSize(by, b.State.Quorum())
	if ws, q := b.State.Witnesses(); len(ws) > 0 {
		witnessed := make(map[string]int64, len(ws))
		for _, w := range ws {
			witnessed[w.Name()] = b.WitnessedBy(w.Name())
		}
		confirmed = min(confirmed, QuorumSize(witnessed, q))
	}
	return confirmed
}

// WitnessedBy returns the size of the newest checkpoint the witness named name cosigned, as
// checked.
func (b *Book) WitnessedBy(name string) int64 {
	if c, ok := b.cosigned[name]; ok && c.Witness != "" {
		return c.Size
	}
	return 0
}

// QuorumSize returns the largest size that at least quorum of the parties in cosigned (by
// organisation, the size of the newest checkpoint its members cosigned) have cosigned: the
// quorum-th largest of them. It is 0 if fewer parties than quorum are given.
func QuorumSize(cosigned map[string]int64, quorum int) int64 {
	if quorum <= 0 || quorum > len(cosigned) {
		return 0
	}
	sizes := slices.Collect(maps.Values(cosigned))
	slices.SortFunc(sizes, func(a, b int64) int { return cmp.Compare(b, a) })
	return sizes[quorum-1]
}

// ConfirmedBy returns the size of the newest checkpoint a member of org cosigned, as checked.
func (b *Book) ConfirmedBy(org string) int64 {
	var n int64
	for _, c := range b.cosigned {
		if c.Org == org {
			n = max(n, c.Size)
		}
	}
	return n
}

// CosignedBy returns what each member cosigned, by cosigner name (<org>/<principal>).
func (b *Book) CosignedBy() map[string]Cosigned {
	return maps.Clone(b.cosigned)
}

// checkCosigned reads each member's latest cosigned checkpoint and checks it against cp, the
// record this client just verified: a party that cosigned a checkpoint cp does not extend saw
// another history, which is the host's fork (ErrForked). One newer than cp is left for a later
// sync; one already checked is not checked again.
func (c *Client) checkCosigned(ctx context.Context, b *Book, tc *record.TileClient, cp record.Checkpoint) error {
	var l api.CosignedList
	if err := c.do(ctx, http.MethodGet, "/v1/talks/"+url.PathEscape(b.ID)+"/cosignatures", true, nil, &l); err != nil {
		return err
	}
	var hr record.HashReader
	for _, x := range l.Cosigned {
		if prev, ok := b.cosigned[x.Cosigner]; (ok && prev.Size >= x.Size) || x.Size > cp.Size {
			continue
		}
		org, principal, ok := strings.Cut(x.Cosigner, "/")
		w, isWitness := charterWitness(b, x.Cosigner)
		if !isWitness && (!ok || b.State.Role(org) == "") {
			continue
		}
		var cc record.Checkpoint
		var err error
		if isWitness {
			cc, err = openWitnessed(b, x, w)
		} else {
			cc, err = c.openCosigned(b, x, org, principal)
		}
		if errors.Is(err, errUnverifiable) {
			// Cosigned with a key not on the record yet (a rotation): confirms nothing until it
			// is, which can only leave the confirmation behind, never ahead.
			continue
		}
		if err != nil {
			return err
		}
		if hr == nil {
			hr = tc.HashReader(ctx, cp)
		}
		if err := record.CheckNotConflicting(cp, []record.Checkpoint{cc}, hr); err != nil {
			return fmt.Errorf("%s cosigned %s, which the record this party verified does not extend: the host showed it another history: %w", x.Cosigner, cc, err)
		}
		if b.cosigned == nil {
			b.cosigned = make(map[string]Cosigned)
		}
		if isWitness {
			b.cosigned[x.Cosigner] = Cosigned{Witness: x.Cosigner, Size: cc.Size, note: []byte(x.Note)}
		} else {
			b.cosigned[x.Cosigner] = Cosigned{Org: org, Principal: principal, Size: cc.Size, note: []byte(x.Note)}
		}
	}
	return nil
}

// openCosigned verifies a member's cosigned checkpoint: the log's signature with the pinned key,
// and the member's with a key of one of its credentials on the record.
func (c *Client) openCosigned(b *Book, x api.Cosigned, org, principal string) (record.Checkpoint, error) {
	cc, _, err := record.OpenCheckpoint([]byte(x.Note), b.Verifier.Origin(), b.Verifier.LogVerifier())
	if err != nil {
		return record.Checkpoint{}, err
	}
	if cc.Size != x.Size {
		return record.Checkpoint{}, fmt.Errorf("%w: the checkpoint %s cosigned is of size %d, not %d", record.ErrMalformed, x.Cosigner, cc.Size, x.Size)
	}
	var vs []note.Verifier
	for _, cr := range b.Trust.Credentials(org, principal) {
		vk, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey)
		if err != nil {
			continue
		}
		if v, err := record.NewCosignatureVerifier(vk); err == nil {
			vs = append(vs, v)
		}
	}
	n, err := note.Open([]byte(x.Note), note.VerifierList(append([]note.Verifier{b.Verifier.LogVerifier()}, vs...)...))
	if err == nil {
		for _, s := range n.Sigs {
			for _, v := range vs {
				if s.Name == v.Name() && s.Hash == v.KeyHash() {
					return cc, nil
				}
			}
		}
	}
	return record.Checkpoint{}, errUnverifiable
}

// charterWitness returns the witness the charter names name, if it does.
func charterWitness(b *Book, name string) (talks.Witness, bool) {
	ws, _ := b.State.Witnesses()
	for _, w := range ws {
		if w.Name() == name {
			return w, true
		}
	}
	return talks.Witness{}, false
}

// openWitnessed verifies a witness's cosigned checkpoint: the log's signature with the pinned
// key, and the witness's with the key the charter names.
func openWitnessed(b *Book, x api.Cosigned, w talks.Witness) (record.Checkpoint, error) {
	cc, _, err := record.OpenCheckpoint([]byte(x.Note), b.Verifier.Origin(), b.Verifier.LogVerifier())
	if err != nil {
		return record.Checkpoint{}, err
	}
	if cc.Size != x.Size {
		return record.Checkpoint{}, fmt.Errorf("%w: the checkpoint %s cosigned is of size %d, not %d", record.ErrMalformed, x.Cosigner, cc.Size, x.Size)
	}
	v, err := record.NewCosignatureVerifier(w.Key)
	if err != nil {
		return record.Checkpoint{}, errUnverifiable
	}
	n, err := note.Open([]byte(x.Note), note.VerifierList(b.Verifier.LogVerifier(), v))
	if err == nil {
		for _, s := range n.Sigs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				return cc, nil
			}
		}
	}
	return record.Checkpoint{}, errUnverifiable
}

// errUnverifiable: no key of the cosigner on the record verifies its cosignature.
var errUnverifiable = errors.New("no key of the cosigner on the record verifies its cosignature")
