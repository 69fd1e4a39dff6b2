package product

import (
	"context"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/requestid"
)

// LoggingMiddleware logs every change to the catalog: which product (id and
// SKU), which fields a patch set, who made it (the user id of the verified
// caller, see auth.FromContext), how long it took and, on failure, the error
// kind. It is a domain audit trail, so reads are left to the endpoint
// logging, and values other than the SKU (names, descriptions, prices) are
// never logged.
func LoggingMiddleware(logger log.Logger) Middleware {
	return func(next Service) Service {
		return &loggingService{next: next, logger: logger}
	}
}

type loggingService struct {
	next   Service
	logger log.Logger
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
		kvs := []any{"id", safeID(id), "fields", strings.Join(patch.Fields(), ",")}
		if p.SKU != "" {
			kvs = append(kvs, "sku", p.SKU)
		}
		s.log(ctx, "update", err, begin, kvs...)
	}(time.Now())
	return s.next.Update(ctx, id, patch)
}

func (s *loggingService) Delete(ctx context.Context, id string) (err error) {
	defer func(begin time.Time) {
		s.log(ctx, "delete", err, begin, "id", safeID(id))
	}(time.Now())
	return s.next.Delete(ctx, id)
}

// log writes one line for a mutation. Rejected requests (business errors)
// are info, failures error, as in kit/logging; the cause is only logged for
// failures, since a rejection's cause is the client's input.
func (s *loggingService) log(ctx context.Context, op string, err error, begin time.Time, kvs ...any) {
	l := level.Info(s.logger)
	head := []any{"msg", "catalog changed", "op", op, "request_id", requestid.FromContext(ctx)}
	if caller, ok := auth.FromContext(ctx); ok {
		// The token's subject, which the issuer vouches for: an id, not
		// client input, so it is safe to log.
		head = append(head, "user_id", caller.UserID)
	}
	kvs = append(head, kvs...)
	if err != nil {
		kind := errs.KindOf(err)
		kvs[1] = "catalog change rejected"
		kvs = append(kvs, "kind", kind)
		if !kind.Business() {
			l = level.Error(s.logger)
			kvs[1] = "catalog change failed"
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
