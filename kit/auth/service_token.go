package auth

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// A service calls another service either on behalf of its caller
// (ContextToGRPC, UnaryClientInterceptor: the caller's token is forwarded
// and the callee applies the caller's rights) or as itself (the helpers
// below: a service account's token from a TokenSource). Where both are set
// up for the same call, the service token wins: the helpers below replace
// any authorization metadata already present, and ContextToGRPC leaves a
// service token alone. A call made as the service must not quietly run with
// the rights of whoever triggered it, nor the other way round.

type serviceTokenKey struct{}

// ContextWithServiceToken returns a copy of ctx carrying a token from ts,
// for the outgoing calls made with it: ServiceTokenToGRPC and
// ServiceTokenInterceptor send it without asking ts again, and ContextToGRPC
// sends it instead of the caller's token. It fails with ts's error.
func ContextWithServiceToken(ctx context.Context, ts TokenSource) (context.Context, error) {
	token, err := ts.Token(ctx)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, serviceTokenKey{}, token), nil
}

// serviceTokenFromContext returns the token ContextWithServiceToken put on
// ctx.
func serviceTokenFromContext(ctx context.Context) (string, bool) {
	token, ok := ctx.Value(serviceTokenKey{}).(string)
	return token, ok && token != ""
}

// serviceToken returns the token for an outgoing call made as the service:
// the one on ctx, else a fresh one from ts.
func serviceToken(ctx context.Context, ts TokenSource) (string, error) {
	if token, ok := serviceTokenFromContext(ctx); ok {
		return token, nil
	}
	return ts.Token(ctx)
}

// ServiceTokenMiddleware returns endpoint middleware that obtains a token
// from ts before each call (see ContextWithServiceToken) and fails the call
// with ts's error when there is none: errs.Unavailable or
// errs.Unauthenticated, without calling the wrapped endpoint. Put it in front
// of a go-kit gRPC client endpoint that sends the token with
// ServiceTokenToGRPC, which cannot fail a call by itself.
func ServiceTokenMiddleware(ts TokenSource) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			ctx, err := ContextWithServiceToken(ctx, ts)
			if err != nil {
				return nil, err
			}
			return next(ctx, req)
		}
	}
}

// ServiceTokenToGRPC returns a go-kit client option function that sends the
// service's own token as "authorization: Bearer <token>" metadata, replacing
// a forwarded caller token. Use it with grpctransport.ClientBefore, behind
// ServiceTokenMiddleware(ts).
//
// The token is the one ServiceTokenMiddleware put on the context, else one
// from ts. A go-kit ClientRequestFunc cannot fail a call, so if ts fails
// here the call goes out with no authorization at all (the callee answers
// Unauthenticated) rather than with the caller's rights; the middleware in
// front turns that case into ts's own error.
func ServiceTokenToGRPC(ts TokenSource) grpctransport.ClientRequestFunc {
	return func(ctx context.Context, md *metadata.MD) context.Context {
		if *md == nil {
			*md = metadata.MD{}
		}
		token, err := serviceToken(ctx, ts)
		if err != nil {
			md.Delete(MetadataKey)
			return ctx
		}
		md.Set(MetadataKey, "Bearer "+token)
		// So that a ContextToGRPC later in the chain keeps it.
		return context.WithValue(ctx, serviceTokenKey{}, token)
	}
}

// ServiceTokenInterceptor returns a gRPC client interceptor that makes every
// unary call as the service: it sends a token from ts (or the one
// ContextWithServiceToken put on the context) as "authorization" metadata,
// replacing any already set, also by UnaryClientInterceptor or explicitly.
// When ts fails, the call is not made and ts's error is returned
// (errs.Unavailable or errs.Unauthenticated). Install it on connections to
// services that expect service tokens, for example
// grpcx.Dial(addr, grpc.WithChainUnaryInterceptor(auth.ServiceTokenInterceptor(ts))).
func ServiceTokenInterceptor(ts TokenSource) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		token, err := serviceToken(ctx, ts)
		if err != nil {
			return err
		}
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		md.Set(MetadataKey, "Bearer "+token)
		return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
	}
}
