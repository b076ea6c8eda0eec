package client_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// rotate gives c's principal new keys under the next serial, published, as 'cred rotate' does,
// and returns the new identity.
func (w *world) rotate(c *client.Client) *seal.Identity {
	w.t.Helper()
	old := c.Credential()
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		w.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cr, err := w.roots[old.Org].Issue(seal.Credential{
		Principal: old.Principal, Name: old.Name, Title: old.Title, Rank: old.Rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: old.Serial + 1,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(365 * 24 * time.Hour),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := id.SetCredential(cr); err != nil {
		w.t.Fatal(err)
	}
	if _, err := client.New(w.url, nil).PublishCredential(w.ctx, cr); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// After a rotation, what was sealed to the principal's earlier key still opens, with the
// retired key its keystore keeps; a client that does not hold that key shows each such message
// flagged, never leaves it out: the inbox does not silently empty.
func TestARotationKeepsTheInbox(t *testing.T) {
	fw := newFaultWorld(t)
	before := bodies(mustSync(t, fw.ctx, fw.omFM))
	old := fw.omFM.Identity()
	rotated := fw.rotate(fw.omFM)
	fw.send(fw.envoy, talks.RoomCaucus("us"), "after the rotation")
	want := append(slices.Clone(before), "after the rotation")

	asked := 0
	withKeys := client.New(fw.url, rotated, client.WithLogKey(fw.omFM.PinnedLogKey()), client.WithRetiredKeys(func(cr *seal.Credential) (*seal.Identity, error) {
		asked++
		if cr.ID() == old.Credential().ID() {
			return old, nil
		}
		return nil, fmt.Errorf("no key for %s", cr)
	}))
	if got := bodies(mustSync(t, fw.ctx, withKeys)); !slices.Equal(got, want) {
		t.Fatalf("with its retired key, the rotated principal reads\n%q\nwant\n%q", got, want)
	}
	if asked != 1 {
		t.Errorf("the retired key was asked for %d times, want once", asked)
	}

	without := client.New(fw.url, rotated, client.WithLogKey(fw.omFM.PinnedLogKey()))
	b := mustSync(t, fw.ctx, without)
	if len(b.Messages) != len(want) {
		t.Fatalf("without its retired key, the rotated principal sees %d messages, want %d, each one flagged or opened", len(b.Messages), len(want))
	}
	for i, m := range b.Messages {
		last := i == len(b.Messages)-1
		if last != (m.Opened != nil) || (!last && (!errors.Is(m.Err, client.ErrKeyNotHeld) || !strings.Contains(m.Err.Error(), "#1"))) {
			t.Errorf("message %d: opened %v, %v", i, m.Opened != nil, m.Err)
		}
	}
}
