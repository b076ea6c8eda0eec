package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/backchannel/backchannel/api"
)

// pendingSubmissions are signed submissions whose answer never came: the connection failed
// after the request left, or the server failed, so the client cannot tell whether the record
// holds them. Asked to make the same submission again, the client sends the same bytes, which
// the server answers with the event it already holds if the first attempt landed, rather than
// signing (and sealing, with fresh randomness) a second copy that would land beside the first.
type pendingSubmissions struct {
	mu sync.Mutex
	by map[string]pending // by intent
}

// pending is one submission sent without answer: the request body and what was signed.
type pending struct {
	body   json.RawMessage
	signed any
}

func (p *pendingSubmissions) get(intent string) (pending, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.by[intent]
	return s, ok
}

func (p *pendingSubmissions) set(intent string, s pending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by == nil {
		p.by = make(map[string]pending)
	}
	p.by[intent] = s
}

func (p *pendingSubmissions) drop(intent string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.by, intent)
}

// intent names what a submission asks for, apart from what changes each time it is signed (a
// time, a sequence number, the randomness of a seal): its kind, the talks and the fields given.
func intent(kind, talksID string, fields ...any) string {
	b, err := json.Marshal(fields)
	if err != nil {
		// Every caller passes plain data; a field that cannot be marshalled names no intent.
		panic("client: intent of " + kind + ": " + err.Error())
	}
	h := sha256.Sum256(b)
	return kind + "\x00" + talksID + "\x00" + string(h[:])
}

// refused reports whether err is the server's answer that it did not and will not take a
// submission as it stands: a problem other than a failure of the server or a request to wait.
func refused(err error) bool {
	p, ok := err.(*api.Problem)
	return ok && p.Status < 500 && p.Status != http.StatusTooManyRequests
}

// submit POSTs to path the request body build makes, once per intent: while an earlier
// submission of the same intent is pending, it sends that one's bytes again instead. It returns
// what was signed (build's second result) for the submission it sent. A submission that lands or
// is refused is no longer pending; a refused one that was pending is built afresh, since the
// record does not hold it (the server answers bytes it holds as a duplicate before any check).
func (c *Client) submit(ctx context.Context, intent, path string, build func() (in, signed any, err error), out *api.Accepted) (any, error) {
	if p, ok := c.pending.get(intent); ok {
		err := c.do(ctx, http.MethodPost, path, true, p.body, out)
		if !refused(err) {
			if err == nil {
				c.pending.drop(intent)
				err = c.promise(path, *out, p.body)
			}
			return p.signed, err
		}
		c.pending.drop(intent)
	}
	in, signed, err := build()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	err = c.do(ctx, http.MethodPost, path, true, json.RawMessage(body), out)
	if err == nil {
		err = c.promise(path, *out, body)
	}
	if err != nil && !refused(err) {
		// Whether it landed is unknown, even when ctx ended the wait.
		c.pending.set(intent, pending{body: body, signed: signed})
	}
	return signed, err
}
