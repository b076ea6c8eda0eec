package talks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// EncodingVersion is the version tag of the event encoding.
const EncodingVersion = 1

// MaxEventSize bounds an encoded event. The largest legitimate event, a charter with every
// limit reached, is well below it.
const MaxEventSize = 16 << 10

// wire is the envelope of every encoded event: type and version first, so that formats can
// evolve without ambiguity, then the event's own fields.
type wire struct {
	Type  string          `json:"type"`
	V     int             `json:"v"`
	Event json.RawMessage `json:"event"`
}

// Marshal returns the canonical encoding of e: compact JSON of
// {"type":..., "v":1, "event":{...}} with the event's fields in declaration order, optional
// fields omitted when empty, times in RFC 3339 UTC. It refuses an event that is not well formed,
// so everything Marshal returns, Parse accepts.
func Marshal(e Event) ([]byte, error) {
	if e == nil {
		return nil, refuse(ErrMalformed, "nil event")
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Type(), err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(wire{Type: e.Type(), V: EncodingVersion, Event: body})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEventSize {
		return nil, refuse(ErrMalformed, "encoded %s is %d bytes, more than %d", e.Type(), len(b), MaxEventSize)
	}
	return b, nil
}

// Parse decodes an event encoded by Marshal. It accepts only the canonical encoding: unknown or
// duplicate fields, other spellings of the same value (white space, escapes, key order, zero
// values written out, time zones) are refused, because a signature over bytes with two
// encodings is a forgery waiting to happen. The event is also checked to be well formed.
func Parse(b []byte) (Event, error) {
	if len(b) > MaxEventSize {
		return nil, refuse(ErrMalformed, "event is %d bytes, more than %d", len(b), MaxEventSize)
	}
	var w wire
	if err := strict(b, &w); err != nil {
		return nil, err
	}
	if w.V != EncodingVersion {
		return nil, refuse(ErrMalformed, "event encoding version %d, want %d", w.V, EncodingVersion)
	}
	var e Event
	var err error
	switch w.Type {
	case TypeCharter:
		e, err = decode[Charter](w.Event)
	case TypeAcceptCharter:
		e, err = decode[AcceptCharter](w.Event)
	case TypeAddMember:
		e, err = decode[AddMember](w.Event)
	case TypeRemoveMember:
		e, err = decode[RemoveMember](w.Event)
	case TypeSetHead:
		e, err = decode[SetHead](w.Event)
	case TypePropose:
		e, err = decode[Propose](w.Event)
	case TypeVote:
		e, err = decode[Vote](w.Event)
	case TypeOpenRound:
		e, err = decode[OpenRound](w.Event)
	case TypeCloseRound:
		e, err = decode[CloseRound](w.Event)
	case TypeCloseSession:
		e, err = decode[CloseSession](w.Event)
	case TypeSign:
		e, err = decode[Sign](w.Event)
	case TypeWithdraw:
		e, err = decode[Withdraw](w.Event)
	default:
		return nil, refuse(ErrMalformed, "unknown event type %q", w.Type)
	}
	if err != nil {
		return nil, err
	}
	again, err := Marshal(e)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, refuse(ErrMalformed, "%s event is not in canonical form", w.Type)
	}
	return e, nil
}

func decode[T Event](b []byte) (Event, error) {
	var v T
	if err := strict(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// strict decodes exactly one JSON value, refusing unknown fields and trailing data.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return refuse(ErrMalformed, "%v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return refuse(ErrMalformed, "trailing data after the event")
	}
	return nil
}
