package subscriber

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// counters are the subscriber's metrics; a nil *counters counts nothing.
type counters struct {
	consumedVec, redeliveries, deadLetters *prometheus.CounterVec
	lag                                    *prometheus.GaugeVec
}

func newCounters(reg prometheus.Registerer) *counters {
	return &counters{
		consumedVec: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "subscriber", Name: "consumed_total",
			Help: "Messages settled for good, by outcome: ok (handled) or rejected (a business error).",
		}, []string{"stream", "outcome"})),
		redeliveries: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "subscriber", Name: "redeliveries_total",
			Help: "Messages nak'ed for redelivery after a failure.",
		}, []string{"stream"})),
		deadLetters: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "subscriber", Name: "dead_letters_total",
			Help: "Messages dead-lettered: undecodable, or failing on their last delivery.",
		}, []string{"stream"})),
		lag: registerGauge(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "subscriber", Name: "lag_messages",
			Help: "Messages of the stream not yet delivered to the consumer, as of its latest delivery.",
		}, []string{"stream", "consumer"})),
	}
}

// registerGauge is register for a gauge vector.
func registerGauge(reg prometheus.Registerer, g *prometheus.GaugeVec) *prometheus.GaugeVec {
	if err := reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing
			}
		}
		panic(err)
	}
	return g
}

func (c *counters) pending(stream, consumer string, n uint64) {
	if c != nil {
		c.lag.WithLabelValues(stream, consumer).Set(float64(n))
	}
}

// register registers c, or returns the collector already registered under
// its name, so several subscribers can share a registry. Any other failure
// is a programming error, as with MustRegister.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func (c *counters) consumed(stream, outcome string) {
	if c != nil {
		c.consumedVec.WithLabelValues(stream, outcome).Inc()
	}
}

func (c *counters) redelivered(stream string) {
	if c != nil {
		c.redeliveries.WithLabelValues(stream).Inc()
	}
}

func (c *counters) deadLettered(stream string) {
	if c != nil {
		c.deadLetters.WithLabelValues(stream).Inc()
	}
}
