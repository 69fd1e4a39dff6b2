package order

import (
	"context"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/validate"
)

// LoggingMiddleware logs every order event: placements (with the order id,
// status, line count and whether it was replayed) and cancellations, with
// the caller, how long it took and, on failure, the error kind. It is a
// domain audit trail, so reads are left to the endpoint logging. Product
// names, prices and idempotency keys are never logged: ids identify
// everything.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, audit: logging.NewAudit(logger, "order event", "order event")}
	}
}

type loggingService struct {
	next  Service
	audit logging.Audit
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
		s.log(ctx, "cancel", err, begin, "order_id", validate.LogID(id))
	}(time.Now())
	return s.next.Cancel(ctx, id)
}

// log writes the audit line of one event, with the caller's user id.
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	caller, _ := auth.FromContext(ctx)
	s.audit.Log(ctx, op, err, begin, append([]any{"user_id", caller.UserID}, kvs...)...)
}
