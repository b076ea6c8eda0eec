package seal

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// Each fuzz target feeds a decoder of untrusted bytes, seeded from the checked-in vectors. A
// decoder must never panic, and whatever it accepts must re-encode to exactly the input: one
// value, one encoding.

func seeds(f *testing.F, pick func(vectors) []string) {
	v := loadVectors(f)
	for _, s := range pick(v) {
		f.Add(unhex(f, s))
	}
}

func encodedOf(list []namedVector) []string {
	var out []string
	for _, v := range list {
		out = append(out, v.Encoded)
	}
	return out
}

func FuzzParseCredential(f *testing.F) {
	seeds(f, func(v vectors) []string { return encodedOf(v.Credentials) })
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredential(b)
		if err != nil {
			return
		}
		if !bytes.Equal(reencode(c.addTBS, b), b) || !bytes.Equal(c.Marshal(), b) {
			t.Fatal("credential re-encodes differently")
		}
	})
}

func FuzzParseRevocation(f *testing.F) {
	seeds(f, func(v vectors) []string { return encodedOf(v.Revocations) })
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRevocation(b)
		if err != nil {
			return
		}
		if !bytes.Equal(reencode(r.addTBS, b), b) || !bytes.Equal(r.Marshal(), b) {
			t.Fatal("revocation re-encodes differently")
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	seeds(f, func(v vectors) []string {
		var out []string
		for _, e := range v.Envelopes {
			out = append(out, e.Encoded)
		}
		return out
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatal("envelope re-encodes differently")
		}
		// The header alone must re-encode too: the server relies on its fields, not the bytes.
		h := e.Header
		buf := newBuilder()
		addHeader(buf, &h)
		if !bytes.Equal(buf.BytesOrPanic(), b[:e.headerLen]) {
			t.Fatal("header re-encodes differently")
		}
	})
}

// FuzzParseMessage feeds the decoder of decrypted plaintext, which a malicious sender controls.
func FuzzParseMessage(f *testing.F) {
	w := newWorld(f)
	for _, v := range loadVectors(f).Envelopes {
		e, err := ParseEnvelope(unhex(f, v.Encoded))
		if err != nil {
			f.Fatal(err)
		}
		o, err := w.get(v.OpenedBy).Open(e, w.trust, expect(v.Room))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(o.message))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		buf := newBuilder()
		addTag(buf, tagMessage)
		addContext(buf, &m.Context, m.Author)
		buf.AddUint32(uint32(len(m.Body)))
		buf.AddBytes(m.Body)
		buf.AddBytes(m.signature())
		if !bytes.Equal(buf.BytesOrPanic(), b) {
			t.Fatal("message re-encodes differently")
		}
	})
}

func FuzzParseReceipt(f *testing.F) {
	seeds(f, func(v vectors) []string { return encodedOf(v.Receipts) })
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b)
		if err != nil {
			return
		}
		if !bytes.Equal(reencode(r.addTBS, b), b) || !bytes.Equal(r.Marshal(), b) {
			t.Fatal("receipt re-encodes differently")
		}
	})
}

func FuzzParseAct(f *testing.F) {
	seeds(f, func(v vectors) []string { return encodedOf(v.Acts) })
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAct(b)
		if err != nil {
			return
		}
		if !bytes.Equal(reencode(a.addTBS, b), b) || !bytes.Equal(a.Marshal(), b) {
			t.Fatal("act re-encodes differently")
		}
	})
}

// reencode encodes a parsed value again from its fields, followed by the signature of b.
func reencode(addTBS func(*cryptobyte.Builder), b []byte) []byte {
	buf := newBuilder()
	addTBS(buf)
	buf.AddBytes(b[len(b)-sigLen:])
	return buf.BytesOrPanic()
}
