package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/internal/store/sqlite"
	"github.com/backchannel/backchannel/internal/witness"
)

func witnessCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Run a witness that cosigns hosts' records (C2SP tlog-witness)",
		Long: "A witness cosigns each new checkpoint a host submits of a talks' record, with a consistency\n" +
			"proof, only if it extends the last one the witness cosigned of that record: a host that\n" +
			"showed two histories could not have both witnessed. It sees checkpoints and hashes, never\n" +
			"an event. Its state (its key, the hosts it trusts, the latest checkpoint of each record)\n" +
			"is one SQLite file, private to its owner: back it up, and never run two witnesses on\n" +
			"copies of it.\n\n" +
			"  backchannel witness init --name witness.example.org/w1 --data DIR\n" +
			"  backchannel witness trust HOST-LOG-KEY --data DIR\n" +
			"  backchannel witness serve --addr :8081 --data DIR",
	}
	cmd.AddCommand(witnessInitCommand(e), witnessTrustCommand(e), witnessServeCommand(e))
	return cmd
}

// witnessDB returns the witness's database in the data directory.
func witnessDB(data string) string { return filepath.Join(data, "witness.db") }

func witnessInitCommand(e *env) *cobra.Command {
	var data, name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init --name NAME --data DIR",
		Short: "Create a witness: its key and its database",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || data == "" {
				return usagef(cmd.CommandPath(), "--name and --data are required")
			}
			w, err := witness.Init(cmd.Context(), witness.Config{Path: witnessDB(data), Name: name})
			if err != nil {
				return witnessError(err)
			}
			defer w.Close()
			if asJSON {
				return e.writeJSON(map[string]string{"name": name, "key": w.VerifierKey()})
			}
			e.writeFields([][2]string{{"witness", name}, {"key", w.VerifierKey()}})
			e.notef("give this key to the parties whose charters name this witness")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the witness's `name`, a domain-like key name such as witness.example.org/w1")
	cmd.Flags().StringVar(&data, "data", "", "the witness's data `directory`")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func witnessTrustCommand(e *env) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "trust HOST-LOG-KEY --data DIR",
		Short: "Cosign the records of a host, by the log key it publishes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef(cmd.CommandPath(), "--data is required")
			}
			w, err := witness.Open(cmd.Context(), witness.Config{Path: witnessDB(data)})
			if err != nil {
				return witnessError(err)
			}
			defer w.Close()
			host, err := w.TrustHost(cmd.Context(), args[0])
			if err != nil {
				return withHint(err, "give the log key 'backchannel serve' logs at start (log_key=...), as the host published it")
			}
			e.printf("this witness cosigns the records of %s", host)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the witness's data `directory`")
	return cmd
}

func witnessServeCommand(e *env) *cobra.Command {
	var data, addr string
	cmd := &cobra.Command{
		Use:   "serve --addr ADDR --data DIR",
		Short: "Serve add-checkpoint until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data == "" {
				return usagef(cmd.CommandPath(), "--data is required")
			}
			ctx := cmd.Context()
			w, err := witness.Open(ctx, witness.Config{Path: witnessDB(data)})
			if err != nil {
				return witnessError(err)
			}
			defer w.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return withHint(err, "check --addr %q", addr)
			}
			srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
			go srv.Serve(ln)
			e.printf("witness %s listening on http://%s", w.VerifierKey(), ln.Addr())
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "`address` to listen on")
	cmd.Flags().StringVar(&data, "data", "", "the witness's data `directory`")
	return cmd
}

// witnessError explains a witness that cannot open.
func witnessError(err error) error {
	switch {
	case errors.Is(err, witness.ErrNotInitialised):
		return withHint(err, "create it first with 'backchannel witness init --name NAME --data DIR'")
	case errors.Is(err, sqlite.ErrNotPrivate):
		return withHint(err, "the database holds the witness's key: make it readable by this user only (chmod 600)")
	}
	return err
}
