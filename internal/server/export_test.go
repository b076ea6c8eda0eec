package server

import (
	"reflect"
	"sort"
)

// MuxPatterns returns every pattern registered on the server's mux, such as
// "GET /v1/talks/{talksID}", so that a test can compare what is served with what is documented.
// http.ServeMux does not list its patterns; they are read, without changing anything, from
// the values of type net/http.pattern reachable from it. An empty result means the mux's
// layout changed and this needs revisiting.
func MuxPatterns(s *Server) []string {
	seen := make(map[uintptr]bool)
	found := make(map[string]bool)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
		case reflect.Struct:
			t := v.Type()
			if t.PkgPath() != "net/http" {
				return // sync.RWMutex and the like
			}
			if t.Name() == "pattern" {
				if f := v.FieldByName("str"); f.IsValid() && f.Kind() == reflect.String {
					found[f.String()] = true
				}
				return
			}
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Key())
				walk(it.Value())
			}
		}
		// Interfaces (the handlers) are not followed: they lead out of the mux.
	}
	walk(reflect.ValueOf(s.mux))
	out := make([]string, 0, len(found))
	for p := range found {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
