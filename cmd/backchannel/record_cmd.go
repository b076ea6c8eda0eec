package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
)

func exportCommand(e *env) *cobra.Command {
	var f clientFlags
	var out string
	var only []string
	cmd := &cobra.Command{
		Use:   "export TALKS --out FILE [--only MESSAGE,...]",
		Short: "Export your verified copy of the record, to keep, to verify offline, and to disclose",
		Long: "export writes what you can prove about the talks without the server: every leaf of the\n" +
			"record with its inclusion proof, the signed checkpoint it is proven in and the latest each\n" +
			"party cosigned, the signed events you may read, and the keys that open the messages you\n" +
			"disclose: every message you opened, or only those --only names (by #index or hash, as\n" +
			"'backchannel inbox' shows them). A key opens its one message and nothing else, so an\n" +
			"export with --only shows an arbitrator those words and no others. Keep the file as safely\n" +
			"as the messages it discloses (it is written 0600). 'backchannel verify FILE' checks it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			if out == "" {
				return usagef(cmd.CommandPath(), "--out FILE is required")
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			opts := client.ExportOptions{}
			if cmd.Flags().Changed("only") {
				b, _, err := s.sync(ctx, id)
				if err != nil {
					return err
				}
				chosen := make(map[int64]bool)
				for _, ref := range only {
					m, err := messageByRef(b, ref)
					if err != nil {
						return err
					}
					if m.Opened == nil {
						return withHint(fmt.Errorf("message %s did not verify: there are no words of its author to disclose", ref), "list your messages with 'backchannel inbox %s'", id)
					}
					chosen[m.Index] = true
				}
				opts.Disclose = func(m *client.Message) bool { return chosen[m.Index] }
			}
			prog := e.progress("exporting " + id)
			opts.Progress = prog.set
			px, err := s.c.Export(ctx, id, opts)
			prog.done()
			if err != nil {
				return s.explain(ctx, id, err)
			}
			px.Server = s.server
			data, err := json.MarshalIndent(px, "", "  ")
			if err != nil {
				return err
			}
			if err := writePrivate(out, append(data, '\n')); err != nil {
				return withHint(err, "check --out")
			}
			if f.json {
				return e.writeJSON(map[string]any{"talks": id, "out": out, "size": px.Size, "events": len(px.Events), "disclosed": len(px.Disclosed), "cosigners": px.Cosigners})
			}
			e.printf("exported the %d leaves of %s, %d events you may read and %d disclosed message(s) to %s", px.Size, id, len(px.Events), len(px.Disclosed), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the `file` to write")
	cmd.Flags().StringSliceVar(&only, "only", nil, "disclose only these `messages` (#index or hash prefix, comma-separated; none: --only '')")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// messageByRef finds a message of the principal's book by #index or by hash prefix.
func messageByRef(b *client.Book, ref string) (*client.Message, error) {
	if n, ok := strings.CutPrefix(strings.TrimSpace(ref), "#"); ok {
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a message's #index", ref)
		}
		for _, m := range b.Messages {
			if m.Index == i {
				return m, nil
			}
		}
		return nil, withHint(fmt.Errorf("no message #%d among those you can read in %s", i, b.ID), "list them with 'backchannel inbox %s'", b.ID)
	}
	if err := checkHashPrefix(ref); err != nil {
		return nil, withHint(err, "name a message by #index or by its hash, as 'backchannel inbox' shows them")
	}
	return findMessage(b, ref)
}

// writePrivate writes data to path, readable by its owner only, through a temporary file.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// verifyReport is what verify checked.
type verifyReport struct {
	client.PartyExportReport
	// PinnedBy says where the pinned log key came from, if it was.
	PinnedBy string `json:"pinned_by,omitempty"`
}

func verifyCommand(e *env) *cobra.Command {
	var f clientFlags
	var logKey string
	var roots []string
	cmd := &cobra.Command{
		Use:   "verify FILE [--log-key KEY] [--root ORG=SAFETY-NUMBER...]",
		Short: "Verify an export offline",
		Long: "verify checks an export without the server and without any key of the talks: every\n" +
			"checkpoint's log signature (against the log key pinned in your keystore at login, or\n" +
			"--log-key), the consistency proofs between checkpoints, the inclusion of every leaf, that each\n" +
			"event's signed bytes are what its leaf commits to and none every member reads is missing,\n" +
			"the charter, every credential, act and receipt against the roots the charter pins (and those\n" +
			"you compared: --root, and your keystore's own), which parties cosigned each checkpoint by the\n" +
			"keys of their credentials on the record, and each disclosed message: its author's signature\n" +
			"over the words and their context. An arbitrator needs no keystore: --log-key and --root.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fh, err := os.Open(args[0])
			if err != nil {
				return withHint(err, "give the file 'backchannel export' wrote")
			}
			data, err := io.ReadAll(io.LimitReader(fh, record.MaxExportSize+1))
			fh.Close()
			if err != nil {
				return err
			}
			if len(data) > record.MaxExportSize {
				return fmt.Errorf("%s is larger than an export may be (%d bytes)", args[0], record.MaxExportSize)
			}
			// Which log key to pin is the keystore's to say: the one pinned at login to the
			// server the export names.
			var head struct{ Format, Server string }
			_ = json.Unmarshal(data, &head)
			if head.Format != client.PartyExportFormat && head.Format != record.ExportFormat {
				return withHint(fmt.Errorf("%s is not a backchannel export", args[0]), "give the file 'backchannel export' wrote")
			}
			pinned, pinnedBy := logKey, ""
			if pinned != "" {
				pinnedBy = "--log-key"
			} else if ks, err := f.openKeystore(e); err == nil && head.Server != "" {
				if sv, ok, err := ks.Server(head.Server); err == nil && ok && sv.LogKey != "" {
					pinned, pinnedBy = sv.LogKey, "the key pinned at login to "+head.Server
				}
			}
			compare := make(map[string]string)
			if ks, err := f.openKeystore(e); err == nil {
				// The roots of this keystore's own organisations are compared already.
				if own, err := ks.Organisations(); err == nil {
					for _, o := range own {
						compare[o.ID] = o.Fingerprint
					}
				}
			}
			for _, r := range roots {
				org, fp, ok := strings.Cut(r, "=")
				if !ok || org == "" || fp == "" {
					return usagef(cmd.CommandPath(), "--root %q: want ORG=SAFETY-NUMBER, as 'backchannel org fingerprint ORG' prints it", r)
				}
				compare[org] = fp
			}
			prog := e.progress("verifying " + args[0])
			r, err := client.VerifyPartyExport(data, client.VerifyOptions{LogKey: pinned, Roots: compare})
			prog.done()
			if err != nil {
				return withHint(err, "do not rely on this file: it was altered, or the host's record was")
			}
			for _, root := range roots {
				org, _, _ := strings.Cut(root, "=")
				if _, ok := r.Roots[org]; !ok && r.Talks != "" {
					return fmt.Errorf("%w: the talks pin no root for %s, whose root --root gives", client.ErrExport, org)
				}
			}
			rep := verifyReport{PartyExportReport: *r, PinnedBy: pinnedBy}
			return e.showVerify(rep, f.json)
		},
	}
	cmd.Flags().StringVar(&logKey, "log-key", "", "the host's log `key` to check the checkpoints against (default the one pinned at login)")
	cmd.Flags().StringArrayVar(&roots, "root", nil, "`ORG=SAFETY-NUMBER`: an organisation's root, compared out of band, that the talks must pin (repeatable)")
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

// showVerify prints what verify checked.
func (e *env) showVerify(r verifyReport, asJSON bool) error {
	if asJSON {
		return e.writeJSON(r)
	}
	key := "not pinned: taken from the export, which proves consistency but not that the host signed it (pass --log-key)"
	if r.Record.Pinned {
		key = "pinned (" + r.PinnedBy + ")"
	}
	fields := [][2]string{
		{"talks", r.Talks},
		{"exported by", r.ExportedBy},
		{"origin", r.Record.Origin},
		{"log key", key},
	}
	for i, c := range r.Record.Checkpoints {
		cos := "no cosignatures"
		if len(c.Cosigners) > 0 {
			cos = "cosigned by " + strings.Join(c.Cosigners, ", ")
		}
		fields = append(fields, [2]string{label(i, "checkpoints"), "size " + strconv.FormatInt(c.Size, 10) + ", " + cos})
	}
	fields = append(fields,
		[2]string{"consistency", strconv.Itoa(r.Record.ConsistencyProofs) + " proof(s) checked"},
		[2]string{"inclusion", strconv.Itoa(r.Record.Entries) + " leaves proven in the record"},
	)
	if r.Talks != "" {
		var roots []string
		for org, fp := range r.Roots {
			roots = append(roots, org+" "+fp)
		}
		slices.Sort(roots)
		compared := "compared: none (pass --root ORG=SAFETY-NUMBER)"
		if len(r.RootsCompared) > 0 {
			compared = "compared: " + strings.Join(r.RootsCompared, ", ")
		}
		fields = append(fields,
			[2]string{"events", strconv.Itoa(r.Events) + " match their leaves and replay; " + strconv.Itoa(r.Acts) + " acts signed by whom they name"},
			[2]string{"roots", strings.Join(roots, ", ") + "; " + compared},
			[2]string{"confirmed", "size " + strconv.FormatInt(r.Confirmed, 10) + " cosigned by the charter's quorum of parties"},
			[2]string{"messages", strconv.Itoa(len(r.Messages)) + " disclosed, each signed by its author"},
		)
		if r.LeftAt > 0 {
			org, _, _ := strings.Cut(r.ExportedBy, ":")
			fields = append(fields, [2]string{"left", fmt.Sprintf("%s took part no more after event %d: the export holds what it was entitled to read, up to there", org, r.LeftAt-1)})
		}
	}
	e.writeFields(fields)
	for _, m := range r.Messages {
		e.showMessage(m.MessageView)
		if m.Flag != "" {
			e.writeText("  FLAGGED: " + m.Flag + "\n")
		}
		if m.AuthorRevokedAt > 0 {
			e.writeText(fmt.Sprintf("  signed before its author's credential was revoked (event %d): it stands\n", m.AuthorRevokedAt))
		}
	}
	e.printf("verified")
	return nil
}

func handoverCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "handover",
		Short: "Start a new device from what this one verified of a talks",
		Long: "A new device that starts from nothing believes whatever record the host shows it, an old\n" +
			"copy included. 'handover give' writes what this device verified of a talks (the latest\n" +
			"checkpoint and the one it cosigned, signed with the log key, the roots it compared, the\n" +
			"host's acknowledgments it holds); 'handover take', on the new device after 'login', checks\n" +
			"it against the log key pinned there and starts from it, so a record rolled back below it\n" +
			"is refused. The file holds nothing secret; carry it over a channel you trust all the same.",
	}
	cmd.AddCommand(handoverGiveCommand(e), handoverTakeCommand(e))
	return cmd
}

func handoverGiveCommand(e *env) *cobra.Command {
	var f clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "give TALKS --out FILE",
		Short: "Write what this device verified of a talks, for a new device",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd.CommandPath(), "--out FILE is required")
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			if _, _, err := s.sync(cmd.Context(), args[0]); err != nil {
				return err
			}
			h, err := s.c.Handover(args[0])
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(h, "", "  ")
			if err != nil {
				return err
			}
			if err := writePrivate(out, append(data, '\n')); err != nil {
				return withHint(err, "check --out")
			}
			e.printf("wrote what this device verified of %s to %s: on the new device, 'backchannel login' then 'backchannel handover take %s'", args[0], out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the `file` to write")
	f.addSession(cmd)
	return cmd
}

func handoverTakeCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "take FILE",
		Short: "Start this device from what another verified of a talks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return withHint(err, "give the file 'backchannel handover give' wrote")
			}
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			id, err := s.c.TakeOver(cmd.Context(), data)
			if err != nil {
				return withHint(err, "do not use this file: ask the other device for a new one")
			}
			e.printf("this device now starts %s from what the other verified; a record rolled back below it is refused", id)
			return nil
		},
	}
	f.addSession(cmd)
	return cmd
}
