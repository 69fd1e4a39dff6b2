package notification

import (
	"context"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/validate"
)

// LoggingMiddleware logs every change a user makes: which notification
// (or how many), whose (the verified caller's user id), how long it took
// and, on failure, the error kind. Reads are left to the endpoint logging,
// and titles and bodies are never logged: they may name what a user bought.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, audit: logging.NewAudit(logger, "notifications changed", "notifications change")}
	}
}

type loggingService struct {
	next  Service
	audit logging.Audit
}

func (s *loggingService) List(ctx context.Context, q ListQuery) (Page, error) {
	return s.next.List(ctx, q)
}

func (s *loggingService) MarkRead(ctx context.Context, id string) (n Notification, err error) {
	defer func(begin time.Time) {
		s.log(ctx, "mark_read", err, begin, "id", validate.LogID(id))
	}(time.Now())
	return s.next.MarkRead(ctx, id)
}

func (s *loggingService) MarkAllRead(ctx context.Context) (marked int64, err error) {
	defer func(begin time.Time) {
		s.log(ctx, "mark_all_read", err, begin, "marked_read", marked)
	}(time.Now())
	return s.next.MarkAllRead(ctx)
}

// log writes the audit line of one change (kit/logging.Audit), with the
// verified caller's user id (the token's subject, which the issuer vouches
// for: an id, not client input, so it is safe to log).
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	if caller, ok := auth.FromContext(ctx); ok {
		kvs = append([]any{"user_id", caller.UserID}, kvs...)
	}
	s.audit.Log(ctx, op, err, begin, kvs...)
}
