// Command backchannel is the backchannel server and its command-line client.
//
//	backchannel demo             play the Muscat scenario end to end on an embedded server
//	backchannel serve            run the HTTP API on an embedded SQLite store or PostgreSQL
//	backchannel bench            measure a server under load
//	backchannel org, cred        an organisation's root and its principals' credentials
//	backchannel fingerprint      compare a root's safety number, out of band
//	backchannel login            prove a principal's identity to a server, pin its log key
//	backchannel talks, motion    found talks, accept them, propose and vote on their shape
//	backchannel round            open and close rounds
//	backchannel send, inbox      seal a message for a room; read, verified, what came
//	backchannel follow           live events
//	backchannel relay, ack       pass a message on (mediators); acknowledge receipt
//	backchannel statement        sign a public statement after a round
//	backchannel redlines         a party's standing red lines
//	backchannel export, verify   a party's record, checked offline
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
