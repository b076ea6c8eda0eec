package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

func loginCommand(e *env) *cobra.Command {
	var f clientFlags
	var host string
	cmd := &cobra.Command{
		Use:   "login --server URL --as ORG:PRINCIPAL",
		Short: "Log in to a server, pin its log key and remember it as the default",
		Long: "login proves to the server that you hold the principal's identity key, pins the key the\n" +
			"server signs its checkpoints with (as SSH pins a host key: a server that later presents\n" +
			"another is refused), and remembers the server and principal for the commands that follow.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			server, err := f.serverURL(ks)
			if err != nil {
				return err
			}
			org, principal, err := f.principal(ks)
			if err != nil {
				return err
			}
			id, err := loadIdentity(e, ks, org, principal)
			if err != nil {
				return err
			}
			sv, known, err := ks.Server(server)
			if err != nil {
				return err
			}
			// The host to log in to: --host, else the one the first login here pinned, else
			// the URL's host and port.
			if host == "" {
				host = sv.Host
			}
			c := client.New(server, id, client.WithHost(host))
			lk, err := c.LogKey(ctx)
			if err != nil {
				return directoryError(err, server)
			}
			if known && sv.LogKey != "" && sv.LogKey != lk.Verifier {
				return withHint(fmt.Errorf("%s presents another log key than the one pinned at the first login (pinned %s, presented %s)",
					server, client.LogKeySafetyNumber(sv.LogKey), client.LogKeySafetyNumber(lk.Verifier)),
					"the host changed its key or someone stands in for it: ask the host out of band; only if it rotated its key, remove %s and log in again", ks.Dir()+"/servers")
			}
			if err := c.Login(ctx); err != nil {
				var p *api.Problem
				var mismatch *client.HostMismatchError
				switch {
				case errors.As(err, &mismatch):
					return withHint(err, "if %s is the host you mean to reach there (a server named otherwise than its address), log in with --host %s; otherwise do not", mismatch.Asked, mismatch.Asked)
				case api.IsProblem(err, api.ProblemUnknownCredential.Name):
					return withHint(err, "publish the credential first: 'backchannel cred publish %s %s --server %s'", org, principal, server)
				case api.IsProblem(err, api.ProblemUnknownOrganisation.Name), api.IsProblem(err, api.ProblemUntrustedRoot.Name):
					return withHint(err, "register the organisation first: 'backchannel org register %s --server %s'", org, server)
				case errors.As(err, &p):
					return problemHint(p, "", seal.Handle(org, principal))
				}
				return directoryError(err, server)
			}
			if lk.Host != "" && lk.Host != c.Host() {
				return fmt.Errorf("%s signs logins as %q but checkpoints as %q", server, c.Host(), lk.Host)
			}
			as := seal.Handle(org, principal)
			if err := ks.SaveServer(keystore.Server{URL: server, Host: c.Host(), LogKey: lk.Verifier, As: as}); err != nil {
				return err
			}
			if err := ks.SaveConfig(keystore.Config{Server: server, As: as}); err != nil {
				return err
			}
			cr := id.Credential()
			if f.json {
				return e.writeJSON(map[string]any{"server": server, "host": c.Host(), "as": as, "log_key": lk.Verifier,
					"log_key_safety_number": client.LogKeySafetyNumber(lk.Verifier), "credential": cr.ID().String(), "pinned_now": !known})
			}
			e.printf("logged in to %s as %s (%s, rank %d)", server, as, cr.Title, cr.Rank)
			if !known {
				e.notef("pinned the log key of %s: %s (safety number %s: compare it with the host's operator)", c.Host(), lk.Verifier, client.LogKeySafetyNumber(lk.Verifier))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "the `name` of the host to log in to, as its server was started with --host (default the one pinned at the first login here, else the URL's host and port)")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}
