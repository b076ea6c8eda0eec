package keystore_test

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/backchannel/backchannel/internal/keystore"
)

// FuzzOpenIdentityFile feeds the identity file decoder what a person might import into the web
// client or the keystore: it must refuse what is not an identity file by name, never panic, and
// return only an identity with a credential.
func FuzzOpenIdentityFile(f *testing.F) {
	seed, err := os.ReadFile("testdata/identity-v1.age")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, "correct horse battery staple")
	f.Add(seed, "")
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 10\nAAAA\n--- AAAA\n"), "x")
	f.Add([]byte{}, "x")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		// Each scrypt work factor above the keystore's lowest costs twice the time and memory
		// of the one below: the fuzzer explores the format, not the key derivation.
		if i := bytes.Index(data, []byte("-> scrypt ")); i >= 0 {
			line, _, _ := bytes.Cut(data[i:], []byte("\n"))
			if f := bytes.Fields(line); len(f) >= 4 {
				if n, err := strconv.Atoi(string(f[3])); err == nil && n > keystore.MinWorkFactor {
					t.Skip()
				}
			}
		}
		id, err := keystore.OpenIdentityFile(data, pass)
		if err == nil && (id == nil || id.Credential() == nil) {
			t.Fatal("opened an identity without a credential")
		}
	})
}
