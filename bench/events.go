package bench

import (
	"fmt"
	"time"
)

// EventLatency is the event pipeline measured on its own: events committed
// into an outbox at a fixed rate, published by kit/outbox's relay to
// JetStream, and consumed by kit/subscriber into an inbox and an effect
// row, one transaction each. Latency runs from the event's commit to its
// effect's commit.
type EventLatency struct {
	OfferedPerSec float64       `json:"offered_events_per_sec"`
	Duration      string        `json:"duration"`
	Events        int           `json:"events"`
	Effects       int           `json:"effects"`
	Duplicates    int           `json:"duplicate_effects"`
	P50           time.Duration `json:"p50_ns"`
	P99           time.Duration `json:"p99_ns"`
	Max           time.Duration `json:"max_ns"`
	// StoredP50 and StoredP99 run from the commit to JetStream's storing
	// of the message (its stream timestamp): the relay's share.
	StoredP50 time.Duration `json:"commit_to_stream_p50_ns"`
	StoredP99 time.Duration `json:"commit_to_stream_p99_ns"`
	// Errors counts failed commits of the generator; any is a failed
	// measurement.
	Errors int    `json:"errors"`
	NA     string `json:"not_available,omitempty"`
}

// Line describes the measurement in one sentence; a run with lost or
// duplicated effects or errors says it failed.
func (e *EventLatency) Line() string {
	if e.NA != "" {
		return "n/a (" + e.NA + ")"
	}
	s := fmt.Sprintf("%d events at %.0f/s for %s: commit → consumer effect p50 %s, p99 %s, max %s (commit → stream p50 %s, p99 %s)",
		e.Events, e.OfferedPerSec, e.Duration, round(e.P50), round(e.P99), round(e.Max), round(e.StoredP50), round(e.StoredP99))
	if e.Effects != e.Events || e.Duplicates > 0 || e.Errors > 0 {
		s = fmt.Sprintf("FAILED: %d events, %d effects, %d duplicates, %d errors; ", e.Events, e.Effects, e.Duplicates, e.Errors) + s
	}
	return s
}

// OrderPipeline is orders through the whole system: placed through the
// gateway by closed-loop clients, then paid by the payment service over
// the broker, and the order moved to paid.
type OrderPipeline struct {
	Clients  int    `json:"clients"`
	Duration string `json:"duration"`
	Placed   int    `json:"placed"`
	Paid     int    `json:"paid"`
	Errors   int    `json:"errors"`
	// PerSec is Paid over the time from the first placement to the last
	// order becoming paid.
	PerSec float64 `json:"paid_orders_per_sec"`
	// P50 and P99 run from an order's creation to its becoming paid.
	P50 time.Duration `json:"placed_to_paid_p50_ns"`
	P99 time.Duration `json:"placed_to_paid_p99_ns"`
	NA  string        `json:"not_available,omitempty"`
}

// Line describes the measurement in one sentence.
func (p *OrderPipeline) Line() string {
	if p.NA != "" {
		return "n/a (" + p.NA + ")"
	}
	s := fmt.Sprintf("%d orders placed by %d clients in %s, %d paid: %.0f paid orders/s; placed → paid p50 %s, p99 %s",
		p.Placed, p.Clients, p.Duration, p.Paid, p.PerSec, round(p.P50), round(p.P99))
	if p.Paid != p.Placed || p.Errors > 0 {
		s = fmt.Sprintf("FAILED: %d of %d orders paid, %d errors; ", p.Paid, p.Placed, p.Errors) + s
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d
}
