package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/internal/agent"
	"github.com/backchannel/backchannel/seal"
)

// A working session unlocks its keys once: 'backchannel unlock' starts the keystore's agent
// (internal/agent) and hands it the principal's identity (and, with --org, roots); later
// commands take the keys from it, and the bearer token the last command obtained, instead of
// running scrypt and logging in each time.

// agentKeys is the agent as the keystore's Unlocked.
type agentKeys struct{ a *agent.Client }

func (k agentKeys) Unlocked(sum [32]byte) ([]byte, bool) {
	b, _, ok, err := k.a.Get("key:" + hex.EncodeToString(sum[:]))
	return b, ok && err == nil
}

func (k agentKeys) Unlock(sum [32]byte, plaintext []byte) {
	// A key the agent could not keep is asked for again next time: nothing is lost.
	_ = k.a.Put("key:"+hex.EncodeToString(sum[:]), plaintext, time.Time{})
}

// agentToken is the agent as a client's TokenKeeper, for one server, host and credential.
type agentToken struct {
	a   *agent.Client
	key string
}

func tokenKey(server, host string, id *seal.Identity) string {
	return "token:" + server + " " + host + " " + id.Credential().ID().String()
}

func (t agentToken) LoadToken() (string, time.Time, bool) {
	b, exp, ok, err := t.a.Get(t.key)
	return string(b), exp, ok && err == nil
}

func (t agentToken) SaveToken(tok string, exp time.Time) { _ = t.a.Put(t.key, []byte(tok), exp) }

func unlockCommand(e *env) *cobra.Command {
	var f clientFlags
	var orgs []string
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "unlock [--as ORG:PRINCIPAL] [--org ORG ...] [--idle DURATION]",
		Short: "Unlock a principal's keys for a working session, so that commands answer at once",
		Long: "unlock asks for the passphrase once and hands the principal's identity (and, with --org,\n" +
			"organisations' roots) to the keystore's agent: a process of yours that keeps them in\n" +
			"memory only, answers only you on a socket in the keystore, and forgets everything after\n" +
			"--idle without a command, or at 'backchannel lock'. While it runs, commands take the keys\n" +
			"from it and reuse the last bearer token instead of logging in each time. The keys on\n" +
			"disk stay encrypted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			if f.agent == nil {
				if err := startAgent(ks.Dir(), idle); err != nil {
					return err
				}
				// Open again, now with the agent: what is decrypted below is handed to it.
				if ks, err = f.openKeystore(e); err != nil {
					return err
				}
				if f.agent == nil {
					return errors.New("the agent started but does not answer")
				}
			}
			var unlocked []string
			if f.as != "" || len(orgs) == 0 {
				org, principal, err := f.principal(ks)
				if err != nil {
					return err
				}
				_, pass, err := loadIdentityPass(e, ks, org, principal)
				if err != nil {
					return err
				}
				unlocked = append(unlocked, "the identity of "+seal.Handle(org, principal))
				// The identities rotations retired, too: what was sealed to them opens only
				// with them. One kept under another passphrase is asked for when needed.
				serials, err := ks.RetiredSerials(org, principal)
				if err != nil {
					return err
				}
				for _, n := range serials {
					if _, err := ks.RetiredIdentity(org, principal, n, pass); err == nil {
						unlocked = append(unlocked, fmt.Sprintf("the retired identity %d of %s", n, seal.Handle(org, principal)))
					}
				}
			}
			for _, org := range orgs {
				if _, err := loadRoot(e, ks, org); err != nil {
					return err
				}
				unlocked = append(unlocked, "the root of "+org)
			}
			for _, u := range unlocked {
				fmt.Fprintf(e.stdout, "unlocked %s\n", u)
			}
			fmt.Fprintf(e.stdout, "the agent forgets them after %v without a command, or now with 'backchannel lock'\n", idle)
			return nil
		},
	}
	f.addKeystore(cmd)
	cmd.Flags().StringVar(&f.as, "as", "", "the principal `org:principal` whose identity to unlock (default the last one logged in as)")
	cmd.Flags().StringSliceVar(&orgs, "org", nil, "also unlock the root of `ORG` (for cred issue, rotate, revoke)")
	cmd.Flags().DurationVar(&idle, "idle", agent.DefaultIdle, "forget the keys after this long without a command")
	return cmd
}

// startAgent starts the keystore's agent as a process of its own, outliving this command, and
// waits until it answers.
func startAgent(dir string, idle time.Duration) error {
	path, err := agent.SocketPath(dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command(self, "agent", "--keystore", dir, "--idle", idle.String())
	detach(c)
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	// Ask until it answers or exits: a slow machine waits longer, never gives up early.
	for {
		if _, err := agent.Dial(path); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the agent exited before answering: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func agentCommand(e *env) *cobra.Command {
	var f clientFlags
	var idle time.Duration
	cmd := &cobra.Command{
		Use:    "agent --keystore DIR [--idle DURATION]",
		Short:  "Run the keystore's agent in the foreground ('backchannel unlock' starts it)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			path, err := agent.SocketPath(ks.Dir())
			if err != nil {
				return err
			}
			ln, err := agent.Listen(path)
			if err != nil {
				return err
			}
			defer os.Remove(path)
			return agent.Serve(cmd.Context(), ln, agent.Config{Idle: idle})
		},
	}
	f.addKeystore(cmd)
	cmd.Flags().DurationVar(&idle, "idle", agent.DefaultIdle, "exit after this long without a request")
	return cmd
}

func lockCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Make the keystore's agent forget every unlocked key and token, and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := f.openKeystore(e); err != nil {
				return err
			}
			if f.agent == nil {
				fmt.Fprintln(e.stdout, "nothing was unlocked")
				return nil
			}
			if err := f.agent.Lock(); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "locked: the agent forgot every key and token")
			return nil
		},
	}
	f.addKeystore(cmd)
	return cmd
}

func tokenCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a bearer token for the principal, for a standard tlog client or curl",
		Long: "token prints a bearer token for the principal at the server, valid for a while (see\n" +
			"--json for when it expires), for programs that read what only members may: a standard\n" +
			"tlog client reading a talks' tiles, or curl:\n\n" +
			"  curl -H \"Authorization: Bearer $(backchannel token)\" $SERVER/v1/talks/muscat/log/checkpoint\n\n" +
			"Treat it as the identity itself until it expires.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			tok, exp, err := s.c.Token(cmd.Context())
			if err != nil {
				return noServer(err, s.server)
			}
			if f.json {
				return json.NewEncoder(e.stdout).Encode(struct {
					Token   string    `json:"token"`
					Expires time.Time `json:"expires"`
				}{tok, exp})
			}
			fmt.Fprintln(e.stdout, tok)
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}
