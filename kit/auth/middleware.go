package auth

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// Authenticate returns endpoint middleware that admits only requests with a
// valid token (put on the context by HTTPToContext or GRPCToContext) and puts
// the caller's Identity on the context. A request without a token gets
// errs.Unauthenticated "authentication required"; a bad token gets the
// Verifier's error.
func Authenticate(v *Verifier) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			ctx, present, err := authenticate(ctx, v)
			if err != nil {
				return nil, err
			}
			if !present {
				return nil, errAuthRequired()
			}
			return next(ctx, req)
		}
	}
}

// Optional returns endpoint middleware for endpoints open to everyone that
// treat logged-in callers differently: a valid token puts the Identity on the
// context, no token leaves the request anonymous, and a bad token is refused
// like in Authenticate (a client that sends one wants to be known; serving it
// as anonymous would hide the problem).
func Optional(v *Verifier) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			ctx, _, err := authenticate(ctx, v)
			if err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}

// Admin returns endpoint middleware that admits only admins (see
// RequireRole). It goes inside Authenticate, which establishes the caller.
func Admin() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			if err := RequireRole(ctx, RoleAdmin); err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}

// authenticate verifies the credential on ctx, if any, and returns ctx with
// the Identity and whether a credential was presented.
func authenticate(ctx context.Context, v *Verifier) (context.Context, bool, error) {
	c, ok := ctx.Value(credentialKey{}).(credential)
	switch {
	case !ok || (!c.malformed && c.token == ""):
		return ctx, false, nil
	case c.malformed:
		return ctx, true, errs.New(errs.Unauthenticated, "authorization must be a single Bearer token")
	}
	id, err := v.Verify(ctx, c.token)
	if err != nil {
		return ctx, true, err
	}
	return NewContext(ctx, id), true, nil
}
