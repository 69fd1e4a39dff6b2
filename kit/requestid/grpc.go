package requestid

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// UnaryServerInterceptor adopts a valid id from the incoming metadata
// (MetadataKey) or generates one, puts it on the handler's context and sends it
// back in the response header metadata.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := ""
		if vals := metadata.ValueFromIncomingContext(ctx, MetadataKey); len(vals) > 0 {
			id = vals[0]
		}
		if !Valid(id) {
			id = New()
		}
		// SetHeader fails only outside a real server stream (as in unit tests
		// calling the interceptor directly); the echo is a courtesy, so ignore it.
		_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataKey, id))
		return handler(NewContext(ctx, id), req)
	}
}

// UnaryClientInterceptor copies the id on the call's context, if any, into
// the outgoing metadata, unless the caller already set one explicitly.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if id := FromContext(ctx); id != "" && !hasOutgoing(ctx) {
			ctx = metadata.AppendToOutgoingContext(ctx, MetadataKey, id)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func hasOutgoing(ctx context.Context) bool {
	md, ok := metadata.FromOutgoingContext(ctx)
	return ok && len(md.Get(MetadataKey)) > 0
}
