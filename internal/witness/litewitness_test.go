package witness_test

import (
	"net/http"
	"testing"

	"github.com/backchannel/backchannel/internal/witness/witnesstest"
)

// The same life of a log, played against litewitness (filippo.io/torchwood v0.6.1, a witness we
// did not write, built from the module this one requires as a tool), is answered as our witness
// answers it, but for two statuses of an older revision of the spec, and litewitness's
// cosignatures verify with our cosignature verifier: the host's side of tlog-witness (Submit)
// and the record's cosignatures interoperate with the standard.
func TestLitewitnessAnswersAsOurWitnessDoes(t *testing.T) {
	h := newHost(t, "host.example", origin)
	originKey, err := h.key.VerifierKey(h.origin)
	if err != nil {
		t.Fatal(err)
	}
	url, key := witnesstest.StartLitewitness(t, map[string]string{h.origin: originKey})
	// litewitness v0.6.1 predates two statuses of the current spec: it answers an unknown log
	// 403 (now 404) and a checkpoint of the witnessed size with another root 422 (now 409).
	// Both are refusals; the submitter handles them alike.
	conformance(t, url, key, h, map[string]int{"unknown log": http.StatusForbidden, "same-size fork": http.StatusUnprocessableEntity})
}
