package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tokens are how a principal, having proved once that it holds its identity key, authenticates
// the requests that follow: a bearer token of the form
//
//	base64url(payload) "." base64url(HMAC-SHA256(key, "backchannel/token/v1\n" || payload))
//
// whose payload is the credential id, the expiry (Unix seconds, 8 bytes big-endian) and a kind
// byte. Challenges have the same shape with a random nonce in place of the credential, so that
// the server keeps no state between issuing a challenge and seeing it signed. The HMAC key is a
// host secret shared by every node through the store.
//
// A signed challenge costs one Ed25519 verification; a token costs one HMAC, so that the hot
// path (thousands of envelopes per second) is not paying a signature check per request twice
// over, and browsers can carry a bearer token where they cannot sign each request.

const (
	tokenDomain = "backchannel/token/v1\n"

	kindToken     byte = 't'
	kindChallenge byte = 'c'
)

var (
	errTokenMalformed = errors.New("malformed token")
	errTokenForged    = errors.New("token signature does not verify")
	errTokenExpired   = errors.New("token expired")
)

// minter issues and checks tokens and challenges.
type minter struct {
	key []byte
}

func (m minter) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(tokenDomain))
	h.Write(payload)
	return h.Sum(nil)
}

// mint returns a token or challenge for subject, valid until exp.
func (m minter) mint(kind byte, subject string, exp time.Time) string {
	payload := make([]byte, 0, 9+len(subject))
	payload = append(payload, kind)
	payload = binary.BigEndian.AppendUint64(payload, uint64(exp.Unix()))
	payload = append(payload, subject...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(m.mac(payload))
}

// check verifies a token or challenge of the given kind at time now and returns its subject.
func (m minter) check(kind byte, tok string, now time.Time) (string, time.Time, error) {
	p, s, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 512 {
		return "", time.Time{}, errTokenMalformed
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sig, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil || len(payload) < 9 || len(sig) != sha256.Size {
		return "", time.Time{}, errTokenMalformed
	}
	// One spelling per token: the decoder ignores line breaks and the spare bits of the last
	// character, which would let anyone holding a token make others that verify too.
	if enc.EncodeToString(payload) != p || enc.EncodeToString(sig) != s {
		return "", time.Time{}, fmt.Errorf("%w: not in canonical base64url", errTokenMalformed)
	}
	if !hmac.Equal(sig, m.mac(payload)) {
		return "", time.Time{}, errTokenForged
	}
	if payload[0] != kind {
		return "", time.Time{}, fmt.Errorf("%w: a %s where a %s was expected", errTokenMalformed, kindName(payload[0]), kindName(kind))
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0).UTC()
	if !now.Before(exp) {
		return "", exp, fmt.Errorf("%w at %s", errTokenExpired, exp.Format(time.RFC3339))
	}
	return string(payload[9:]), exp, nil
}

func kindName(k byte) string {
	switch k {
	case kindToken:
		return "token"
	case kindChallenge:
		return "challenge"
	}
	return "unknown kind"
}
