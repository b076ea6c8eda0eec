package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/backchannel/backchannel/strictjson"
)

// base64Unchecked keeps "contentEncoding: base64" on every []byte field of the document, but
// as an annotation that huma's validator does not act on. huma checks such a string against a
// regular expression before decoding it; on a 1 KiB message sealed to two recipients (4.7 KiB
// of base64) that took about 140 µs of CPU, more than verifying two Ed25519 signatures, and
// 9% of the server's time under load (profile of backchannel bench). Decoding the JSON into
// []byte refuses bad base64 all the same, with the same problem.
func base64Unchecked(api huma.API) {
	seen := make(map[*huma.Schema]bool)
	var walk func(s *huma.Schema)
	walk = func(s *huma.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.ContentEncoding == "base64" {
			if s.Extensions == nil {
				s.Extensions = make(map[string]any)
			}
			s.Extensions["contentEncoding"] = "base64"
			s.ContentEncoding = ""
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		for _, l := range [][]*huma.Schema{s.OneOf, s.AnyOf, s.AllOf} {
			for _, x := range l {
				walk(x)
			}
		}
	}
	doc := api.OpenAPI()
	for _, s := range doc.Components.Schemas.Map() {
		walk(s)
	}
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op != nil && op.RequestBody != nil {
				for _, mt := range op.RequestBody.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

// namedBase64Errors wraps the JSON decoders of formats so that bad base64 in a body names its
// field, as huma's validator did before base64Unchecked: encoding/json reports only the
// offset. Finding the field costs a second decoding, on the error path alone.
func namedBase64Errors(formats map[string]huma.Format) map[string]huma.Format {
	out := make(map[string]huma.Format, len(formats))
	for ct, f := range formats {
		if dec := f.Unmarshal; dec != nil && strings.Contains(ct, "json") {
			f.Unmarshal = func(data []byte, v any) error {
				// A key twice, or one that binds only case-insensitively, could be read one way
				// here and another by a proxy or an auditor: refused before anything binds.
				if err := strictjson.Check(data); err != nil {
					return err
				}
				err := dec(data, v)
				var bad base64.CorruptInputError
				if !errors.As(err, &bad) {
					return err
				}
				var fields map[string]json.RawMessage
				if json.Unmarshal(data, &fields) == nil {
					for name, raw := range fields {
						var s string
						if json.Unmarshal(raw, &s) == nil {
							if _, e := base64.StdEncoding.DecodeString(s); e != nil {
								return fmt.Errorf("%s: expected a base64 string: %w", name, err)
							}
						}
					}
				}
				return err
			}
		}
		out[ct] = f
	}
	return out
}
