package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The terminal output of backchannel follows one rule, and this file is the only place that
// writes it:
//
//   - a line for the person or script at the terminal starts with "backchannel: "; it goes to
//     stdout when it is the command's result (the URL serve listens on), to stderr otherwise;
//   - an error is one "backchannel: error: <what happened>" line on stderr, followed by at most
//     one "backchannel: hint: <what to do about it>" line; never a stack trace, never cobra's
//     usage text;
//   - the exit code is 0 on success, 2 for a command line that cannot be run as written (an
//     unknown flag or command, a bad value, a missing argument) and 1 for any other failure.
//
// Log records (serve) are not terminal output: they are structured (log/slog) and go to stderr
// in their own format.

const prefix = "backchannel: "

// printf writes a result line to stdout.
func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(e.stdout, prefix+format+"\n", args...)
}

// printError writes err, and its hint if it carries one, to w.
func printError(w io.Writer, err error) {
	// Some errors span lines (a database driver's, one line per address tried); each line gets
	// the prefix, and a line repeated is said once.
	seen := make(map[string]bool)
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if line = strings.TrimSpace(line); line != "" && !seen[line] {
			seen[line] = true
			fmt.Fprintf(w, prefix+"error: %s\n", line)
		}
	}
	var h *hintError
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(w, prefix+"hint: %s\n", h.hint)
	}
}

// exitCode is the process's exit code for the error a command returned.
func exitCode(err error) int {
	var u *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	default:
		return 1
	}
}

// hintError is an error with advice for the user on what to do about it. The hint is printed
// on its own line after the error; wrapping a hintError keeps its hint.
type hintError struct {
	err  error
	hint string
}

func (h *hintError) Error() string { return h.err.Error() }
func (h *hintError) Unwrap() error { return h.err }

// withHint returns err with a hint, or nil if err is nil.
func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// usageError is a command line that cannot be run as written: the process exits with code 2.
type usageError struct{ err error }

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

// usage marks err as a usage error, or returns nil if err is nil.
func usage(err error) error {
	if err == nil {
		return nil
	}
	var u *usageError
	if errors.As(err, &u) {
		return err
	}
	return &usageError{err: err}
}

// usagef returns a usage error with a hint to read the help of command path (such as
// "backchannel serve").
func usagef(path, format string, args ...any) error {
	return usage(withHint(fmt.Errorf(format, args...), "run '%s --help' for usage", path))
}

// cobraError turns an error cobra returned before the command ran (an unknown flag or
// command, or arguments the command does not take) into a usage error in our format. cobra
// appends its suggestions ("Did you mean this?") to the message; they become the hint.
func cobraError(path string, err error) error {
	msg, more, _ := strings.Cut(err.Error(), "\n")
	hint := fmt.Sprintf("run '%s --help' for usage", path)
	if _, sugg, ok := strings.Cut(more, "Did you mean this?"); ok {
		if names := strings.Fields(sugg); len(names) > 0 {
			hint = "did you mean '" + strings.Join(names, "' or '") + "'?"
		}
	}
	return usage(withHint(errors.New(msg), "%s", hint))
}
