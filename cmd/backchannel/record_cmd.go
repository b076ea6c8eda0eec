package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/record"
)

func exportCommand(e *env) *cobra.Command {
	var f clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "export TALKS --out FILE",
		Short: "Export your verified copy of the record, to keep and to verify offline",
		Long: "export writes what you can prove about the talks without the server: the leaves you may\n" +
			"see with their inclusion proofs, the signed and cosigned checkpoint they are proven in, the\n" +
			"signed events behind them, and the messages you opened, in clear. Keep the file as safely\n" +
			"as the messages themselves (it is written 0600). 'backchannel verify FILE' checks it.",
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
			prog := e.progress("exporting " + id)
			px, err := s.c.Export(ctx, id, prog.set)
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
				return e.writeJSON(map[string]any{"talks": id, "out": out, "size": px.Size, "entries": len(px.Events), "messages": len(px.Messages), "cosigners": px.Cosigners})
			}
			e.printf("exported %d of the %d events of %s and %d message(s) to %s", len(px.Events), px.Size, id, len(px.Messages), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the `file` to write")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
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
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify an export offline",
		Long: "verify checks an export without the server: every checkpoint's log signature (against the\n" +
			"log key pinned in your keystore at login, or --log-key), which parties cosigned it, the\n" +
			"consistency proofs between checkpoints, the inclusion of every leaf, that each event's signed\n" +
			"bytes are what its leaf commits to, and that each message is the envelope of its event.",
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
			prog := e.progress("verifying " + args[0])
			r, err := client.VerifyPartyExport(data, pinned)
			prog.done()
			if err != nil {
				return withHint(err, "do not rely on this file: it was altered, or the host's record was")
			}
			rep := verifyReport{PartyExportReport: *r, PinnedBy: pinnedBy}
			return e.showVerify(rep, f.json)
		},
	}
	cmd.Flags().StringVar(&logKey, "log-key", "", "the host's log `key` to check the checkpoints against (default the one pinned at login)")
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
		fields = append(fields,
			[2]string{"events", strconv.Itoa(r.Events) + " match their leaves"},
			[2]string{"messages", strconv.Itoa(r.Messages) + " are the envelopes their events hold"},
		)
	}
	e.writeFields(fields)
	e.printf("verified")
	return nil
}
