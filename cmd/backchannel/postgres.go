package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/backchannel/backchannel"
	"github.com/backchannel/backchannel/internal/server"
	"github.com/backchannel/backchannel/internal/store/postgres"
)

// openPostgres opens the PostgreSQL store at url.
func openPostgres(ctx context.Context, url string, signer *server.Signer, onCommit func(int, time.Duration), log *slog.Logger) (backchannel.Store, error) {
	st, err := postgres.Open(ctx, postgres.Config{URL: url, Signer: signer.Sign, OnCommit: onCommit, Logger: log})
	if err != nil {
		return nil, withHint(err, "check that PostgreSQL is running at %s and that --store names the right database and user", redact(url))
	}
	return st, nil
}
