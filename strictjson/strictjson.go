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
	"encoding/json"
	"errors"
	"fmt"
)

// ErrKey reports a key that is repeated in its object, or not lower-case ASCII.
var ErrKey = errors.New("JSON key refused")

// maxDepth bounds nesting, so no input can make Check recurse without bound.
const maxDepth = 64

// Check reports an object of data, if data is JSON, whose keys are not each lower-case ASCII
// letters, digits and underscores, or not unique within it. It reads data once, without decoding
// it, and does not check its syntax: it runs before every decoding of an untrusted body, and
// that decoding refuses what is not JSON, as it did without Check.
func Check(data []byte) error { return checkKeys(data) }

// Unmarshal checks data with Check and decodes it into v.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// checkKeys walks valid JSON, checking the keys of every object.
func checkKeys(data []byte) error {
	// objects holds, for each open container, whether it is an object and the keys seen so far.
	type open struct {
		object bool
		keys   []string        // the keys so far, while few
		many   map[string]bool // the keys so far, once many: a large object stays linear
	}
	var stack []open
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{':
			if len(stack) == maxDepth {
				return fmt.Errorf("JSON: nested deeper than %d", maxDepth)
			}
			stack = append(stack, open{object: true})
			expectKey = true
		case '[':
			if len(stack) == maxDepth {
				return fmt.Errorf("JSON: nested deeper than %d", maxDepth)
			}
			stack = append(stack, open{})
		case '}', ']':
			if len(stack) == 0 {
				return nil // not JSON: the decoder says so
			}
			stack = stack[:len(stack)-1]
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end := i + 1
			for end < len(data) && data[end] != '"' {
				if data[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(data) {
				return nil // an unterminated string: not JSON, the decoder says so
			}
			if expectKey && len(stack) > 0 {
				key := string(data[i+1 : end])
				if !plain(key) {
					return fmt.Errorf("%w: %q is not lower-case ASCII letters, digits and underscores", ErrKey, key)
				}
				top := &stack[len(stack)-1]
				twice := top.many[key]
				for _, k := range top.keys {
					twice = twice || k == key
				}
				if twice {
					return fmt.Errorf("%w: %q appears twice in one object", ErrKey, key)
				}
				switch {
				case top.many != nil:
					top.many[key] = true
				case len(top.keys) < 16:
					top.keys = append(top.keys, key)
				default:
					top.many = make(map[string]bool)
					for _, k := range append(top.keys, key) {
						top.many[k] = true
					}
					top.keys = nil
				}
				expectKey = false
			}
			i = end
		}
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
