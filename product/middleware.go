package product

import (
	"context"
	"strings"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/logging"
	"github.com/kitshop/kitshop/kit/validate"
)

// LoggingMiddleware logs every change to the catalog: which product (id and
// SKU), which fields a patch set, who made it (the user id of the verified
// caller, see auth.FromContext), how long it took and, on failure, the error
// kind. It is a domain audit trail, so reads are left to the endpoint
// logging, and values other than the SKU (names, descriptions, prices) are
// never logged.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, audit: logging.NewAudit(logger, "catalog changed", "catalog change")}
	}
}

type loggingService struct {
	next  Service
	audit logging.Audit
}

func (s *loggingService) List(ctx context.Context, q ListQuery) (Page, error) {
	return s.next.List(ctx, q)
}

func (s *loggingService) Get(ctx context.Context, id string) (Product, error) {
	return s.next.Get(ctx, id)
}

func (s *loggingService) Create(ctx context.Context, np NewProduct) (p Product, err error) {
	defer func(begin time.Time) {
		kvs := []any{"sku", skuOf(p.SKU, np.SKU)}
		if p.ID != "" {
			kvs = append(kvs, "id", p.ID)
		}
		s.log(ctx, "create", err, begin, kvs...)
	}(time.Now())
	return s.next.Create(ctx, np)
}

func (s *loggingService) Update(ctx context.Context, id string, patch Patch) (p Product, err error) {
	defer func(begin time.Time) {
		kvs := []any{"id", validate.LogID(id), "fields", strings.Join(patch.Fields(), ",")}
		if p.SKU != "" {
			kvs = append(kvs, "sku", p.SKU)
		}
		s.log(ctx, "update", err, begin, kvs...)
	}(time.Now())
	return s.next.Update(ctx, id, patch)
}

func (s *loggingService) Delete(ctx context.Context, id string) (err error) {
	defer func(begin time.Time) {
		s.log(ctx, "delete", err, begin, "id", validate.LogID(id))
	}(time.Now())
	return s.next.Delete(ctx, id)
}

// skuOf prefers the stored SKU and falls back to the requested one, so a
// rejected create still says which SKU it was about. SKUs are identifiers,
// safe to log, but only well-formed ones: anything else is arbitrary client
// input.
func skuOf(stored, requested string) string {
	if stored != "" {
		return stored
	}
	if sku := NormalizeSKU(requested); skuPattern.MatchString(sku) {
		return sku
	}
	return ""
}

// log writes the audit line of one change, with the verified caller's user
// id (the token's subject, which the issuer vouches for: safe to log).
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	if caller, ok := auth.FromContext(ctx); ok {
		kvs = append([]any{"user_id", caller.UserID}, kvs...)
	}
	s.audit.Log(ctx, op, err, begin, kvs...)
}
