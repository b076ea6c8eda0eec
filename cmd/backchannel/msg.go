package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// The commands of the written exchange: sending, reading, following, relaying, acknowledging,
// and the public statements and private red lines around it.

// defaultRoom is where a principal posts unless told: its party's caucus, or the mediators' room.
func defaultRoom(t *talks.Talks, org string) string {
	if t.Role(org) == talks.RoleMediator {
		return talks.RoomMediators
	}
	return talks.RoomCaucus(org)
}

// readBody returns the body of a message: --body, --file, or standard input.
func (e *env) readBody(body, file string, bodySet bool) ([]byte, error) {
	switch {
	case bodySet && file != "":
		return nil, usage(errors.New("give the body with --body or --file, not both"))
	case bodySet:
		return []byte(body), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, withHint(err, "check --file")
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, seal.MaxBodyLen+1))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, usage(withHint(errors.New("an empty message"), "give the body with --body TEXT, --file FILE or on standard input"))
	}
	return b, nil
}

// sentView is what send, relay, ack and statement print with --json.
type sentView struct {
	Talks string `json:"talks"`
	Index int64  `json:"index"`
	Type  string `json:"type"`
	Hash  string `json:"hash"`
	Room  string `json:"room,omitempty"`
}

func sendCommand(e *env) *cobra.Command {
	var f clientFlags
	var room, kind, replyTo, body, file string
	var topics []string
	cmd := &cobra.Command{
		Use:   "send TALKS [--room ROOM] --kind KIND --topic TOPIC (--body TEXT | --file FILE | < FILE)",
		Short: "Seal and send a message to a room",
		Long: "send signs the message with your identity key, encrypts it for every member of the room\n" +
			"(and no one else) on this machine, and submits it. The host stores ciphertext only.\n\n" +
			"Kinds: note, proposal, counter-proposal, response, question, letter, non-paper, summary.\n" +
			"Formal kinds (all but note) name at least one agenda topic and need a rank at least the\n" +
			"talks' level. The room defaults to your party's caucus (a mediator's: the mediators' room).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			k := backchannel.Kind(kind)
			if !k.Valid() {
				return usagef(cmd.CommandPath(), "--kind %q is not a kind of message", kind)
			}
			msg, err := e.readBody(body, file, cmd.Flags().Changed("body"))
			if err != nil {
				return err
			}
			d := client.Draft{Kind: k, Topics: topics, Body: msg, Room: room}
			if replyTo != "" {
				if err := checkHashPrefix(replyTo); err != nil {
					return usagef(cmd.CommandPath(), "--reply-to: %v", err)
				}
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			if d.Room == "" {
				d.Room = defaultRoom(b.State, s.id.Credential().Org)
			}
			if replyTo != "" {
				// A short hash is resolved against the messages this principal can read.
				m, err := findMessage(b, replyTo)
				if err != nil {
					return err
				}
				d.ReplyTo = m.Hash
			}
			acc, env, err := s.c.Send(ctx, id, d)
			if err != nil {
				return s.explain(ctx, id, err)
			}
			if f.json {
				return e.writeJSON(sentView{Talks: id, Index: acc.Index, Type: backchannel.EventEnvelope, Hash: env.Hash().String(), Room: d.Room})
			}
			e.printf("sent %s %s to %s (event %d)", kind, short(env.Hash()), d.Room, acc.Index)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&room, "room", "", "the `room` to post in, such as caucus:us or mediators")
	fl.StringVar(&kind, "kind", "note", "the kind of message")
	fl.StringSliceVar(&topics, "topic", nil, "agenda `topics` the message is about (repeatable, or comma-separated)")
	fl.StringVar(&replyTo, "reply-to", "", "the `hash` of the message answered")
	fl.StringVar(&body, "body", "", "the message `text`")
	fl.StringVar(&file, "file", "", "read the message from `file`")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// short is the first 12 hex digits of a hash, enough to name a message in one talks.
func short(h seal.Hash) string { return h.String()[:12] }

// checkHashPrefix checks that s can name a message: 8 to 64 hex digits.
func checkHashPrefix(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 8 || len(s) > 64 || strings.Trim(s, "0123456789abcdef") != "" {
		return fmt.Errorf("%q is not a message hash (8 to 64 hex digits)", s)
	}
	return nil
}

// findMessage finds a message of the principal's book by its hash or a unique prefix of it.
func findMessage(b *client.Book, prefix string) (*client.Message, error) {
	p := strings.ToLower(strings.TrimSpace(prefix))
	var found *client.Message
	for _, m := range b.Messages {
		if strings.HasPrefix(m.Hash.String(), p) {
			if found != nil && found.Hash != m.Hash {
				return nil, withHint(fmt.Errorf("%q names more than one message", prefix), "give more digits of the hash")
			}
			found = m
		}
	}
	if found == nil {
		return nil, withHint(fmt.Errorf("no message %s among those you can read in %s", prefix, b.ID),
			"list them with 'backchannel inbox %s'", b.ID)
	}
	return found, nil
}

// showMessage prints a message for reading.
func (e *env) showMessage(v client.MessageView) {
	var head strings.Builder
	fmt.Fprintf(&head, "#%d %s  %s  %s  %s", v.Index, v.Hash[:12], v.Time.UTC().Format(time.DateTime), v.Room, v.Kind)
	if v.Round > 0 {
		fmt.Fprintf(&head, "  round %d", v.Round)
	}
	if len(v.Topics) > 0 {
		fmt.Fprintf(&head, "  [%s]", strings.Join(v.Topics, ", "))
	}
	lines := []string{head.String()}
	if !v.Verified {
		lines = append(lines, "  FLAGGED, sent by "+v.Sender+": "+v.Flag, "")
		e.writeText(strings.Join(lines, "\n"))
		return
	}
	from := fmt.Sprintf("  from %s (%s, rank %d)", v.Author, v.Title, v.Rank)
	switch v.Mode {
	case "verbatim":
		from += ", relayed verbatim by " + v.Relayer + "; the author's signature verified"
	case "summary":
		from += ", in the mediator's own words: a summary of " + strconv.Itoa(len(v.Of)) + " message(s)"
	default:
		from += "; signature verified"
	}
	lines = append(lines, from)
	if v.ReplyTo != "" {
		lines = append(lines, "  in reply to "+v.ReplyTo[:12])
	}
	for _, l := range strings.Split(strings.TrimRight(v.Body, "\n"), "\n") {
		lines = append(lines, "  > "+l)
	}
	for _, r := range v.Relays {
		lines = append(lines, fmt.Sprintf("  passed on %s to %s by %s", r.Mode, r.To, r.By))
	}
	for _, r := range v.Receipts {
		lines = append(lines, fmt.Sprintf("  %s by %s at %s", r.Kind, r.By, r.At.UTC().Format(time.DateTime)))
	}
	e.writeText(strings.Join(lines, "\n") + "\n")
}

func inboxCommand(e *env) *cobra.Command {
	var f clientFlags
	var since int64
	var quiet bool
	cmd := &cobra.Command{
		Use:   "inbox TALKS",
		Short: "Read the messages of talks you can read, verified",
		Long: "inbox brings your copy of the record up to date, checking every checkpoint against the\n" +
			"last one you verified and every event against the log, opens the messages addressed to you\n" +
			"and checks each author's signature up to the root pinned in the charter. A message that\n" +
			"fails is flagged, never shown as genuine.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			n := 0
			for _, m := range b.Messages {
				if m.Index < since {
					continue
				}
				n++
				if quiet {
					e.writeText(m.Hash.String())
					continue
				}
				v := client.ViewOf(b, m)
				if f.json {
					if err := e.writeJSON(v); err != nil {
						return err
					}
					continue
				}
				e.showMessage(v)
			}
			if !f.json && !quiet && n == 0 {
				e.notef("no messages for %s in %s yet (record of %d events, verified)", s.as, args[0], b.Size)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&since, "since", 0, "show messages from this event `index` on")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the messages' hashes, one a line")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// errEnough stops following after --count events.
var errEnough = errors.New("enough events")

func followCommand(e *env) *cobra.Command {
	var f clientFlags
	var from, after int64
	var count int
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "follow TALKS",
		Short: "Print the events of talks as they happen, until interrupted",
		Long: "follow prints each event of the talks you may see, one line each, from --from (default the\n" +
			"start of the record) and then live as the host accepts them, until interrupted (Ctrl-C),\n" +
			"--count events, or --wait without one. A dropped connection is said on stderr, and resumed\n" +
			"where it stopped. It shows what the host streams: 'backchannel inbox' verifies and opens.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			id := args[0]
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("after") {
				from = after + 1
			}
			seen := 0
			var waited <-chan time.Time
			if wait > 0 {
				t := time.NewTimer(wait)
				defer t.Stop()
				waited = t.C
			}
			go func() {
				select {
				case <-waited:
					cancel()
				case <-ctx.Done():
				}
			}()
			dropped := func(err error, next int64) {
				e.notef("the connection to the server dropped (%v); resuming from event %d", err, next)
			}
			err = s.c.FollowNotify(ctx, id, from, func(ev api.Event) error {
				line := describeEvent(ev)
				if f.json {
					if err := e.writeJSON(map[string]any{"index": ev.Index, "type": ev.Type, "room": ev.Room, "time": ev.Time, "hash": ev.Hash, "summary": line}); err != nil {
						return err
					}
				} else {
					e.writeText(fmt.Sprintf("#%d %s %s", ev.Index, ev.Time.UTC().Format(time.DateTime), line))
				}
				seen++
				if count > 0 && seen >= count {
					return errEnough
				}
				return nil
			}, dropped)
			switch {
			case errors.Is(err, errEnough), errors.Is(err, context.Canceled) && cmd.Context().Err() != nil:
				return nil
			case errors.Is(err, context.Canceled) && wait > 0 && count > 0:
				return fmt.Errorf("%d of %d events came in %s; stopped waiting", seen, count, wait)
			case errors.Is(err, context.Canceled) && wait > 0:
				return nil
			case err != nil:
				return s.explain(ctx, id, err)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "the event `index` to start from")
	cmd.Flags().Int64Var(&after, "after", 0, "start after this event `index` (one a command printed)")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (default: follow until interrupted)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "stop after this long; with --count, an error if fewer events came (default: no limit)")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// describeEvent says in one line what an event of the stream is, from its public parts.
func describeEvent(ev api.Event) string {
	where := ""
	if ev.Room != "" {
		where = " in " + ev.Room
	}
	switch ev.Type {
	case backchannel.EventCharter, backchannel.EventAct:
		act, err := seal.ParseAct(ev.Data)
		if err != nil {
			return ev.Type + " (malformed)"
		}
		te, err := talks.Parse(act.Payload)
		if err != nil {
			return ev.Type + " " + act.Type
		}
		return describeTalksEvent(te) + where
	case backchannel.EventEnvelope:
		env, err := seal.ParseEnvelope(ev.Data)
		if err != nil {
			return "envelope (malformed)"
		}
		h := env.Header
		s := "sealed " + string(h.Kind) + where
		if len(h.Topics) > 0 {
			s += " [" + strings.Join(h.Topics, ", ") + "]"
		}
		switch h.Relay {
		case seal.RelayVerbatim:
			s += ", a verbatim relay of " + short(h.RelayOf[0])
		case seal.RelaySummary:
			s += fmt.Sprintf(", a summary of %d message(s)", len(h.RelayOf))
		}
		return s + " " + short(env.Hash())
	case backchannel.EventReceipt:
		rc, err := seal.ParseReceipt(ev.Data)
		if err != nil {
			return "receipt (malformed)"
		}
		return rc.Kind.String() + " receipt for " + short(rc.Envelope) + where
	case backchannel.EventCredential:
		if c, err := seal.ParseCredential(ev.Data); err == nil {
			return fmt.Sprintf("credential of %s (%s, rank %d) serial %d", c.Handle(), c.Title, c.Rank, c.Serial)
		}
	case backchannel.EventRevocation:
		if v, err := seal.ParseRevocation(ev.Data); err == nil {
			return fmt.Sprintf("revocation of %s serial %d", seal.Handle(v.Org, v.Principal), v.Serial)
		}
	case backchannel.EventRoot:
		if k, err := seal.ParseRootKey(ev.Data); err == nil {
			return "root of " + k.Org + " pinned, " + k.Fingerprint().Short()
		}
	case backchannel.EventRelayed:
		return "relay notice" + where
	case backchannel.EventStatement:
		return "statement text published"
	case backchannel.EventRedLines:
		return "red lines set" + where
	case backchannel.EventRoomKey:
		if env, err := seal.ParseEnvelope(ev.Data); err == nil {
			return fmt.Sprintf("a new key for the tags of room %s, sealed to its %d reader(s)", env.Room, len(env.Recipients))
		}
	}
	return ev.Type + where
}

// describeTalksEvent says a talks event in words.
func describeTalksEvent(te talks.Event) string {
	by := talks.ActorOf(te).Principal
	switch x := te.(type) {
	case talks.Charter:
		return fmt.Sprintf("%s proposed the charter of %s: parties %s, mediators %s", by, x.ID, strings.Join(x.Parties, ","), strings.Join(x.Mediators, ","))
	case talks.AcceptCharter:
		return by + " accepted the charter"
	case talks.Propose:
		return fmt.Sprintf("%s proposed motion %s: %s", by, x.Motion, client.DescribeChange(x.Change))
	case talks.Vote:
		verb := "refused"
		if x.Accept {
			verb = "accepted"
		}
		if x.Standing != "" {
			return fmt.Sprintf("%s refused motion %s by %s's standing red lines", by, x.Motion, x.By.Org)
		}
		return fmt.Sprintf("%s %s motion %s", by, verb, x.Motion)
	case talks.OpenRound:
		return fmt.Sprintf("%s opened round %d", by, x.Round)
	case talks.CloseRound:
		return fmt.Sprintf("%s closed round %d", by, x.Round)
	case talks.CloseSession:
		return by + " closed the direct session"
	case talks.Sign:
		kind := "a statement"
		if x.Joint {
			kind = "a joint statement"
		}
		return fmt.Sprintf("%s signed %s on round %d", by, kind, x.Round)
	case talks.AddMember:
		return fmt.Sprintf("%s added %s to the delegation", by, x.Member.Principal)
	case talks.RemoveMember:
		return fmt.Sprintf("%s removed %s from the delegation", by, x.Principal)
	case talks.SetHead:
		return fmt.Sprintf("%s made %s head of delegation", by, x.Principal)
	case talks.Withdraw:
		return by + " withdrew"
	}
	return te.Type()
}

func relayCommand(e *env) *cobra.Command {
	var f clientFlags
	var to, body, kind string
	var summary bool
	var of, topics []string
	cmd := &cobra.Command{
		Use:   "relay TALKS [HASH] --to ROOM [--summary --of HASH,... --body TEXT]",
		Short: "Pass a message on to another room, verbatim or as a summary (mediators)",
		Long: "relay passes a message you received on to another room. Verbatim (the default) re-seals\n" +
			"the author's own signed words for the new room: the reader checks the author's signature,\n" +
			"so not a word can change. --summary sends your own words about the messages --of names,\n" +
			"marked as yours. Either way the authors learn that, and how, their messages went on.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			if summary == (len(args) == 2) {
				return usagef(cmd.CommandPath(), "give one HASH to relay verbatim, or --summary --of HASH,... with a body")
			}
			var msg []byte
			if summary {
				if len(of) == 0 {
					return usagef(cmd.CommandPath(), "--summary needs --of HASH,...: the messages it sums up")
				}
				var err error
				if msg, err = e.readBody(body, "", cmd.Flags().Changed("body")); err != nil {
					return err
				}
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			var acc api.Accepted
			var env *seal.Envelope
			if !summary {
				m, err := findMessage(b, args[1])
				if err != nil {
					return err
				}
				if acc, env, err = s.c.RelayVerbatim(ctx, id, m, to); err != nil {
					return s.explain(ctx, id, err)
				}
				if !f.json {
					e.printf("relayed %s verbatim to %s as %s (event %d)", short(m.Hash), to, short(env.Hash()), acc.Index)
				}
			} else {
				var hashes []seal.Hash
				for _, h := range of {
					m, err := findMessage(b, h)
					if err != nil {
						return err
					}
					hashes = append(hashes, m.Hash)
				}
				d := client.Draft{Room: to, Kind: backchannel.Kind(kind), Topics: topics, Body: msg}
				if acc, env, err = s.c.Summarize(ctx, id, hashes, d); err != nil {
					return s.explain(ctx, id, err)
				}
				if !f.json {
					e.printf("sent a summary of %d message(s) to %s as %s (event %d)", len(hashes), to, short(env.Hash()), acc.Index)
				}
			}
			if f.json {
				return e.writeJSON(sentView{Talks: id, Index: acc.Index, Type: backchannel.EventEnvelope, Hash: env.Hash().String(), Room: to})
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "the `room` to pass the message on to, such as caucus:ir")
	fl.BoolVar(&summary, "summary", false, "send a summary in your own words rather than the message itself")
	fl.StringSliceVar(&of, "of", nil, "--summary: the `hashes` of the messages summed up")
	fl.StringVar(&body, "body", "", "--summary: the summary's `text` (default standard input)")
	fl.StringVar(&kind, "kind", "", "--summary: the kind of message (default summary)")
	fl.StringSliceVar(&topics, "topic", nil, "--summary: agenda `topics` of the summary")
	cmd.MarkFlagRequired("to")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func ackCommand(e *env) *cobra.Command {
	var f clientFlags
	var kind string
	cmd := &cobra.Command{
		Use:   "ack TALKS HASH [--kind delivered|read|acknowledged]",
		Short: "Sign a receipt for a message: it reveals nothing of the content",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			var rk seal.ReceiptKind
			switch kind {
			case "delivered":
				rk = seal.Delivered
			case "read":
				rk = seal.Read
			case "acknowledged":
				rk = seal.Acknowledged
			default:
				return usagef(cmd.CommandPath(), "--kind %q: want delivered, read or acknowledged", kind)
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			m, err := findMessage(b, args[1])
			if err != nil {
				return err
			}
			acc, err := s.c.Receipt(ctx, id, m.Hash, rk)
			if err != nil {
				return s.explain(ctx, id, err)
			}
			if f.json {
				return e.writeJSON(sentView{Talks: id, Index: acc.Index, Type: backchannel.EventReceipt, Hash: acc.Hash})
			}
			e.printf("%s %s (event %d)", kind, short(m.Hash), acc.Index)
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "acknowledged", "delivered, read or acknowledged")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func statementCommand(e *env) *cobra.Command {
	var f clientFlags
	var round int
	var text string
	var joint bool
	cmd := &cobra.Command{
		Use:   "statement TALKS --round N --text TEXT [--joint]",
		Short: "Sign and publish a statement about a closed round",
		Long: "statement signs a public statement about a closed round for your party: unilateral, or\n" +
			"--joint, complete when every party has signed the same text. The record holds its digest;\n" +
			"talks whose visibility allows it publish the text on the host's public feed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			if strings.TrimSpace(text) == "" {
				return usagef(cmd.CommandPath(), "--text is empty")
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			acc, err := s.c.Statement(ctx, id, round, text, joint)
			if err != nil {
				return s.explain(ctx, id, err)
			}
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			if f.json {
				return e.writeJSON(sentView{Talks: id, Index: acc.Index, Type: backchannel.EventStatement, Hash: backchannel.StatementDigest(text)})
			}
			e.printf("signed a statement on round %d of %s (event %d)", round, id, acc.Index)
			for _, st := range b.State.Statements() {
				if st.Digest == backchannel.StatementDigest(text) && st.Joint && !st.Complete {
					e.notef("the joint statement is complete when every party has signed the same text")
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&round, "round", 0, "the closed round the statement is about")
	cmd.Flags().StringVar(&text, "text", "", "the statement's `text`")
	cmd.Flags().BoolVar(&joint, "joint", false, "a joint statement, which every party signs")
	cmd.MarkFlagRequired("round")
	cmd.MarkFlagRequired("text")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func redlinesCommand(e *env) *cobra.Command {
	var f clientFlags
	var topics []string
	cmd := &cobra.Command{
		Use:   "redlines TALKS --topic TOPIC ...",
		Short: "Set your party's standing red lines: topics refused on its behalf if proposed",
		Long: "redlines seals a standing instruction to your delegation (the head of delegation sets it; the\n" +
			"host stores ciphertext): a motion to put one of these topics on the agenda is refused on your\n" +
			"party's behalf, signed by the first of your delegation's clients to read it. The record shows\n" +
			"the refusal and a salted commitment, never the topics.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			acc, err := s.c.SetRedLines(ctx, id, topics)
			if err != nil {
				return s.explain(ctx, id, err)
			}
			if f.json {
				return e.writeJSON(map[string]any{"talks": id, "index": acc.Index, "topics": topics})
			}
			e.printf("set %d red line(s) for %s in %s (event %d)", len(topics), s.id.Credential().Org, id, acc.Index)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&topics, "topic", nil, "a red-line `topic` (repeatable, or comma-separated)")
	cmd.MarkFlagRequired("topic")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}
