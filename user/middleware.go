package user

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/requestid"
)

// LoggingMiddleware logs every account and session event: sign-ups, logins,
// refreshes, logouts, profile changes, admin bootstraps and service tokens,
// with the user id (the subject of a service token), the client address of
// logins and token requests, which fields a change set, how long it took
// and, on failure, the error kind. It is a security audit trail: a
// reused refresh token is logged as a warning. Reads are left to the
// endpoint logging.
//
// It never logs passwords, password hashes, secrets, tokens, emails or
// names: user ids identify the account, and everything else a client sends
// is theirs. A refused service token request is logged without the client
// id it presented, which might be a secret pasted into the wrong field.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, logger: logger}
	}
}

type loggingService struct {
	next   Service
	logger log.Logger
}

func (s *loggingService) SignUp(ctx context.Context, nu NewUser) (u User, err error) {
	defer func(begin time.Time) {
		kvs := append(userID(u.ID), "client_ip", nu.ClientIP, "created", u.ID != "")
		if err == nil && u.ID == "" {
			// Stands in for the email the owner of the account would get:
			// someone tried to sign up with their address.
			kvs = append(kvs, "notice", "email already has an account; its owner would be mailed")
		}
		s.log(ctx, "sign_up", err, begin, kvs...)
	}(time.Now())
	return s.next.SignUp(ctx, nu)
}

func (s *loggingService) Login(ctx context.Context, c Credentials) (p TokenPair, err error) {
	defer func(begin time.Time) {
		s.log(ctx, "login", err, begin, append(userID(p.UserID), "client_ip", c.ClientIP)...)
	}(time.Now())
	return s.next.Login(ctx, c)
}

func (s *loggingService) Refresh(ctx context.Context, token string) (p TokenPair, err error) {
	defer func(begin time.Time) {
		if errors.Is(err, ErrRefreshTokenReused) {
			level.Warn(s.logger).Log(append(logging.AppendTrace([]any{"msg", "refresh token reused; its session is revoked", "op", "refresh",
				"request_id", requestid.FromContext(ctx)}, ctx), "took", time.Since(begin))...)
			return
		}
		s.log(ctx, "refresh", err, begin, userID(p.UserID)...)
	}(time.Now())
	return s.next.Refresh(ctx, token)
}

func (s *loggingService) Logout(ctx context.Context, token string) (err error) {
	defer func(begin time.Time) {
		s.log(ctx, "logout", err, begin)
	}(time.Now())
	return s.next.Logout(ctx, token)
}

func (s *loggingService) Get(ctx context.Context, id string) (User, error) {
	return s.next.Get(ctx, id)
}

func (s *loggingService) Update(ctx context.Context, id string, patch Patch) (u User, err error) {
	defer func(begin time.Time) {
		kvs := []any{"user_id", safeID(id), "fields", strings.Join(patch.Fields(), ",")}
		if caller, ok := auth.FromContext(ctx); ok && caller.UserID != id {
			kvs = append(kvs, "by", caller.UserID)
		}
		s.log(ctx, "update", err, begin, kvs...)
	}(time.Now())
	return s.next.Update(ctx, id, patch)
}

func (s *loggingService) EnsureAdmin(ctx context.Context, nu NewUser) (u User, created bool, err error) {
	defer func(begin time.Time) {
		s.log(ctx, "ensure_admin", err, begin, append(userID(u.ID), "created", created)...)
	}(time.Now())
	return s.next.EnsureAdmin(ctx, nu)
}

func (s *loggingService) JWKS(ctx context.Context) (auth.JWKS, error) {
	return s.next.JWKS(ctx)
}

func (s *loggingService) ServiceToken(ctx context.Context, c ClientCredentials) (t AccessToken, err error) {
	defer func(begin time.Time) {
		kvs := []any{"client_ip", c.ClientIP}
		if t.Subject != "" {
			kvs = append(kvs, "subject", t.Subject)
		}
		s.log(ctx, "service_token", err, begin, kvs...)
	}(time.Now())
	return s.next.ServiceToken(ctx, c)
}

// log writes one line for an event. Rejected requests (business errors)
// are info, failures error, as in kit/logging; the cause is only logged for
// failures, since a rejection's cause is the client's input.
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	l := level.Info(s.logger)
	kvs = append(logging.AppendTrace([]any{"msg", "account event", "op", op, "request_id", requestid.FromContext(ctx)}, ctx), kvs...)
	if err != nil {
		kind := errs.KindOf(err)
		kvs[1] = "account event rejected"
		kvs = append(kvs, "kind", kind)
		if !kind.Business() {
			l = level.Error(s.logger)
			kvs[1] = "account event failed"
			kvs = append(kvs, "err", err)
		}
	}
	kvs = append(kvs, "took", time.Since(begin))
	l.Log(kvs...)
}

// userID returns the user_id key-value for a known user, nothing for none.
func userID(id string) []any {
	if id == "" {
		return nil
	}
	return []any{"user_id", id}
}

// safeID returns id in canonical form, or a placeholder when it is not a
// UUID: a malformed id is arbitrary client input.
func safeID(id string) string {
	if canonical, err := ParseID(id); err == nil {
		return canonical
	}
	return "(malformed)"
}
