package client_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/client"
)

// tokenBox is a TokenKeeper in memory, as the command line's agent is between commands.
type tokenBox struct {
	mu    sync.Mutex
	tok   string
	exp   time.Time
	saves int
}

func (b *tokenBox) LoadToken() (string, time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tok, b.exp, b.tok != ""
}

func (b *tokenBox) SaveToken(tok string, exp time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tok, b.exp = tok, exp
	b.saves++
}

// loginCounter counts the logins that pass through it.
type loginCounter struct {
	mu     sync.Mutex
	logins int
}

func (l *loginCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/v1/auth/token") {
		l.mu.Lock()
		l.logins++
		l.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (l *loginCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logins
}

// A client that starts from a kept token does not log in; one whose kept token the server
// refuses logs in once, carries on, and keeps the new token.
func TestAKeptTokenSavesALoginAndARefusedOneIsReplaced(t *testing.T) {
	w := newWorld(t)
	w.org("us", "United States")
	envoy := w.person("us", "envoy", "Special Envoy", 3)
	box := &tokenBox{}
	logins := &loginCounter{}
	fresh := func() *client.Client {
		return client.New(w.url, envoy.Identity(), client.WithTokenKeeper(box),
			client.WithHTTPClient(&http.Client{Transport: logins, Timeout: 30 * time.Second}))
	}
	if _, err := fresh().ListTalks(w.ctx); err != nil {
		t.Fatal(err)
	}
	if logins.count() != 1 || box.saves != 1 || box.tok == "" {
		t.Fatalf("first client: %d logins, %d tokens kept", logins.count(), box.saves)
	}
	for i := 0; i < 3; i++ {
		if _, err := fresh().ListTalks(w.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if logins.count() != 1 {
		t.Fatalf("three clients with a kept token logged in %d more times", logins.count()-1)
	}
	tok, exp, err := fresh().Token(w.ctx)
	if err != nil || tok != box.tok || !exp.Equal(box.exp) {
		t.Fatalf("Token() = %q %v %v, want the kept token", tok, exp, err)
	}

	// A token the server does not know (its key changed, or it was never its own).
	box.SaveToken("v1.bogus.token", time.Now().Add(time.Hour))
	if _, err := fresh().ListTalks(w.ctx); err != nil {
		t.Fatalf("with a refused kept token: %v", err)
	}
	if logins.count() != 2 {
		t.Fatalf("a refused kept token: %d logins in all, want 2", logins.count())
	}
	if box.tok == "v1.bogus.token" {
		t.Fatal("the refused token is still kept")
	}
}
