package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/internal/muscat"
	"github.com/backchannel/backchannel/internal/node"
)

// demoCommand plays the Muscat scenario against an embedded server: every organisation,
// mediator and principal a real client over HTTP on loopback.
func demoCommand(e *env) *cobra.Command {
	var data string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play the Muscat scenario end to end on an embedded server",
		Long: "demo starts a server on a temporary embedded store and plays the Muscat scenario\n" +
			"(shared/scenarios/muscat.md) through it: parties, mediators and principals are real\n" +
			"clients over HTTP. It narrates who wrote what to whom, through whom, verified how,\n" +
			"and what was refused and why; then it checks that every party verified its own copy of\n" +
			"the record, and prints the cosigned checkpoints. It exits non-zero if any check fails.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), e, data, asJSON)
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "keep the store in this new or empty directory, for inspection")
	cmd.Flags().BoolVar(&asJSON, "json", false, "emit the transcript as JSON lines, the last one the summary")
	return cmd
}

func runDemo(ctx context.Context, e *env, data string, asJSON bool) error {
	dir := data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "backchannel-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return withHint(err, "choose another directory with --data")
		}
		if _, err := os.Stat(filepath.Join(dir, "backchannel.db")); err == nil {
			return withHint(fmt.Errorf("%s already holds a store", dir), "the demo founds its organisations and talks anew: give --data a new or empty directory")
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	host := ln.Addr().String()
	cfg := node.DefaultConfig()
	cfg.Store, cfg.Server.Host, cfg.Server.Version = "sqlite:"+filepath.Join(dir, dbFile), host, version()
	// The server's own log is not the demo's output: only failures are worth showing.
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	n, err := node.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	n.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		n.Shutdown(sctx)
	}()

	url := "http://" + host
	narrate := muscat.Narrator(e.stdout)
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		narrate = func(s muscat.Step) { enc.Encode(s) }
	} else {
		e.printf("playing the Muscat scenario on an embedded server at %s", url)
		fmt.Fprintln(e.stdout)
	}
	start := time.Now()
	res, err := muscat.Play(ctx, url, muscat.Options{}, narrate)
	if err != nil {
		return withHint(fmt.Errorf("the scenario stopped: %w", err), "this is a bug: please report it with the transcript above")
	}
	problems := demoChecks(res)
	if asJSON {
		summary := struct {
			Summary  bool                  `json:"summary"`
			OK       bool                  `json:"ok"`
			Problems []string              `json:"problems"`
			Talks    []muscat.TalksReport  `json:"talks"`
			Refusals []muscat.Refusal      `json:"refusals"`
			Orgs     []muscat.Organisation `json:"organisations"`
			Seconds  float64               `json:"seconds"`
		}{true, len(problems) == 0, nonNilStrings(problems), res.Talks, res.Refusals, res.Organisations, time.Since(start).Seconds()}
		if err := json.NewEncoder(e.stdout).Encode(summary); err != nil {
			return err
		}
	} else {
		demoSummary(e.stdout, res, data)
		fmt.Fprintf(e.stdout, "\n")
		if len(problems) == 0 {
			e.printf("every check passed in %.1fs: each party verified its own copy of every record it sits in", time.Since(start).Seconds())
		}
	}
	if len(problems) > 0 {
		return errors.New("the demo's checks failed:\n" + strings.Join(problems, "\n"))
	}
	return nil
}

// demoChecks lists what is wrong with a played scenario: a member whose client did not verify
// its record, a record not cosigned by every party.
func demoChecks(res *muscat.Result) []string {
	var problems []string
	if len(res.Talks) == 0 {
		problems = append(problems, "no talks were played")
	}
	for _, t := range res.Talks {
		for _, m := range t.Members {
			if !m.Synced {
				problems = append(problems, fmt.Sprintf("talks %s: %s did not verify its copy of the record", t.ID, m.Actor))
			}
		}
		for _, party := range t.Parties {
			found := false
			for _, c := range t.Cosigners {
				found = found || strings.HasPrefix(c, party+"/")
			}
			if !found {
				problems = append(problems, fmt.Sprintf("talks %s: no member of %s cosigned the final checkpoint", t.ID, party))
			}
		}
	}
	return problems
}

// demoSummary prints the refusals on the record and each talks' cosigned checkpoint.
func demoSummary(w io.Writer, res *muscat.Result, data string) {
	fmt.Fprintf(w, "\nRefusals on the record\n")
	for _, r := range res.Refusals {
		by := r.By.String()
		if r.Source == muscat.SourceHost {
			by = "the channel (" + r.Problem + ")"
		}
		if r.Standing {
			by += ", by standing instruction"
		}
		fmt.Fprintf(w, "    %-40s refused by %s, %s\n", r.What, by, r.At.Format(time.RFC3339))
	}
	for _, t := range res.Talks {
		fmt.Fprintf(w, "\nTalks %s: %s, %s format, level %d, %d events\n", t.ID, t.Status, t.Format, t.Level, t.Size)
		fmt.Fprintf(w, "    log: %s\n", t.Log)
		for _, m := range t.Members {
			mark := "verified"
			if !m.Synced {
				mark = "NOT VERIFIED"
			}
			fmt.Fprintf(w, "    %-55s %s; received %d, verified %d, flagged %d; cosigned size %d\n",
				m.Actor.String(), mark, m.Received, m.Verified, m.Flagged, m.Cosigned)
		}
		fmt.Fprintf(w, "    checkpoint, cosigned by %s:\n", strings.Join(t.Cosigners, ", "))
		for _, line := range strings.Split(strings.TrimRight(t.Checkpoint, "\n"), "\n") {
			fmt.Fprintf(w, "        %s\n", line)
		}
	}
	if data != "" {
		fmt.Fprintf(w, "\nThe store is kept in %s.\n", data)
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
