package web

import (
	"context"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/logging"
)

// LoggingMiddleware logs every change: which item (its id once created),
// who made it (the user id of the verified caller, see auth.FromContext),
// how long it took and, on failure, the error kind. It is a domain audit
// trail, so reads are left to the endpoint logging, and field values (names,
// descriptions) are never logged: they are client input.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, audit: logging.NewAudit(logger, "items changed", "items change")}
	}
}

type loggingService struct {
	next  Service
	audit logging.Audit
}

func (s *loggingService) List(ctx context.Context, q ListQuery) (Page, error) {
	return s.next.List(ctx, q)
}

func (s *loggingService) Get(ctx context.Context, id string) (Item, error) {
	return s.next.Get(ctx, id)
}

func (s *loggingService) Create(ctx context.Context, in NewItem) (it Item, err error) {
	defer func(begin time.Time) {
		var kvs []any
		if it.ID != "" {
			kvs = append(kvs, "id", it.ID)
		}
		s.log(ctx, "create", err, begin, kvs...)
	}(time.Now())
	return s.next.Create(ctx, in)
}

// log writes the audit line of one change (kit/logging.Audit: rejections
// at info, failures at error with the cause), with the verified caller's
// user id (the token's subject, which the issuer vouches for: an id, not
// client input, so it is safe to log).
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	if caller, ok := auth.FromContext(ctx); ok {
		kvs = append([]any{"user_id", caller.UserID}, kvs...)
	}
	s.audit.Log(ctx, op, err, begin, kvs...)
}
