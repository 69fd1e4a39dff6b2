package postgres

import (
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Option configures the pool Open returns.
type Option func(*options)

type options struct {
	guard            *Guard
	connectTimeout   time.Duration
	statementTimeout time.Duration
	lockTimeout      time.Duration
	tracer           pgx.QueryTracer
}

// WithTracer adds t (such as kit/tracing's SQLTracer) to the pool's pgx
// tracers; it sees each call before the Guard does. nil adds none.
func WithTracer(t pgx.QueryTracer) Option { return func(o *options) { o.tracer = t } }

// WithGuard makes g watch the pool: g sees each of its calls and fails
// them fast while the database is unreachable (see Guard). Open starts g's
// probe once the database has answered; the caller stops it (Guard.Stop).
func WithGuard(g *Guard) Option { return func(o *options) { o.guard = g } }

// WithConnectTimeout bounds each new connection, TCP connect, TLS and
// authentication together (pgx's ConnectTimeout), unless the URL sets
// connect_timeout. A paused server still accepts TCP connections (the
// kernel does), so only a bound on the whole handshake notices it.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithStatementTimeout sets the server's statement_timeout for every
// connection, unless the URL sets it: a statement running longer is
// cancelled by the server, and fails with an error the server reports.
func WithStatementTimeout(d time.Duration) Option {
	return func(o *options) { o.statementTimeout = d }
}

// WithLockTimeout sets the server's lock_timeout for every connection,
// unless the URL sets it: a statement waiting longer for a lock fails,
// instead of holding its connection and request behind another's.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// apply sets what the options ask for on cfg, parsed from rawURL, leaving
// alone what the URL sets itself.
func (o options) apply(rawURL string, cfg *pgxpool.Config) {
	set := urlSettings(rawURL)
	if o.connectTimeout > 0 && !set["connect_timeout"] {
		cfg.ConnConfig.ConnectTimeout = o.connectTimeout
	}
	params := cfg.ConnConfig.RuntimeParams
	if o.statementTimeout > 0 && !set["statement_timeout"] {
		params["statement_timeout"] = millis(o.statementTimeout)
	}
	if o.lockTimeout > 0 && !set["lock_timeout"] {
		params["lock_timeout"] = millis(o.lockTimeout)
	}
	if o.tracer != nil {
		cfg.ConnConfig.Tracer = o.tracer
	}
	if o.guard != nil {
		cfg.ConnConfig.Tracer = guardTracer{o.guard}
		if o.tracer != nil {
			cfg.ConnConfig.Tracer = multitracer.New(o.tracer, guardTracer{o.guard})
		}
		// A call given up (its context ended: the Guard tripped, the
		// client left) drops its connection instead of sending the server a
		// cancel request: that request is one more connection, and while
		// the server does not answer they pile up in its backlog, each a
		// backend to fork when it resumes. statement_timeout ends the
		// orphaned statement server-side.
		cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
		}
	}
}

// urlSettings returns the names of the query parameters of a postgres://
// URL (keyword/value strings have none that matter here).
func urlSettings(rawURL string) map[string]bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	set := make(map[string]bool)
	for k := range u.Query() {
		set[k] = true
	}
	return set
}

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
