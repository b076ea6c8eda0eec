package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/talks"
)

// Every problem the API can answer reaches the user with a hint that names the talks and the
// one acting where it uses them, and no hint is kept for a problem that no longer exists.
func TestEveryProblemHasAHint(t *testing.T) {
	names := map[string]bool{}
	for _, k := range api.ProblemKinds() {
		names[k.Name] = true
	}
	for _, r := range talks.Rules() {
		names[r.Name] = true
	}
	for name := range names {
		p := &api.Problem{Type: api.ProblemTypePrefix + name, Title: "title", Detail: "detail of " + name}
		err := problemHint(p, "muscat", "us:envoy")
		if name == api.ProblemExists.Name {
			continue // a success for the callers that meet it
		}
		var h *hintError
		if !errors.As(err, &h) {
			t.Errorf("%s: no hint", name)
			continue
		}
		if strings.ContainsAny(h.hint, "{}%") || h.hint == "" {
			t.Errorf("%s: hint %q is not plain words", name, h.hint)
		}
		if name != api.ProblemUnknownTalks.Name && !strings.Contains(err.Error(), "detail of "+name) {
			t.Errorf("%s: the error %q lost the server's detail", name, err)
		}
	}
	for name := range problemHints {
		if !names[name] {
			t.Errorf("a hint for %q, which no problem is named", name)
		}
	}
}
