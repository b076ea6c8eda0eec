package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// env is what every command gets from the process: its standard streams and environment.
// Commands read nothing from os directly, so that the whole command line runs in-process in
// tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	vars           map[string]string

	// started is set once the command line has parsed and the command is about to run: an
	// error before that is a usage error.
	started bool
}

// getenv returns the environment variable key, or "" if it is unset.
func (e *env) getenv(key string) string { return e.vars[key] }

// envPrefix prefixes the environment variable that sets a flag: --max-body is
// BACKCHANNEL_MAX_BODY.
const envPrefix = "BACKCHANNEL_"

// envName is the environment variable that sets the flag name.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// cli runs the command line args and returns the process's exit code, having printed any
// error.
func cli(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, environ, stdin, stdout, stderr)
	if err != nil {
		printError(stderr, err)
	}
	return exitCode(err)
}

// run runs the command line args, with environ as the process environment ("KEY=value").
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, vars: make(map[string]string, len(environ))}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e.vars[k] = v
		}
	}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !e.started {
		return cobraError(cmd.CommandPath(), err)
	}
	return err
}

// newRoot returns the backchannel command with every subcommand. Each subcommand lives in its
// own file as a function that takes the shared env and returns the command; add it here.
//
// Subcommands must not set PersistentPreRun(E): the root's, which applies the environment to
// the flags, would not run.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "backchannel",
		Short: "A secure channel for mediated negotiation",
		Long: "backchannel is a secure channel for mediated negotiation: a server that stores signed,\n" +
			"end-to-end encrypted envelopes on a per-talks Merkle log, and its client.\n\n" +
			"Every flag --some-name can also be set with the environment variable\n" +
			envPrefix + "SOME_NAME; a flag given on the command line wins.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(e, cmd); err != nil {
				return err
			}
			// cobra checks required flags after this hook; check them here, once the
			// environment has had its say, so that a missing one is a usage error.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return usagef(cmd.CommandPath(), "%v", err)
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return usagef(cmd.CommandPath(), "%v", err)
			}
			e.started = true
			return nil
		},
	}
	root.Version = version()
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef(cmd.CommandPath(), "%v", err)
	})

	root.AddCommand(
		serveCommand(e),
		demoCommand(e),
		benchCommand(e),
		orgCommand(e),
		credCommand(e),
		fingerprintCommand(e),
		loginCommand(e),
		unlockCommand(e),
		lockCommand(e),
		agentCommand(e),
		tokenCommand(e),
		talksCommand(e),
		motionCommand(e),
		delegationCommand(e),
		roundCommand(e),
		sendCommand(e),
		inboxCommand(e),
		followCommand(e),
		relayCommand(e),
		ackCommand(e),
		statementCommand(e),
		redlinesCommand(e),
		exportCommand(e),
		verifyCommand(e),
		handoverCommand(e),
		witnessCommand(e),
	)

	documentEnv(root)
	return root
}

// applyEnv sets each flag of cmd that the command line left unset from its environment
// variable, if that is set and not empty.
func applyEnv(e *env, cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		key := envName(f.Name)
		v := e.getenv(key)
		if v == "" {
			return
		}
		if cmd.Flags().Set(f.Name, v) != nil {
			err = usagef(cmd.CommandPath(), "%s=%q is not a valid --%s (a %s)", key, v, f.Name, f.Value.Type())
		}
	})
	return err
}

// documentEnv adds the environment variable of each flag to its help.
func documentEnv(cmd *cobra.Command) {
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !strings.Contains(f.Usage, envPrefix) {
			f.Usage = fmt.Sprintf("%s [$%s]", f.Usage, envName(f.Name))
		}
	})
	for _, c := range cmd.Commands() {
		documentEnv(c)
	}
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
