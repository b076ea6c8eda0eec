package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// world is what the benchmark sets up on the server: three organisations (two parties and a
// mediator), T talks between them, each with the head of each delegation, and the senders and
// stream holders added to the parties' delegations.
type world struct {
	run   string // distinguishes this run's names from earlier runs' on the same database
	nodes []Node
	http  *http.Client
	roots [3]*seal.Root // party a, party b, mediator
	talks []*talksSetup
	// senders send messages; holders hold idle event streams (beside the heads and senders).
	senders []*principal
	holders []*principal
}

// talksSetup is one talks and its three heads.
type talksSetup struct {
	id    string
	heads [3]*principal // party a, party b, mediator
}

// principal is one identity and its clients, one per node.
type principal struct {
	id      *seal.Identity
	clients []*client.Client
	// talks, party: where the principal sits (party 0 or 1; 2 for a mediator).
	talks *talksSetup
	party int
	// node is the index of the node it sends to or reads from.
	node int
}

func (p *principal) client() *client.Client { return p.clients[p.node] }

const (
	partyA   = 0
	partyB   = 1
	mediator = 2
)

// orgID returns the organisation id of a party or the mediator in this run.
func (w *world) orgID(i int) string { return [3]string{"pa", "pb", "med"}[i] + "-" + w.run }

// newWorld sets up the world on the nodes: nTalks talks, nSenders senders spread over them
// (alternately in party a and party b), and nHolders more principals to hold idle streams.
func newWorld(ctx context.Context, nodes []Node, hc *http.Client, nTalks, nSenders, nHolders int) (*world, error) {
	var rnd [4]byte
	rand.Read(rnd[:])
	w := &world{run: hex.EncodeToString(rnd[:]), nodes: nodes, http: hc}
	names := [3]string{"Party A", "Party B", "Mediator"}
	for i := range w.roots {
		r, err := seal.NewRoot(rand.Reader, w.orgID(i))
		if err != nil {
			return nil, err
		}
		if _, err := w.anon().RegisterOrganisation(ctx, r.Public(), names[i]+" "+w.run); err != nil {
			return nil, fmt.Errorf("register organisation %s: %w", w.orgID(i), err)
		}
		w.roots[i] = r
	}
	// The talks, their charters and acceptances: each talks on its own, several at once.
	w.talks = make([]*talksSetup, nTalks)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range w.talks {
		g.Go(func() error {
			t := &talksSetup{id: talks.ScopedID(w.orgID(partyA), fmt.Sprintf("bench-%s-%d", w.run, i))}
			w.talks[i] = t
			for party := range t.heads {
				p, err := w.person(gctx, party, fmt.Sprintf("head-%d", i), 4)
				if err != nil {
					return err
				}
				p.talks, p.party = t, party
				t.heads[party] = p
			}
			a := t.heads[partyA].clients[0]
			if _, err := a.CreateTalks(gctx, talks.Charter{
				ID: t.id, Parties: []string{w.orgID(partyA), w.orgID(partyB)}, Mediators: []string{w.orgID(mediator)},
				Roots:      []talks.Pin{client.Pin(w.roots[0].Public()), client.Pin(w.roots[1].Public()), client.Pin(w.roots[2].Public())},
				Visibility: talks.VisibilitySecret, Format: talks.FormatIndirect, Level: 1, Agenda: []string{"terms"},
			}); err != nil {
				return fmt.Errorf("create talks %s: %w", t.id, err)
			}
			for _, party := range []int{partyB, mediator} {
				if _, err := t.heads[party].clients[0].Accept(gctx, t.id, client.PinPolicy{Known: client.KnownRoots(w.roots[0].Public(), w.roots[1].Public(), w.roots[2].Public())}); err != nil {
					return fmt.Errorf("talks %s: accept: %w", t.id, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Senders and holders join the delegations of the parties; each head adds its own
	// members one after another, the talks side by side.
	w.senders = make([]*principal, nSenders)
	w.holders = make([]*principal, nHolders)
	type seat struct {
		list  []*principal
		i     int
		label string
	}
	byTalks := make([][]seat, nTalks)
	for k := range w.senders {
		byTalks[k%nTalks] = append(byTalks[k%nTalks], seat{w.senders, k, "sender"})
	}
	for k := range w.holders {
		byTalks[k%nTalks] = append(byTalks[k%nTalks], seat{w.holders, k, "holder"})
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, seats := range byTalks {
		g.Go(func() error {
			t := w.talks[i]
			for j, s := range seats {
				party := (s.i / nTalks) % 2
				p, err := w.person(gctx, party, fmt.Sprintf("%s-%d", s.label, s.i), 2)
				if err != nil {
					return err
				}
				p.talks, p.party = t, party
				if _, err := t.heads[party].clients[0].AddMember(gctx, t.id, p.id.Credential()); err != nil {
					return fmt.Errorf("talks %s: add member %d: %w", t.id, j, err)
				}
				s.list[s.i] = p
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return w, nil
}

// anon is a client with no identity, on the first node.
func (w *world) anon() *client.Client {
	return client.New(w.nodes[0].URL, nil, client.WithHTTPClient(w.http))
}

// person issues and publishes a credential for a new principal of organisation org (an index
// of roots) and returns it with a client on every node.
func (w *world) person(ctx context.Context, org int, name string, rank backchannel.Rank) (*principal, error) {
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cr, err := w.roots[org].Issue(seal.Credential{
		Principal: name, Name: name, Title: "Delegate", Rank: rank,
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	})
	if err != nil {
		return nil, err
	}
	if err := id.SetCredential(cr); err != nil {
		return nil, err
	}
	if _, err := w.anon().PublishCredential(ctx, cr); err != nil {
		return nil, fmt.Errorf("publish credential of %s: %w", name, err)
	}
	p := &principal{id: id}
	for _, n := range w.nodes {
		// The nodes are one host, named by the first node's address.
		p.clients = append(p.clients, client.New(n.URL, id, client.WithHTTPClient(w.http), client.WithHost(w.host())))
	}
	return p, nil
}

// host is the name of the host the nodes serve: the first node's address, as it was started
// with, or as a load-balanced service is reached.
func (w *world) host() string {
	if u, err := url.Parse(w.nodes[0].URL); err == nil {
		return u.Host
	}
	return ""
}
