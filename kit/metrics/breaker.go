package metrics

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/breaker"
)

// opener is implemented by breakers that can report their state, such as
// *breaker.Hystrix.
type opener interface{ Open() bool }

// Breaker returns b instrumented under name: calls that b rejects without
// running them count in kitshop_breaker_rejections_total, and, when b can
// report its state, kitshop_breaker_open follows it at every scrape and
// kitshop_breaker_transitions_total counts its changes (label "to": open
// or closed), so a flapping breaker shows even between scrapes. Prometheus
// adds the instance label.
func (m *Metrics) Breaker(name string, b breaker.Breaker) breaker.Breaker {
	ib := &instrumentedBreaker{next: b, rejections: m.breakerRejections.WithLabelValues(name)}
	if o, ok := b.(opener); ok {
		ib.state = o
		ib.opened = m.breakerTransitions.WithLabelValues(name, "open")
		ib.closed = m.breakerTransitions.WithLabelValues(name, "closed")
		// A GaugeFunc reads the state when scraped, so it is never stale and
		// costs nothing per call. Registering a name twice keeps the first.
		_ = m.registry.Register(breakerOpen(name, func() float64 {
			if o.Open() {
				return 1
			}
			return 0
		}))
	}
	return ib
}

type instrumentedBreaker struct {
	next       breaker.Breaker
	rejections prometheus.Counter

	state          opener // nil when b cannot report its state
	open           atomic.Bool
	opened, closed prometheus.Counter
}

// observe counts a change of state. The state is read only after a failed
// call or while the breaker was open: a closed breaker opens on failures,
// and an open one closes on a success, so the hot path (success, closed)
// never pays for the read, which evaluates the error rate.
func (b *instrumentedBreaker) observe(err error) {
	was := b.open.Load()
	if err == nil && !was {
		return
	}
	now := b.state.Open()
	if now == was || !b.open.CompareAndSwap(was, now) {
		return
	}
	if now {
		b.opened.Inc()
	} else {
		b.closed.Inc()
	}
}

func (b *instrumentedBreaker) Execute(ctx context.Context, run func(context.Context) error) error {
	// Atomic: a breaker may start run on another goroutine, even after
	// Execute has returned (hystrix after its timeout).
	var ran atomic.Bool
	err := b.next.Execute(ctx, func(ctx context.Context) error {
		ran.Store(true)
		return run(ctx)
	})
	if err != nil && !ran.Load() {
		b.rejections.Inc()
	}
	if b.state != nil {
		b.observe(err)
	}
	return err
}

func breakerOpen(name string, f func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   Namespace,
		Name:        "breaker_open",
		Help:        "1 while the named circuit breaker is open (rejecting calls), else 0.",
		ConstLabels: prometheus.Labels{"breaker": name},
	}, f)
}

// ForgetBreaker removes the series of the breaker name, for a breaker that
// is gone for good (the gateway's breaker of an instance that has left):
// without it they would be exported, and the breaker kept alive by its
// gauge, for the life of the process.
func (m *Metrics) ForgetBreaker(name string) {
	// A collector is unregistered by its descriptors, which an equal
	// gauge has.
	m.registry.Unregister(breakerOpen(name, nil))
	m.breakerRejections.DeleteLabelValues(name)
	m.breakerTransitions.DeletePartialMatch(prometheus.Labels{"breaker": name})
}
