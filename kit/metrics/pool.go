package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Statter is what Pool reads; *pgxpool.Pool implements it.
type Statter interface{ Stat() *pgxpool.Stat }

// Pool exports the statistics of a pgx pool under the given name (the "pool"
// label), read at every scrape.
func (m *Metrics) Pool(name string, pool Statter) {
	m.registry.MustRegister(&poolCollector{pool: pool, labels: prometheus.Labels{"pool": name}})
}

type poolCollector struct {
	pool   Statter
	labels prometheus.Labels
}

func (c *poolCollector) desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db_pool", name), help, nil, c.labels)
}

// Describe sends nothing: the collector is unchecked, so its descriptors need
// not be listed up front (they are built per scrape from the pool's label).
func (c *poolCollector) Describe(chan<- *prometheus.Desc) {}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(name, help string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.desc(name, help), prometheus.GaugeValue, v)
	}
	counter := func(name, help string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.desc(name, help), prometheus.CounterValue, v)
	}
	gauge("acquired_conns", "Connections currently in use.", float64(s.AcquiredConns()))
	gauge("idle_conns", "Idle connections in the pool.", float64(s.IdleConns()))
	gauge("total_conns", "All connections in the pool, including those being opened.", float64(s.TotalConns()))
	gauge("max_conns", "The pool's size limit.", float64(s.MaxConns()))
	counter("acquires_total", "Successful connection acquisitions.", float64(s.AcquireCount()))
	counter("empty_acquires_total", "Acquisitions that had to wait because no idle connection was free.", float64(s.EmptyAcquireCount()))
	counter("canceled_acquires_total", "Acquisitions cancelled by their context.", float64(s.CanceledAcquireCount()))
	counter("acquire_seconds_total", "Time spent acquiring connections.", s.AcquireDuration().Seconds())
}
