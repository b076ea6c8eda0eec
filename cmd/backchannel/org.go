package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

// orgCommand is "backchannel org": an organisation's root key.
func orgCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Create and register an organisation's root key",
		Long: "An organisation is identified by its root key, which signs its principals' credentials.\n" +
			"The root lives in the keystore, encrypted with a passphrase; its fingerprint, a safety\n" +
			"number of 30 digits, is what the other organisations compare out of band before pinning it.",
	}
	cmd.AddCommand(orgInitCommand(e), orgShowCommand(e), orgListCommand(e), orgRegisterCommand(e), orgFingerprintCommand(e))
	return cmd
}

// orgJSON is an organisation as --json prints it.
type orgJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Fingerprint  string   `json:"fingerprint"`
	SafetyNumber string   `json:"safety_number"`
	Registered   []string `json:"registered,omitempty"`
}

func toOrgJSON(o keystore.Organisation) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Fingerprint: o.Fingerprint, SafetyNumber: o.SafetyNum, Registered: o.Registered}
}

// showOrg prints an organisation.
func (e *env) showOrg(o keystore.Organisation, asJSON bool) error {
	if asJSON {
		return e.writeJSON(toOrgJSON(o))
	}
	e.writeFields([][2]string{
		{"organisation", o.ID},
		{"name", o.Name},
		{"fingerprint", o.SafetyNum},
		{"registered", strings.Join(o.Registered, ", ")},
	})
	return nil
}

func orgInitCommand(e *env) *cobra.Command {
	var f clientFlags
	var name string
	cmd := &cobra.Command{
		Use:   "init ORG --name NAME",
		Short: "Create an organisation's root key in the keystore",
		Long: "init creates the root key of organisation ORG (an id such as us or ir), encrypts it with a\n" +
			"passphrase in the keystore, and prints its fingerprint. Read the fingerprint to the other\n" +
			"organisations over a channel you trust: they pin your root by it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := backchannel.CheckID("organisation", org); err != nil {
				return usagef(cmd.CommandPath(), "%v", err)
			}
			if name == "" {
				name = org
			}
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			if _, err := ks.Organisation(org); err == nil {
				return withHint(fmt.Errorf("the keystore already holds a root for %q", org), "see it with 'backchannel org show %s'", org)
			}
			pass, err := e.passphrase("the root of "+org, true)
			if err != nil {
				return err
			}
			r, err := seal.NewRoot(rand.Reader, org)
			if err != nil {
				return err
			}
			o, err := ks.CreateOrganisation(r, name, pass, now())
			if err != nil {
				return err
			}
			if err := e.showOrg(o, f.json); err != nil {
				return err
			}
			if !f.json {
				e.notef("compare this fingerprint with the other organisations over a channel you trust")
			}
			return nil
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the organisation's display `name` (default ORG)")
	return cmd
}

func orgShowCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "show ORG",
		Short: "Show an organisation whose root the keystore holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			o, err := ks.Organisation(args[0])
			if err != nil {
				return orgNotFound(err, args[0])
			}
			return e.showOrg(o, f.json)
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

// orgNotFound explains an organisation missing from the keystore.
func orgNotFound(err error, org string) error {
	if errors.Is(err, keystore.ErrNotFound) {
		return withHint(fmt.Errorf("the keystore holds no root for organisation %q", org),
			"list those it holds with 'backchannel org list'")
	}
	return err
}

func orgListCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the organisations whose roots the keystore holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			orgs, err := ks.Organisations()
			if err != nil {
				return err
			}
			if f.json {
				for _, o := range orgs {
					if err := e.writeJSON(toOrgJSON(o)); err != nil {
						return err
					}
				}
				return nil
			}
			rows := make([][]string, 0, len(orgs))
			for _, o := range orgs {
				rows = append(rows, []string{o.ID, o.Name, o.SafetyNum})
			}
			e.writeTable([]string{"ORG", "NAME", "FINGERPRINT"}, rows)
			return nil
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

func orgRegisterCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "register ORG --server URL",
		Short: "Register an organisation's public root with a server",
		Long: "register publishes the organisation's public root key to the server's directory, so that\n" +
			"talks can name it and its principals can log in. The root itself never leaves the keystore.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			o, err := ks.Organisation(args[0])
			if err != nil {
				return orgNotFound(err, args[0])
			}
			server, err := f.serverURL(ks)
			if err != nil {
				return err
			}
			pub, err := o.Public()
			if err != nil {
				return err
			}
			if _, err := client.New(server, nil).RegisterOrganisation(cmd.Context(), pub, o.Name); err != nil {
				if !api.IsProblem(err, api.ProblemExists.Name) {
					return directoryError(err, server)
				}
				// Registered before: the same root is fine, another is not.
				got, gerr := client.New(server, nil).Organisation(cmd.Context(), o.ID)
				if gerr != nil || string(got.RootKey) != string(pub.Marshal()) {
					return withHint(fmt.Errorf("%s already has another root registered for %q", server, o.ID),
						"an organisation id names one root on a server: choose another id, or ask the host")
				}
			}
			if !slices.Contains(o.Registered, server) {
				o.Registered = append(o.Registered, server)
				if err := ks.SaveOrganisation(o); err != nil {
					return err
				}
			}
			if f.json {
				return e.writeJSON(toOrgJSON(o))
			}
			e.printf("registered %s (%s) with %s", o.ID, o.Name, server)
			return nil
		},
	}
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}

// directoryError explains an error of a request that needs no login.
func directoryError(err error, server string) error {
	var p *api.Problem
	switch {
	case errors.Is(err, client.ErrNoServer):
		return noServer(err, server)
	case errors.As(err, &p):
		return problemHint(p, "", "")
	}
	return err
}

func orgFingerprintCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "fingerprint ORG",
		Short: "Print an organisation's fingerprint, the safety number to compare",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			o, err := ks.Organisation(args[0])
			if err != nil {
				return orgNotFound(err, args[0])
			}
			if f.json {
				return e.writeJSON(toOrgJSON(o))
			}
			e.writeText(o.SafetyNum)
			return nil
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

// fingerprintCommand is "backchannel fingerprint": comparing roots out of band.
func fingerprintCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fingerprint",
		Short: "Compare organisations' fingerprints and pin their roots",
	}
	cmd.AddCommand(fingerprintCompareCommand(e))
	return cmd
}

func fingerprintCompareCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "compare ORG SAFETY-NUMBER",
		Short: "Compare an organisation's root with the safety number it gave you, and pin it",
		Long: "compare checks an organisation's root against the safety number (or hex fingerprint) the\n" +
			"organisation read to you over a channel you trust. The root is your own keystore's if it holds\n" +
			"it, else the one the server's directory presents. On a match the root is pinned in the keystore:\n" +
			"talks you create or accept then use it, and refuse any other. On a mismatch nothing is pinned\n" +
			"and the exit code is 1.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, given := args[0], strings.Join(args[1:], " ")
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			var key seal.RootKey
			source := "your keystore"
			if o, err := ks.Organisation(org); err == nil {
				if key, err = o.Public(); err != nil {
					return err
				}
			} else {
				server, err := f.serverURL(ks)
				if err != nil {
					return err
				}
				ao, err := client.New(server, nil).Organisation(cmd.Context(), org)
				if err != nil {
					if api.IsProblem(err, api.ProblemNotFound.Name) || api.IsProblem(err, api.ProblemUnknownOrganisation.Name) {
						return withHint(fmt.Errorf("%s has no organisation %q registered", server, org), "ask %s to register it: 'backchannel org register %s'", org, org)
					}
					return directoryError(err, server)
				}
				if key, err = seal.ParseRootKey(ao.RootKey); err != nil || key.Org != org {
					return fmt.Errorf("%s presents a root for %q that does not parse", server, org)
				}
				source = server
			}
			fp := key.Fingerprint()
			ok, err := fingerprintMatches(given, fp)
			if err != nil {
				return err
			}
			if pinned, has, err := ks.Pinned(org); err != nil {
				return err
			} else if has && pinned.Fingerprint() != fp {
				return withHint(fmt.Errorf("%s presents a root for %s (%s) that is not the one you pinned (%s)", source, org, fp, pinned.Fingerprint()),
					"someone may be impersonating %s: compare again out of band before you trust either", org)
			}
			if !ok {
				return withHint(fmt.Errorf("the fingerprints of %s differ: %s has %s, you were given %s", org, source, fp, given),
					"do not pin this root: someone may be impersonating %s; compare again out of band", org)
			}
			if err := ks.Pin(key, now()); err != nil {
				return err
			}
			if f.json {
				return e.writeJSON(map[string]any{"org": org, "match": true, "safety_number": fp.String(), "source": source, "pinned": true})
			}
			e.printf("the fingerprints of %s match; its root is pinned", org)
			return nil
		},
	}
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}
