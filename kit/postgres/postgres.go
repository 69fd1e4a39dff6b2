package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

// Retry delays of Open: short at first (the server is usually just
// starting), capped so a long outage costs few attempts per minute.
const (
	openFirstDelay = 100 * time.Millisecond
	openMaxDelay   = 2 * time.Second
	pingTimeout    = 2 * time.Second
)

// Open returns a connection pool for url once the server answers a ping,
// retrying with exponential backoff (capped at 2 s) until it does or ctx
// ends. A malformed url fails at once. The error never contains the
// password: pgx redacts it.
//
// The pool keeps pgx's defaults: at most max(4, number of CPUs) connections,
// and statements prepared once per connection and cached. More connections
// did not help on a 2-CPU machine with the database on it (a point read
// served by 32 concurrent clients: the same requests per second with 4, 8
// or 16), since each one is a Postgres process competing for the same CPUs.
// Where the database has cores of its own, raise the limit in the URL:
// "…/catalog?pool_max_conns=16".
//
// Options bound how long the pool's work may wait (WithConnectTimeout,
// WithStatementTimeout, WithLockTimeout) and guard it against a database
// that stops answering (WithGuard). Settings in url win over options.
func Open(ctx context.Context, url string, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.apply(url, cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	delay := openFirstDelay
	for {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			if o.guard != nil {
				o.guard.start(cfg.ConnConfig)
			}
			return pool, nil
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			pool.Close()
			return nil, fmt.Errorf("postgres: server at %s:%d not reachable: %w (last error: %w)",
				cfg.ConnConfig.Host, cfg.ConnConfig.Port, context.Cause(ctx), err)
		case <-timer.C:
		}
		delay = min(2*delay, openMaxDelay)
	}
}

// Migrate applies the goose migrations in migrations (*.sql files at its
// root) that the database lacks. It is idempotent, and safe when several
// instances migrate at once: a Postgres advisory lock serialises them. It
// uses a goose Provider, so no goose global state is involved.
func Migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS) error {
	// Closing this *sql.DB leaves the pool open.
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction and commits if fn returns nil. If fn returns
// an error or panics, the transaction is rolled back (and the panic goes on).
// fn must not keep tx, and should do no slow work outside the database while
// holding it. Failing to begin is an errs.Unavailable error; the errors of
// fn and of Commit are returned as they are (wrapped), so UniqueViolation and
// friends still see them.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return Unreachable(err, "database unavailable")
	}
	// Rollback after Commit is a no-op. It runs on panics too, and gets a
	// context that is not canceled, so a canceled request still releases its
	// locks at once instead of when the connection is reaped.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// SQLSTATE codes of the constraint violations the services turn into
// client errors.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
)

// UniqueViolation reports whether err is a unique constraint violation and
// names the constraint, so the caller can say which value is taken.
func UniqueViolation(err error) (constraint string, ok bool) {
	return violation(err, codeUniqueViolation)
}

// CheckViolation reports whether err is a check constraint violation and
// names the constraint, so the caller can say which rule the input broke.
func CheckViolation(err error) (constraint string, ok bool) {
	return violation(err, codeCheckViolation)
}

// ForeignKeyViolation reports whether err is a foreign key violation and
// names the constraint, typically a reference to a row that does not exist.
func ForeignKeyViolation(err error) (constraint string, ok bool) {
	return violation(err, codeForeignKeyViolation)
}

func violation(err error, code string) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == code {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// HealthCheck returns a readiness check named "postgres" that pings the
// pool. Its error is an errs.Unavailable with a safe message; the cause
// stays in the error for logs.
func HealthCheck(pool *pgxpool.Pool) health.Check {
	return health.Check{Name: "postgres", Func: func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return errs.Wrap(err, errs.Unavailable, "database unreachable")
		}
		return nil
	}}
}
