package gateway

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// refusalLogMaxClients bounds the clients refusalLog remembers.
const refusalLogMaxClients = 10_000

// refusalLog thins out the access log lines of refused requests (429): a
// client flooding the gateway gets one line per second, which says how many
// of its refusals went unlogged since the line before, instead of one line
// per request, which let a single client at 40,000 requests a second write
// 14 MB of log a second. The counts stay exact in the metrics (the
// requests by code, the limiters' rejections, and suppressed, the lines
// left out).
type refusalLog struct {
	suppressed prometheus.Counter // nil: not counted

	mu      sync.Mutex
	clients map[string]*refusals
}

type refusals struct {
	second  int64 // the Unix second of the client's last line
	skipped int   // lines left out since
}

func newRefusalLog(m *metrics.Metrics) *refusalLog {
	l := &refusalLog{clients: make(map[string]*refusals)}
	if m != nil {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace,
			Name:      "gateway_access_log_suppressed_total",
			Help:      "Access log lines of refused (429) requests left out: at most one line per client and second is written.",
		})
		if err := m.Registry().Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				c = are.ExistingCollector.(prometheus.Counter)
			}
		}
		l.suppressed = c
	}
	return l
}

// allow reports whether a refusal of client at now gets its line, and if so
// how many were left out before it.
func (l *refusalLog) allow(client string, now time.Time) (bool, int) {
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.clients[client]
	if ok && r.second == sec {
		r.skipped++
		if l.suppressed != nil {
			l.suppressed.Inc()
		}
		return false, 0
	}
	if !ok {
		if len(l.clients) >= refusalLogMaxClients {
			l.forget(sec)
		}
		r = &refusals{}
		l.clients[client] = r
	}
	skipped := r.skipped
	r.second, r.skipped = sec, 0
	return true, skipped
}

// forget drops the clients without a line this second; if that is not
// enough, all of them (their left-out counts are in the metric).
func (l *refusalLog) forget(sec int64) {
	for c, r := range l.clients {
		if r.second != sec {
			delete(l.clients, c)
		}
	}
	if len(l.clients) >= refusalLogMaxClients {
		clear(l.clients)
	}
}
