package client_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// A party accepts a charter only if every root it pins is one the party compared: its own, one
// it pinned earlier, one given now as a safety number or fingerprint, or, only when told, any.
// A refusal signs nothing.
func TestAcceptChecksTheCharterPinsAgainstThePolicy(t *testing.T) {
	w := newWorld(t)
	us, ir, om := w.org("us", "United States"), w.org("ir", "Islamic Republic of Iran"), w.org("om", "Sultanate of Oman")
	envoy := w.person("us", "special-envoy", "Special Envoy", 3)
	irFM := w.person("ir", "foreign-minister", "Foreign Minister", 4)
	lookAlike, err := seal.NewRoot(rand.Reader, "us")
	if err != nil {
		t.Fatal(err)
	}
	usFP, omFP := us.Public().Fingerprint(), om.Public().Fingerprint()
	safety := func(fp seal.Fingerprint) string { return fp.String() }
	hexOf := func(fp seal.Fingerprint) string { return strings.ToUpper(hex.EncodeToString(fp[:])) }
	var uncompared []string
	for i, tc := range []struct {
		name       string
		policy     client.PinPolicy
		want       error // nil: accepted
		own        bool
		uncompared []string
	}{
		{"every root known", client.PinPolicy{Known: client.KnownRoots(us.Public(), ir.Public(), om.Public())}, nil, false, nil},
		{"known from a keystore's pins", client.PinPolicy{Known: client.KnownRoots(ir.Public()),
			Pinned: func(org string) (seal.Fingerprint, bool, error) {
				fp, ok := client.KnownRoots(us.Public(), om.Public())[org]
				return fp, ok, nil
			}}, nil, false, nil},
		{"given as safety numbers and hex", client.PinPolicy{Known: client.KnownRoots(ir.Public()),
			Given: map[string]string{"us": hexOf(usFP), "om": safety(omFP)}}, nil, false, nil},
		{"a look-alike known for another", client.PinPolicy{Known: client.KnownRoots(lookAlike.Public(), ir.Public(), om.Public())}, client.ErrPinMismatch, false, nil},
		{"a look-alike of its own", client.PinPolicy{Known: map[string]seal.Fingerprint{"ir": usFP, "us": usFP, "om": omFP}}, client.ErrPinMismatch, true, nil},
		{"another safety number given", client.PinPolicy{Known: client.KnownRoots(ir.Public(), om.Public()),
			Given: map[string]string{"us": safety(lookAlike.Public().Fingerprint())}}, client.ErrPinMismatch, false, nil},
		{"a comparison that is no fingerprint", client.PinPolicy{Known: client.KnownRoots(ir.Public(), om.Public()),
			Given: map[string]string{"us": "12345"}}, client.ErrNotAFingerprint, false, nil},
		{"roots not compared", client.PinPolicy{Known: client.KnownRoots(ir.Public())}, client.ErrPinUncompared, false, []string{"om", "us"}},
		{"roots not compared, trusted when told", client.PinPolicy{Known: client.KnownRoots(ir.Public()), TrustUncompared: true,
			Uncompared: func(org string, _ seal.Fingerprint) { uncompared = append(uncompared, org) }}, nil, false, nil},
	} {
		id := "us:pins-" + string(rune('a'+i))
		w.ok(envoy.CreateTalks(w.ctx, talks.Charter{
			ID: id, Parties: []string{"us", "ir"}, Mediators: []string{"om"},
			Roots:      []talks.Pin{client.Pin(us.Public()), client.Pin(ir.Public()), client.Pin(om.Public())},
			Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"nuclear-programme"},
		}))
		_, err := irFM.Accept(w.ctx, id, tc.policy)
		if tc.want == nil {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		} else if !errors.Is(err, tc.want) {
			t.Fatalf("%s: Accept = %v, want %v", tc.name, err, tc.want)
		}
		var pe *client.PinError
		if errors.As(err, &pe) {
			if pe.Own != tc.own {
				t.Fatalf("%s: the refusal says own=%v", tc.name, pe.Own)
			}
			if len(pe.Uncompared) != len(tc.uncompared) {
				t.Fatalf("%s: uncompared %v, want %v", tc.name, pe.Uncompared, tc.uncompared)
			}
		}
		b := mustSyncTalks(t, w, envoy, id)
		accepted := false
		for _, org := range b.State.Accepted() {
			accepted = accepted || org == "ir"
		}
		if accepted != (tc.want == nil) {
			t.Fatalf("%s: Iran's acceptance on the record: %v", tc.name, accepted)
		}
	}
	if strings.Join(uncompared, ",") != "om,us" && strings.Join(uncompared, ",") != "us,om" {
		t.Fatalf("told of %v accepted uncompared, want om and us", uncompared)
	}
}

func mustSyncTalks(t *testing.T, w *world, c *client.Client, id string) *client.Book {
	t.Helper()
	if _, err := c.Sync(w.ctx, id); err != nil {
		t.Fatal(err)
	}
	return c.Book(id)
}
