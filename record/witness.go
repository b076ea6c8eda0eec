package record

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// WitnessError is a witness's refusal of a checkpoint (C2SP tlog-witness), with its HTTP status.
type WitnessError struct {
	Status int
	// Stale is set when the old size was not the size of the latest checkpoint the witness
	// cosigned, which Size then is: the submitter retries from it.
	Stale bool
	Size  int64
	Msg   string
}

func (e *WitnessError) Error() string { return e.Msg }

// SubmitCheckpoint is a log's side of C2SP tlog-witness add-checkpoint: it submits the signed
// checkpoint msg to the witness whose submission prefix is url, with the consistency proof from
// old (the size the witness holds), and returns the witness's cosignature lines. A refusal is
// a *WitnessError; a 409 that tells the witness's size is Stale, for the caller to retry from
// that size.
func SubmitCheckpoint(ctx context.Context, client *http.Client, url string, old int64, proof tlog.TreeProof, msg []byte) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	b.WriteString("\n")
	b.Write(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/add-checkpoint", &b)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size" {
		n, err := strconv.ParseInt(strings.TrimSuffix(string(body), "\n"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("witness %s: a conflict with a size that does not parse: %q", url, body)
		}
		return nil, &WitnessError{Status: resp.StatusCode, Stale: true, Size: n, Msg: fmt.Sprintf("witness %s has cosigned size %d", url, n)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &WitnessError{Status: resp.StatusCode, Msg: fmt.Sprintf("witness %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))}
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "— ") {
			return nil, fmt.Errorf("witness %s answered a line that is no signature: %q", url, sc.Text())
		}
	}
	return body, nil
}
