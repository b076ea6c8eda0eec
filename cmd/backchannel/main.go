// Command backchannel is the backchannel server and its command-line client.
//
//	backchannel serve            run the HTTP API on an embedded SQLite store or PostgreSQL
//
// Every flag --some-name can also be set with the environment variable BACKCHANNEL_SOME_NAME;
// a flag on the command line wins over the environment.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT and SIGTERM cancel the context: serve shuts down gracefully, other commands stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
