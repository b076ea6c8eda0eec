package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/talks"
)

// motionCommand is "backchannel motion": changing the talks' shape by consent.
func motionCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "motion",
		Short: "Propose, accept, refuse and list motions",
		Long: "Nothing about the talks' shape changes without every party's consent: a motion passes when\n" +
			"every party (and an invited mediator) accepts it, and one refusal defeats it. Refusals are\n" +
			"on the record too.",
	}
	cmd.AddCommand(motionProposeCommand(e), motionVoteCommand(e, true), motionVoteCommand(e, false), motionListCommand(e))
	return cmd
}

const motionKindsHelp = `The kinds of motion and their arguments:

  invite-mediator ORG      appoint ORG as a mediator (its root: --pin ORG=SAFETY-NUMBER)
  remove-mediator ORG      dismiss mediator ORG
  add-party ORG            admit ORG as a party, with every party's and ORG's consent
                           (its root: --pin ORG=SAFETY-NUMBER)
  remove-party ORG         take party ORG out, with every other party's consent
  set-venue VENUE          move the talks to VENUE
  set-format FORMAT        indirect or direct
  set-level N              the minimum rank (1 to 5) of formal messages
  add-topic TOPIC          put TOPIC on the agenda
  remove-topic TOPIC       take TOPIC off the agenda
  schedule-round           the next round, --start TIME (RFC 3339, default now) [--venue VENUE]
  open-session             a direct session, --until TIME or --for DURATION (default 15m)
  suspend, resume, conclude`

func motionProposeCommand(e *env) *cobra.Command {
	var f clientFlags
	var p pinFlags
	var venue, start, until string
	var sessionFor, ttl time.Duration
	cmd := &cobra.Command{
		Use:   "propose TALKS MOTION-ID KIND [ARG]",
		Short: "Propose a change of the talks' shape",
		Long:  "propose puts a motion, named MOTION-ID, to the talks.\n\n" + motionKindsHelp,
		Args:  cobra.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, motion, kind := args[0], args[1], talks.MotionKind(args[2])
			arg := ""
			if len(args) == 4 {
				arg = args[3]
			}
			needArg := func(what string) error {
				if arg == "" {
					return usagef(cmd.CommandPath(), "a %s motion needs %s", kind, what)
				}
				return nil
			}
			if err := p.parse(cmd.CommandPath()); err != nil {
				return err
			}
			var ch talks.Change
			switch kind {
			case talks.MotionRemoveMediator, talks.MotionRemoveParty:
				if err := needArg("an organisation"); err != nil {
					return err
				}
				ch = talks.Change{Kind: kind, Org: arg}
			case talks.MotionSetVenue:
				if err := needArg("a venue"); err != nil {
					return err
				}
				ch = talks.SetVenue(arg)
			case talks.MotionSetFormat:
				if err := needArg("a format (indirect or direct)"); err != nil {
					return err
				}
				ch = talks.SetFormat(talks.Format(arg))
			case talks.MotionSetLevel:
				n, err := strconv.Atoi(arg)
				if err != nil || !backchannel.Rank(n).Valid() {
					return usagef(cmd.CommandPath(), "a set-level motion needs a rank from 1 to 5, not %q", arg)
				}
				ch = talks.SetLevel(backchannel.Rank(n))
			case talks.MotionAddTopic, talks.MotionRemoveTopic:
				if err := needArg("a topic"); err != nil {
					return err
				}
				if kind == talks.MotionAddTopic {
					ch = talks.AddTopic(arg)
				} else {
					ch = talks.RemoveTopic(arg)
				}
			case talks.MotionScheduleRound:
				at := now()
				if start != "" && start != "now" {
					t, err := time.Parse(time.RFC3339, start)
					if err != nil {
						return usagef(cmd.CommandPath(), "--start %q: want an RFC 3339 time such as 2026-04-12T10:00:00Z", start)
					}
					at = t
				}
				ch = talks.ScheduleRound(venue, at.UTC().Truncate(time.Second))
			case talks.MotionOpenSession:
				end := now().Add(sessionFor)
				if until != "" {
					t, err := time.Parse(time.RFC3339, until)
					if err != nil {
						return usagef(cmd.CommandPath(), "--until %q: want an RFC 3339 time", until)
					}
					end = t
				}
				ch = talks.OpenSession(end.UTC().Truncate(time.Second))
			case talks.MotionSuspend:
				ch = talks.Suspend()
			case talks.MotionResume:
				ch = talks.Resume()
			case talks.MotionConclude:
				ch = talks.Conclude()
			case talks.MotionInviteMediator, talks.MotionAddParty:
				// Handled below: it needs the session to resolve the root.
			default:
				return usage(withHint(fmt.Errorf("%q is not a kind of motion", kind), "run '%s --help' for the kinds", cmd.CommandPath()))
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			if kind == talks.MotionInviteMediator || kind == talks.MotionAddParty {
				if err := needArg("an organisation"); err != nil {
					return err
				}
				key, err := s.resolveRoot(ctx, arg, &p)
				if err != nil {
					if err == errUncompared {
						return uncomparedError([]string{arg}, "trust-server-roots")
					}
					return err
				}
				ch = talks.Change{Kind: kind, Org: arg, Root: client.Pin(key).Fingerprint}
			}
			var deadline time.Time
			if ttl > 0 {
				deadline = now().Add(ttl).Truncate(time.Second)
			}
			if _, err := s.c.Propose(ctx, id, motion, ch, deadline); err != nil {
				return s.explain(ctx, id, err)
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			m, _ := b.State.Motion(motion)
			if f.json {
				return e.writeJSON(client.MotionViewOf(m, now()))
			}
			e.printf("proposed motion %s in %s: %s", motion, id, client.DescribeChange(ch))
			e.reportOutcome(b.State, m)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&venue, "venue", "", "schedule-round: the round's `venue` (default the talks')")
	fl.StringVar(&start, "start", "", "schedule-round: when the round sits, RFC 3339 (default now)")
	fl.StringVar(&until, "until", "", "open-session: when the direct session ends, RFC 3339")
	fl.DurationVar(&sessionFor, "for", 15*time.Minute, "open-session: how long the direct session lasts")
	fl.DurationVar(&ttl, "expires-in", 0, "how long the motion stays open for votes (default 7 days)")
	p.add(cmd, "trust-server-roots", "invite-mediator, add-party: pin the root the server presents without comparing it")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// reportOutcome says where a motion stands after a proposal or a vote.
func (e *env) reportOutcome(t *talks.Talks, m talks.Motion) {
	switch m.OutcomeAt(now()) {
	case talks.OutcomePassed:
		s := "motion " + m.ID + " passed"
		if m.Round > 0 {
			s += fmt.Sprintf(": it scheduled round %d", m.Round)
		}
		e.notef("%s", s)
	case talks.OutcomeRefused:
		for _, b := range m.Ballots {
			if !b.Accept {
				if b.Standing != "" {
					e.notef("motion %s was refused by %s's standing red lines; one refusal defeats it", m.ID, b.Org)
				} else {
					e.notef("motion %s was refused by %s; one refusal defeats it", m.ID, b.Org)
				}
				return
			}
		}
	case talks.OutcomePending:
		var waiting []string
		for _, o := range t.Voters(m.Change) {
			if _, ok := m.Ballot(o); !ok {
				waiting = append(waiting, o)
			}
		}
		e.notef("motion %s waits for %s to accept", m.ID, strings.Join(waiting, ", "))
	default:
		e.notef("motion %s is %s %s", m.ID, m.OutcomeAt(now()), m.Reason)
	}
}

func motionVoteCommand(e *env, accept bool) *cobra.Command {
	var f clientFlags
	use, short := "accept", "Accept a motion for your organisation"
	if !accept {
		use, short = "refuse", "Refuse a motion for your organisation: one refusal defeats it"
	}
	cmd := &cobra.Command{
		Use:   use + " TALKS MOTION-ID",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, motion := args[0], args[1]
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			m, ok := b.State.Motion(motion)
			if !ok {
				return withHint(fmt.Errorf("talks %s have no motion %q", id, motion), "list the motions with 'backchannel motion list %s'", id)
			}
			if out := m.OutcomeAt(now()); out != talks.OutcomePending {
				return withHint(fmt.Errorf("motion %s is already %s", motion, out), "see how it was decided with 'backchannel motion list %s'", id)
			}
			if _, err := s.c.Vote(ctx, id, motion, accept); err != nil {
				return s.explain(ctx, id, err)
			}
			if b, _, err = s.sync(ctx, id); err != nil {
				return err
			}
			m, _ = b.State.Motion(motion)
			if f.json {
				return e.writeJSON(client.MotionViewOf(m, now()))
			}
			verb := "accepted"
			if !accept {
				verb = "refused"
			}
			e.printf("%s %s motion %s (%s)", s.id.Credential().Org, verb, motion, client.DescribeChange(m.Change))
			e.reportOutcome(b.State, m)
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func motionListCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "list TALKS",
		Short: "List the motions of talks and the votes on them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			at := now()
			var rows [][]string
			for _, m := range b.State.Motions() {
				v := client.MotionViewOf(m, at)
				if f.json {
					if err := e.writeJSON(v); err != nil {
						return err
					}
					continue
				}
				var votes []string
				for _, bl := range v.Ballots {
					w := "refused"
					if bl.Accept {
						w = "accepted"
					}
					if bl.Standing {
						w += " (red line)"
					}
					votes = append(votes, bl.Org+" "+w)
				}
				rows = append(rows, []string{v.ID, v.Summary, v.By, v.Outcome, strings.Join(votes, ", ")})
			}
			if !f.json {
				e.writeTable([]string{"MOTION", "CHANGE", "PROPOSED BY", "OUTCOME", "VOTES"}, rows)
			}
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// roundCommand is "backchannel round": opening and closing scheduled rounds.
func roundCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "round",
		Short: "Open and close the rounds the parties scheduled",
	}
	for _, open := range []bool{true, false} {
		cmd.AddCommand(roundChangeCommand(e, open))
	}
	return cmd
}

func roundChangeCommand(e *env, open bool) *cobra.Command {
	var f clientFlags
	use, short := "open", "Open a scheduled round: the sitting begins"
	if !open {
		use, short = "close", "Close the round in session"
	}
	cmd := &cobra.Command{
		Use:   use + " TALKS N",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return usagef(cmd.CommandPath(), "%q is not a round number", args[1])
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			if open {
				_, err = s.c.OpenRound(ctx, id, n)
			} else {
				_, err = s.c.CloseRound(ctx, id, n)
			}
			if err != nil {
				return s.explain(ctx, id, err)
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			var r talks.Round
			for _, x := range b.State.Rounds() {
				if x.Number == n {
					r = x
				}
			}
			if f.json {
				return e.writeJSON(client.RoundView{Number: r.Number, Venue: r.Venue, Start: r.Start, State: string(r.State)})
			}
			e.printf("round %d of %s in %s is %s", n, id, r.Venue, r.State)
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}
