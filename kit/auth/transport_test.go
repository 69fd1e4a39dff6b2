package auth_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	grpctransport "github.com/go-kit/kit/transport/grpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/kitshop/kitshop/kit/auth"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		wantOK bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc.def.ghi", "abc.def.ghi", true},
		{"BEARER abc", "abc", true},
		{"Bearer  two-spaces", "two-spaces", true},
		{"Bearer dG9rZW4=", "dG9rZW4=", true},
		{"Bearer a-b_c~d+e/f", "a-b_c~d+e/f", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer ===", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearerabc", "", false},
		{"Token abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc\tdef", "", false},
		{"Bearer a=b", "", false},
		{"Bearer \"abc\"", "", false},
		{"Bearer abc\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, ok := auth.BearerToken(tt.header)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestHTTPToContext(t *testing.T) {
	tests := []struct {
		name      string
		headers   []string
		wantToken string
		wantOK    bool
	}{
		{"bearer token", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", true},
		{"no header", nil, "", false},
		{"empty header", []string{""}, "", false},
		{"other scheme", []string{"Basic dXNlcjpwYXNz"}, "", false},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			ctx := auth.HTTPToContext()(t.Context(), r)
			got, ok := auth.TokenFromContext(ctx)
			if got != tt.wantToken || ok != tt.wantOK {
				t.Errorf("TokenFromContext = %q, %v; want %q, %v", got, ok, tt.wantToken, tt.wantOK)
			}
		})
	}
}

func TestGRPCContextRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		ctx    func(context.Context) context.Context
		want   string
		wantOK bool
	}{
		{"token forwarded", func(ctx context.Context) context.Context { return auth.NewTokenContext(ctx, "abc.def.ghi") }, "abc.def.ghi", true},
		{"token from HTTP forwarded", func(ctx context.Context) context.Context {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer from.http.request")
			return auth.HTTPToContext()(ctx, r)
		}, "from.http.request", true},
		{"anonymous stays anonymous", func(ctx context.Context) context.Context { return ctx }, "", false},
		{"malformed credential is not forwarded", func(ctx context.Context) context.Context {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
			return auth.HTTPToContext()(ctx, r)
		}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := metadata.MD{}
			auth.ContextToGRPC()(tt.ctx(t.Context()), &md)
			got, ok := auth.TokenFromContext(auth.GRPCToContext()(t.Context(), md))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("token after the round trip = %q, %v; want %q, %v (metadata %v)", got, ok, tt.want, tt.wantOK, md)
			}
		})
	}
}

func TestGRPCToContextRefusesAmbiguousMetadata(t *testing.T) {
	md := metadata.Pairs(auth.MetadataKey, "Bearer a", auth.MetadataKey, "Bearer b")
	if got, ok := auth.TokenFromContext(auth.GRPCToContext()(t.Context(), md)); ok {
		t.Errorf("TokenFromContext = %q, want none for two credentials", got)
	}
}

// tokenRecorder is a server interceptor that records the token each call
// presented, as GRPCToContext reads it.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (r *tokenRecorder) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	token, _ := auth.TokenFromContext(auth.GRPCToContext()(ctx, md))
	r.mu.Lock()
	r.tokens = append(r.tokens, token)
	r.mu.Unlock()
	return handler(ctx, req)
}

func (r *tokenRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokens[len(r.tokens)-1]
}

// TestGRPCWireRoundTrip sends the token over a real gRPC connection, once
// through a go-kit client with ContextToGRPC and once through a plain client
// with UnaryClientInterceptor.
func TestGRPCWireRoundTrip(t *testing.T) {
	rec := &tokenRecorder{}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(rec.intercept))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(auth.UnaryClientInterceptor()),
	)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	plain := healthpb.NewHealthClient(conn)
	kit := grpctransport.NewClient(conn, "grpc.health.v1.Health", "Check",
		func(context.Context, any) (any, error) { return &healthpb.HealthCheckRequest{}, nil },
		func(_ context.Context, resp any) (any, error) { return resp, nil },
		&healthpb.HealthCheckResponse{},
		grpctransport.ClientBefore(auth.ContextToGRPC()),
	).Endpoint()

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"plain client", func(ctx context.Context) error {
			_, err := plain.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}},
		{"go-kit client", func(ctx context.Context) error {
			_, err := kit(ctx, nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := "token-for-" + strings.ReplaceAll(tt.name, " ", "-")
			if err := tt.call(auth.NewTokenContext(t.Context(), token)); err != nil {
				t.Fatalf("call: %v", err)
			}
			if got := rec.last(); got != token {
				t.Errorf("server saw token %q, want %q", got, token)
			}
			if err := tt.call(t.Context()); err != nil {
				t.Fatalf("anonymous call: %v", err)
			}
			if got := rec.last(); got != "" {
				t.Errorf("anonymous call presented token %q", got)
			}
		})
	}

	// An explicitly set credential is not overwritten by the interceptor.
	ctx := metadata.AppendToOutgoingContext(auth.NewTokenContext(t.Context(), "from-context"), auth.MetadataKey, "Bearer explicit")
	if _, err := plain.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("call: %v", err)
	}
	if got := rec.last(); got != "explicit" {
		t.Errorf("server saw token %q, want the explicit one", got)
	}
}
