package record_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/backchannel/backchannel/record"
	"github.com/backchannel/backchannel/record/recordtest"
)

// A party follows a talks' log served as tiles: it pins the host's log key, syncs (verifying
// the checkpoint's signature and its consistency with what it saw before), reads and checks
// the entries, and cosigns what it verified.
func Example() {
	key := func(s string) ed25519.PrivateKey { h := sha256.Sum256([]byte(s)); return ed25519.NewKeyFromSeed(h[:]) }

	// The server (here the tests' in-memory reference log, served as the server serves a
	// talks' log): one log key per host, one log per talks.
	logKey, _ := record.NewLogKey(key("log"))
	origin, _ := record.Origin("backchannel.example", "muscat-1")
	party, _ := record.NewCosigner("party-a", key("party-a"))
	log, _ := recordtest.NewMemLog(logKey, origin, party.VerifierKey())
	log.Append([]byte("sealed envelope 1"), []byte("sealed envelope 2"))
	srv := httptest.NewServer(log)
	defer srv.Close()
	published, _ := logKey.VerifierKey("backchannel.example")

	// The party.
	ctx := context.Background()
	v, _ := record.NewVerifier(origin, published)
	client := &record.TileClient{BaseURL: srv.URL + "/"}
	cp, err := client.Sync(ctx, v)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	entries, err := client.Entries(ctx, cp, 0, cp.Size)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	cosig, _ := v.Cosign(party, time.Unix(1_800_000_000, 0))
	fmt.Println(cp.Origin, cp.Size, len(entries), log.AddCosignature(cosig))
	// Output: backchannel.example/talks/muscat-1 2 2 <nil>
}
