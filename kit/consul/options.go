package consul

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults, chosen for a local agent on loopback.
const (
	// DefaultWaitTime bounds one blocking query. Consul holds the request open
	// until something changes or this long has passed.
	DefaultWaitTime = 30 * time.Second
	// DefaultMinBackoff is the first pause between retries while Consul is
	// unreachable; the pause doubles (with jitter) up to DefaultMaxBackoff.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the pause between retries: a restarted Consul is
	// noticed within seconds, one that is down is not hammered.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultRecheckInterval is how often a Registrar asks the agent whether
	// it still knows the instance: a restarted agent has the instance back
	// within about this long. The question is a cheap local read.
	DefaultRecheckInterval = time.Second
	// DefaultRecoveryGrace is how long a watcher, once Consul answers again
	// after an outage, keeps the part of its last known state that Consul
	// no longer reports: long enough for instances to notice a restarted
	// agent (DefaultRecheckInterval) and pass their first checks
	// (DefaultCheckInterval), with room for a loaded machine.
	DefaultRecoveryGrace = 10 * time.Second

	// requestTimeout bounds every non-blocking request, so a hung agent
	// cannot stall a retry loop.
	requestTimeout = 5 * time.Second
	// deregisterTimeout bounds the single deregistration attempt at shutdown.
	deregisterTimeout = 2 * time.Second
	// minQueryGap rate-limits blocking queries, as Consul's documentation
	// asks of clients: a flapping service or an index bug cannot turn the
	// watch loop into a busy loop.
	minQueryGap = 50 * time.Millisecond
)

// Option tunes a Registrar, Watcher or ServicesWatcher. The zero
// configuration (no options) is the one to use in production; options exist
// mostly so tests can run the retry logic quickly.
type Option func(*options)

type options struct {
	waitTime   time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	recheck    time.Duration
	// recoveryGrace: see WithRecoveryGrace.
	recoveryGrace time.Duration
}

func newOptions(opts []Option) options {
	o := options{
		waitTime:      DefaultWaitTime,
		minBackoff:    DefaultMinBackoff,
		maxBackoff:    DefaultMaxBackoff,
		recheck:       DefaultRecheckInterval,
		recoveryGrace: DefaultRecoveryGrace,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithWaitTime sets how long a watcher's blocking query may wait for a change
// (Watcher and ServicesWatcher). Non-positive values are ignored.
func WithWaitTime(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.waitTime = d
		}
	}
}

// WithBackoff sets the first and the longest pause between retries while
// Consul is unreachable (all types). Non-positive values are ignored; max is
// raised to min if smaller.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(o *options) {
		if minDelay > 0 {
			o.minBackoff = minDelay
		}
		if maxDelay > 0 {
			o.maxBackoff = maxDelay
		}
		if o.maxBackoff < o.minBackoff {
			o.maxBackoff = o.minBackoff
		}
	}
}

// WithRecheckInterval sets how often a Registrar checks that the agent still
// knows the instance (Registrar only). Non-positive values are ignored.
func WithRecheckInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.recheck = d
		}
	}
}

// WithRecoveryGrace sets how long a watcher, when Consul answers again after
// an outage but lacks instances (or services) it reported before, keeps those
// as well (Watcher and ServicesWatcher). A restarted Consul dev agent knows
// nothing until the instances register again, one by one, within a few
// seconds; without the grace every caller would see its dependencies vanish,
// and the gateway would drop the routes of every service not yet back. What
// the agent does report is taken at once, and the grace ends as soon as it
// reports everything known before. The price: an instance that really left
// while Consul was unreachable stays listed until the grace ends. 0 disables
// the grace; negative values are ignored.
func WithRecoveryGrace(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.recoveryGrace = d
		}
	}
}

// backoff yields exponentially growing, jittered delays between minDelay and
// maxDelay. The jitter keeps many instances that lost Consul at the same
// moment from retrying in lockstep.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(o options) *backoff { return &backoff{min: o.minBackoff, max: o.maxBackoff} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	// "Equal jitter": somewhere in [cur/2, cur], never shorter than min.
	half := b.cur / 2
	return max(b.min, half+rand.N(half+1))
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits for d or until ctx ends; it reports whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
