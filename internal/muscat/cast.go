package muscat

import (
	"fmt"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
)

// role is one principal of an organisation: its stable id, title and rank.
type role struct {
	principal string
	title     string
	rank      backchannel.Rank
}

// organisation is one organisation of the cast: its id, full name, the short name the
// narration uses, and its people, most senior first.
type organisation struct {
	id, name, short string
	people          []role
}

// cast is the scenario's table of who takes part. The Republic of Türkiye is only a venue
// here and the regional states never act, so neither has a root.
var cast = []organisation{
	{"us", "United States", "the US", []role{
		{"president", "President", 5},
		{"vice-president", "Vice President", 5},
		{"secretary-of-state", "Secretary of State", 4},
		{"special-envoy", "Special Envoy", 3},
		{"adviser", "Presidential adviser", 2},
	}},
	{"ir", "Islamic Republic of Iran", "Iran", []role{
		{"supreme-leader", "Supreme Leader", 5},
		{"snsc-secretary", "Secretary of the Supreme National Security Council", 5},
		{"foreign-minister", "Foreign Minister", 4},
		{"deputy-foreign-minister", "Deputy Foreign Minister for Political Affairs", 3},
		{"foreign-ministry-spokesperson", "Foreign Ministry spokesperson", 2},
		{"government-spokesperson", "Government spokesperson", 2},
	}},
	{"om", "Sultanate of Oman", "Oman", []role{
		{"sultan", "Sultan", 5},
		{"foreign-minister", "Foreign Minister", 4},
		{"minister-of-the-royal-court", "Minister of the Royal Court", 4},
	}},
	{"ae", "United Arab Emirates", "the UAE", []role{
		{"diplomat", "Diplomat", 2},
	}},
	{"qa", "State of Qatar", "Qatar", []role{
		{"foreign-ministry", "Foreign Ministry official", 3},
	}},
}

// person is a principal of the cast and its client.
type person struct {
	Actor
	c *client.Client
}

// orgOf returns the cast's organisation with the given id.
func orgOf(id string) organisation {
	for _, o := range cast {
		if o.id == id {
			return o
		}
	}
	return organisation{id: id, name: id, short: id}
}

// actorOf describes a credential's holder.
func actorOf(cr *seal.Credential) Actor {
	return Actor{Org: cr.Org, OrgName: orgOf(cr.Org).name, Principal: cr.Handle(), Title: cr.Title, Rank: int(cr.Rank)}
}

// setUp creates every organisation's root and registers it, then issues, publishes and
// logs in each principal's credential.
func (p *player) setUp() error {
	p.begin(0, "The cast")
	now := p.now().UTC().Truncate(time.Millisecond)
	anon := client.New(p.base, nil, p.clientOptions()...)
	for _, o := range cast {
		root, err := seal.NewRoot(p.rand, o.id)
		if err != nil {
			return err
		}
		if _, err := anon.RegisterOrganisation(p.ctx, root.Public(), o.name); api.IsProblem(err, api.ProblemExists.Name) {
			return fmt.Errorf("muscat: %s (%s) is already registered on this host: the scenario needs a fresh host", o.name, o.id)
		} else if err != nil {
			return fmt.Errorf("muscat: registering %s: %w", o.name, err)
		}
		p.roots[o.id] = root
		report := Organisation{ID: o.id, Name: o.name, Fingerprint: root.Public().Fingerprint().String()}
		for _, r := range o.people {
			id, err := seal.NewIdentity(p.rand)
			if err != nil {
				return err
			}
			cr, err := root.Issue(seal.Credential{
				Principal: r.principal, Name: "Office of the " + r.title, Title: r.title, Rank: r.rank,
				IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: 1,
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
			})
			if err != nil {
				return err
			}
			if err := id.SetCredential(cr); err != nil {
				return err
			}
			if _, err := anon.PublishCredential(p.ctx, cr); err != nil {
				return fmt.Errorf("muscat: publishing the credential of %s: %w", actorOf(cr), err)
			}
			pp := &person{Actor: actorOf(cr), c: client.New(p.base, id, p.clientOptions()...)}
			p.people[cr.Handle()] = pp
			report.Principals = append(report.Principals, pp.Actor)
		}
		p.res.Organisations = append(p.res.Organisations, report)
		p.emit(Step{
			Actor:   Actor{Org: o.id, OrgName: o.name, Title: "Root"},
			Action:  "register",
			Detail:  fmt.Sprintf("registers its root (safety number %s) and publishes the credentials it signed for %s", report.Fingerprint, titles(o.people)),
			Outcome: OutcomeAccepted,
		})
	}
	return nil
}

// who returns the person with handle org:principal.
func (p *player) who(org, principal string) *person {
	pp := p.people[seal.Handle(org, principal)]
	if pp == nil {
		panic("muscat: no principal " + seal.Handle(org, principal) + " in the cast")
	}
	return pp
}

// byHandle returns the actor of a handle, as the cast knows it.
func (p *player) byHandle(handle string) Actor {
	if pp := p.people[handle]; pp != nil {
		return pp.Actor
	}
	return Actor{Principal: handle, Title: handle}
}

// titles lists the titles of people: "President, Vice President and Special Envoy".
func titles(people []role) string {
	var out string
	for i, r := range people {
		switch {
		case i == 0:
		case i == len(people)-1:
			out += " and "
		default:
			out += ", "
		}
		out += "the " + r.title
	}
	return out
}
