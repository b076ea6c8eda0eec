package muscat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/seal"
)

// fetchEnvelope asks the host, as who, for one envelope of talks by its hash
// (GET /v1/talks/{id}/envelopes/{hash}), as any HTTP client could: a member who knows the hash
// of an envelope in a room it does not sit in still gets nothing. It returns the host's
// problem if the host refuses.
func (p *player) fetchEnvelope(who *person, talksID string, h seal.Hash) error {
	tok, err := p.login(who)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, p.base+"/v1/talks/"+url.PathEscape(talksID)+"/envelopes/"+h.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	var ev api.Event
	return p.exchange(req, &ev)
}

// login proves who's identity to the host and returns a bearer token of its own.
func (p *player) login(who *person) (string, error) {
	cred := who.c.Credential().ID().String()
	var ch api.Challenge
	if err := p.post("/v1/auth/challenge", api.ChallengeRequest{Credential: cred}, &ch); err != nil {
		return "", err
	}
	sig, err := who.c.Identity().SignLogin(ch.Host, ch.Challenge)
	if err != nil {
		return "", err
	}
	var t api.Token
	if err := p.post("/v1/auth/token", api.TokenRequest{Credential: cred, Challenge: ch.Challenge, Signature: sig}, &t); err != nil {
		return "", err
	}
	return t.Token, nil
}

func (p *player) post(path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(p.ctx, http.MethodPost, p.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return p.exchange(req, out)
}

// exchange sends a request and decodes the answer, or the problem the host answers with.
func (p *player) exchange(req *http.Request, out any) error {
	hc := p.opts.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		prob := &api.Problem{Status: resp.StatusCode}
		if json.Unmarshal(data, prob) != nil || prob.Type == "" {
			return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
		}
		return prob
	}
	return json.Unmarshal(data, out)
}
