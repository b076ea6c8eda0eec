// Package strictjson refuses JSON that two readers could read differently. encoding/json takes
// the last of two equal keys where other decoders take the first, and binds a key to a field
// whose name it matches only case-insensitively ("Room", or "ROOM", or with the Kelvin sign
// for a "k", for "room"); so a host, a mediator or an export's author could show one reader one
// value and another reader, or a verifier written elsewhere, another. Every key of every
// backchannel format is lower-case ASCII (letters, digits, underscores), so this package
// refuses any other key, and any key twice in one object: what remains binds exactly, the same
// in every decoder.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrKey reports a key that is repeated in its object, or not lower-case ASCII.
var ErrKey = errors.New("JSON key refused")

// maxDepth bounds nesting, so no input can make Check recurse without bound.
const maxDepth = 64

// Check reports whether data is one JSON value whose objects' keys are each lower-case ASCII
// letters, digits and underscores, and unique within their object.
func Check(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := value(d, 0); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("JSON: trailing data after the value")
	}
	return nil
}

// Unmarshal checks data with Check and decodes it into v.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func value(d *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("JSON: nested deeper than %d", maxDepth)
	}
	t, err := d.Token()
	if err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	switch t {
	case json.Delim('{'):
		seen := make(map[string]bool)
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return fmt.Errorf("JSON: %w", err)
			}
			key := k.(string)
			if !plain(key) {
				return fmt.Errorf("%w: %q is not lower-case ASCII letters, digits and underscores", ErrKey, key)
			}
			if seen[key] {
				return fmt.Errorf("%w: %q appears twice in one object", ErrKey, key)
			}
			seen[key] = true
			if err := value(d, depth+1); err != nil {
				return err
			}
		}
		_, err = d.Token()
	case json.Delim('['):
		for d.More() {
			if err := value(d, depth+1); err != nil {
				return err
			}
		}
		_, err = d.Token()
	}
	if err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	return nil
}

func plain(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
