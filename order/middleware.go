package order

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/requestid"
)

// LoggingMiddleware logs every order event: placements (with the order id,
// status, line count and whether it was replayed) and cancellations, with
// the caller, how long it took and, on failure, the error kind. It is a
// domain audit trail, so reads are left to the endpoint logging. Product
// names, prices and idempotency keys are never logged: ids identify
// everything.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, logger: logger}
	}
}

type loggingService struct {
	next   Service
	logger log.Logger
}

func (s *loggingService) Create(ctx context.Context, no NewOrder) (c Created, err error) {
	defer func(begin time.Time) {
		kvs := []any{"lines", len(no.Items), "idempotent", no.IdempotencyKey != ""}
		if c.Order.ID != "" {
			kvs = append(kvs, "order_id", c.Order.ID, "status", c.Order.Status, "replayed", c.Replayed)
		}
		s.log(ctx, "create", err, begin, kvs...)
	}(time.Now())
	return s.next.Create(ctx, no)
}

func (s *loggingService) Get(ctx context.Context, id string) (Order, error) {
	return s.next.Get(ctx, id)
}

func (s *loggingService) List(ctx context.Context, q ListQuery) (Page, error) {
	return s.next.List(ctx, q)
}

func (s *loggingService) Cancel(ctx context.Context, id string) (o Order, err error) {
	defer func(begin time.Time) {
		s.log(ctx, "cancel", err, begin, "order_id", safeID(id))
	}(time.Now())
	return s.next.Cancel(ctx, id)
}

// log writes one line for an event. Rejected requests (business errors)
// are info, failures error, as in kit/logging; the cause is only logged for
// failures.
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	l := level.Info(s.logger)
	caller, _ := auth.FromContext(ctx)
	kvs = append([]any{"msg", "order event", "op", op, "request_id", requestid.FromContext(ctx), "user_id", caller.UserID}, kvs...)
	if err != nil {
		kind := errs.KindOf(err)
		kvs[1] = "order event rejected"
		kvs = append(kvs, "kind", kind)
		if !kind.Business() {
			l = level.Error(s.logger)
			kvs[1] = "order event failed"
			kvs = append(kvs, "err", err)
		}
	}
	kvs = append(kvs, "took", time.Since(begin))
	l.Log(kvs...)
}

// safeID returns id in canonical form, or a placeholder when it is not a
// UUID: a malformed id is arbitrary client input.
func safeID(id string) string {
	if canonical, err := ParseID(id); err == nil {
		return canonical
	}
	return "(malformed)"
}
