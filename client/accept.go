package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// PinPolicy is what a party checks the roots a charter pins against before it accepts the
// charter. A root the talks pin is trusted for every signature in them: a look-alike root let
// through here lets whoever holds it speak for that organisation, so each pin must be one the
// party compared out of band.
type PinPolicy struct {
	// Known are the roots the party compared earlier, by organisation: its own organisation's
	// and those a keystore pinned.
	Known map[string]seal.Fingerprint
	// Given are the fingerprints compared for this acceptance, by organisation: a safety number
	// (30 digits, as the organisation read it out) or a fingerprint (64 hex digits).
	Given map[string]string
	// Pinned, if set, looks up a root compared earlier that Known does not hold (a keystore's
	// pins), by organisation.
	Pinned func(org string) (seal.Fingerprint, bool, error)
	// TrustUncompared accepts a pin the party compared nothing for. Not recommended: the
	// proposer, or the host, chose that root.
	TrustUncompared bool
	// Uncompared, if set, is told of each pin accepted under TrustUncompared.
	Uncompared func(org string, fp seal.Fingerprint)
}

// ErrPinMismatch and ErrPinUncompared are the reasons a PinError gives.
var (
	// ErrPinMismatch: the charter pins a root other than the one the party compared.
	ErrPinMismatch = errors.New("the charter pins another root than the one compared")
	// ErrPinUncompared: the charter pins roots the party compared nothing for.
	ErrPinUncompared = errors.New("the charter pins roots that were not compared")
)

// ErrNotAFingerprint reports a comparison given in neither form a fingerprint is read out in.
var ErrNotAFingerprint = errors.New("not a fingerprint")

// PinError is the refusal of a charter's pins: Accept signs nothing.
type PinError struct {
	// Err is ErrPinMismatch or ErrPinUncompared.
	Err error
	// Org, Pinned and Compared describe a mismatch: what the charter pins for Org, and what
	// the party compared (a fingerprint or safety number as given). Own is true when Org is the
	// party's own organisation.
	Org      string
	Pinned   seal.Fingerprint
	Compared string
	Own      bool
	// Given is true when Compared was given for this acceptance (PinPolicy.Given), false when
	// it was known before.
	Given bool
	// Uncompared lists, for ErrPinUncompared, the organisations and what the charter pins.
	Uncompared map[string]seal.Fingerprint
}

func (e *PinError) Error() string {
	if errors.Is(e.Err, ErrPinUncompared) {
		orgs := make([]string, 0, len(e.Uncompared))
		for org := range e.Uncompared {
			orgs = append(orgs, org)
		}
		sort.Strings(orgs)
		return fmt.Sprintf("the roots of %s were not compared out of band", strings.Join(orgs, ", "))
	}
	if e.Own {
		return fmt.Sprintf("the charter pins a root for your own organisation %s that is not yours (%s)", e.Org, e.Pinned)
	}
	if e.Given {
		return fmt.Sprintf("the charter pins a root for %s (%s) that is not the one you were given (%s)", e.Org, e.Pinned, e.Compared)
	}
	return fmt.Sprintf("the charter pins a root for %s (%s) that is not the one you pinned (%s)", e.Org, e.Pinned, e.Compared)
}

func (e *PinError) Unwrap() error { return e.Err }

// MatchFingerprint reports whether given, a safety number (30 digits) or a fingerprint (64 hex
// digits) with any spacing, names fp. Anything else is an error.
func MatchFingerprint(given string, fp seal.Fingerprint) (bool, error) {
	g := strings.Join(strings.Fields(given), "")
	switch {
	case len(g) == 64:
		if b, err := hex.DecodeString(strings.ToLower(g)); err == nil {
			return seal.Fingerprint(b).Equal(fp), nil
		}
	case len(g) == 30 && strings.Trim(g, "0123456789") == "":
		return g == strings.Join(strings.Fields(fp.String()), ""), nil
	}
	return false, fmt.Errorf("%w: %q is neither a safety number (30 digits) nor a fingerprint (64 hex digits)", ErrNotAFingerprint, given)
}

// fingerprintFromHex parses the hex form of a fingerprint, as pins carry it.
func fingerprintFromHex(s string) (seal.Fingerprint, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(seal.Fingerprint{}) {
		return seal.Fingerprint{}, false
	}
	return seal.Fingerprint(b), true
}

// Accept accepts the charter of talks for the client's organisation, after checking every root
// the charter pins against policy: a pin the policy does not vouch for is a *PinError, and
// nothing is signed. Once they pass, every pinned root is expected in later syncs, so a record
// that later pins another root for one of these organisations is refused as it is replayed.
func (c *Client) Accept(ctx context.Context, talksID string, policy PinPolicy) (api.Accepted, error) {
	if _, err := c.Sync(ctx, talksID); err != nil {
		return api.Accepted{}, err
	}
	b, err := c.ready(ctx, talksID)
	if err != nil {
		return api.Accepted{}, err
	}
	own := c.Credential().Org
	uncompared := make(map[string]seal.Fingerprint)
	var trusted []talks.Pin
	for _, pin := range b.State.Charter().Roots {
		fp, ok := fingerprintFromHex(pin.Fingerprint)
		if !ok {
			return api.Accepted{}, fmt.Errorf("the charter pins %s with a malformed fingerprint", pin.Org)
		}
		known, ok := policy.Known[pin.Org]
		if !ok && policy.Pinned != nil {
			if known, ok, err = policy.Pinned(pin.Org); err != nil {
				return api.Accepted{}, err
			}
		}
		if ok {
			if !known.Equal(fp) {
				return api.Accepted{}, &PinError{Err: ErrPinMismatch, Org: pin.Org, Pinned: fp, Compared: known.String(), Own: pin.Org == own}
			}
			continue
		}
		if given, ok := policy.Given[pin.Org]; ok {
			match, err := MatchFingerprint(given, fp)
			if err != nil {
				return api.Accepted{}, fmt.Errorf("the fingerprint given for %s: %w", pin.Org, err)
			}
			if !match {
				return api.Accepted{}, &PinError{Err: ErrPinMismatch, Org: pin.Org, Pinned: fp, Compared: given, Own: pin.Org == own, Given: true}
			}
			continue
		}
		uncompared[pin.Org] = fp
		trusted = append(trusted, pin)
	}
	if len(uncompared) > 0 && !policy.TrustUncompared {
		return api.Accepted{}, &PinError{Err: ErrPinUncompared, Uncompared: uncompared}
	}
	for _, pin := range trusted {
		if policy.Uncompared != nil {
			fp, _ := fingerprintFromHex(pin.Fingerprint)
			policy.Uncompared(pin.Org, fp)
		}
	}
	for _, pin := range b.State.Charter().Roots {
		c.Expect(talksID, pin.Org, pin.Fingerprint)
	}
	return c.act(ctx, talksID, func(at time.Time) talks.Event { return talks.AcceptCharter{At: at, By: c.Actor()} })
}

// KnownRoots returns the fingerprints of roots, by organisation, for PinPolicy.Known.
func KnownRoots(roots ...seal.RootKey) map[string]seal.Fingerprint {
	out := make(map[string]seal.Fingerprint, len(roots))
	for _, r := range roots {
		out[r.Org] = r.Fingerprint()
	}
	return out
}
