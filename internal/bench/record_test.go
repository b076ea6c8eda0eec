package bench_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/store"
	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/record"
)

// BenchmarkRecordSize measures how the cost of a record grows with its size, on the embedded
// store: a durable append of one 1 KiB event (its Merkle hashes, a signed checkpoint, the
// commit) and an inclusion proof of a random event, in a talks whose log already holds n
// events. Filling the larger logs takes a while:
//
//	go test -run '^$' -bench RecordSize -benchtime 2000x ./internal/bench
func BenchmarkRecordSize(b *testing.B) {
	for _, n := range []int64{1e3, 1e4, 1e5, 1e6} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(b.TempDir(), "db"), Signer: logSigner(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			data := func(size int) []byte {
				d := make([]byte, size)
				rand.Read(d)
				return d
			}
			if _, _, err := st.CreateTalks(ctx, "t", []string{"a"}, func(tx store.AppendTx) error {
				tx.Append(backchannel.Event{Type: "charter", Data: data(64)})
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			for size := int64(1); size < n; {
				k := min(1000, n-size)
				if _, _, err := st.Append(ctx, "t", func(tx store.AppendTx) error {
					for range k {
						tx.Append(backchannel.Event{Type: "envelope", Room: "caucus:a", Data: data(64)})
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				size += k
			}
			hashes := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return st.ReadHashes(ctx, "t", idx) })
			body := data(1024)
			b.Run("append", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					body[0], body[1], body[2] = byte(i), byte(i>>8), byte(i>>16)
					if _, _, err := st.Append(ctx, "t", func(tx store.AppendTx) error {
						tx.Append(backchannel.Event{Type: "envelope", Room: "caucus:a", Data: body})
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("prove", func(b *testing.B) {
				info, err := st.Talks(ctx, "t")
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; b.Loop(); i++ {
					if _, err := record.ProveInclusion(info.Size, int64(i*7919)%info.Size, hashes); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// logSigner signs checkpoints as a host does, with an Ed25519 log key.
func logSigner(b *testing.B) store.CheckpointSigner {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	k, err := record.NewLogKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	return func(talks string, size int64, root tlog.Hash, _ tlog.HashReader) ([]byte, error) {
		origin, err := record.Origin("bench.example", talks)
		if err != nil {
			return nil, err
		}
		ns, err := k.Signer(origin)
		if err != nil {
			return nil, err
		}
		return record.SignCheckpoint(ns, record.Checkpoint{Origin: origin, Size: size, Hash: root})
	}
}
