package server

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var updateTokens = flag.Bool("update-tokens", false, "rewrite testdata/tokens.json")

// tokenVectors are tokens and challenges minted under a fixed key, and strings that are not
// (testdata/tokens.json). The vectors pin the token format; the fuzzer starts from them.
//
//go:embed testdata/tokens.json
var tokenVectorsJSON []byte

type tokenVectors struct {
	Key     string        `json:"key"` // hex HMAC key
	Now     time.Time     `json:"now"` // the time every vector is checked at
	Vectors []tokenVector `json:"vectors"`
}

type tokenVector struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"` // "token" or "challenge": what the check expects
	Token   string    `json:"token"`
	Subject string    `json:"subject,omitempty"` // for a valid vector: what it was minted for
	Expires time.Time `json:"expires,omitzero"`
	Error   string    `json:"error,omitempty"` // "malformed", "forged" or "expired"
}

func kindOf(name string) byte {
	if name == "challenge" {
		return kindChallenge
	}
	return kindToken
}

var tokenErrors = map[string]error{"malformed": errTokenMalformed, "forged": errTokenForged, "expired": errTokenExpired}

func loadTokenVectors(tb testing.TB) (minter, tokenVectors) {
	tb.Helper()
	var tv tokenVectors
	if err := json.Unmarshal(tokenVectorsJSON, &tv); err != nil {
		tb.Fatal(err)
	}
	key, err := hex.DecodeString(tv.Key)
	if err != nil || len(tv.Vectors) == 0 {
		tb.Fatalf("testdata/tokens.json: key %v, %d vectors", err, len(tv.Vectors))
	}
	return minter{key: key}, tv
}

// TestTokenVectors mints every valid vector again and checks every vector.
func TestTokenVectors(t *testing.T) {
	if *updateTokens {
		writeTokenVectors(t)
	}
	m, tv := loadTokenVectors(t)
	for _, v := range tv.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if v.Error == "" {
				if got := m.mint(kindOf(v.Kind), v.Subject, v.Expires); got != v.Token {
					t.Errorf("mint = %q, want %q", got, v.Token)
				}
			}
			sub, exp, err := m.check(kindOf(v.Kind), v.Token, tv.Now)
			if v.Error != "" {
				if !errors.Is(err, tokenErrors[v.Error]) {
					t.Fatalf("check = %q, %v, want error %s", sub, err, v.Error)
				}
				return
			}
			if err != nil || sub != v.Subject || !exp.Equal(v.Expires) {
				t.Fatalf("check = %q, %v, %v; want %q, %v", sub, exp, err, v.Subject, v.Expires)
			}
		})
	}
}

// writeTokenVectors regenerates testdata/tokens.json (go test -run TokenVectors -update-tokens).
func writeTokenVectors(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	m := minter{key: key}
	now := time.Date(2025, 4, 12, 9, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	cred := strings.Repeat("4f", 32)
	token := m.mint(kindToken, cred, exp)
	challenge := m.mint(kindChallenge, cred+" AAECAwQFBgcICQoLDA0ODxAR", now.Add(2*time.Minute))
	p, s, _ := strings.Cut(token, ".")
	other := minter{key: []byte("another host's key")}
	tv := tokenVectors{Key: hex.EncodeToString(key), Now: now, Vectors: []tokenVector{
		{Name: "token", Kind: "token", Token: token, Subject: cred, Expires: exp},
		{Name: "challenge", Kind: "challenge", Token: challenge, Subject: cred + " AAECAwQFBgcICQoLDA0ODxAR", Expires: now.Add(2 * time.Minute)},
		{Name: "empty subject", Kind: "token", Token: m.mint(kindToken, "", exp), Subject: "", Expires: exp},
		{Name: "expired", Kind: "token", Token: m.mint(kindToken, cred, now), Error: "expired"},
		{Name: "challenge for a token", Kind: "token", Token: challenge, Error: "malformed"},
		{Name: "token for a challenge", Kind: "challenge", Token: token, Error: "malformed"},
		{Name: "another key", Kind: "token", Token: other.mint(kindToken, cred, exp), Error: "forged"},
		{Name: "signature changed", Kind: "token", Token: p + "." + flipChar(s, 0), Error: "forged"},
		{Name: "payload changed", Kind: "token", Token: flipChar(p, 20) + "." + s, Error: "forged"},
		{Name: "signature cut", Kind: "token", Token: p + "." + s[:len(s)-1], Error: "malformed"},
		{Name: "signature's spare bits set", Kind: "token", Token: p + "." + s[:len(s)-1] + spareBits(s[len(s)-1:]), Error: "malformed"},
		{Name: "padded", Kind: "token", Token: p + "." + s + "=", Error: "malformed"},
		{Name: "standard base64", Kind: "token", Token: strings.NewReplacer("-", "+", "_", "/").Replace(token), Error: "malformed"},
		{Name: "line break", Kind: "token", Token: p[:10] + "\n" + p[10:] + "." + s, Error: "malformed"},
		{Name: "no dot", Kind: "token", Token: p + s, Error: "malformed"},
		{Name: "two dots", Kind: "token", Token: token + ".", Error: "malformed"},
		{Name: "empty", Kind: "token", Token: "", Error: "malformed"},
		{Name: "short payload", Kind: "token", Token: m.mint(kindToken, "", exp)[:10] + "." + s, Error: "malformed"},
		{Name: "too long", Kind: "token", Token: m.mint(kindToken, strings.Repeat("x", 400), exp), Error: "malformed"},
	}}
	data, err := json.MarshalIndent(tv, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/tokens.json", append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenVectorsJSON = append(data, '\n')
}

// flipChar replaces the character at i by another of the base64url alphabet.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// spareBits returns the last character of a 32-byte value's base64url encoding (43
// characters, whose last carries 4 bits and 2 spare ones) with a spare bit set.
func spareBits(last string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last[0])
	return string(alphabet[i|1])
}

// FuzzTokenCheck checks untrusted bearer tokens and challenges: the check never panics, and
// whatever it accepts is exactly the string the minter makes for what it returns, so that no
// token is accepted that the server did not mint, and a minted token has one spelling only.
func FuzzTokenCheck(f *testing.F) {
	m, tv := loadTokenVectors(f)
	for _, v := range tv.Vectors {
		f.Add(v.Token, int64(0))
	}
	f.Fuzz(func(t *testing.T, tok string, skew int64) {
		now := tv.Now.Add(time.Duration(skew))
		for _, kind := range []byte{kindToken, kindChallenge} {
			sub, exp, err := m.check(kind, tok, now)
			if err != nil {
				if !errors.Is(err, errTokenMalformed) && !errors.Is(err, errTokenForged) && !errors.Is(err, errTokenExpired) {
					t.Fatalf("check(%q) = %v, an error of no kind", tok, err)
				}
				continue
			}
			if !now.Before(exp) {
				t.Fatalf("check(%q) accepted a token expired at %v at %v", tok, exp, now)
			}
			if again := m.mint(kind, sub, exp); again != tok {
				t.Fatalf("check(%q) accepted a token the minter spells %q (subject %q, expiry %v)", tok, again, sub, exp)
			}
		}
	})
}
