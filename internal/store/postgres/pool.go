package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/backchannel/backchannel"
)

// pool is a small set of connections for the store's reads and short writes. It is pgxpool's
// job in miniature: pgxpool needs a module (puddle) that go.mod does not carry, and the store
// needs little: take an idle connection or open one up to a limit, and throw away any
// connection that comes back broken or inside a transaction.
type pool struct {
	cfg   *pgx.ConnConfig
	idle  chan *pgx.Conn
	slots chan struct{} // one token per open connection
	done  chan struct{}

	mu     sync.Mutex
	closed bool
}

func newPool(cfg *pgx.ConnConfig, max int) *pool {
	return &pool{
		cfg:   cfg,
		idle:  make(chan *pgx.Conn, max),
		slots: make(chan struct{}, max),
		done:  make(chan struct{}),
	}
}

// acquire returns a connection for the caller's exclusive use until release.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case <-p.done:
		return nil, backchannel.ErrClosed
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	case p.slots <- struct{}{}:
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return c, nil
	case <-p.done:
		return nil, backchannel.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release gives c back. A connection that was closed (pgx closes one whose query was
// interrupted) or left inside a transaction is closed rather than reused.
func (p *pool) release(c *pgx.Conn) {
	p.mu.Lock()
	if p.closed || c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		p.mu.Unlock()
		c.Close(context.Background())
		<-p.slots
		return
	}
	p.idle <- c // never blocks: at most cap(slots) connections exist
	p.mu.Unlock()
}

// with runs fn on a pooled connection.
func (p *pool) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer p.release(c)
	return fn(c)
}

// close closes the idle connections; those in use are closed as they come back.
func (p *pool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	for {
		select {
		case c := <-p.idle:
			c.Close(context.Background())
			<-p.slots
		default:
			return
		}
	}
}
