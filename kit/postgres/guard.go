package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
)

// Defaults of GuardOptions.
const (
	// DefaultProbeEvery is how often a Guard pings the database: while it
	// answers, to notice that it stopped; while it does not, to notice
	// that it is back.
	DefaultProbeEvery = 250 * time.Millisecond
	// DefaultProbeTimeout is how long a ping (with the connection it may
	// need) may take before the database counts as unreachable. A healthy
	// server on the same host answers in well under a millisecond; this
	// leaves room for a loaded machine.
	DefaultProbeTimeout = 500 * time.Millisecond
	// RetryAfter is the retry hint of the errors a database outage causes:
	// a few probes' time.
	RetryAfter = time.Second
)

// ErrUnreachable is the cause of every call a Guard refuses or interrupts.
var ErrUnreachable = errors.New("postgres: database unreachable")

// GuardOptions tune a Guard. Zero fields take the defaults.
type GuardOptions struct {
	ProbeEvery   time.Duration
	ProbeTimeout time.Duration
	// Logger receives a line when the database stops and starts
	// answering.
	Logger log.Logger
}

// Guard is a circuit breaker for one database, built into the pool that
// Open returns with WithGuard.
//
// A database that stops answering (paused, partitioned away, or its host
// gone) makes every statement wait for its context, and a request that
// waits its whole timeout holds a connection, a goroutine and a client
// for nothing. With a Guard, the first sign of an outage opens the circuit:
// a ping of the Guard's own probe that fails or takes longer than
// ProbeTimeout, or a statement, acquire or connect that fails without an
// answer from the server (a timeout, a network error). Then:
//
//   - every statement in flight on the pool is interrupted at once,
//   - every later acquire fails at once,
//
// each with an error that repositories classify as errs.Unavailable (see
// Unreachable), so clients get a 503 with Retry-After in milliseconds
// instead of a timeout. The probe keeps pinging every ProbeEvery over a
// connection outside the pool and closes the circuit on the first answer,
// so service resumes within about ProbeEvery of the database's return.
//
// Errors the server reports (a constraint violation, a statement_timeout,
// no rows) are answers: they never open the circuit, nor do calls whose
// caller went away. Nor does any failure while the server has answered
// another call (or a ping) within the last ProbeTimeout: that server is slow
// or busy, or that one connection broke, and opening the circuit would turn
// a loaded machine's slow statements into 503s for every caller. A paused
// server answers nothing, so a pause is found as fast as without the rule.
type Guard struct {
	every, timeout time.Duration
	logger         log.Logger
	epoch          time.Time // the origin of the clock of answered

	mu       sync.Mutex
	armed    bool               // the probe runs; before that, nothing opens the circuit
	down     bool               // the circuit is open
	calls    map[*call]struct{} // the traced calls in flight, ended when the circuit opens
	since    time.Time          // when the circuit last opened
	answered time.Duration      // when the server last answered, since epoch

	stop context.CancelFunc
	done chan struct{}
}

// NewGuard returns a Guard to pass to Open with WithGuard. Open starts its
// probe once the database first answers; Stop ends it.
func NewGuard(opts GuardOptions) *Guard {
	if opts.ProbeEvery <= 0 {
		opts.ProbeEvery = DefaultProbeEvery
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	return &Guard{every: opts.ProbeEvery, timeout: opts.ProbeTimeout, logger: opts.Logger,
		epoch: time.Now(), calls: make(map[*call]struct{})}
}

// Up reports whether the database answered the last probe and no call has
// failed for want of an answer since.
func (g *Guard) Up() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.down
}

// Err returns nil while the database is up, and an errs.Unavailable with
// a RetryAfter hint while it is not.
func (g *Guard) Err() error {
	if g.Up() {
		return nil
	}
	return Unreachable(ErrUnreachable, "database unavailable")
}

// Stop ends the probe and waits for it. The pool keeps working, unguarded.
func (g *Guard) Stop() {
	g.mu.Lock()
	stop, done := g.stop, g.done
	g.stop = nil
	g.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// HealthCheck returns a readiness check named "postgres" that reads the
// Guard's state instead of pinging (the probe pings every ProbeEvery).
// While the database is unreachable the check fails, unless serving says
// the instance can still serve some requests without it: then it reports
// health.Degraded, and the instance stays in rotation.
func (g *Guard) HealthCheck(serving func() bool) health.Check {
	return health.Check{Name: "postgres", Func: func(context.Context) error {
		err := g.Err()
		if err != nil && serving != nil && serving() {
			return health.Degraded(err)
		}
		return err
	}}
}

// Unreachable classifies err, a failure to reach the database, as an
// errs.Unavailable with the client-safe msg and a RetryAfter hint, for a
// 503 with Retry-After.
func Unreachable(err error, msg string) error {
	return &errs.Error{Kind: errs.Unavailable, Message: msg, RetryAfter: RetryAfter, Err: err}
}

// start begins probing with a connection configured as cfg (which it
// copies, without the tracer).
func (g *Guard) start(cfg *pgx.ConnConfig) {
	cfg = cfg.Copy()
	cfg.Tracer = nil
	ctx, stop := context.WithCancel(context.Background())
	g.mu.Lock()
	if g.armed {
		g.mu.Unlock()
		stop()
		return
	}
	g.armed, g.stop, g.done = true, stop, make(chan struct{})
	done := g.done
	g.mu.Unlock()
	go func() {
		defer close(done)
		g.probe(ctx, cfg)
	}()
}

// connectPatience bounds one connection attempt of the probe. While the
// database does not answer, the probe keeps a single attempt open instead
// of starting one per tick: a paused server (SIGSTOP, a frozen VM) still
// accepts TCP connections into its backlog, and every attempt given up
// there is a backend the server forks when it resumes; a few hundred of
// them, from every service, delayed the recovery by seconds.
const connectPatience = 30 * time.Second

// probe pings every g.every until ctx ends, connecting first when it has
// no connection, and opens or closes the circuit by the outcome.
func (g *Guard) probe(ctx context.Context, cfg *pgx.ConnConfig) {
	type attempt struct {
		conn *pgx.Conn
		err  error
	}
	var (
		conn    *pgx.Conn
		pending chan attempt // the connection attempt in progress, if any
	)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
		if pending != nil {
			go func(ch chan attempt) {
				if a := <-ch; a.conn != nil {
					a.conn.Close(context.Background())
				}
			}(pending)
		}
	}()
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil {
			if pending == nil {
				pending = make(chan attempt, 1)
				go func(ch chan attempt) {
					cctx, cancel := context.WithTimeout(ctx, connectPatience)
					c, err := pgx.ConnectConfig(cctx, cfg)
					cancel()
					ch <- attempt{c, err}
				}(pending)
			}
			wait := time.NewTimer(g.timeout)
			select {
			case a := <-pending:
				wait.Stop()
				pending = nil
				if a.err != nil {
					if ctx.Err() == nil {
						g.fail(a.err)
					}
					continue
				}
				conn = a.conn
			case <-wait.C:
				g.fail(errors.New("postgres: no answer to a connection attempt within " + g.timeout.String()))
				continue
			case <-ctx.Done():
				wait.Stop()
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, g.timeout)
		err := conn.Ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			conn.Close(context.Background())
			conn = nil
			g.fail(err)
		default:
			g.recover()
		}
	}
}

// now reads the Guard's clock: monotonic, and cheaper to compare than a
// time.Time.
func (g *Guard) now() time.Duration { return time.Since(g.epoch) }

// fail opens the circuit, if the probe runs, it is closed, and the server
// has answered nothing for g.timeout.
func (g *Guard) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.armed || g.down || g.answered > g.now()-g.timeout {
		return
	}
	g.down, g.since = true, time.Now()
	for c := range g.calls {
		c.cancel(ErrUnreachable)
	}
	clear(g.calls)
	level.Error(g.logger).Log("msg", "database unreachable: failing its calls fast until it answers", "err", err)
}

// recover closes the circuit, if it is open, after an answer to the probe.
func (g *Guard) recover() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answered = g.now()
	if !g.down {
		return
	}
	g.down = false
	level.Info(g.logger).Log("msg", "database answering again", "outage", time.Since(g.since).Round(time.Millisecond))
}

// serverAnswer reports whether err, the outcome of a call that reached
// the server, is one the server gave: success, or an error it reported.
func serverAnswer(err error) bool {
	var pgErr *pgconn.PgError
	return err == nil || errors.As(err, &pgErr) || errors.Is(err, pgx.ErrNoRows)
}

// outageError reports whether err, from a call made with ctx, means that
// the database did not answer: not a reply of the server's, not the
// caller going away.
func outageError(ctx context.Context, err error) bool {
	if serverAnswer(err) || errors.Is(err, ErrUnreachable) {
		return false
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return false // the caller gave up; the database may be fine
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &netErr) ||
		errors.As(err, &connectErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// guardTracer is the pgx tracer through which a Guard sees and interrupts
// the pool's calls. Each traced call runs with a context that ends when
// the circuit opens (or is already ended while it is open), so a call in
// flight stops waiting for a server that stopped answering.
type guardTracer struct{ g *Guard }

var (
	_ pgx.QueryTracer       = guardTracer{}
	_ pgx.BatchTracer       = guardTracer{}
	_ pgx.ConnectTracer     = guardTracer{}
	_ pgxpool.AcquireTracer = guardTracer{}
	_ pgx.PrepareTracer     = guardTracer{}
	_ pgx.CopyFromTracer    = guardTracer{}
)

// callKey finds a traced call's own context among those derived from it.
type callKey struct{}

// call is the context of one traced call: its caller's, ended as well when
// the circuit opens. It is the call's entry in Guard.calls and its own
// record for finish, so a call costs a cancelable context and this, and no
// goroutine or timer: the Guard ends the calls in its set when it opens the
// circuit, and finish takes a call out of the set.
type call struct {
	context.Context
	cancel context.CancelCauseFunc
	caller context.Context
}

func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// begin derives the context of one call: ended when the circuit opens,
// or at once while it is open.
func (t guardTracer) begin(ctx context.Context) context.Context {
	cctx, cancel := context.WithCancelCause(ctx)
	c := &call{Context: cctx, cancel: cancel, caller: ctx}
	g := t.g
	g.mu.Lock()
	if g.down {
		g.mu.Unlock()
		cancel(ErrUnreachable)
		return c
	}
	g.calls[c] = struct{}{}
	g.mu.Unlock()
	return c
}

// finish reports the call's outcome and releases its context. server says
// whether the call asks the server anything (an acquire may not: it can
// take an idle connection).
func (t guardTracer) finish(ctx context.Context, err error, server bool) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return
	}
	g := t.g
	answered := server && serverAnswer(err)
	g.mu.Lock()
	delete(g.calls, c)
	if answered {
		g.answered = g.now()
	}
	g.mu.Unlock()
	c.cancel(nil)
	if outageError(c.caller, err) { // never true of an answer
		g.fail(err)
	}
}

func (t guardTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.begin(ctx)
}

func (t guardTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	t.finish(ctx, d.Err, true)
}

func (t guardTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.begin(ctx)
}

func (guardTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t guardTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	t.finish(ctx, d.Err, true)
}

func (t guardTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return t.begin(ctx)
}

func (t guardTracer) TraceConnectEnd(ctx context.Context, d pgx.TraceConnectEndData) {
	t.finish(ctx, d.Err, true)
}

func (t guardTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return t.begin(ctx)
}

func (t guardTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, d pgxpool.TraceAcquireEndData) {
	t.finish(ctx, d.Err, false)
}

func (t guardTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return t.begin(ctx)
}

func (t guardTracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareEndData) {
	t.finish(ctx, d.Err, true)
}

func (t guardTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return t.begin(ctx)
}

func (t guardTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	t.finish(ctx, d.Err, true)
}
