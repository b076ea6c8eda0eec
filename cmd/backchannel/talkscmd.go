package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

// talksCommand is "backchannel talks": founding, accepting and reading talks.
func talksCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "talks",
		Short: "Create, accept, show, list and withdraw from talks",
	}
	cmd.AddCommand(talksCreateCommand(e), talksAcceptCommand(e), talksShowCommand(e), talksListCommand(e), talksWithdrawCommand(e))
	return cmd
}

// pinFlags are the flags that say which roots were compared out of band.
type pinFlags struct {
	pins        []string
	trustServer bool
	parsed      map[string]string
}

func (p *pinFlags) add(cmd *cobra.Command, trustName, trustUsage string) {
	cmd.Flags().StringArrayVar(&p.pins, "pin", nil, "`ORG=SAFETY-NUMBER`: the fingerprint ORG gave you out of band (repeatable)")
	cmd.Flags().BoolVar(&p.trustServer, trustName, false, trustUsage)
}

// parse reads --pin values.
func (p *pinFlags) parse(path string) error {
	p.parsed = make(map[string]string)
	for _, v := range p.pins {
		org, fp, ok := strings.Cut(v, "=")
		if !ok || org == "" || fp == "" {
			return usagef(path, "--pin %q: want ORG=SAFETY-NUMBER", v)
		}
		p.parsed[org] = fp
	}
	return nil
}

// errUncompared is a root nobody compared out of band.
var errUncompared = errors.New("not compared")

// resolveRoot returns the root to pin for org: the keystore's own root, or the one the server's
// directory presents if it matches a --pin, a root pinned in the keystore, or (only when told
// to trust the server) as it is. A root the server presents that differs from what was compared
// is an error, not a choice.
func (s *session) resolveRoot(ctx context.Context, org string, p *pinFlags) (seal.RootKey, error) {
	if o, err := s.ks.Organisation(org); err == nil {
		return o.Public()
	}
	ao, err := s.c.Organisation(ctx, org)
	if err != nil {
		if api.IsProblem(err, api.ProblemNotFound.Name) || api.IsProblem(err, api.ProblemUnknownOrganisation.Name) {
			return seal.RootKey{}, withHint(fmt.Errorf("%s has no organisation %q registered", s.server, org),
				"ask %s to register it: 'backchannel org register %s --server %s'", org, org, s.server)
		}
		return seal.RootKey{}, s.explain(ctx, "", err)
	}
	key, err := seal.ParseRootKey(ao.RootKey)
	if err != nil || key.Org != org {
		return seal.RootKey{}, fmt.Errorf("%s presents a root for %q that does not parse", s.server, org)
	}
	fp := key.Fingerprint()
	if given, ok := p.parsed[org]; ok {
		match, err := fingerprintMatches(given, fp)
		if err != nil {
			return seal.RootKey{}, err
		}
		if !match {
			return seal.RootKey{}, withHint(fmt.Errorf("the server presents a root for %s (%s) that is not the one you were given (%s)", org, fp, given),
				"someone may be impersonating %s: compare again out of band", org)
		}
		return key, s.ks.Pin(key, now())
	}
	if known, ok, err := s.ks.Pinned(org); err != nil {
		return seal.RootKey{}, err
	} else if ok {
		if known.Fingerprint() != fp {
			return seal.RootKey{}, withHint(fmt.Errorf("the server presents a root for %s (%s) that is not the one you pinned (%s)", org, fp, known.Fingerprint()),
				"someone may be impersonating %s: compare again out of band", org)
		}
		return known, nil
	}
	if p.trustServer {
		s.e.notef("pinning %s (%s) as the server presents it, uncompared: %s", org, ao.Name, fp)
		return key, nil
	}
	s.e.notef("%s (%s) presents fingerprint %s", org, ao.Name, fp)
	return key, errUncompared
}

// uncomparedError says which roots still need comparing.
func uncomparedError(orgs []string, trustFlag string) error {
	return withHint(fmt.Errorf("the roots of %s were not compared out of band", strings.Join(orgs, ", ")),
		"compare each fingerprint above with its organisation over a channel you trust, then pass --pin ORG=SAFETY-NUMBER "+
			"(or pin it once with 'backchannel fingerprint compare ORG SAFETY-NUMBER'); --%s skips the comparison", trustFlag)
}

func talksCreateCommand(e *env) *cobra.Command {
	var f clientFlags
	var p pinFlags
	var ch talks.Charter
	var parties, mediators, agenda, witnesses []string
	var level int
	var format, visibility string
	cmd := &cobra.Command{
		Use:   "create NAME --party ORG --party ORG [--mediator ORG] ...",
		Short: "Propose talks: the charter every organisation named must accept",
		Long: "create proposes talks: the parties, mediators, agenda, level, format, visibility and venue,\n" +
			"and the root pinned for each organisation. Your own root comes from your keystore; every\n" +
			"other organisation's root must be one you compared out of band, with --pin ORG=SAFETY-NUMBER\n" +
			"or 'backchannel fingerprint compare' beforehand. --trust-server-roots takes the server's word\n" +
			"for them instead, which defeats the point of pinning.\n\n" +
			"Talks ids are scoped to the organisation that founds them: as us, 'create muscat' founds\n" +
			"us:muscat, the id every later command takes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := p.parse(cmd.CommandPath()); err != nil {
				return err
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			ch.ID, ch.Parties, ch.Mediators, ch.Agenda = args[0], parties, mediators, agenda
			if !strings.Contains(ch.ID, ":") {
				ch.ID = talks.ScopedID(s.id.Credential().Org, ch.ID)
			}
			ch.Level, ch.Format, ch.Visibility = backchannel.Rank(level), talks.Format(format), talks.Visibility(visibility)
			for _, w := range witnesses {
				// The key's base64 may hold '=', the URL not before its scheme: cut at "=http".
				i := strings.LastIndex(w, "=http")
				if i < 0 {
					return usagef(cmd.CommandPath(), "--witness %q: want KEY=URL, the witness's verifier key and its http(s) URL", w)
				}
				ch.Witnesses = append(ch.Witnesses, talks.Witness{Key: w[:i], URL: w[i+1:]})
			}
			var missing []string
			for _, org := range append(append([]string(nil), parties...), mediators...) {
				key, err := s.resolveRoot(ctx, org, &p)
				if errors.Is(err, errUncompared) {
					missing = append(missing, org)
					continue
				}
				if err != nil {
					return err
				}
				ch.Roots = append(ch.Roots, client.Pin(key))
				s.expect(ch.ID, org, key.Fingerprint())
			}
			if len(missing) > 0 {
				return uncomparedError(missing, "trust-server-roots")
			}
			if _, err := s.c.CreateTalks(ctx, ch); err != nil {
				if api.IsProblem(err, api.ProblemMalformed.Name) || api.IsProblem(err, api.ProblemExists.Name) {
					return usage(withHint(err, "check the charter's flags: 'backchannel talks create --help'"))
				}
				return s.explain(ctx, ch.ID, err)
			}
			b, _, err := s.sync(ctx, ch.ID)
			if err != nil {
				return err
			}
			return e.showTalks(b, s.as, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&parties, "party", nil, "a party `ORG` (repeatable, or comma-separated)")
	fl.StringSliceVar(&mediators, "mediator", nil, "a mediating `ORG` (repeatable, or comma-separated)")
	fl.StringSliceVar(&agenda, "agenda", nil, "agenda `topics`, comma-separated")
	fl.IntVar(&level, "level", 1, "the minimum rank (1 to 5) for formal messages")
	fl.StringVar(&format, "format", "indirect", "indirect (each party in its own room with the mediators) or direct")
	fl.StringVar(&visibility, "visibility", "confidential", "secret, confidential or public")
	fl.StringVar(&ch.Venue, "venue", "", "the `venue` of the talks")
	fl.IntVar(&ch.Quorum, "quorum", 0, "how many parties must cosign the record to confirm it: a majority of them (default every party)")
	fl.StringArrayVar(&witnesses, "witness", nil, "a witness that must cosign the record, `KEY=URL`: its cosignature verifier key and its tlog-witness URL prefix (repeatable)")
	fl.IntVar(&ch.WitnessQuorum, "witness-quorum", 0, "how many of the witnesses must cosign the record to confirm it (default every one)")
	p.add(cmd, "trust-server-roots", "pin the roots the server presents without comparing them (not recommended)")
	f.addSession(cmd)
	f.addJSON(cmd)
	cmd.MarkFlagRequired("party")
	return cmd
}

func talksAcceptCommand(e *env) *cobra.Command {
	var f clientFlags
	var p pinFlags
	cmd := &cobra.Command{
		Use:   "accept TALKS",
		Short: "Accept the charter of talks for your organisation",
		Long: "accept reads the charter, checks the root it pins for every other organisation against the\n" +
			"fingerprints you compared out of band (--pin ORG=SAFETY-NUMBER, or roots pinned with\n" +
			"'backchannel fingerprint compare'), and signs your organisation's acceptance.\n" +
			"--trust-charter-roots accepts the charter's pins uncompared.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			if err := p.parse(cmd.CommandPath()); err != nil {
				return err
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			policy := client.PinPolicy{Known: map[string]seal.Fingerprint{}, Given: p.parsed, TrustUncompared: p.trustServer,
				Pinned: func(org string) (seal.Fingerprint, bool, error) {
					k, ok, err := s.ks.Pinned(org)
					return k.Fingerprint(), ok, err
				},
				Uncompared: func(org string, fp seal.Fingerprint) {
					s.e.notef("accepting the charter's root for %s uncompared: %s", org, fp)
				}}
			orgs, err := s.ks.Organisations()
			if err != nil {
				return err
			}
			for _, o := range orgs {
				if fp, ok := fingerprintFromHex(o.Fingerprint); ok {
					policy.Known[o.ID] = fp
				}
			}
			_, err = s.c.Accept(ctx, id, policy)
			var pe *client.PinError
			switch {
			case errors.As(err, &pe) && errors.Is(err, client.ErrPinUncompared):
				var missing []string
				for org := range pe.Uncompared {
					missing = append(missing, org)
				}
				sort.Strings(missing)
				for _, org := range missing {
					s.e.notef("the charter pins %s with fingerprint %s", org, pe.Uncompared[org])
				}
				return uncomparedError(missing, "trust-charter-roots")
			case errors.As(err, &pe) && pe.Own:
				return withHint(err, "do not accept: someone proposed these talks with a look-alike of %s", pe.Org)
			case errors.As(err, &pe):
				return withHint(err, "do not accept: compare again with %s out of band", pe.Org)
			case errors.Is(err, client.ErrNotAFingerprint):
				return usage(withHint(err, "copy the safety number as 'backchannel org fingerprint ORG' prints it"))
			case err != nil:
				return s.explain(ctx, id, err)
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			if f.json {
				return e.writeJSON(client.TalksViewOf(b, s.as, now()))
			}
			e.printf("%s accepted the charter of %s", s.id.Credential().Org, id)
			if waiting := waitingFor(b.State); len(waiting) > 0 {
				verb := "accept"
				if len(waiting) == 1 {
					verb = "accepts"
				}
				e.notef("the talks become active when %s %s", strings.Join(waiting, ", "), verb)
			} else {
				e.notef("every organisation has accepted: the talks are %s", b.State.Status())
			}
			return nil
		},
	}
	p.add(cmd, "trust-charter-roots", "accept the roots the charter pins without comparing them (not recommended)")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// waitingFor lists the organisations that have not accepted the charter yet.
func waitingFor(t *talks.Talks) []string {
	accepted := make(map[string]bool)
	for _, o := range t.Accepted() {
		accepted[o] = true
	}
	var out []string
	ch := t.Charter()
	for _, o := range append(append([]string(nil), ch.Parties...), ch.Mediators...) {
		if !accepted[o] {
			out = append(out, o)
		}
	}
	return out
}

func talksShowCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show TALKS",
		Short: "Show talks as your own verified copy of the record has them",
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
			return e.showTalks(b, s.as, f.json)
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func talksListCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the talks your organisation takes part in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			l, err := s.c.ListTalks(cmd.Context())
			if err != nil {
				return s.explain(cmd.Context(), "", err)
			}
			if f.json {
				for _, t := range l {
					if err := e.writeJSON(t); err != nil {
						return err
					}
				}
				return nil
			}
			rows := make([][]string, 0, len(l))
			for _, t := range l {
				rows = append(rows, []string{t.ID, strconv.FormatInt(t.Size, 10), t.Created.UTC().Format(time.DateTime), strings.Join(t.Members, ",")})
			}
			e.writeTable([]string{"TALKS", "EVENTS", "CREATED (UTC)", "ORGANISATIONS"}, rows)
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// showTalks prints talks.
func (e *env) showTalks(b *client.Book, as string, asJSON bool) error {
	v := client.TalksViewOf(b, as, now())
	if asJSON {
		return e.writeJSON(v)
	}
	var roots, rooms, rounds []string
	for _, p := range v.Roots {
		roots = append(roots, p.Org+" "+p.SafetyNumber)
	}
	for _, r := range v.Rooms {
		rooms = append(rooms, r.ID+" ("+strings.Join(r.Members, ", ")+")")
	}
	for _, r := range v.Rounds {
		rounds = append(rounds, fmt.Sprintf("%d %s %s %s", r.Number, r.Venue, r.Start.UTC().Format(time.DateTime), r.State))
	}
	sort.Strings(v.Accepted)
	fields := [][2]string{
		{"talks", v.ID},
		{"status", v.Status},
		{"format", v.Format},
		{"visibility", v.Visibility},
		{"level", strconv.Itoa(v.Level)},
		{"venue", v.Venue},
		{"agenda", strings.Join(v.Agenda, ", ")},
		{"parties", strings.Join(v.Parties, ", ")},
		{"mediators", strings.Join(v.Mediators, ", ")},
		{"accepted", strings.Join(v.Accepted, ", ")},
	}
	for i, r := range roots {
		fields = append(fields, [2]string{label(i, "roots"), r})
	}
	for i, m := range v.Members {
		fields = append(fields, [2]string{label(i, "delegates"), m})
	}
	for i, r := range rooms {
		fields = append(fields, [2]string{label(i, "rooms"), r})
	}
	for i, r := range rounds {
		fields = append(fields, [2]string{label(i, "rounds"), r})
	}
	fields = append(fields, [2]string{"motions", fmt.Sprintf("%d (%d pending)", v.Motions, v.Pending)})
	fields = append(fields, [2]string{"record", fmt.Sprintf("%d events, verified", v.Size)})
	if v.LeftAt > 0 {
		org, _, _ := strings.Cut(as, ":")
		fields = append(fields, [2]string{"left", fmt.Sprintf("%s takes part no more since event %d: it reads the record up to there, and nothing after", org, v.LeftAt-1)})
	}
	var by []string
	for _, org := range v.Parties {
		by = append(by, fmt.Sprintf("%s %d", org, v.ConfirmedBy[org]))
	}
	quorum := "every party"
	if v.Quorum < len(v.Parties) {
		quorum = fmt.Sprintf("%d of the %d parties", v.Quorum, len(v.Parties))
	}
	confirmed := fmt.Sprintf("%d events, cosigned by %s (%s)", v.Confirmed, quorum, strings.Join(by, ", "))
	if v.Confirmed < v.Size {
		confirmed += fmt.Sprintf("; the last %d not yet", v.Size-v.Confirmed)
	}
	fields = append(fields, [2]string{"confirmed", confirmed})
	if len(v.Witnesses) > 0 {
		var ws []string
		for _, name := range v.Witnesses {
			ws = append(ws, fmt.Sprintf("%s %d", name, v.WitnessedBy[name]))
		}
		fields = append(fields, [2]string{"witnessed", fmt.Sprintf("by %d of %d witnesses needed (%s)", v.WitnessQuorum, len(v.Witnesses), strings.Join(ws, ", "))})
	}
	e.writeFields(fields)
	return nil
}

// label names the first line of a multi-line field.
func label(i int, name string) string {
	if i == 0 {
		return name
	}
	return " "
}
