package auth

import (
	"context"
	"slices"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// RequireAnyRole returns nil if the caller on ctx has at least one of
// roles. Like RequireRole, it returns errs.Unauthenticated when there is no
// caller and errs.Forbidden when the caller has none of them.
func RequireAnyRole(ctx context.Context, roles ...string) error {
	id, ok := FromContext(ctx)
	if !ok {
		return errAuthRequired()
	}
	if !slices.ContainsFunc(roles, id.HasRole) {
		return errs.New(errs.Forbidden, "permission denied")
	}
	return nil
}

// AnyRole returns endpoint middleware that admits only callers with at least
// one of roles (see RequireAnyRole). It goes inside Authenticate.
func AnyRole(roles ...string) endpoint.Middleware {
	roles = slices.Clone(roles)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			if err := RequireAnyRole(ctx, roles...); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}
