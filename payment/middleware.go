package payment

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/metrics"
)

// LoggingMiddleware logs every order event the service handles: which
// event, order and payment, what it did (the Effect), the payment's status
// and decline code, how long it took and, on failure, the error kind. It is
// the audit trail of the money, so reads are left to the endpoint logging.
// Amounts and payment methods are not logged: ids identify everything.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, audit: logging.NewAudit(logger, "payment event handled", "payment event")}
	}
}

type loggingService struct {
	next  Service
	audit logging.Audit
}

func (s *loggingService) List(ctx context.Context, orderID string) ([]Payment, error) {
	return s.next.List(ctx, orderID)
}

func (s *loggingService) OrderConfirmed(ctx context.Context, e OrderEvent) (r Result, err error) {
	defer s.log(ctx, "order_confirmed", e, &r, &err, time.Now())
	return s.next.OrderConfirmed(ctx, e)
}

func (s *loggingService) OrderCancelled(ctx context.Context, e OrderEvent) (r Result, err error) {
	defer s.log(ctx, "order_cancelled", e, &r, &err, time.Now())
	return s.next.OrderCancelled(ctx, e)
}

// log writes the audit line of one event. The event's ids were validated
// (or are the service's own), so they are safe to log.
func (s *loggingService) log(ctx context.Context, op string, e OrderEvent, r *Result, err *error, begin time.Time) {
	kvs := []any{"event_id", e.EventID, "order_id", e.Order.ID}
	if r.Payment.ID != "" {
		kvs = append(kvs, "payment_id", r.Payment.ID, "status", r.Payment.Status)
	}
	if r.Effect != "" {
		kvs = append(kvs, "effect", r.Effect)
	}
	if r.Payment.DeclineCode != "" {
		kvs = append(kvs, "decline_code", r.Payment.DeclineCode)
	}
	s.audit.Log(ctx, op, *err, begin, kvs...)
}

// Outcomes of a provider call in the provider metrics.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeDeclined  = "declined"
	OutcomeError     = "error"
)

// InstrumentProvider counts and times every call to the provider in
// kitshop_payment_provider_calls_total and
// kitshop_payment_provider_duration_seconds, by operation ("charge",
// "refund") and outcome (OutcomeSucceeded, OutcomeDeclined, OutcomeError),
// registered in reg.
func InstrumentProvider(reg prometheus.Registerer) func(Provider) Provider {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "payment", Name: "provider_calls_total",
		Help: "Calls to the payment provider by operation and outcome (succeeded, declined, error).",
	}, []string{"operation", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metrics.Namespace, Subsystem: "payment", Name: "provider_duration_seconds",
		Help:    "Latency of the calls to the payment provider by operation and outcome.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"operation", "outcome"})
	reg.MustRegister(calls, duration)
	return func(next Provider) Provider {
		return &instrumentedProvider{next: next, calls: calls, duration: duration}
	}
}

type instrumentedProvider struct {
	next     Provider
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func (p *instrumentedProvider) Charge(ctx context.Context, req ChargeRequest) (res ChargeResult, err error) {
	defer func(begin time.Time) {
		outcome := OutcomeSucceeded
		switch {
		case err != nil:
			outcome = OutcomeError
		case !res.Succeeded:
			outcome = OutcomeDeclined
		}
		p.observe("charge", outcome, begin)
	}(time.Now())
	return p.next.Charge(ctx, req)
}

func (p *instrumentedProvider) Refund(ctx context.Context, req RefundRequest) (err error) {
	defer func(begin time.Time) {
		outcome := OutcomeSucceeded
		if err != nil {
			outcome = OutcomeError
		}
		p.observe("refund", outcome, begin)
	}(time.Now())
	return p.next.Refund(ctx, req)
}

func (p *instrumentedProvider) observe(op, outcome string, begin time.Time) {
	p.calls.WithLabelValues(op, outcome).Inc()
	p.duration.WithLabelValues(op, outcome).Observe(time.Since(begin).Seconds())
}
