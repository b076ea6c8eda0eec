package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/seal"
)

// partyExportFormat names and versions the file export writes: a party's own copy of a talks'
// record. Its "record" member is a record export (record.ExportFormat, docs/record.md) that
// any tlog tool can check; around it are the events behind the leaves the party may see and
// the messages it opened, each tied to its leaf by hash.
const partyExportFormat = "backchannel-party-export/v1"

// partyExport is the file export writes and verify reads.
type partyExport struct {
	Format     string          `json:"format"`
	Talks      string          `json:"talks"`
	Server     string          `json:"server"`
	ExportedBy string          `json:"exported_by"`
	ExportedAt time.Time       `json:"exported_at"`
	Record     json.RawMessage `json:"record"`
	// Events are the events whose leaves the record proves, with their signed bytes.
	Events []exportEvent `json:"events"`
	// Messages are the messages the party opened, as inbox shows them.
	Messages []messageView `json:"messages"`
}

// exportEvent is one event of the record, as the host served it.
type exportEvent struct {
	Index int64     `json:"index"`
	Type  string    `json:"type"`
	Room  string    `json:"room,omitempty"`
	Time  time.Time `json:"time"`
	Data  []byte    `json:"data"`
}

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
			b, _, err := s.sync(ctx, id)
			if err != nil {
				return err
			}
			v := b.Verifier
			cp, note := v.Latest()
			tc := s.c.LogTiles(id)
			// The checkpoint as served now carries every cosignature collected since it was
			// verified; take it if it is the same tree.
			if msg, err := tc.Checkpoint(ctx); err == nil {
				if c, _, err := record.OpenCheckpoint(msg, v.Origin(), v.LogVerifier()); err == nil && c == cp {
					note = msg
				}
			}
			prog := e.progress("exporting " + id)
			var events []exportEvent
			entries := make(map[int64][]byte)
			for from := int64(0); from < cp.Size; {
				page, err := s.c.Events(ctx, id, from, 1000)
				if err != nil {
					return s.explain(ctx, id, err)
				}
				for _, ae := range page.Events {
					if ae.Index >= cp.Size {
						break
					}
					ev := backchannel.Event{Talks: id, Index: uint64(ae.Index), Type: ae.Type, Room: ae.Room, Data: ae.Data, Time: ae.Time}
					entries[ae.Index] = ev.Entry()
					events = append(events, exportEvent{Index: ae.Index, Type: ae.Type, Room: ae.Room, Time: ae.Time, Data: ae.Data})
				}
				prog.set(min(page.Next, cp.Size), cp.Size)
				if page.Next <= from || len(page.Events) == 0 {
					break
				}
				from = page.Next
			}
			prog.done()
			var cosigners []string
			for _, m := range b.State.Members("") {
				org, principal, _ := seal.SplitHandle(m.Principal)
				if cr := b.Trust.Latest(org, principal); cr != nil {
					if k, err := record.CosignerVerifierKey(seal.CosignerName(cr), cr.IdentityKey); err == nil {
						cosigners = append(cosigners, k)
					}
				}
			}
			logKey, err := record.OriginVerifierKey(s.c.PinnedLogKey(), v.Origin())
			if err != nil {
				return err
			}
			rec, err := record.NewExport(v.Origin(), logKey, cosigners, [][]byte{note}, entries, tc.HashReader(ctx, cp))
			if err != nil {
				return s.explain(ctx, id, err)
			}
			recJSON, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			px := partyExport{Format: partyExportFormat, Talks: id, Server: s.server, ExportedBy: s.as,
				ExportedAt: now().Truncate(time.Second), Record: recJSON, Events: events, Messages: []messageView{}}
			for _, m := range b.Messages {
				if m.Index < cp.Size {
					px.Messages = append(px.Messages, messageViewOf(b, m))
				}
			}
			data, err := json.MarshalIndent(px, "", "  ")
			if err != nil {
				return err
			}
			if err := writePrivate(out, append(data, '\n')); err != nil {
				return withHint(err, "check --out")
			}
			if f.json {
				return e.writeJSON(map[string]any{"talks": id, "out": out, "size": cp.Size, "entries": len(entries), "messages": len(px.Messages), "cosigners": len(cosigners)})
			}
			e.printf("exported %d of the %d events of %s and %d message(s) to %s", len(entries), cp.Size, id, len(px.Messages), out)
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
	Talks      string               `json:"talks"`
	ExportedBy string               `json:"exported_by"`
	Record     *record.ExportReport `json:"record"`
	Events     int                  `json:"events"`
	Messages   int                  `json:"messages"`
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
			var px partyExport
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&px); err != nil || px.Format != partyExportFormat {
				// A bare record export (docs/record.md) verifies too.
				if rep, rerr := record.VerifyExport(data, logKey); rerr == nil {
					return e.showVerify(verifyReport{Record: rep}, f.json)
				}
				return withHint(fmt.Errorf("%s is not a backchannel export", args[0]), "give the file 'backchannel export' wrote")
			}
			rep := verifyReport{Talks: px.Talks, ExportedBy: px.ExportedBy}
			pinned := logKey
			if pinned != "" {
				rep.PinnedBy = "--log-key"
			} else if ks, err := f.openKeystore(e); err == nil {
				if sv, ok, err := ks.Server(px.Server); err == nil && ok && sv.LogKey != "" {
					pinned, rep.PinnedBy = sv.LogKey, "the key pinned at login to "+px.Server
				}
			}
			prog := e.progress("verifying " + px.Talks)
			if rep.Record, err = record.VerifyExport(px.Record, pinned); err != nil {
				prog.done()
				return withHint(fmt.Errorf("the export does not verify: %w", err), "do not rely on this file: it was altered, or the host's record was")
			}
			exp, err := record.ParseExport(px.Record)
			if err != nil {
				return err
			}
			leaves := make(map[int64][]byte, len(exp.Entries))
			for _, en := range exp.Entries {
				b, err := base64.StdEncoding.DecodeString(en.Data)
				if err != nil {
					return fmt.Errorf("entry %d: %w", en.Index, err)
				}
				leaves[en.Index] = b
			}
			hashes := make(map[int64][32]byte, len(px.Events))
			for i, ev := range px.Events {
				be := backchannel.Event{Talks: px.Talks, Index: uint64(ev.Index), Type: ev.Type, Data: ev.Data}
				leaf, ok := leaves[ev.Index]
				if !ok || !bytes.Equal(leaf, be.Entry()) {
					return withHint(fmt.Errorf("event %d (%s) is not the one its leaf commits to", ev.Index, ev.Type), "do not rely on this file: it was altered")
				}
				if ev.Type == "envelope" {
					hashes[ev.Index] = sha256.Sum256(ev.Data)
				}
				prog.set(int64(i+1), int64(len(px.Events)))
			}
			for _, m := range px.Messages {
				h, ok := hashes[m.Index]
				if !ok || fmt.Sprintf("%x", h) != m.Hash {
					return withHint(fmt.Errorf("message %s at event %d is not the envelope the record holds there", m.Hash, m.Index), "do not rely on this file: it was altered")
				}
			}
			prog.done()
			rep.Events, rep.Messages = len(px.Events), len(px.Messages)
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
