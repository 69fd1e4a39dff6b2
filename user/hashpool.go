package user

import (
	"context"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

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

// hash returns the bcrypt hash of a validated password, computed in the
// hash pool (an Unavailable error when it is full).
func (s *service) hash(ctx context.Context, password string) (string, error) {
	var (
		h   []byte
		err error
	)
	if perr := s.hashPool.Do(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost) }); perr != nil {
		return "", perr
	}
	if err != nil {
		// Validation bounds the length, so this is a bug; the error does
		// not contain the password.
		return "", errs.Wrap(err, errs.Internal, "")
	}
	return string(h), nil
}

// passwordMatches reports whether password is the one hash was made from.
// It always runs one bcrypt comparison, also for passwords too long to
// match (bcrypt would compare only their first 72 bytes), so that its
// duration tells nothing. The comparison runs in the hash pool; the error
// is the pool's refusal.
func (s *service) passwordMatches(ctx context.Context, hash, password string) (bool, error) {
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		hash, password = s.dummyHash, password[:MaxPasswordBytes]
	}
	var matches bool
	err := s.hashPool.Do(ctx, func() {
		matches = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	})
	return matches && !tooLong, err
}
