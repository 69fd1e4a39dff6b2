package consul

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// ErrStopped is returned by Registrar.Register when Deregister ended it, and
// by Ready when the watcher was stopped before its first result.
var ErrStopped = errors.New("consul: stopped")

// queryFunc runs one blocking query: it returns the current value and index
// once the index moves past index or wait has elapsed.
type queryFunc[E any] func(ctx context.Context, index uint64, wait time.Duration) ([]E, uint64, error)

// watch is the loop shared by Watcher and ServicesWatcher: blocking queries
// with Consul's index rules, backoff while Consul is unreachable, and
// latest-wins publication of immutable snapshots to subscribers.
type watch[E any] struct {
	query queryFunc[E]
	equal func(a, b []E) bool
	// key identifies an element (an instance ID, a service name);
	// snapshots are sorted by it.
	key    func(E) string
	logger log.Logger
	opts   options

	cancel   context.CancelFunc
	done     chan struct{} // closed when run returns
	readyc   chan struct{} // closed on the first successful query
	stopOnce sync.Once

	mu      sync.Mutex
	current []E
	ready   bool
	stopped bool
	subs    map[chan []E]struct{}
}

func startWatch[E any](q queryFunc[E], equal func(a, b []E) bool, key func(E) string, logger log.Logger, opts options) *watch[E] {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watch[E]{
		query:  q,
		equal:  equal,
		key:    key,
		logger: logger,
		opts:   opts,
		cancel: cancel,
		done:   make(chan struct{}),
		readyc: make(chan struct{}),
		subs:   make(map[chan []E]struct{}),
	}
	go w.run(ctx)
	return w
}

func (w *watch[E]) run(ctx context.Context) {
	defer close(w.done)
	var (
		index     uint64 // 0: the next query returns at once with the current state
		bo        = newBackoff(w.opts)
		failing   bool
		holdUntil time.Time // while in the future, what Consul does not report of kept stays
		kept      []E       // the last known state when Consul answered again after an outage
	)
	for {
		wait := w.opts.waitTime
		if hold := time.Until(holdUntil); hold > 0 && hold < wait {
			// Come back when the grace ends, so a lasting partial result
			// is published then rather than after a full WaitTime.
			wait = max(hold, minQueryGap)
		}
		// A blocking query may legitimately last wait plus Consul's jitter of
		// up to wait/16; beyond that (plus slack) the agent is hung.
		qctx, cancel := context.WithTimeout(ctx, wait+wait/16+requestTimeout)
		start := time.Now()
		val, newIndex, err := w.query(qctx, index, wait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Keep the last known snapshot: an instance set that was right a
			// moment ago is a far better guess than none at all.
			d := bo.next()
			if !failing {
				level.Warn(w.logger).Log("msg", "consul query failed; keeping last known state", "retry_in", d, "err", err)
				failing = true
			} else {
				level.Debug(w.logger).Log("msg", "consul query failed again", "retry_in", d, "err", err)
			}
			// The agent that answers next may be a restarted one whose index
			// starts over: a query on our old index would sit there for a
			// whole WaitTime before revealing that. Start over instead.
			index = 0
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		if failing {
			level.Info(w.logger).Log("msg", "consul reachable again")
			failing = false
			if w.opts.recoveryGrace > 0 {
				holdUntil = time.Now().Add(w.opts.recoveryGrace)
				kept = w.snapshot()
			}
		}
		bo.reset()

		// Index rules from Consul's "Blocking Queries" documentation.
		switch {
		case newIndex < index:
			// The index went backwards (Consul's state was restored or
			// rebuilt): waiting on the old index would miss every change
			// until the new index caught up. Start over; the value itself
			// is current, so it is still published below.
			level.Info(w.logger).Log("msg", "consul index went backwards; resetting", "old", index, "new", newIndex)
			index = 0
		case newIndex == 0:
			// Never block on 0: that query returns at once, forever.
			index = 1
		default:
			index = newIndex
		}

		if merged, complete := w.merge(kept, val); !complete && time.Now().Before(holdUntil) {
			// A Consul that was just unreachable may have restarted empty
			// (a dev agent keeps nothing) and not yet heard from every
			// instance; they register again one by one within seconds.
			// Until the grace ends, or the answer holds everything known
			// before, what it leaves out is not believed gone.
			level.Debug(w.logger).Log("msg", "consul reports less than before the outage; keeping the rest of the last known state",
				"reported", len(val), "kept", len(merged)-len(val), "until", holdUntil)
			w.publish(merged)
		} else {
			holdUntil, kept = time.Time{}, nil
			w.publish(val)
		}

		if !sleep(ctx, minQueryGap-time.Since(start)) {
			return
		}
	}
}

// merge returns val plus the elements of kept it lacks (by key), sorted by
// key, and whether it lacked none.
func (w *watch[E]) merge(kept, val []E) ([]E, bool) {
	if len(kept) == 0 {
		return val, true
	}
	have := make(map[string]bool, len(val))
	for _, e := range val {
		have[w.key(e)] = true
	}
	merged := val
	for _, e := range kept {
		if !have[w.key(e)] {
			if len(merged) == len(val) {
				merged = slices.Clone(val) // val may be shared; never append to it
			}
			merged = append(merged, e)
		}
	}
	if len(merged) == len(val) {
		return val, true
	}
	slices.SortFunc(merged, func(a, b E) int { return strings.Compare(w.key(a), w.key(b)) })
	return merged, false
}

// publish stores val and hands it to every subscriber unless nothing changed.
func (w *watch[E]) publish(val []E) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ready && w.equal(w.current, val) {
		return // a blocking query may return without any change
	}
	w.current = val
	if !w.ready {
		w.ready = true
		close(w.readyc)
	}
	for ch := range w.subs {
		offer(ch, val)
	}
}

// offer puts val into ch (capacity 1), replacing any value the subscriber
// has not read yet: a slow subscriber gets the latest state, not a backlog,
// and never blocks the watch loop. It must be called with w.mu held, which
// makes the watcher the only sender.
func offer[T any](ch chan T, val T) {
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- val:
	default:
	}
}

func (w *watch[E]) snapshot() []E {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

func (w *watch[E]) subscribe() (<-chan []E, func()) {
	ch := make(chan []E, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		close(ch)
		return ch, func() {}
	}
	if w.ready {
		ch <- w.current
	}
	w.subs[ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.subs[ch]; ok {
			delete(w.subs, ch)
			close(ch)
		}
	}
}

func (w *watch[E]) waitReady(ctx context.Context) error {
	select {
	case <-w.readyc:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		select {
		case <-w.readyc:
			return nil
		default:
			return ErrStopped
		}
	}
}

func (w *watch[E]) stop() {
	w.stopOnce.Do(w.cancel)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	for ch := range w.subs {
		delete(w.subs, ch)
		close(ch)
	}
}
