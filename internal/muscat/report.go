package muscat

import (
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// afterwards has every member of every talks bring its own copy of the record up to date:
// each checkpoint verified against the pinned log key and as consistent with every earlier
// one, each tile and event checked, each signature checked against the pinned roots; then
// each member cosigns the final checkpoint. The result is read from the members' books.
func (p *player) afterwards() error {
	p.begin(12, "Afterwards: every member checks the record")
	founders := []struct {
		id  string
		who *person
	}{
		{TalksLetter, p.who("us", "president")},
		{TalksMuscat, p.who("us", "special-envoy")},
		{TalksDoha, p.who("ir", "snsc-secretary")},
	}
	for _, f := range founders {
		if _, err := f.who.c.Sync(p.ctx, f.id); err != nil {
			return fmt.Errorf("muscat: %s syncing %s: %w", f.who, f.id, err)
		}
		members := f.who.c.Book(f.id).State.Members("")
		report := TalksReport{ID: f.id, Log: p.base + "/v1/talks/" + f.id + "/log/"}
		for _, m := range members {
			pp := p.people[m.Principal]
			if pp == nil {
				return fmt.Errorf("muscat: %s has a member %s outside the cast", f.id, m.Principal)
			}
			if _, err := pp.c.Sync(p.ctx, f.id); err != nil {
				return fmt.Errorf("muscat: %s syncing %s: %w", pp, f.id, err)
			}
			b := pp.c.Book(f.id)
			cosigned, _ := b.Verifier.Cosigned()
			off := p.offRecord[f.id+"/"+pp.Principal]
			mr := MemberReport{Actor: pp.Actor, Synced: true, Cosigned: cosigned.Size, Received: off, Flagged: off}
			for _, msg := range b.Messages {
				mr.Received++
				if msg.Err == nil {
					mr.Verified++
				} else {
					mr.Flagged++
				}
			}
			report.Members = append(report.Members, mr)
			p.emit(Step{Actor: pp.Actor, Action: "sync", Talks: f.id, Outcome: OutcomeVerified,
				Detail: fmt.Sprintf("checks its own copy of %s: %d events, %d message(s) received, %d verified, %d flagged; cosigns the checkpoint of size %d",
					f.id, b.Size, mr.Received, mr.Verified, mr.Flagged, cosigned.Size),
				Verified: "every checkpoint against the host's pinned log key and consistent with the last, every event against the verified tiles, every signature against the roots pinned on the record"})
		}
		// The founder reads the checkpoint again, now carrying every member's cosignature.
		if _, err := f.who.c.Sync(p.ctx, f.id); err != nil {
			return fmt.Errorf("muscat: %s syncing %s: %w", f.who, f.id, err)
		}
		b := f.who.c.Book(f.id)
		cp, msg := b.Verifier.Latest()
		report.Size, report.Checkpoint = cp.Size, string(msg)
		cosigners, err := p.cosigners(b, members, msg)
		if err != nil {
			return err
		}
		report.Cosigners = cosigners
		st := b.State
		report.Status, report.Format, report.Venue, report.Level = string(st.Status()), string(st.Format()), st.Venue(), int(st.Level())
		report.Agenda, report.Parties, report.Mediators = nonNil(st.Agenda()), st.Parties(), nonNil(st.Mediators())
		for i, m := range report.Members {
			if m.Cosigned != cp.Size {
				return fmt.Errorf("muscat: %s cosigned size %d of %s, not the final %d", report.Members[i].Actor, m.Cosigned, f.id, cp.Size)
			}
		}
		p.res.Talks = append(p.res.Talks, report)
		p.res.Refusals = append(p.res.Refusals, p.recordRefusals(f.id, st)...)
		if p.res.LogKey == "" {
			p.res.LogKey = f.who.c.PinnedLogKey()
		}
	}
	sort.SliceStable(p.res.Refusals, func(i, j int) bool { return p.res.Refusals[i].At.Before(p.res.Refusals[j].At) })
	return nil
}

// cosigners returns the members whose cosignatures the checkpoint note carries and verify.
func (p *player) cosigners(b *client.Book, members []talks.Member, msg []byte) ([]string, error) {
	log := b.Verifier.LogVerifier()
	vs := []note.Verifier{log}
	for _, m := range members {
		cr := p.people[m.Principal].c.Credential()
		vk, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey)
		if err != nil {
			return nil, err
		}
		v, err := record.NewCosignatureVerifier(vk)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	var out []string
	for _, name := range record.Cosigners(msg, note.VerifierList(vs...)) {
		if name != log.Name() {
			out = append(out, name)
		}
	}
	return out, nil
}

// recordRefusals lists the refusals of motions on a record: who proposed what, who refused it
// and when, and whether a standing instruction did.
func (p *player) recordRefusals(talksID string, st *talks.Talks) []Refusal {
	var out []Refusal
	for _, m := range st.Motions() {
		if m.Outcome != talks.OutcomeRefused {
			continue
		}
		what := p.what[talksID+"/"+m.ID]
		if what == "" {
			what = p.describe(m.Change)
		}
		for _, bl := range m.Ballots {
			if bl.Accept {
				continue
			}
			out = append(out, Refusal{
				Talks: talksID, What: what, Motion: m.ID, From: p.byHandle(m.By.Principal), By: p.byHandle(bl.By.Principal),
				Standing: bl.Standing != "", Commitment: bl.Standing, Source: SourceRecord, At: bl.At.UTC(),
			})
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
