package order

import (
	"context"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// Defaults of RecoveryOptions.
const (
	DefaultRecoveryInterval = 10 * time.Second
	DefaultRecoveryAge      = 30 * time.Second
	DefaultRecoveryBatch    = 100
	DefaultRecoveryTimeout  = 5 * time.Second
)

// RecoveryOptions tune the recovery loop. Zero fields take the defaults.
type RecoveryOptions struct {
	// Interval is the pause between two rounds.
	Interval time.Duration
	// Age is how long an order must have been pending before the loop
	// takes it over: longer than any request placing an order takes, so
	// the loop does not race live requests (though it would be safe).
	Age time.Duration
	// Batch bounds the orders of each kind one round handles; a backlog
	// takes several rounds.
	Batch int
	// CallTimeout bounds each catalog call of a round.
	CallTimeout time.Duration
}

func (o RecoveryOptions) withDefaults() RecoveryOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultRecoveryInterval
	}
	if o.Age <= 0 {
		o.Age = DefaultRecoveryAge
	}
	if o.Batch <= 0 {
		o.Batch = DefaultRecoveryBatch
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultRecoveryTimeout
	}
	return o
}

// RecoveryStats counts what one round did.
type RecoveryStats struct {
	Confirmed int // pending orders whose reservation succeeded
	Rejected  int // pending orders the catalog refused
	Released  int // owed releases made
	Failed    int // calls that failed; their orders wait for the next round
}

// Recovery finishes order sagas that a crash or a catalog outage left
// half-way: orders pending for longer than Age are reserved again (a no-op
// in the catalog if the first reservation got through) and confirmed or
// rejected, and owed releases are made. It is what makes "never leave an
// order half-done" true across crashes: every state the saga writes is one
// this loop can finish.
//
// Run a Recovery in every instance: the conditional status changes make
// concurrent rounds safe, if wasteful.
type Recovery struct {
	saga
	opts   RecoveryOptions
	logger log.Logger
	now    func() time.Time

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// NewRecovery returns a recovery loop over repo and catalog; Start runs it
// in the background, RunOnce runs one round.
func NewRecovery(repo Repository, catalog Catalog, logger log.Logger, opts RecoveryOptions) *Recovery {
	return &Recovery{
		saga:   saga{repo: repo, catalog: catalog},
		opts:   opts.withDefaults(),
		logger: logger,
		now:    time.Now,
	}
}

// Start runs a round now and then one every Interval, on a goroutine of its
// own, until Stop. Calling Start twice, or after Stop, does nothing.
func (r *Recovery) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil || r.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go r.loop(ctx, r.done)
}

// Stop ends the loop, interrupting a round in progress (its calls are
// cancelled; the orders they concerned wait for the next start), and
// returns when the goroutine has finished. It is safe to call more than
// once, and without Start.
func (r *Recovery) Stop() {
	r.mu.Lock()
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

func (r *Recovery) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		r.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce runs one round: owed releases first (they give stock back, which
// may let a pending order through), then stale pending orders. Errors are
// logged and counted, never returned: whatever fails is retried next round.
func (r *Recovery) RunOnce(ctx context.Context) RecoveryStats {
	begin := time.Now()
	var st RecoveryStats

	ids, err := r.repo.ReleasePending(ctx, r.opts.Batch)
	if err != nil {
		r.logFailure(ctx, "listing owed releases", err)
		st.Failed++
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		if err := r.call(ctx, func(ctx context.Context) error { return r.release(ctx, id) }); err != nil {
			level.Warn(r.logger).Log("msg", "release failed; will retry", "order_id", id, "kind", errs.KindOf(err), "err", err)
			st.Failed++
			continue
		}
		level.Info(r.logger).Log("msg", "stock released", "order_id", id)
		st.Released++
	}

	pending, err := r.repo.StalePending(ctx, r.now().Add(-r.opts.Age), r.opts.Batch)
	if err != nil {
		r.logFailure(ctx, "listing stale pending orders", err)
		st.Failed++
	}
	for _, o := range pending {
		if ctx.Err() != nil {
			break
		}
		var cur Order
		err := r.call(ctx, func(ctx context.Context) error {
			var err error
			cur, _, err = r.reserve(ctx, o, true)
			return err
		})
		switch {
		case err == nil:
			level.Info(r.logger).Log("msg", "pending order resolved", "order_id", o.ID, "status", cur.Status)
			if cur.Status == StatusConfirmed {
				st.Confirmed++
			}
		case errs.Is(err, errs.Conflict):
			level.Info(r.logger).Log("msg", "pending order resolved", "order_id", o.ID, "status", StatusRejected)
			st.Rejected++
		default:
			// The catalog or the database failed; the order is still
			// pending and the next round tries again.
			level.Warn(r.logger).Log("msg", "pending order unresolved; will retry", "order_id", o.ID,
				"kind", errs.KindOf(err), "err", err)
			st.Failed++
		}
	}

	if st != (RecoveryStats{}) {
		level.Info(r.logger).Log("msg", "recovery round", "confirmed", st.Confirmed, "rejected", st.Rejected,
			"released", st.Released, "failed", st.Failed, "took", time.Since(begin))
	}
	return st
}

// call runs one step with the per-call deadline.
func (r *Recovery) call(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	return f(ctx)
}

func (r *Recovery) logFailure(ctx context.Context, what string, err error) {
	if ctx.Err() != nil {
		return // stopping
	}
	level.Error(r.logger).Log("msg", "recovery round incomplete: "+what, "kind", errs.KindOf(err), "err", err)
}
