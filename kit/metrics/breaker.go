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
// report its state, kitshop_breaker_open follows it at every scrape.
func (m *Metrics) Breaker(name string, b breaker.Breaker) breaker.Breaker {
	if o, ok := b.(opener); ok {
		// A GaugeFunc reads the state when scraped, so it is never stale and
		// costs nothing per call. Registering a name twice keeps the first.
		_ = m.registry.Register(breakerOpen(name, func() float64 {
			if o.Open() {
				return 1
			}
			return 0
		}))
	}
	return &instrumentedBreaker{next: b, rejections: m.breakerRejections.WithLabelValues(name)}
}

type instrumentedBreaker struct {
	next       breaker.Breaker
	rejections prometheus.Counter
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
}
