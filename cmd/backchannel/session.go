package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/agent"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

// The client commands share a keystore, a server and a principal to act as. This file turns
// their flags into those, and the client library's errors into errors that say what to do.

// passphraseEnv is the environment variable a script sets to the keystore's passphrase.
const passphraseEnv = envPrefix + "PASSPHRASE"

// workFactorEnv sets the scrypt work factor of keys encrypted from now on (log2 N, 10 to 22;
// default 18). Lower is faster to open and to guess: for tests and small devices.
const workFactorEnv = envPrefix + "KEYSTORE_WORK_FACTOR"

// clientFlags are the flags of the client commands.
type clientFlags struct {
	keystore string
	server   string
	as       string
	json     bool

	// agent is the running agent of the keystore (backchannel unlock), or nil.
	agent *agent.Client
}

// addKeystore adds --keystore.
func (f *clientFlags) addKeystore(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.keystore, "keystore", "", "keystore `directory` (default $XDG_CONFIG_HOME/backchannel or ~/.config/backchannel)")
}

// addServer adds --keystore and --server.
func (f *clientFlags) addServer(cmd *cobra.Command) {
	f.addKeystore(cmd)
	cmd.Flags().StringVar(&f.server, "server", "", "server `URL` (default the last one logged in to)")
}

// addSession adds --keystore, --server and --as.
func (f *clientFlags) addSession(cmd *cobra.Command) {
	f.addServer(cmd)
	cmd.Flags().StringVar(&f.as, "as", "", "act as `org:principal` (default the last one logged in as)")
}

// addJSON adds --json.
func (f *clientFlags) addJSON(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON rather than text")
}

// openKeystore opens the keystore of --keystore or the default directory.
func (f *clientFlags) openKeystore(e *env) (*keystore.Store, error) {
	dir := f.keystore
	if dir == "" {
		var err error
		if dir, err = keystore.DefaultDir(e.getenv); err != nil {
			return nil, withHint(err, "choose a keystore with --keystore or %sKEYSTORE", envPrefix)
		}
	}
	var opts []keystore.Option
	if v := e.getenv(workFactorEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < keystore.MinWorkFactor || n > keystore.MaxWorkFactor {
			return nil, usage(fmt.Errorf("%s=%q: want a number from %d to %d", workFactorEnv, v, keystore.MinWorkFactor, keystore.MaxWorkFactor))
		}
		opts = append(opts, keystore.WithWorkFactor(n))
	}
	// With an agent running (backchannel unlock), keys come unlocked from it and tokens are
	// reused; without one, every key needs its passphrase.
	if path, err := agent.SocketPath(dir); err == nil {
		if a, err := agent.Dial(path); err == nil {
			f.agent = a
			opts = append(opts, keystore.WithUnlocked(agentKeys{a}))
		}
	}
	ks, err := keystore.Open(dir, opts...)
	if err != nil {
		return nil, withHint(err, "choose another keystore with --keystore")
	}
	return ks, nil
}

// serverURL returns --server, or the keystore's default server.
func (f *clientFlags) serverURL(ks *keystore.Store) (string, error) {
	u := f.server
	if u == "" {
		cfg, err := ks.Config()
		if err != nil {
			return "", err
		}
		u = cfg.Server
	}
	if u == "" {
		return "", withHint(errors.New("no server given"), "pass --server URL, or log in once with 'backchannel login --server URL --as ORG:PRINCIPAL'")
	}
	u = strings.TrimRight(u, "/")
	if _, err := keystore.ServerKey(u); err != nil {
		return "", usage(withHint(err, "pass --server as http://host:port"))
	}
	return u, nil
}

// principal returns --as, or the keystore's default principal, split.
func (f *clientFlags) principal(ks *keystore.Store) (string, string, error) {
	as := f.as
	if as == "" {
		cfg, err := ks.Config()
		if err != nil {
			return "", "", err
		}
		as = cfg.As
	}
	if as == "" {
		return "", "", withHint(errors.New("no principal to act as"), "pass --as ORG:PRINCIPAL, or log in once with 'backchannel login --server URL --as ORG:PRINCIPAL'")
	}
	org, p, ok := seal.SplitHandle(as)
	if !ok || org == "" || p == "" {
		return "", "", usage(withHint(fmt.Errorf("--as %q is not ORG:PRINCIPAL", as), "for instance --as us:special-envoy"))
	}
	return org, p, nil
}

// passphrase returns the keystore passphrase for what ("the root of us"): from
// BACKCHANNEL_PASSPHRASE, or asked on the terminal (twice, if confirm: a new key).
func (e *env) passphrase(what string, confirm bool) (string, error) {
	if v := e.getenv(passphraseEnv); v != "" {
		return v, nil
	}
	p, ok, err := e.readPassphrase("passphrase for " + what)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", withHint(fmt.Errorf("no passphrase for %s: input is not a terminal to ask on", what),
			"set %s for scripts", passphraseEnv)
	}
	if p == "" {
		return "", withHint(fmt.Errorf("an empty passphrase for %s", what), "choose a passphrase; the key is encrypted with it")
	}
	if confirm {
		again, _, err := e.readPassphrase("the same passphrase again")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", withHint(errors.New("the passphrases differ"), "type the same passphrase twice")
		}
	}
	return p, nil
}

// keyError explains a keystore error about what ("the root of us").
func keyError(err error, what string) error {
	switch {
	case errors.Is(err, keystore.ErrWrongPassphrase):
		return withHint(fmt.Errorf("wrong passphrase for %s", what),
			"type the passphrase %s was created with (or fix %s)", what, passphraseEnv)
	default:
		return err
	}
}

// loadRoot decrypts an organisation's root.
func loadRoot(e *env, ks *keystore.Store, org string) (*seal.Root, error) {
	if _, err := ks.Organisation(org); err != nil {
		if errors.Is(err, keystore.ErrNotFound) {
			return nil, withHint(fmt.Errorf("the keystore holds no root for organisation %q", org),
				"create it with 'backchannel org init %s --name NAME', or use the keystore that holds it (--keystore)", org)
		}
		return nil, err
	}
	if r, err := ks.Root(org, ""); !errors.Is(err, keystore.ErrLocked) {
		return r, keyError(err, "the root of "+org)
	}
	what := "the root of " + org
	pass, err := e.passphrase(what, false)
	if err != nil {
		return nil, err
	}
	r, err := ks.Root(org, pass)
	return r, keyError(err, what)
}

// loadIdentity decrypts a principal's identity.
func loadIdentity(e *env, ks *keystore.Store, org, principal string) (*seal.Identity, error) {
	id, _, err := loadIdentityPass(e, ks, org, principal)
	return id, err
}

// loadIdentityPass is loadIdentity, also returning the passphrase typed to open it ("" if the
// agent held it), which opens the principal's retired identities too.
func loadIdentityPass(e *env, ks *keystore.Store, org, principal string) (*seal.Identity, string, error) {
	if !ks.HasIdentity(org, principal) {
		return nil, "", withHint(fmt.Errorf("the keystore holds no identity for %s:%s", org, principal),
			"issue one with 'backchannel cred issue %s %s --title TITLE --rank N', or use the keystore that holds it (--keystore)", org, principal)
	}
	what := "the identity of " + seal.Handle(org, principal)
	if id, err := ks.Identity(org, principal, ""); !errors.Is(err, keystore.ErrLocked) {
		return id, "", keyError(err, what)
	}
	pass, err := e.passphrase(what, false)
	if err != nil {
		return nil, "", err
	}
	id, err := ks.Identity(org, principal, pass)
	return id, pass, keyError(err, what)
}

// retiredKeys opens the principal's identities that rotations retired, when a message sealed to
// one needs it: with the passphrase the current one opened with, from the agent, or, if neither
// has it, with the passphrase asked for then (once).
func retiredKeys(e *env, ks *keystore.Store, org, principal, pass string) client.RetiredKeys {
	return func(cr *seal.Credential) (*seal.Identity, error) {
		if cr.Org != org || cr.Principal != principal {
			return nil, fmt.Errorf("%s is not a credential of %s", cr, seal.Handle(org, principal))
		}
		id, err := ks.RetiredIdentity(org, principal, cr.Serial, pass)
		if errors.Is(err, keystore.ErrLocked) {
			if pass, err = e.passphrase(fmt.Sprintf("the retired identity %d of %s", cr.Serial, seal.Handle(org, principal)), false); err != nil {
				return nil, err
			}
			id, err = ks.RetiredIdentity(org, principal, cr.Serial, pass)
		}
		return id, err
	}
}

// session is a principal logged in to a server, with the keystore that holds its state.
type session struct {
	e      *env
	ks     *keystore.Store
	server string
	as     string
	id     *seal.Identity
	c      *client.Client
}

// openSession opens the keystore, decrypts the principal's identity and makes a client with
// the log key pinned at login.
func (f *clientFlags) openSession(e *env) (*session, error) {
	ks, err := f.openKeystore(e)
	if err != nil {
		return nil, err
	}
	server, err := f.serverURL(ks)
	if err != nil {
		return nil, err
	}
	org, principal, err := f.principal(ks)
	if err != nil {
		return nil, err
	}
	sv, ok, err := ks.Server(server)
	if err != nil {
		return nil, err
	}
	if !ok || sv.LogKey == "" {
		return nil, withHint(fmt.Errorf("not logged in to %s", server),
			"log in first with 'backchannel login --server %s --as %s'", server, seal.Handle(org, principal))
	}
	id, pass, err := loadIdentityPass(e, ks, org, principal)
	if err != nil {
		return nil, err
	}
	// The roots of the organisations whose root keys this keystore holds are the principal's
	// own: no talks may pin a look-alike of one.
	own, err := ks.Organisations()
	if err != nil {
		return nil, err
	}
	expected := make(map[string]string, len(own))
	for _, o := range own {
		expected[o.ID] = o.Fingerprint
	}
	opts := []client.Option{client.WithLogKey(sv.LogKey), client.WithHost(sv.Host), client.WithExpectedRoots(expected),
		client.WithStateKeeper(ks.Verified(server, seal.Handle(org, principal))), client.WithRetiredKeys(retiredKeys(e, ks, org, principal, pass))}
	if f.agent != nil {
		opts = append(opts, client.WithTokenKeeper(agentToken{f.agent, tokenKey(server, sv.Host, id)}))
	}
	return &session{
		e: e, ks: ks, server: server, as: seal.Handle(org, principal), id: id,
		c: client.New(server, id, opts...),
	}, nil
}

// expect records that this party compared org's root (fingerprint fp) for talks.
func (s *session) expect(talksID, org string, fp seal.Fingerprint) {
	s.c.Expect(talksID, org, hex.EncodeToString(fp[:]))
}

// sync brings the client's book of talks up to date, verifying the record (the client saves
// what it verified in the keystore).
func (s *session) sync(ctx context.Context, talksID string) (*client.Book, []*client.Message, error) {
	fresh, err := s.c.Sync(ctx, talksID)
	if err != nil {
		return nil, nil, s.explain(ctx, talksID, err)
	}
	b := s.c.Book(talksID)
	if b == nil || b.State == nil {
		return nil, nil, fmt.Errorf("talks %s: nothing readable on the record yet", talksID)
	}
	return b, fresh, nil
}

// explain turns an error of the client library into one that says what to do.
func (s *session) explain(ctx context.Context, talksID string, err error) error {
	var h *hintError
	if errors.As(err, &h) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted")
	}
	if errors.Is(err, client.ErrNoServer) {
		return noServer(err, s.server)
	}
	if errors.Is(err, client.ErrSavedState) {
		return withHint(err, "the keystore file under %s/talks was altered", s.ks.Dir())
	}
	if errors.Is(err, client.ErrRecord) {
		return withHint(err, "do not trust this host's record of %s: keep %s as evidence and tell the other parties", talksID, s.ks.Dir())
	}
	var p *api.Problem
	if !errors.As(err, &p) && talksID != "" {
		// The log's tiles answer plainly (they are a standard format, not our API): ask the
		// API about the talks, whose answer is a problem that says what is wrong.
		if _, terr := s.c.Talks(ctx, talksID); errors.As(terr, &p) {
			err = terr
		} else if errors.Is(terr, client.ErrNoServer) {
			return noServer(terr, s.server)
		}
	}
	if p != nil {
		return problemHint(p, talksID, s.as)
	}
	return err
}

// noServer says that the server could not be reached, and why, in one line.
func noServer(err error, server string) error {
	why := err
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		why = op.Err
	}
	return withHint(fmt.Errorf("cannot reach the server at %s: %v", server, why), "is the server running? check --server (%s)", server)
}

// fingerprintMatches reports whether given, as people pass a fingerprint (the 30-digit safety
// number, spaces optional, or the 64 hex digits of its bytes), names fp.
func fingerprintMatches(given string, fp seal.Fingerprint) (bool, error) {
	ok, err := client.MatchFingerprint(given, fp)
	if errors.Is(err, client.ErrNotAFingerprint) {
		return false, usage(withHint(fmt.Errorf("%q is neither a safety number (30 digits) nor a fingerprint (64 hex digits)", given),
			"copy the safety number as 'backchannel org fingerprint ORG' prints it"))
	}
	return ok, err
}

// fingerprintFromHex parses the hex form of a fingerprint, as pins carry it.
func fingerprintFromHex(s string) (seal.Fingerprint, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(seal.Fingerprint{}) {
		return seal.Fingerprint{}, false
	}
	return seal.Fingerprint(b), true
}

// now is the time the CLI signs and stamps.
func now() time.Time { return time.Now().UTC() }
