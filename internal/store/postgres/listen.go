package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenProbe is how long the listener waits for a notification before it checks that its
// connection still answers: a connection cut without a reset would otherwise wait forever.
const listenProbe = 30 * time.Second

// listenConnect opens a listener connection and LISTENs. It returns the connection and a mark:
// the oldest transaction still running when it started listening. If since is not nil, it then
// publishes the size of every log grown by a transaction at or after *since, the previous
// mark: every commit that this node may have missed while it was not listening.
//
// Why that is enough: a commit after LISTEN is notified. A commit before it is visible to the
// snapshot taken here; if its transaction is older than the previous mark, it was already
// visible to the previous snapshot, taken while that connection listened, and so was notified
// or published then. The talks row keeps only its last writer's id, but that writer committed
// after the ones it overwrote, so it is at least as recent by this test.
func (s *Store) listenConnect(ctx context.Context, since *uint64) (*pgx.Conn, uint64, error) {
	c, err := pgx.ConnectConfig(ctx, s.listenCfg)
	if err != nil {
		return nil, 0, err
	}
	type grown struct {
		talks string
		size  int64
	}
	var missed []grown
	var mark uint64
	err = func() error {
		if _, err := c.Exec(ctx, `LISTEN `+listenChannel); err != nil {
			return err
		}
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())`).Scan(&mark); err != nil {
			return err
		}
		if since != nil {
			rows, _ := tx.Query(ctx, `SELECT id, size FROM talks WHERE xact >= $1`, *since)
			var g grown
			if _, err := pgx.ForEachRow(rows, []any{&g.talks, &g.size}, func() error {
				missed = append(missed, g)
				return nil
			}); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	}()
	if err != nil {
		c.Close(context.Background())
		return nil, 0, err
	}
	for _, g := range missed {
		s.watch.Publish(g.talks, g.size)
	}
	return c, mark, nil
}

// listen publishes the notifications that arrive on c until ctx is done, reconnecting with
// backoff whenever the connection fails.
func (s *Store) listen(ctx context.Context, c *pgx.Conn, mark uint64) {
	defer close(s.listening)
	defer func() {
		if c != nil {
			c.Close(context.Background())
		}
	}()
	delay := s.cfg.ListenRetry
	for {
		if c == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			nc, nmark, err := s.listenConnect(ctx, &mark)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.cfg.Logger.Warn("postgres: listener cannot reconnect", "err", err, "retry", delay)
				delay = min(2*delay, 5*time.Second)
				continue
			}
			s.cfg.Logger.Info("postgres: listener reconnected")
			c, mark, delay = nc, nmark, s.cfg.ListenRetry
		}
		wctx, cancel := context.WithTimeout(ctx, listenProbe)
		n, err := c.WaitForNotification(wctx)
		cancel()
		if err == nil {
			if talks, size, ok := parseNotice(n.Payload); ok {
				s.watch.Publish(talks, size)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if wctx.Err() != nil && !c.IsClosed() {
			// Quiet for a while: check the connection rather than trust it.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = c.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		s.cfg.Logger.Warn("postgres: listener connection lost", "err", err)
		c.Close(context.Background())
		c = nil
	}
}

// parseNotice parses a notification payload, "<talks> <size>".
func parseNotice(payload string) (talks string, size int64, ok bool) {
	talks, n, ok := strings.Cut(payload, " ")
	if !ok {
		return "", 0, false
	}
	size, err := strconv.ParseInt(n, 10, 64)
	return talks, size, err == nil && talks != ""
}
