package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
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
//     unknown flag or command, a bad value, a missing argument) and 1 for any other failure;
//   - the data a client command prints (a table, a record of fields, a message's body) goes to
//     stdout as it is, without the prefix, for reading and piping; with --json it is JSON
//     instead: one object, or one object per line for a list or a stream;
//   - a remark about the run that is not its result (a fingerprint to compare, progress) is a
//     prefixed line on stderr; progress is shown only when stderr is a terminal, and redrawn
//     in place;
//   - a passphrase prompt is written to stderr and the passphrase is read without echo.
//
// Log records (serve) are not terminal output: they are structured (log/slog) and go to stderr
// in their own format.

const prefix = "backchannel: "

// printf writes a result line to stdout.
func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(e.stdout, prefix+format+"\n", args...)
}

// notef writes a remark about the run to stderr.
func (e *env) notef(format string, args ...any) {
	fmt.Fprintf(e.stderr, prefix+format+"\n", args...)
}

// writeJSON writes v to stdout as one line of JSON.
func (e *env) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// writeText writes data to stdout as it is, ending it with a newline if it has none.
func (e *env) writeText(s string) {
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	io.WriteString(e.stdout, s)
}

// writeFields writes a record of named fields to stdout, one per line, values aligned. A field
// with an empty value is left out.
func (e *env) writeFields(fields [][2]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", f[0], f[1])
		}
	}
	tw.Flush()
}

// writeTable writes rows under a header to stdout, in aligned columns.
func (e *env) writeTable(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// terminal returns the file descriptor of f if it is a terminal.
func terminal(f any) (int, bool) {
	if file, ok := f.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		return int(file.Fd()), true
	}
	return 0, false
}

// readPassphrase prompts on stderr and reads a passphrase from stdin without echo. It reports
// false when stdin is not a terminal.
func (e *env) readPassphrase(prompt string) (string, bool, error) {
	fd, ok := terminal(e.stdin)
	if !ok {
		return "", false, nil
	}
	fmt.Fprintf(e.stderr, prefix+"%s: ", prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	return string(b), true, err
}

// progress shows how far a long operation has got, on one line of stderr redrawn in place, if
// stderr is a terminal; otherwise it shows nothing.
type progress struct {
	w     io.Writer
	what  string
	last  time.Time
	shown bool
}

// progress returns a progress line for the operation what ("exporting").
func (e *env) progress(what string) *progress {
	if _, ok := terminal(e.stderr); !ok {
		return &progress{}
	}
	return &progress{w: e.stderr, what: what}
}

// set shows done of total, at most ten times a second.
func (p *progress) set(done, total int64) {
	if p.w == nil || (time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.last, p.shown = time.Now(), true
	pct := int64(100)
	if total > 0 {
		pct = done * 100 / total
	}
	fmt.Fprintf(p.w, "\r%s%s %d/%d (%d%%)\033[K", prefix, p.what, done, total, pct)
}

// done clears the progress line.
func (p *progress) done() {
	if p.w != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
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
