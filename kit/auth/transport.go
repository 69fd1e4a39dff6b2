package auth

import (
	"context"
	"net/http"
	"strings"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	httptransport "github.com/go-kit/kit/transport/http"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// MetadataKey is the gRPC metadata key that carries the bearer token, the
// lower-case form of the HTTP header gRPC maps it to.
const MetadataKey = "authorization"

// credential is what a request presented: a bearer token, or an
// Authorization header that is not one. The latter is kept so that a client
// sending "Basic ..." is told its credentials are unusable, instead of being
// served as anonymous.
type credential struct {
	token     string
	malformed bool
}

type credentialKey struct{}

// NewTokenContext returns a copy of ctx carrying the raw bearer token, as if
// a request had presented it. Authenticate verifies it; ContextToGRPC
// forwards it.
func NewTokenContext(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, credentialKey{}, credential{token: token})
}

// TokenFromContext returns the bearer token the request on ctx presented,
// unverified, and whether it presented one.
func TokenFromContext(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(credentialKey{}).(credential)
	if !ok || c.malformed || c.token == "" {
		return "", false
	}
	return c.token, true
}

// fromHeaderValues turns the values of an Authorization header (HTTP) or
// authorization metadata (gRPC) into the credential put on the context.
func fromHeaderValues(ctx context.Context, values []string) context.Context {
	switch {
	case len(values) == 0, len(values) == 1 && strings.TrimSpace(values[0]) == "":
		return ctx
	case len(values) > 1:
		// Two credentials: picking one would let a proxy and the service
		// disagree about who is calling.
		return context.WithValue(ctx, credentialKey{}, credential{malformed: true})
	}
	token, ok := BearerToken(values[0])
	return context.WithValue(ctx, credentialKey{}, credential{token: token, malformed: !ok})
}

// BearerToken extracts the token from an Authorization header value of the
// form "Bearer <token>" (RFC 6750; the scheme is case-insensitive). It
// reports false for other schemes and for tokens with characters no bearer
// token has.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if !isToken68(token) {
		return "", false
	}
	return token, true
}

// isToken68 reports whether s matches RFC 7235's token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// HTTPToContext returns a go-kit server option function that puts the
// request's bearer token on the context, unverified; Authenticate or
// Optional verify it. Use it with httptransport.ServerBefore.
func HTTPToContext() httptransport.RequestFunc {
	return func(ctx context.Context, r *http.Request) context.Context {
		return fromHeaderValues(ctx, r.Header.Values("Authorization"))
	}
}

// GRPCToContext is HTTPToContext for gRPC servers: it reads the
// "authorization" metadata. Use it with grpctransport.ServerBefore.
func GRPCToContext() grpctransport.ServerRequestFunc {
	return func(ctx context.Context, md metadata.MD) context.Context {
		return fromHeaderValues(ctx, md.Get(MetadataKey))
	}
}

// ContextToGRPC returns a go-kit client option function that forwards the
// bearer token on ctx, if any, as "authorization" metadata, so the called
// service sees the original caller. Use it with grpctransport.ClientBefore.
//
// A service token on ctx (ContextWithServiceToken, ServiceTokenToGRPC) wins
// over the caller's: it is sent instead.
func ContextToGRPC() grpctransport.ClientRequestFunc {
	return func(ctx context.Context, md *metadata.MD) context.Context {
		token, ok := serviceTokenFromContext(ctx)
		if !ok {
			token, ok = TokenFromContext(ctx)
		}
		if ok {
			if *md == nil {
				*md = metadata.MD{}
			}
			md.Set(MetadataKey, "Bearer "+token)
		}
		return ctx
	}
}

// UnaryClientInterceptor does for plain gRPC clients (such as those from
// kit/grpcx.Dial, via grpc.WithChainUnaryInterceptor) what ContextToGRPC does
// for go-kit clients, a service token on ctx included. Metadata the caller
// set explicitly wins.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		token, ok := serviceTokenFromContext(ctx)
		if !ok {
			token, ok = TokenFromContext(ctx)
		}
		if ok {
			if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(MetadataKey)) == 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, MetadataKey, "Bearer "+token)
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
