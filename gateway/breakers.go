package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/breaker"
	"github.com/kitshop/kitshop/kit/metrics"
)

// breakers holds one circuit breaker per upstream instance, created on first
// use. Hystrix keeps its circuits in a process-wide registry by name, so the
// name ("gateway/<service>/<instance-id>") must be unique per instance.
//
// Like hystrix's circuits, breakers (and their metrics series) are kept for
// the life of the process, also after their instance has gone: one small
// entry per instance ever seen.
type breakers struct {
	settings atomic.Pointer[breaker.Settings] // live: SetBreaker
	logger   log.Logger
	metrics  *metrics.Metrics // nil: not instrumented
	mu       sync.RWMutex
	m        map[instanceKey]*instanceBreaker
	// pruned is the routing table the breakers were last pruned for.
	pruned atomic.Pointer[Table]
}

type instanceKey struct{ service, id string }

type instanceBreaker struct {
	*breaker.Hystrix
	// exec runs the calls: the Hystrix itself, or the Hystrix instrumented
	// by kit/metrics (state and rejections per instance).
	exec breaker.Breaker
	// nextProbe (unix nanoseconds) paces the requests let through to an
	// instance whose circuit is open; see skip.
	nextProbe atomic.Int64
	// inflight counts the requests sent to the instance and not yet
	// answered in full, for BalanceP2C.
	inflight atomic.Int64
	// answered counts the responses that came from the instance: the
	// prober's proof of life for an instance too busy to answer its
	// probes in time. A counter rather than a timestamp: no clock read per
	// response.
	answered atomic.Uint64
	// unresponsive is set by the prober while the instance answers
	// neither its probes nor its requests; it is skipped like an open
	// circuit.
	unresponsive atomic.Bool
	// mu guards attempts, the attempts in flight (a list through
	// attemptRun.prev/next, no allocation per request), cancelled when
	// the instance turns unresponsive.
	mu       sync.Mutex
	attempts *attemptRun
}

// track adds a to the attempts in flight. An attempt that starts on an
// instance found unresponsive meanwhile (it was picked just before) is
// cancelled at once.
func (ib *instanceBreaker) track(a *attemptRun) {
	ib.mu.Lock()
	a.next = ib.attempts
	if a.next != nil {
		a.next.prev = a
	}
	ib.attempts = a
	down := ib.unresponsive.Load()
	ib.mu.Unlock()
	if down {
		a.abort()
	}
}

// untrack removes a from the attempts in flight.
func (ib *instanceBreaker) untrack(a *attemptRun) {
	ib.mu.Lock()
	if a.prev != nil {
		a.prev.next = a.next
	} else if ib.attempts == a {
		ib.attempts = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	}
	a.prev, a.next = nil, nil
	ib.mu.Unlock()
}

// setUnresponsive marks the instance unresponsive and cancels the
// attempts in flight to it, returning how many.
func (ib *instanceBreaker) setUnresponsive() int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.unresponsive.Store(true)
	n := 0
	for a := ib.attempts; a != nil; a = a.next {
		a.abort()
		n++
	}
	return n
}

// usable reports whether the instance may be asked at all: its circuit is
// closed and it has not stopped answering.
func (ib *instanceBreaker) usable() bool {
	return !ib.unresponsive.Load() && !ib.Open()
}

func newBreakers(s breaker.Settings, logger log.Logger, m *metrics.Metrics) *breakers {
	b := &breakers{logger: logger, metrics: m, m: make(map[instanceKey]*instanceBreaker)}
	b.settings.Store(&s)
	return b
}

func (b *breakers) get(service, id string) *instanceBreaker {
	k := instanceKey{service, id}
	b.mu.RLock()
	ib, ok := b.m[k]
	b.mu.RUnlock()
	if ok {
		return ib
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ib, ok := b.m[k]; ok {
		return ib
	}
	name := breakerName(k)
	h := breaker.NewHystrix(name, *b.settings.Load())
	ib = &instanceBreaker{Hystrix: h, exec: h}
	if b.metrics != nil {
		ib.exec = b.metrics.Breaker(name, h)
	}
	b.m[k] = ib
	return ib
}

// prune drops the breakers of instances t no longer lists, once per table:
// instances come and go (every deployment brings new ids), and a breaker
// kept for each one ever seen would grow the gateway's memory and its
// metrics without end. An instance that comes back starts with a closed
// breaker. The check for a table already pruned is one atomic load, so
// calling it per request costs nothing.
//
// A request still in flight on an old table may recreate the breaker of an
// instance that has just left; the next table drops it again.
func (b *breakers) prune(t *Table) {
	if b.pruned.Load() == t {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pruned.Swap(t) == t {
		return
	}
	live := make(map[instanceKey]bool)
	for _, r := range t.routes {
		for _, in := range r.Instances {
			live[instanceKey{r.Service, in.ID}] = true
		}
	}
	for k := range b.m {
		if live[k] {
			continue
		}
		delete(b.m, k)
		if b.metrics != nil {
			b.metrics.ForgetBreaker(breakerName(k))
		}
	}
}

// len returns the number of breakers kept.
func (b *breakers) len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.m)
}

func breakerName(k instanceKey) string { return "gateway/" + k.service + "/" + k.id }

// skip reports whether round robin should pass over an instance. An open
// circuit is skipped, except that one request per sleep window is let
// through to it: the breaker closes only after a successful probe, and an
// instance that never receives traffic would stay shunned forever after it
// recovered. If the breaker still refuses the probe, the request never left
// and is retried on another instance.
//
// An unresponsive instance (see prober) is always skipped: the prober, not
// a request, finds out when it answers again.
func (b *breakers) skip(service, id string) bool {
	ib := b.get(service, id)
	if ib.unresponsive.Load() {
		return true
	}
	next := ib.nextProbe.Load()
	if !ib.Open() {
		if next != 0 && ib.nextProbe.CompareAndSwap(next, 0) {
			level.Info(b.logger).Log("msg", "circuit breaker closed; instance back in rotation", "service", service, "instance", id)
		}
		return false
	}
	now := time.Now().UnixNano()
	if next == 0 {
		// Just opened: the breaker would refuse a probe before its sleep
		// window is over, so do not waste a request on it.
		if ib.nextProbe.CompareAndSwap(0, now+int64(b.settings.Load().SleepWindow)) {
			level.Warn(b.logger).Log("msg", "circuit breaker open; skipping instance", "service", service, "instance", id)
		}
		return true
	}
	if now < next {
		return true
	}
	return !ib.nextProbe.CompareAndSwap(next, now+int64(b.settings.Load().SleepWindow))
}
