package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/internal/keystore"
	"github.com/backchannel/backchannel/seal"
)

// credCommand is "backchannel cred": principals' credentials, signed by their root.
func credCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cred",
		Short: "Issue, rotate, revoke and publish principals' credentials",
		Long: "A principal speaks for its organisation with an identity (a signing key and an encryption\n" +
			"key) bound by a credential its organisation's root signs: name, title, rank (1 to 5) and\n" +
			"validity. These commands need the root, so run them where the root's keystore is.",
	}
	cmd.AddCommand(credIssueCommand(e), credRotateCommand(e), credRevokeCommand(e), credPublishCommand(e), credListCommand(e),
		credExportCommand(e), credImportCommand(e))
	return cmd
}

// credJSON is a credential as --json prints it.
type credJSON struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Principal string    `json:"principal"`
	Name      string    `json:"name"`
	Title     string    `json:"title"`
	Rank      int       `json:"rank"`
	Serial    uint64    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status,omitempty"`
	Published string    `json:"published,omitempty"`
}

func toCredJSON(c *seal.Credential) credJSON {
	return credJSON{ID: c.ID().String(), Org: c.Org, Principal: c.Principal, Name: c.Name, Title: c.Title,
		Rank: int(c.Rank), Serial: c.Serial, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
}

// showCred prints a credential.
func (e *env) showCred(c *seal.Credential, published string, asJSON bool) error {
	if asJSON {
		j := toCredJSON(c)
		j.Published = published
		return e.writeJSON(j)
	}
	e.writeFields([][2]string{
		{"principal", c.Handle()},
		{"name", c.Name},
		{"title", c.Title},
		{"rank", strconv.Itoa(int(c.Rank))},
		{"serial", strconv.FormatUint(c.Serial, 10)},
		{"valid", c.NotBefore.Format(time.DateTime) + " to " + c.NotAfter.Format(time.DateTime) + " UTC"},
		{"credential", c.ID().String()},
		{"published", published},
	})
	return nil
}

// credTemplate is what issue and rotate take from flags.
type credTemplate struct {
	name, title string
	rank        int
	validFor    time.Duration
	publish     bool
}

func (t *credTemplate) add(cmd *cobra.Command, required bool) {
	f := cmd.Flags()
	f.StringVar(&t.name, "name", "", "display `name` (default \"Office of the TITLE\")")
	f.StringVar(&t.title, "title", "", "`title`, such as \"Foreign Minister\"")
	f.IntVar(&t.rank, "rank", 0, "authority level from 1 to 5, 5 highest")
	f.DurationVar(&t.validFor, "valid-for", 8760*time.Hour, "how long the credential is valid")
	f.BoolVar(&t.publish, "publish", false, "publish the credential to the server (--server, or the default)")
	if required {
		cmd.MarkFlagRequired("title")
		cmd.MarkFlagRequired("rank")
	}
}

// issue signs a credential for a fresh identity and stores both.
func issue(e *env, ks *keystore.Store, root *seal.Root, principal string, t credTemplate, serial uint64) (*seal.Identity, error) {
	id, err := seal.NewIdentity(rand.Reader)
	if err != nil {
		return nil, err
	}
	name := t.name
	if name == "" {
		name = "Office of the " + t.title
	}
	// Valid from a minute ago: a server whose clock runs a little behind still accepts it.
	start := now().Truncate(time.Millisecond).Add(-time.Minute)
	cr, err := root.Issue(seal.Credential{
		Principal: principal, Name: name, Title: t.title, Rank: backchannel.Rank(t.rank),
		IdentityKey: id.IdentityKey(), EncryptionKey: id.EncryptionKey(), Serial: serial,
		NotBefore: start, NotAfter: start.Add(t.validFor),
	})
	if err != nil {
		return nil, usage(withHint(err, "check --title, --rank (1 to 5), --name and --valid-for"))
	}
	if err := id.SetCredential(cr); err != nil {
		return nil, err
	}
	what := "the identity of " + cr.Handle()
	pass, err := e.passphrase(what, true)
	if err != nil {
		return nil, err
	}
	if err := ks.SaveIdentity(id, pass); err != nil {
		return nil, err
	}
	return id, nil
}

// publish publishes a credential if asked, and returns the server it went to.
func publish(ctx context.Context, f *clientFlags, ks *keystore.Store, cr *seal.Credential, yes bool) (string, error) {
	if !yes {
		return "", nil
	}
	server, err := f.serverURL(ks)
	if err != nil {
		return "", err
	}
	if _, err := client.New(server, nil).PublishCredential(ctx, cr); err != nil && !api.IsProblem(err, api.ProblemExists.Name) {
		return "", directoryError(err, server)
	}
	return server, nil
}

func credIssueCommand(e *env) *cobra.Command {
	var f clientFlags
	var t credTemplate
	cmd := &cobra.Command{
		Use:   "issue ORG PRINCIPAL --title TITLE --rank N",
		Short: "Create a principal's identity and sign its first credential",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, principal := args[0], args[1]
			if err := backchannel.CheckID("principal", principal); err != nil {
				return usagef(cmd.CommandPath(), "%v", err)
			}
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			if _, err := ks.Principal(org, principal); err == nil {
				return withHint(fmt.Errorf("%s already has a credential", seal.Handle(org, principal)),
					"give it new keys with 'backchannel cred rotate %s %s'", org, principal)
			}
			root, err := loadRoot(e, ks, org)
			if err != nil {
				return err
			}
			id, err := issue(e, ks, root, principal, t, 1)
			if err != nil {
				return err
			}
			server, err := publish(cmd.Context(), &f, ks, id.Credential(), t.publish)
			if err != nil {
				return err
			}
			return e.showCred(id.Credential(), server, f.json)
		},
	}
	t.add(cmd, true)
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}

func credRotateCommand(e *env) *cobra.Command {
	var f clientFlags
	var t credTemplate
	cmd := &cobra.Command{
		Use:   "rotate ORG PRINCIPAL",
		Short: "Give a principal new keys under a credential with the next serial",
		Long: "rotate creates new keys for the principal and signs a credential with the next serial,\n" +
			"keeping its name, title and rank unless flags change them. The old identity stays in the\n" +
			"keystore (retired), since what was sealed to it opens only with it. Revoke the old\n" +
			"credential with 'backchannel cred revoke' if its keys may be compromised.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, principal := args[0], args[1]
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			p, err := ks.Principal(org, principal)
			if err != nil {
				return principalNotFound(err, org, principal)
			}
			cur := p.Current()
			if !cmd.Flags().Changed("title") {
				t.title = cur.Title
			}
			if !cmd.Flags().Changed("name") {
				t.name = cur.Name
			}
			if !cmd.Flags().Changed("rank") {
				t.rank = int(cur.Rank)
			}
			root, err := loadRoot(e, ks, org)
			if err != nil {
				return err
			}
			id, err := issue(e, ks, root, principal, t, cur.Serial+1)
			if err != nil {
				return err
			}
			server, err := publish(cmd.Context(), &f, ks, id.Credential(), t.publish)
			if err != nil {
				return err
			}
			return e.showCred(id.Credential(), server, f.json)
		},
	}
	t.add(cmd, false)
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}

// principalNotFound explains a principal missing from the keystore.
func principalNotFound(err error, org, principal string) error {
	if errors.Is(err, keystore.ErrNotFound) {
		return withHint(fmt.Errorf("the keystore holds no credential for %s", seal.Handle(org, principal)),
			"issue one with 'backchannel cred issue %s %s --title TITLE --rank N'", org, principal)
	}
	return err
}

func credRevokeCommand(e *env) *cobra.Command {
	var f clientFlags
	var serial uint64
	cmd := &cobra.Command{
		Use:   "revoke ORG PRINCIPAL [--serial N]",
		Short: "Revoke a principal's credential and publish the revocation",
		Long: "revoke signs, with the organisation's root, a revocation of the principal's credential\n" +
			"(the current one, or --serial N) and publishes it to the server: from then on nothing\n" +
			"signed with it is accepted.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, principal := args[0], args[1]
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			p, err := ks.Principal(org, principal)
			if err != nil {
				return principalNotFound(err, org, principal)
			}
			cr := p.Current()
			if serial != 0 {
				cr = nil
				for _, c := range p.Credentials {
					if c.Serial == serial {
						cr = c
					}
				}
				if cr == nil {
					return withHint(fmt.Errorf("%s has no credential with serial %d", seal.Handle(org, principal), serial),
						"list its credentials with 'backchannel cred list'")
				}
			}
			server, err := f.serverURL(ks)
			if err != nil {
				return err
			}
			root, err := loadRoot(e, ks, org)
			if err != nil {
				return err
			}
			v, err := root.Revoke(cr, now().Truncate(time.Millisecond))
			if err != nil {
				return err
			}
			if _, err := client.New(server, nil).Revoke(cmd.Context(), v); err != nil {
				return directoryError(err, server)
			}
			if err := ks.MarkRevoked(v); err != nil {
				return err
			}
			if f.json {
				j := toCredJSON(cr)
				j.Status, j.Published = "revoked", server
				return e.writeJSON(j)
			}
			e.printf("revoked %s serial %d; the revocation is published to %s", cr.Handle(), cr.Serial, server)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&serial, "serial", 0, "the serial of the credential to revoke (default the current one)")
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}

func credPublishCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "publish ORG PRINCIPAL",
		Short: "Publish a principal's current credential to a server",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			p, err := ks.Principal(args[0], args[1])
			if err != nil {
				return principalNotFound(err, args[0], args[1])
			}
			server, err := publish(cmd.Context(), &f, ks, p.Current(), true)
			if err != nil {
				return err
			}
			if f.json {
				j := toCredJSON(p.Current())
				j.Published = server
				return e.writeJSON(j)
			}
			e.printf("published %s serial %d to %s", p.Current().Handle(), p.Current().Serial, server)
			return nil
		},
	}
	f.addServer(cmd)
	f.addJSON(cmd)
	return cmd
}

func credListCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the credentials in the keystore",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			ps, err := ks.Principals()
			if err != nil {
				return err
			}
			var rows [][]string
			for _, p := range ps {
				for _, c := range p.Credentials {
					status := "current"
					switch {
					case p.IsRevoked(c.Serial):
						status = "revoked"
					case c != p.Current():
						status = "rotated"
					case now().After(c.NotAfter):
						status = "expired"
					}
					if f.json {
						j := toCredJSON(c)
						j.Status = status
						if err := e.writeJSON(j); err != nil {
							return err
						}
						continue
					}
					rows = append(rows, []string{c.Handle(), strconv.FormatUint(c.Serial, 10), strconv.Itoa(int(c.Rank)), c.Title,
						c.NotAfter.Format(time.DateOnly), status})
				}
			}
			if !f.json {
				e.writeTable([]string{"PRINCIPAL", "SERIAL", "RANK", "TITLE", "VALID UNTIL", "STATUS"}, rows)
			}
			return nil
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

func credExportCommand(e *env) *cobra.Command {
	var f clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "export ORG PRINCIPAL --out FILE",
		Short: "Write a principal's identity file, to import into another keystore or the web client",
		Long: "export writes the principal's current identity file as the keystore holds it: its keys and\n" +
			"credential, encrypted with the passphrase they were saved with (age's passphrase format). The\n" +
			"web client keeps the same file; another keystore takes it with 'backchannel cred import FILE'.\n" +
			"--out - writes it to stdout. Only the current identity goes: messages sealed to a credential a\n" +
			"rotation replaced still open only where its retired identity is.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, principal := args[0], args[1]
			switch {
			case out == "":
				return usagef(cmd.CommandPath(), "--out FILE is required ('-' for stdout)")
			case out == "-" && f.json:
				return usagef(cmd.CommandPath(), "--json needs --out FILE: with --out - stdout carries the identity file")
			}
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			p, err := ks.Principal(org, principal)
			if err != nil {
				return principalNotFound(err, org, principal)
			}
			data, err := ks.IdentityFile(org, principal)
			if errors.Is(err, keystore.ErrNotFound) {
				return withHint(fmt.Errorf("the keystore holds %s's credentials but not its identity", seal.Handle(org, principal)),
					"export it from the keystore that holds it (--keystore)")
			}
			if err != nil {
				return err
			}
			cr := p.Current()
			if out == "-" {
				if _, ok := terminal(e.stdout); ok {
					return usage(withHint(errors.New("the identity file is binary: it is not written to a terminal"),
						"write it to a file with --out FILE, or redirect stdout"))
				}
				if _, err := e.stdout.Write(data); err != nil {
					return err
				}
				e.notef("wrote the identity of %s (serial %d), encrypted with the passphrase it was saved with", cr.Handle(), cr.Serial)
				return nil
			}
			if err := writePrivate(out, data); err != nil {
				return withHint(err, "check --out")
			}
			if f.json {
				return e.writeJSON(struct {
					credJSON
					Out string `json:"out"`
				}{toCredJSON(cr), out})
			}
			e.printf("wrote the identity of %s (%s, rank %d, serial %d) to %s, encrypted with the passphrase it was saved with",
				cr.Handle(), cr.Title, cr.Rank, cr.Serial, out)
			e.notef("import it elsewhere with 'backchannel cred import %s'; keep it as safely as the keys it holds", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the `file` to write ('-' for stdout)")
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}

func credImportCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Add a principal's identity to the keystore from an identity file",
		Long: "import reads an identity file ('backchannel cred export' or the web client wrote it; - reads\n" +
			"stdin), opens it with its passphrase, and saves the identity and its credential in the\n" +
			"keystore under the same passphrase. An identity with a later serial than the keystore's\n" +
			"replaces it, which is kept as retired, as after a rotation; the same one changes nothing; an\n" +
			"earlier one is refused.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var data []byte
			var err error
			if name == "-" {
				data, err = io.ReadAll(e.stdin)
			} else {
				data, err = os.ReadFile(name)
			}
			if err != nil {
				return withHint(err, "give the file 'backchannel cred export' wrote")
			}
			ks, err := f.openKeystore(e)
			if err != nil {
				return err
			}
			what := "the identity file " + name
			if name == "-" {
				what = "the identity file on stdin"
			}
			pass, err := e.passphrase(what, false)
			if err != nil {
				return err
			}
			id, err := keystore.OpenIdentityFile(data, pass)
			if errors.Is(err, keystore.ErrWrongPassphrase) {
				return keyError(err, what)
			}
			if err != nil {
				return withHint(fmt.Errorf("%s: %w", name, err), "give a file 'backchannel cred export' or the web client wrote")
			}
			cr := id.Credential()
			status, retired := "imported", uint64(0)
			if p, err := ks.Principal(cr.Org, cr.Principal); err == nil && ks.HasIdentity(cr.Org, cr.Principal) {
				cur := p.Current()
				switch {
				case cur.Serial == cr.Serial && cur.ID() == cr.ID():
					status = "unchanged"
				case cur.Serial == cr.Serial:
					return withHint(fmt.Errorf("the keystore holds another credential of %s with serial %d", cr.Handle(), cr.Serial),
						"compare 'backchannel cred list' here and where the file comes from: one of them was not issued by this keystore's root")
				case cur.Serial > cr.Serial:
					return withHint(fmt.Errorf("the keystore holds a later identity of %s (serial %d) than %s (serial %d)", cr.Handle(), cur.Serial, name, cr.Serial),
						"export the current identity where it was rotated, and import that")
				default:
					retired = cur.Serial
				}
				if p.IsRevoked(cr.Serial) {
					e.notef("note: the keystore records the credential of %s serial %d as revoked", cr.Handle(), cr.Serial)
				}
			}
			if now().After(cr.NotAfter) {
				e.notef("note: the credential of %s expired on %s UTC", cr.Handle(), cr.NotAfter.Format(time.DateTime))
			}
			if status == "imported" {
				if err := ks.SaveIdentity(id, pass); err != nil {
					return err
				}
			}
			if f.json {
				j := toCredJSON(cr)
				j.Status = status
				return e.writeJSON(j)
			}
			if status == "unchanged" {
				e.printf("the keystore already holds the identity of %s (%s, rank %d, serial %d): nothing changed", cr.Handle(), cr.Title, cr.Rank, cr.Serial)
				return nil
			}
			e.printf("imported the identity of %s (%s, rank %d, serial %d)", cr.Handle(), cr.Title, cr.Rank, cr.Serial)
			if retired != 0 {
				e.notef("the identity of serial %d it replaces is kept as retired", retired)
			}
			return nil
		},
	}
	f.addKeystore(cmd)
	f.addJSON(cmd)
	return cmd
}
