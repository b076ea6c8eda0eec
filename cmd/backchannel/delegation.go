package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/api"
	"github.com/backchannel/backchannel/client"
	"github.com/backchannel/backchannel/seal"
	"github.com/backchannel/backchannel/talks"
)

func delegationCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delegation",
		Short: "Show a delegation, and add, remove or change the head of your own",
		Long: "A delegation is the principals who sit for an organisation in talks. Its head, or someone\n" +
			"of at least the head's rank, adds and removes members and names the head; every change is an\n" +
			"act on the record, and a member removed stops reading every room at once.",
	}
	cmd.AddCommand(delegationShowCommand(e), delegationAddCommand(e), delegationRemoveCommand(e), delegationHeadCommand(e))
	return cmd
}

// memberView is one member of a delegation as 'delegation show' prints it.
type memberView struct {
	Org       string `json:"org"`
	Principal string `json:"principal"`
	Title     string `json:"title"`
	Rank      int    `json:"rank"`
	Head      bool   `json:"head"`
}

func delegationShowCommand(e *env) *cobra.Command {
	var f clientFlags
	var org string
	cmd := &cobra.Command{
		Use:   "show TALKS",
		Short: "Show the delegations of talks (or one, --org), with each member's title and rank",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for _, m := range b.State.Members(org) {
				v := memberView{Org: m.Org, Principal: m.Principal, Title: m.Title, Rank: int(m.Rank), Head: m.Head}
				if f.json {
					if err := e.writeJSON(v); err != nil {
						return err
					}
					continue
				}
				head := ""
				if m.Head {
					head = "head"
				}
				rows = append(rows, []string{m.Org, m.Principal, m.Title, strconv.Itoa(int(m.Rank)), head})
			}
			if !f.json {
				e.writeTable([]string{"ORG", "PRINCIPAL", "TITLE", "RANK", ""}, rows)
				e.notef("the level of %s is %d: formal messages need at least that rank", args[0], b.State.Level())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this organisation's delegation")
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

// memberHandle returns principal as a handle of org: "name" means org's own principal name.
func memberHandle(org, principal string) string {
	if strings.Contains(principal, ":") {
		return principal
	}
	return seal.Handle(org, principal)
}

// delegationChange is a change of the caller's own delegation, run by the three commands alike.
func delegationChange(e *env, use, short string, run func(cmd *cobra.Command, s *session, b *client.Book, handle string) (api.Accepted, string, error)) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			b, _, err := s.sync(cmd.Context(), id)
			if err != nil {
				return err
			}
			me := s.id.Credential()
			handle := memberHandle(me.Org, args[1])
			if org, _, _ := seal.SplitHandle(handle); org != me.Org {
				return usagef(cmd.CommandPath(), "%s is not of %s: a delegation changes only its own members", handle, me.Org)
			}
			a, what, err := run(cmd, s, b, handle)
			if err != nil {
				return s.explain(cmd.Context(), id, err)
			}
			if f.json {
				return e.writeJSON(a)
			}
			e.printf("%s in %s's delegation in %s (event %d)", what, me.Org, id, a.Index)
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}

func delegationAddCommand(e *env) *cobra.Command {
	return delegationChange(e, "add TALKS PRINCIPAL", "Add a principal of your organisation to its delegation",
		func(cmd *cobra.Command, s *session, b *client.Book, handle string) (api.Accepted, string, error) {
			cr, err := s.c.MemberCredential(cmd.Context(), b.ID, handle)
			if err != nil {
				return api.Accepted{}, "", err
			}
			a, err := s.c.AddMember(cmd.Context(), b.ID, cr)
			return a, fmt.Sprintf("added %s (%s, rank %d)", handle, cr.Title, cr.Rank), err
		})
}

func delegationRemoveCommand(e *env) *cobra.Command {
	return delegationChange(e, "remove TALKS PRINCIPAL", "Remove a member (not the head) from your organisation's delegation",
		func(cmd *cobra.Command, s *session, b *client.Book, handle string) (api.Accepted, string, error) {
			a, err := s.c.RemoveMember(cmd.Context(), b.ID, handle)
			return a, "removed " + handle, err
		})
}

func delegationHeadCommand(e *env) *cobra.Command {
	return delegationChange(e, "head TALKS PRINCIPAL", "Make a member of your organisation's delegation its head",
		func(cmd *cobra.Command, s *session, b *client.Book, handle string) (api.Accepted, string, error) {
			a, err := s.c.SetHead(cmd.Context(), b.ID, handle)
			return a, handle + " now heads", err
		})
}

func talksWithdrawCommand(e *env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "withdraw TALKS",
		Short: "Take your organisation out of the talks",
		Long: "withdraw takes your organisation out of the talks, as an act on the record. A party of\n" +
			"two-party talks ends them (collapsed); a party of more leaves the others talking. A mediator\n" +
			"steps down, unless it is the only mediator of indirect talks: another is invited first.\n" +
			"Your organisation can still read, export and verify the record up to its withdrawal.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			s, err := f.openSession(e)
			if err != nil {
				return err
			}
			a, err := s.c.Withdraw(cmd.Context(), id)
			if err != nil {
				return s.explain(cmd.Context(), id, err)
			}
			if f.json {
				return e.writeJSON(a)
			}
			org := s.id.Credential().Org
			e.printf("%s withdrew from %s (event %d)", org, id, a.Index)
			if b, _, err := s.sync(cmd.Context(), id); err == nil && b.State.Status() == talks.StatusCollapsed {
				e.printf("%s collapsed: a party of two withdrew", id)
			}
			return nil
		},
	}
	f.addSession(cmd)
	f.addJSON(cmd)
	return cmd
}
