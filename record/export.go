package record

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel/strictjson"
)

// ExportFormat names and versions the export format; it is the value of Export.Format.
const ExportFormat = "backchannel-record-export/v1"

// Export is what a party keeps to prove its record offline, to anyone, without the server:
// the log's key, the checkpoints it verified with their cosignatures, the consistency proofs
// that chain them, and entries with their inclusion proofs. It is encoded as JSON; binary
// values are standard padded base64. docs/record.md specifies it.
type Export struct {
	Format string `json:"format"`
	Origin string `json:"origin"`
	// LogKey is the verifier key of the log, named Origin.
	LogKey string `json:"log_key"`
	// CosignerKeys are the cosignature/v1 verifier keys of the parties.
	CosignerKeys []string `json:"cosigner_keys"`
	// Checkpoints are signed checkpoint notes, in order of non-decreasing size.
	Checkpoints []string `json:"checkpoints"`
	// Consistency[i] is the consistency proof from Checkpoints[i] to Checkpoints[i+1].
	Consistency [][]string `json:"consistency"`
	// Entries are logged entries with their inclusion proofs.
	Entries []ExportEntry `json:"entries"`
}

// ExportEntry is one logged entry in an Export.
type ExportEntry struct {
	Index int64 `json:"index"`
	// Data is the entry's exact bytes (a sealed event: ciphertext), base64.
	Data string `json:"data"`
	// Checkpoint is the index in Export.Checkpoints of the tree Proof is against.
	Checkpoint int `json:"checkpoint"`
	// Proof is the RFC 6962 inclusion proof, base64 hashes.
	Proof []string `json:"proof"`
}

// NewExport assembles an export. checkpoints are signed notes in non-decreasing size; entries
// maps indexes to entry bytes; r reads the stored hashes of the last checkpoint's tree (a
// store's reader, or TileClient.HashReader, which verifies them first). Every entry is proven
// against the last checkpoint. NewExport verifies nothing; VerifyExport does.
func NewExport(origin, logKey string, cosignerKeys []string, checkpoints [][]byte, entries map[int64][]byte, r HashReader) (*Export, error) {
	e := &Export{Format: ExportFormat, Origin: origin, LogKey: logKey, CosignerKeys: cosignerKeys,
		Consistency: [][]string{}, Entries: []ExportEntry{}}
	if e.CosignerKeys == nil {
		e.CosignerKeys = []string{}
	}
	if len(checkpoints) == 0 {
		return nil, fmt.Errorf("record: an export needs at least one checkpoint")
	}
	var cps []Checkpoint
	for i, msg := range checkpoints {
		text, ok := noteText(msg)
		if !ok {
			return nil, fmt.Errorf("%w: export checkpoint %d is not a note", ErrMalformed, i)
		}
		c, err := ParseCheckpointBody(text)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			p, err := ProveConsistency(cps[i-1].Size, c.Size, r)
			if err != nil {
				return nil, err
			}
			e.Consistency = append(e.Consistency, encodeHashes(p))
		}
		cps = append(cps, c)
		e.Checkpoints = append(e.Checkpoints, string(msg))
	}
	last := cps[len(cps)-1]
	for i := int64(0); i < last.Size && len(e.Entries) < len(entries); i++ {
		data, ok := entries[i]
		if !ok {
			continue
		}
		p, err := ProveInclusion(last.Size, i, r)
		if err != nil {
			return nil, err
		}
		e.Entries = append(e.Entries, ExportEntry{Index: i, Data: base64.StdEncoding.EncodeToString(data),
			Checkpoint: len(cps) - 1, Proof: encodeHashes(p)})
	}
	if len(e.Entries) != len(entries) {
		return nil, fmt.Errorf("%w: some exported entries are beyond the last checkpoint of size %d", ErrNotFound, last.Size)
	}
	return e, nil
}

// ExportReport is what VerifyExport verified.
type ExportReport struct {
	Origin string `json:"origin"`
	LogKey string `json:"log_key"`
	// Pinned is true when the log key was checked against a key the caller pinned, false when
	// it was taken from the export itself (which proves consistency, not authorship).
	Pinned      bool               `json:"pinned"`
	Checkpoints []CheckpointReport `json:"checkpoints"`
	// ConsistencyProofs is the number of consistency proofs checked.
	ConsistencyProofs int `json:"consistency_proofs"`
	// Entries is the number of entries whose inclusion was checked.
	Entries int `json:"entries"`
}

// CheckpointReport describes one verified checkpoint of an export.
type CheckpointReport struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
	// Cosigners are the names of the parties whose valid cosignatures it carries.
	Cosigners []string `json:"cosigners"`
}

// MaxExportSize bounds the export files VerifyExport reads.
const MaxExportSize = 1 << 30

// VerifyExport verifies an export offline: every checkpoint's log signature and origin, which
// cosigners signed each, the consistency of each checkpoint with the next, and the inclusion of
// every entry. pinnedLogKey, when not empty, is the log or host key the verifier trusts; the
// export's own key must be it. The first failure is returned, wrapping one of this package's
// errors; on success the report says what was verified.
func VerifyExport(data []byte, pinnedLogKey string) (*ExportReport, error) {
	e, err := ParseExport(data)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{Origin: e.Origin, LogKey: e.LogKey, Checkpoints: []CheckpointReport{}}
	if pinnedLogKey != "" {
		want, err := OriginVerifierKey(pinnedLogKey, e.Origin)
		if err != nil {
			return nil, err
		}
		if want != e.LogKey {
			return nil, fmt.Errorf("%w: the export's log key %q is not the pinned key %q", ErrBadSignature, e.LogKey, want)
		}
		rep.Pinned = true
	}
	v, err := NewVerifier(e.Origin, e.LogKey)
	if err != nil {
		return nil, err
	}
	var cvs []note.Verifier
	for _, k := range e.CosignerKeys {
		cv, err := NewCosignatureVerifier(k)
		if err != nil {
			return nil, err
		}
		cvs = append(cvs, cv)
	}
	cosigners := note.VerifierList(cvs...)
	var cps []Checkpoint
	for i, msg := range e.Checkpoints {
		c, _, err := OpenCheckpoint([]byte(msg), e.Origin, v.LogVerifier())
		if err != nil {
			return nil, fmt.Errorf("export checkpoint %d: %w", i, err)
		}
		names := []string{}
		if len(cvs) > 0 {
			// A cosignature by a listed key that does not verify is a forgery: refuse it
			// rather than quietly leave the name out of the report.
			cn, err := note.Open([]byte(msg), cosigners)
			var none *note.UnverifiedNoteError
			switch {
			case errors.As(err, &none):
			case err != nil:
				return nil, fmt.Errorf("%w: export checkpoint %d: %v", ErrBadSignature, i, err)
			default:
				for _, s := range cn.Sigs {
					names = append(names, s.Name)
				}
			}
		}
		if i > 0 {
			p, err := decodeHashes(e.Consistency[i-1])
			if err != nil {
				return nil, fmt.Errorf("export consistency proof %d: %w", i-1, err)
			}
			if err := CheckConsistency(cps[i-1], c, p); err != nil {
				return nil, fmt.Errorf("export checkpoint %d: %w", i, err)
			}
			rep.ConsistencyProofs++
		}
		cps = append(cps, c)
		rep.Checkpoints = append(rep.Checkpoints, CheckpointReport{Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Hash[:]), Cosigners: names})
	}
	for i, en := range e.Entries {
		if en.Checkpoint < 0 || en.Checkpoint >= len(cps) {
			return nil, fmt.Errorf("%w: export entry %d names checkpoint %d of %d", ErrMalformed, i, en.Checkpoint, len(cps))
		}
		d, err := decodeBase64(en.Data)
		if err != nil {
			return nil, fmt.Errorf("export entry %d data: %w", i, err)
		}
		p, err := decodeHashes(en.Proof)
		if err != nil {
			return nil, fmt.Errorf("export entry %d proof: %w", i, err)
		}
		if err := CheckInclusion(cps[en.Checkpoint], en.Index, d, p); err != nil {
			return nil, fmt.Errorf("export entry %d: %w", i, err)
		}
		rep.Entries++
	}
	return rep, nil
}

// ParseExport decodes an export strictly: one JSON object of the current format, no unknown
// fields, nothing after it, a consistency proof between each pair of checkpoints.
func ParseExport(data []byte) (*Export, error) {
	if len(data) > MaxExportSize {
		return nil, fmt.Errorf("%w: export of %d bytes is larger than %d", ErrMalformed, len(data), MaxExportSize)
	}
	if err := strictjson.Check(data); err != nil {
		return nil, fmt.Errorf("%w: export: %v", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var e Export
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: export: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: export has data after its JSON object", ErrMalformed)
	}
	if e.Format != ExportFormat {
		return nil, fmt.Errorf("%w: export format %q, this verifier reads %q", ErrMalformed, e.Format, ExportFormat)
	}
	if len(e.Checkpoints) == 0 {
		return nil, fmt.Errorf("%w: export has no checkpoint", ErrMalformed)
	}
	if len(e.Consistency) != len(e.Checkpoints)-1 {
		return nil, fmt.Errorf("%w: export has %d consistency proofs for %d checkpoints", ErrMalformed, len(e.Consistency), len(e.Checkpoints))
	}
	if _, _, err := ParseOrigin(e.Origin); err != nil {
		return nil, err
	}
	return &e, nil
}

func encodeHashes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func decodeHashes(ss []string) ([]tlog.Hash, error) {
	if len(ss) > 128 {
		return nil, fmt.Errorf("%w: proof of %d hashes", ErrMalformed, len(ss))
	}
	out := make([]tlog.Hash, len(ss))
	for i, s := range ss {
		b, err := decodeBase64(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: proof hash %d is not a base64 SHA-256 hash", ErrMalformed, i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// decodeBase64 accepts only canonical padded standard base64, so each export has one spelling.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: not canonical base64", ErrMalformed)
	}
	return b, nil
}
