package user

import (
	"context"
	"runtime"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// HashPool bounds the password hashing (bcrypt) the service does at once.
// A bcrypt hash or comparison takes a few hundred milliseconds of a core;
// without a bound, a burst of sign-ups or logins queues up CPU work that
// starves every other request and outlives the clients' timeouts. At most
// workers hashes run at once and at most queue more wait for a turn;
// anything beyond is refused at once with an Unavailable error with a
// Retry-After hint (503), which costs nothing.
type HashPool struct {
	admitted chan struct{} // running or waiting: capacity workers+queue
	running  chan struct{} // capacity workers
}

// HashPoolRetryAfter is the retry hint of a refusal: about the time a few
// hashes take.
const HashPoolRetryAfter = time.Second

// NewHashPool returns a pool running at most workers hashes at once with
// at most queue waiting. workers < 1 means runtime.GOMAXPROCS(0); queue < 0
// means 0.
func NewHashPool(workers, queue int) *HashPool {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	queue = max(queue, 0)
	return &HashPool{
		admitted: make(chan struct{}, workers+queue),
		running:  make(chan struct{}, workers),
	}
}

// defaultHashPool is the pool of a service without WithHashPool: one
// hash per core, and four times as many waiting, so that a full queue is
// about a second of work.
func defaultHashPool() *HashPool {
	n := runtime.GOMAXPROCS(0)
	return NewHashPool(n, 4*n)
}

// errHashPoolFull is the refusal when the pool is full.
var errHashPoolFull = &errs.Error{
	Kind:       errs.Unavailable,
	Message:    "too busy, try again later",
	RetryAfter: HashPoolRetryAfter,
}

// Do runs f when a worker is free. It returns an Unavailable error without
// running f if the queue is full, and ctx's error (as Unavailable) if ctx
// ends while f waits.
func (p *HashPool) Do(ctx context.Context, f func()) error {
	select {
	case p.admitted <- struct{}{}:
	default:
		return errHashPoolFull
	}
	defer func() { <-p.admitted }()
	select {
	case p.running <- struct{}{}:
	case <-ctx.Done():
		return errs.Wrap(ctx.Err(), errs.Unavailable, "too busy, try again later")
	}
	defer func() { <-p.running }()
	f()
	return nil
}

// WithHashPool sets the pool the service hashes and compares passwords in
// (default: one worker per core, four waiting per worker).
func WithHashPool(p *HashPool) Option {
	return func(s *service) {
		if p != nil {
			s.hashPool = p
		}
	}
}
